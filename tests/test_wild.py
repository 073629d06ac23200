"""mmdiff.wild: a video's keypoints -> 3D per frame, hypotheses, flags, npz and HTML; the
committed AlphaPose sample lifted by the shipped demo weights has steady bones."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdiff.checkpoints import load_denoiser, load_lifter
from mmdiff.config import load_config
from mmdiff.errors import DataError
from mmdiff.evaluate import predictions
from mmdiff.models.graformer import GraFormer, GraFormerConfig
from mmdiff.models.mmdiff import DenoiserConfig, MMDiffDenoiser
from mmdiff.wild import (predict_file, report_text, save_prediction, sequence_view,
                         write_html)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _keypoint_files import alphapose_entry, halpe_frames, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "alphapose_halpe26.json"
DEMO = REPO / "ckpts" / "demo"


@pytest.fixture
def tiny_models():
    torch.manual_seed(0)
    return (GraFormer(GraFormerConfig(hid_dim=16, num_layers=1, n_head=2)).eval(),
            MMDiffDenoiser(DenoiserConfig(hid_dim=16, emd_dim=16, num_layers=1, n_head=2)).eval())


def gap_file(tmp_path):
    """12 frames, frames 3-9 without a detection (a gap of 7)."""
    main = halpe_frames(12)
    return write_json(tmp_path / "gap.json", [alphapose_entry(f, main[f]) for f in range(12)
                                              if not 3 <= f <= 9])


def test_gap_frames_stay_nan(tmp_path, tiny_models):
    lifter, den = tiny_models
    cfg = load_config("cpn", {"eval.hypotheses": 3, "sampler.eta": 0.5})
    pred = predict_file(gap_file(tmp_path), cfg, lifter, den, width=1000, height=1000,
                        max_gap=5, device="cpu")
    assert pred.pose_3d.shape == (12, 17, 3) and pred.hypotheses.shape == (3, 12, 17, 3)
    assert np.isnan(pred.pose_3d[3:10]).all() and np.isfinite(pred.pose_3d[pred.keypoints.lifted]).all()
    assert pred.report.lifted == 5 and any("not lifted" in n for n in pred.notes)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("objective", ["diffusion", "regression", "lifter alone"])
@pytest.mark.parametrize("lifter_tta", [True, False])
def test_predict_gives_the_poses_eval_gives(tmp_path, tiny_models, objective, lifter_tta,
                                            precision):
    """mmdiff predict and mmdiff eval lift the same 2D to the same 3D, for every objective,
    lifter TTA and precision (one pipeline: nothing the config says is dropped on either side)."""
    lifter, den = tiny_models
    cfg = load_config("cpn", {"eval.lifter_tta": lifter_tta, "eval.precision": precision,
                              "train.objective": "regression" if objective == "regression"
                              else "diffusion", "eval.batch_size": 4})
    den = None if objective == "lifter alone" else den
    pred = predict_file(gap_file(tmp_path), cfg, lifter, den, width=1000, height=1000,
                        max_gap=5, device="cpu")
    lifted = pred.keypoints.lifted
    expected = predictions(cfg, lifter, den, pred.pose_2d[lifted], device="cpu")
    assert np.array_equal(pred.pose_3d[lifted], expected)
    if objective == "lifter alone" and precision == "fp32":
        plain = lifter(torch.as_tensor(pred.pose_2d[lifted])).detach()
        plain = (plain - plain[:, :1]).numpy()              # no TTA: the lifter's own output
        assert np.allclose(expected, plain, atol=1e-6) is (not lifter_tta)


def test_image_size_is_required_unless_the_file_gives_it(tmp_path, tiny_models):
    lifter, _ = tiny_models
    cfg = load_config("cpn")
    with pytest.raises(DataError, match="does not give the image size: pass --width W --height H"):
        predict_file(gap_file(tmp_path), cfg, lifter)
    with pytest.raises(DataError, match="pass both --width and --height"):
        predict_file(gap_file(tmp_path), cfg, lifter, width=1000)


def test_npz_keys_and_html(tmp_path, tiny_models):
    lifter, den = tiny_models
    pred = predict_file(gap_file(tmp_path), load_config("cpn"), lifter, den, width=1000,
                        height=800, max_gap=5)
    path = save_prediction(pred, tmp_path / "out.npz", hypotheses=True)
    z = np.load(path)
    assert {"pose_3d", "hypotheses", "pose_2d", "keypoints_px", "scores", "frame", "image_size",
            "filled_frames", "gap_frames", "interpolated_joints", "low_confidence",
            "bone_variation", "source_layout", "person", "joint_names"} == set(z.files)
    assert z["image_size"].tolist() == [1000, 800] and z["gap_frames"].sum() == 7
    assert "hypotheses" not in np.load(save_prediction(pred, tmp_path / "o2.npz")).files
    view = sequence_view(pred)
    assert len(view.fig.frames) == 12 and "7 frames" not in view.fig.layout.title.text
    assert write_html(pred, tmp_path / "v.html").stat().st_size > 1e6      # plotly.js inlined


def test_a_single_image_is_lifted_without_a_report(tmp_path, tiny_models):
    lifter, den = tiny_models
    path = write_json(tmp_path / "one.json", [alphapose_entry(0, halpe_frames(1)[0])])
    pred = predict_file(path, load_config("cpn"), lifter, den, width=1000, height=1000)
    assert pred.pose_3d.shape == (1, 17, 3) and pred.report is None
    assert "not measured" in report_text(pred)
    assert np.isnan(np.load(save_prediction(pred, tmp_path / "o.npz"))["bone_variation"]).all()


@pytest.mark.slow
@pytest.mark.skipif(not (DEMO / "lifter.pth").is_file(), reason="ckpts/demo/ is missing")
def test_committed_sample_lifted_by_the_demo_weights_has_steady_bones():
    cfg = load_config(DEMO / "eval_config.yml")
    pred = predict_file(SAMPLE, cfg, load_lifter(DEMO / "lifter.pth", device="cpu"),
                        load_denoiser(DEMO / "mmdiff.pth", device="cpu"), width=1000, height=1000,
                        device="cpu")
    assert pred.keypoints.source_layout == "halpe26" and pred.keypoints.person == 0
    assert pred.report.median <= 0.12                                    # the demo weights' bound
    assert pred.keypoints.filled_frames.sum() == 7 and pred.report.lifted == 300
