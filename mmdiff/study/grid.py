"""The studies: named grids of arms (what is trained and how it is evaluated) over seeds.

    arm = Arm("no_cross_links", "MMDiff, no 2D-3D cross links", {"model.cross_links": False})
    STUDIES["ablations"].arms                # the arms of one study, its baseline first

An arm either trains a denoiser (``overrides`` of the study's config), evaluates another arm's
trained weights differently (``from_arm`` + ``eval_overrides``: DDIM steps, EMA), or is the lifter
alone (``lifter=True``, with ``eval_overrides`` such as its own flip TTA). In the first studies
every arm refines one lifter (trained once, with the study's first seed); in studies with
``lifter_per_seed`` each seed trains its own lifter too, so the lifter's variance is in the
intervals. Every arm of one seed shares that seed's data, lifter and training seed, so
differences between arms are paired by seed. ``validation`` subjects are held out of every
training run: studies that make a choice evaluate on them (``evaluate_on="validation"``), the
others on the test subjects only. Two runs with
the same resolved training config and seed are the same run, trained once (see
:mod:`mmdiff.study.run`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from mmdiff.errors import ConfigError


@dataclass(frozen=True)
class Arm:
    """One row of a study table."""
    name: str
    title: str
    overrides: dict = field(default_factory=dict)        # training config (denoiser arms)
    eval_overrides: dict = field(default_factory=dict)   # evaluation only (cfg.eval / cfg.data)
    from_arm: str | None = None                          # evaluate that arm's trained weights
    lifter: bool = False                                 # the lifter alone, no denoiser
    note: str = ""


@dataclass(frozen=True)
class Study:
    """A grid of arms x seeds on one dataset; ``arms[0]`` is the baseline of the differences."""
    name: str
    title: str
    question: str
    data: str                                            # "embedded" or "realmotion"
    arms: tuple[Arm, ...]
    config: str = "demo"                                 # the base config of every run
    overrides: dict = field(default_factory=dict)        # budget changes for every run
    seeds: tuple[int, ...] = (0, 1, 2)
    versus: str | None = None                            # a second arm every row is paired with
    lifter_per_seed: bool = False                        # each seed trains its own lifter
    validation: tuple[str, ...] = ()                     # training subjects held out of training
    evaluate_on: str = "test"                            # "test" subjects or the "validation" ones
    contrasts: tuple[tuple[str, str], ...] = ()          # more (arm, against) pairs, P1 and P2

    def __post_init__(self):
        names = {a.name for a in self.arms}
        unknown = sorted({x for pair in self.contrasts for x in pair} - names)
        if unknown:
            raise ConfigError(f"study {self.name!r}: contrasts name arms it lacks: {unknown}; "
                              f"arms: {sorted(names)}")

    def arm(self, name: str) -> Arm:
        for a in self.arms:
            if a.name == name:
                return a
        raise ConfigError(f"study {self.name!r} has no arm {name!r}; arms: "
                          f"{[a.name for a in self.arms]}")


LIFTER = Arm("lifter", "lifter alone (GraFormer)", lifter=True,
             note="the refinement's starting point: the lifter's output, no flip TTA")
LIFTER_TTA = Arm("lifter_tta", "lifter alone, its own flip TTA", lifter=True,
                 eval_overrides={"eval.flip": True},
                 note="the baseline: the same test-time treatment (flip TTA) as every refinement")
LIFTER_NO_TTA = Arm("lifter_no_tta", "lifter alone, no flip TTA (extra row)", lifter=True,
                    note="not a fair baseline: the refinements all use flip TTA")
MMDIFF = Arm("mmdiff", "lifter + MMDiff")
DIFFPOSE_ARCH = Arm("diffpose_arch", "lifter + DiffPose network, MMDiff's recipe",
                    {"model.kind": "diffpose"})
DIFFPOSE_OWN = Arm(
    "diffpose_own", "lifter + DiffPose network, DiffPose's recipe",
    {"model.kind": "diffpose", "data.path_2d_train": "{gt_gmm}", "data.sample_gmm": True,
     "diffusion.noise": "gmm"}, eval_overrides={"sampler.span": 24},
    note="trained on the ground-truth GMM 2D with GMM noise (a kernel's spread on u, v; 1 on "
         "x, y, z), sampled 2 of 24 steps; lr and epochs stay the study's budget")
REGRESSOR = Arm("regressor", "lifter + MMDiff network as a residual regressor",
                {"train.objective": "regression"},
                note="same network and budget, no diffusion: one pass corrects the lifter")

PIPELINES = (LIFTER, MMDIFF, DIFFPOSE_ARCH, DIFFPOSE_OWN, REGRESSOR)
#: DiffPose's own recipe as DiffPose runs it: GMM 2D and GMM noise, all 51 timesteps trained,
#: 2 of 24 sampled, no flip TTA; the two arms differ only in the 2D they train on
DIFFPOSE_RECIPE = {"model.kind": "diffpose", "data.sample_gmm": True, "diffusion.noise": "gmm",
                   "diffusion.train_t_max": 0}
DIFFPOSE_TEST = {"sampler.span": 24, "eval.flip": False}
DIFFPOSE_GT2D = Arm("diffpose_gt2d", "lifter + DiffPose, its recipe, trained on ground-truth 2D",
                    {**DIFFPOSE_RECIPE, "data.path_2d_train": "{gt_gmm}"},
                    eval_overrides=DIFFPOSE_TEST,
                    note="DiffPose's training 2D: GMMs fitted on the true projection")
DIFFPOSE_DET2D = Arm("diffpose_det2d", "lifter + DiffPose, its recipe, trained on detector 2D",
                     dict(DIFFPOSE_RECIPE), eval_overrides=DIFFPOSE_TEST,
                     note="only the training 2D changes: the detector's GMMs, as at test time")
REGRESSOR_TRUTH = Arm("regressor_truth", "MMDiff network as a regressor from noised truth",
                      {"train.objective": "regression", "train.input": "truth"},
                      note="trained like diffusion's input (ground truth + the start's noise, "
                           "one level, t = 6), used like the regressor (one pass on the lifter's "
                           "output): the denoiser Tweedie's formula describes")
DIFFUSION_CROSSFIT = Arm("diffusion_crossfit", "MMDiff trained from the lifter's out-of-sample "
                         "outputs", {"train.input": "crossfit"},
                         note="x_t built from cross-fitted lifter outputs (as the sampler builds "
                              "its start), the target the noise that leads to the truth")
REGRESSOR_CROSSFIT = Arm("regressor_crossfit", "MMDiff network as a regressor from the lifter's "
                         "out-of-sample outputs",
                         {"train.objective": "regression", "train.input": "crossfit"},
                         note="each training subject lifted by a lifter trained without it")
#: noise matched to the lifter's error, per camera axis: the RMS of the lifters' root-relative
#: error on the validation subject S8 (why_diffusion's lifters of seeds 0-2: 31.5-32.2, 31.7-41.3
#: and 85.4-92.3 mm on x, y, z) over the start's noise level sqrt(1 - alpha-bar_6) = 32.8 mm;
#: u, v keep the paper's 0.1
MATCHED_NOISE = [0.1, 0.1, 1.0, 1.1, 2.7]
DIFFUSION_MATCHED = Arm("diffusion_matched", "MMDiff trained from noised truth, the noise matched "
                        "to the lifter's error per axis", {"diffusion.noise_scale": MATCHED_NOISE},
                        note="depth-dominated noise (x 1.0, y 1.1, z 2.7 times the paper's), "
                             "measured on the validation subject; deterministic sampling is "
                             "unchanged (one hypothesis adds no start noise)")
REGRESSOR_MATCHED = Arm("regressor_matched", "MMDiff network as a regressor from truth + the "
                        "matched noise", {"train.objective": "regression", "train.input": "truth",
                                          "diffusion.noise_scale": MATCHED_NOISE},
                        note="the regressor_truth arm with the matched noise at t = 6")
#: the headline comparison: every arm with flip TTA, a lifter per seed, S8 held out of training
HEADLINE = (LIFTER_TTA, MMDIFF, REGRESSOR, LIFTER_NO_TTA)
VALIDATION = ("S8",)

STUDIES = {s.name: s for s in (
    Study("pipelines", "Lifter vs refinements (embedded data)",
          "Does diffusion refinement improve the lifter, and does MMDiff beat DiffPose and a plain "
          "regressor of the same size and budget?", "embedded", PIPELINES, versus="mmdiff"),
    Study("ablations", "Cross-channel graph and context branch (embedded data)",
          "What do the 2D-3D cross links of the Chebyshev graph and the 2D context branch add?",
          "embedded",
          (MMDIFF, Arm("no_cross_links", "MMDiff without the 17 cross links",
                       {"model.cross_links": False}),
           Arm("no_context", "MMDiff without the context branch", {"model.context": False}))),
    Study("sampling", "DDIM steps, start timestep and EMA (embedded data)",
          "How do the number of DDIM steps, the start timestep and EMA weights change the result "
          "of the same trained model?", "embedded",
          (MMDIFF,
           Arm("steps1", "1 step (t = 0, the reference's uniform skip)", from_arm="mmdiff",
               eval_overrides={"sampler.steps": 1, "sampler.span": 7}),
           Arm("steps4", "4 steps of 12 (t = 9, 6, 3, 0)", from_arm="mmdiff",
               eval_overrides={"sampler.steps": 4}),
           Arm("start3", "2 steps of 6 (start t = 3)", from_arm="mmdiff",
               eval_overrides={"sampler.span": 6}),
           Arm("start12", "2 steps of 24 (start t = 12)", from_arm="mmdiff",
               eval_overrides={"sampler.span": 24}),
           Arm("ema", "EMA weights", from_arm="mmdiff", eval_overrides={"eval.use_ema": True}))),
    Study("train_steps", "Which timesteps are trained (embedded data)",
          "The demo trains only t < 12 (where 2-of-12 DDIM samples); the paper trains all 51. "
          "Which is better at the demo budget?", "embedded",
          (MMDIFF, Arm("train_all", "MMDiff trained on all 51 timesteps (the paper)",
                       {"diffusion.train_t_max": 0}))),
    Study("precision", "bf16 against fp32 (embedded data)",
          "Does mixed precision (bf16 autocast, fp32 master weights) change the result of the "
          "demo's denoiser stage?", "embedded",
          (MMDIFF, Arm("bf16", "MMDiff trained and evaluated in bf16", {"train.precision": "bf16"},
                       eval_overrides={"eval.precision": "bf16"}),
           Arm("bf16_eval", "the fp32 MMDiff evaluated in bf16", from_arm="mmdiff",
               eval_overrides={"eval.precision": "bf16"}))),
    Study("pipelines_real", "Lifter vs refinements (real motion)",
          "The same question on real Human3.6M motion (../shared/realmotion, 2D simulated by the "
          "kit's cameras and detector).", "realmotion",
          PIPELINES, overrides={"data.train_stride": 16, "data.test_stride": 20}, versus="mmdiff"),
    Study("headline", "Lifter (flip TTA) vs MMDiff vs regressor, 10 seeds (embedded data)",
          "Does MMDiff's diffusion refinement beat its own lifter under the same test-time "
          "treatment, and a residual regressor of the same network and budget?", "embedded",
          HEADLINE, seeds=tuple(range(10)), versus="mmdiff", lifter_per_seed=True,
          validation=VALIDATION),
    Study("headline_real", "Lifter (flip TTA) vs MMDiff vs regressor, 10 seeds (real motion)",
          "The headline question on real Human3.6M motion (../shared/realmotion, 2D simulated by "
          "the kit's cameras and detector).", "realmotion", HEADLINE,
          overrides={"data.train_stride": 16, "data.test_stride": 20}, seeds=tuple(range(10)),
          versus="mmdiff", lifter_per_seed=True, validation=VALIDATION),
    Study("why_diffusion", "Objective x training input (embedded data)",
          "Is MMDiff's gain its diffusion objective or its training input? The same network, "
          "2 x 2: diffusion (noise prediction, DDIM) or a one-pass residual regressor, trained "
          "from ground truth + the schedule's Gaussian noise (the paper) or from the lifter's "
          "out-of-sample outputs (a lifter per left-out training subject); the regressor from "
          "the lifter's in-sample outputs is the earlier control.", "embedded",
          (LIFTER_TTA, MMDIFF, DIFFUSION_CROSSFIT, REGRESSOR_TRUTH, REGRESSOR_CROSSFIT, REGRESSOR),
          seeds=tuple(range(10)), versus="mmdiff", lifter_per_seed=True, validation=VALIDATION,
          # the 2 x 2's remaining sides: objective at the cross-fitted input, input for the
          # regressor, and the regressor's in-sample against its out-of-sample input
          contrasts=(("regressor_crossfit", "diffusion_crossfit"),
                     ("regressor_crossfit", "regressor_truth"),
                     ("regressor", "regressor_crossfit"))),
    Study("why_diffusion_matched", "Noise matched to the lifter's error (embedded data)",
          "Does training noise shaped like the lifter's error (three times larger in depth) help "
          "diffusion or the regressor trained from noised truth? The 2 x 2's third input.",
          "embedded", (MMDIFF, DIFFUSION_MATCHED, REGRESSOR_TRUTH, REGRESSOR_MATCHED),
          seeds=tuple(range(10)), versus="mmdiff", lifter_per_seed=True, validation=VALIDATION,
          contrasts=(("regressor_matched", "diffusion_matched"),
                     ("regressor_matched", "regressor_truth"))),
    Study("diffpose_recipe", "DiffPose's recipe: ground-truth vs detector 2D in training",
          "Is DiffPose's recipe worse than the lifter because it trains on ground-truth 2D and "
          "tests on detector 2D? Every arm is tested as DiffPose tests (2 of 24 DDIM steps, no "
          "flip TTA), so the lifter without TTA is the fair baseline here.", "embedded",
          (Arm("lifter_no_tta", "lifter alone, no flip TTA", lifter=True,
               note="the fair baseline where no arm uses flip TTA"),
           DIFFPOSE_GT2D, DIFFPOSE_DET2D), seeds=tuple(range(10)),
          versus="diffpose_gt2d", lifter_per_seed=True, validation=VALIDATION),
    *(Study(f"budget_{k}x", f"The headline at {k}x the demo's training budget (embedded data)",
            f"Do the gaps between the lifter, MMDiff and the regressor grow or shrink with {k}x "
            f"the optimiser steps (lifter and denoiser, epochs x {k}, learning-rate decay "
            f"stretched alike)? 1x is the headline study.", "embedded", HEADLINE[:3],
            overrides={"train.epochs": 16 * k, "lifter_train.epochs": 16 * k,
                       "optim.lr_decay_every": 5 * k, "lifter_train.lr_decay_every": 5 * k},
            versus="mmdiff", lifter_per_seed=True, validation=VALIDATION)
      for k in (2, 4)),
    Study("train_steps_val", "Which timesteps to train, decided on validation (embedded data)",
          "The demo trains only t < 12; the paper all 51. Which is better on the validation "
          "subject S8 (held out of training)? The demo's train_t_max follows this study.",
          "embedded",
          (MMDIFF, Arm("train_all", "MMDiff trained on all 51 timesteps (the paper)",
                       {"diffusion.train_t_max": 0})),
          lifter_per_seed=True, validation=VALIDATION, evaluate_on="validation"),
)}


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; studies: {', '.join(STUDIES)}")
    return STUDIES[name]
