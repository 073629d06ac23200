"""mmdiff study: the grid, the statistics, a resumable --fast run end to end, and the structure
of every stored study file (ckpts/studies/*.json)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmdiff.errors import ConfigError, DataError
from mmdiff.study import STUDIES, get_study, load_study, main, markdown_table
from mmdiff.study.report import paired
from mmdiff.study.stats import compare, holm, t_cdf, t_quantile, verdict

from conftest import REPO

STORED = sorted((REPO / "ckpts" / "studies").glob("*.json"))


def test_grid_names_and_baselines():
    for study in STUDIES.values():
        names = [a.name for a in study.arms]
        assert len(names) == len(set(names)) and len(study.seeds) >= 3
        for arm in study.arms:
            assert arm.from_arm is None or arm.from_arm in names
    assert get_study("pipelines").arms[0].lifter                       # the lifter is the base
    with pytest.raises(ConfigError, match="unknown study"):
        get_study("nope")


def test_paired_difference_and_its_interval():
    d = paired([10.0, 11.0, 12.5], [9.0, 10.5, 11.0])                 # differences 1, 0.5, 1.5
    assert d["mean"] == pytest.approx(1.0) and d["std"] == pytest.approx(0.5)
    half = 4.302652729911275 * 0.5 / 3 ** 0.5                          # exact t(0.975, 2)
    assert d["ci95"] == pytest.approx([1.0 - half, 1.0 + half], abs=1e-8)
    assert paired([1.0], [0.0])["ci95"] is None


def test_exact_t_quantiles_and_p_values():
    """Against published values (R's qt / pt): no table, no rounding."""
    for q, df, want in [(0.975, 1, 12.706204736174705), (0.975, 2, 4.302652729911275),
                        (0.975, 9, 2.262157162798205), (0.8, 9, 0.8834038596250774),
                        (0.975, 30, 2.042272456301238), (0.95, 1000, 1.646378817285)]:
        assert t_quantile(q, df) == pytest.approx(want, abs=1e-8)
    assert t_cdf(2.0, 5) == pytest.approx(0.9490302605850709, abs=1e-12)
    c = compare("x", [1.0, 2.0, 3.0, 4.5], [0.0] * 4)                  # t = 3.516, df 3
    assert c.p == pytest.approx(0.03902030417, abs=1e-9)
    assert c.mde == pytest.approx((3.182446305284 + 0.978472312133) * c.se, abs=1e-6)


def test_holm_and_the_verdict_follow_the_adjusted_interval():
    """Holm's step-down p-values (the textbook example: 0.01, 0.04, 0.03 of 3 -> 0.03, 0.06,
    0.06), and an adjusted interval that excludes 0 exactly when Holm rejects."""
    rng = __import__("numpy").random.default_rng(0)
    base = rng.normal(size=6)
    comps = [compare(str(k), base + shift + rng.normal(scale=0.3, size=6), base)
             for k, shift in enumerate((0.9, 0.1, 0.45, -0.05))]
    adjusted = holm(comps)
    ps = sorted(c.p for c in comps)
    m = len(ps)
    want = [min(1, max((m - j) * ps[j] for j in range(i + 1))) for i in range(m)]
    assert sorted(c.p_holm for c in adjusted) == pytest.approx(want)
    for c in adjusted:
        low, high = c.adjusted
        assert (c.p_holm < 0.05) == (low > 0 or high < 0)
        assert c.verdict == verdict(low, high)
    assert verdict(0.2, 1.5) == "holds" and verdict(-0.5, 0.8) == "equivalent within ±1 mm"
    assert verdict(-1.2, 0.3) == "inconclusive"


@pytest.mark.slow
def test_fast_study_runs_resumes_and_writes_its_json(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)                                  # the embedded data's relative paths
    exp = tmp_path / "studies"
    assert main(["train_steps", "--fast", "--seeds", "0,1", "--exp", str(exp)]) == 0
    doc = load_study(exp / "fast" / "train_steps.json")
    assert doc["fast"] and doc["seeds"] == [0, 1] and doc["baseline"] == "mmdiff"
    assert set(doc["arms"]) == {"mmdiff", "train_all"}
    _check_structure(doc)
    assert "FAST MODE" in capsys.readouterr().out
    runs = sorted(p.name for p in (exp / "fast" / "runs").iterdir())
    assert len(runs) == 1 + 2 * 2                            # one lifter, 2 arms x 2 seeds
    before = {p: p.stat().st_mtime for p in (exp / "fast" / "runs").rglob("best.pth")}
    assert main(["train_steps", "--fast", "--seeds", "0,1", "--exp", str(exp)]) == 0
    assert "training" not in capsys.readouterr().out          # nothing is trained again
    assert before == {p: p.stat().st_mtime for p in (exp / "fast" / "runs").rglob("best.pth")}


def _check_structure(doc: dict) -> None:
    seeds = [str(s) for s in doc["seeds"]]
    base = doc["arms"][doc["baseline"]]
    for name, arm in doc["arms"].items():
        assert set(arm["seeds"]) == set(seeds), name
        for s in seeds:
            run = arm["seeds"][s]
            assert len(run["per_action"]) == 15 and run["p1"] > 0 and run["p2"] > 0
        for m in ("p1", "p2"):
            values = [arm["seeds"][s][m] for s in seeds]
            assert arm["mean"][m] == pytest.approx(sum(values) / len(values), abs=1e-3)
            diffs = [arm["seeds"][s][m] - base["seeds"][s][m] for s in seeds]
            assert arm["diff"][m]["mean"] == pytest.approx(sum(diffs) / len(diffs), abs=1e-3)
    contrasts = len(doc.get("contrasts", ())) + 2 if doc.get("contrasts") else 0
    assert markdown_table(doc).count("\n|") == len(doc["arms"]) + 1 + contrasts


@pytest.mark.parametrize("path", STORED, ids=lambda p: p.stem)
def test_stored_study_files(path):
    doc = load_study(path)
    assert not doc["fast"] and len(doc["seeds"]) >= 3 and path.stem == doc["study"]
    if "of" in doc:                                         # an analysis of a study's models
        assert doc["of"] in STUDIES and doc["study"] == f"{doc['of']}_hypotheses"
        _check_hypotheses(doc)
        return
    assert doc["study"] in STUDIES
    _check_structure(doc)


def _check_hypotheses(doc):
    """A hypotheses document: every row's means are its seeds' means, the oracle never worse
    than one hypothesis, one table line per row with a verdict per comparison."""
    from mmdiff.study.hypotheses import METRICS, markdown_table as hyp_table
    seeds = [str(s) for s in doc["seeds"]]
    for name, row in doc["rows"].items():
        assert set(row["seeds"]) == set(seeds) and len(row["regressor_p1"]) == len(seeds)
        for m in METRICS:
            vals = [row["seeds"][s][m] for s in seeds]
            assert row["mean"][m] == pytest.approx(sum(vals) / len(vals))
        for s in seeds:
            r = row["seeds"][s]
            assert r["p1_oracle"] <= r["p1_single"] + 1e-9 and r["spread"] > 0
    for s in seeds:
        assert set(doc["inputs"]["seeds"][s]) == {"in_sample", "out_of_sample", "test"}
        assert all(v > 0 for v in doc["inputs"]["seeds"][s].values())
    text = hyp_table(doc)
    assert text.count("\n|") == len(doc["rows"]) + 1
    assert sum(text.count(w) for w in ("holds", "equivalent", "inconclusive")) == 3 * len(doc["rows"])


def test_hypothesis_metrics_of_calibrated_draws():
    """Hypotheses and truth drawn alike around one pose: the oracle and the mean of S both beat
    one draw (in 48 dimensions the mean beats the per-pose oracle too), spread / error is
    sqrt(S / (S + 1)), and a larger spread marks a larger error (spread varies by pose)."""
    from types import SimpleNamespace
    import numpy as np
    from mmdiff.study.hypotheses import hypothesis_metrics
    rng = np.random.default_rng(0)
    S, N = 8, 3000
    centre = rng.normal(0, 0.2, (N, 17, 3))
    scale = rng.uniform(0.005, 0.05, (N, 1, 1))                           # per-pose uncertainty
    draw = lambda *shape: centre + scale * rng.normal(0, 1, shape + (N, 17, 3))  # noqa: E731
    hyps, truth = draw(S), draw()
    hyps[:, :, 0], truth[:, 0] = 0.0, 0.0                                 # root-relative
    samples = SimpleNamespace(pose_3d=truth.astype(np.float32), action=np.array(["Walking"] * N))
    m = hypothesis_metrics(hyps.astype(np.float32), samples, None)
    assert m["p1_mean"] < m["p1_oracle"] < m["p1_single"]
    assert m["spread_skill"] == pytest.approx((S / (S + 1)) ** 0.5, abs=0.02)
    assert m["spread_error_corr"] > 0.3
    with pytest.raises(ConfigError, match=r"\(S >= 2, N, 17, 3\)"):
        hypothesis_metrics(hyps[:1], samples, None)


@pytest.mark.slow
def test_fast_hypotheses_analysis_runs_resumes_and_writes_its_json(tmp_path):
    """`mmdiff study why_diffusion --hypotheses --fast`: the study's runs, then per (diffusion
    arm, start, seed) one result file, none redone on a second call; the document and its table."""
    exp = tmp_path / "exp"
    args = ["why_diffusion", "--hypotheses", "--fast", "--seeds", "0,1", "--exp", str(exp)]
    assert main(args) == 0
    doc = load_study(exp / "fast" / "why_diffusion_hypotheses.json")
    assert doc["fast"] and doc["of"] == "why_diffusion" and doc["seeds"] == [0, 1]
    assert set(doc["rows"]) == {f"{a}-t{t}" for a in ("mmdiff", "diffusion_crossfit")
                                for t in (6, 11)}
    assert doc["rows"]["mmdiff-t6"]["regressor"] == "regressor_truth"
    _check_hypotheses(doc)
    files = sorted((exp / "fast" / "results" / "why_diffusion_hypotheses").rglob("seed*.json"))
    assert len(files) == 8 + 2                                   # + the inputs of each seed
    before = {p: p.stat().st_mtime for p in files}
    assert main(args) == 0
    assert before == {p: p.stat().st_mtime for p in files}
    with pytest.raises(ConfigError, match="needs a diffusion arm and its regressor"):
        main(["ablations", "--hypotheses", "--fast", "--seeds", "0", "--exp", str(exp)])


def test_load_study_names_the_bad_file(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"study": "x"}))
    with pytest.raises(DataError, match="x.json"):
        load_study(bad)
    with pytest.raises(DataError, match="missing.json"):
        load_study(Path(tmp_path / "missing.json"))


def test_readme_study_tables_are_generated_from_the_stored_files(tmp_path):
    """Every README block <!-- study:NAME --> equals the table of ckpts/studies/NAME.json, and
    a block edited by hand is found and rewritten."""
    from mmdiff.study.readme import BLOCK, sync_readme
    readme = REPO / "README.md"
    assert sync_readme(readme, REPO / "ckpts" / "studies", check=True) == []
    blocks = [m["name"] for m in BLOCK.finditer(readme.read_text()) if m["kind"] == "study"]
    assert sorted(blocks) == sorted(p.stem for p in STORED)          # every stored study shown
    answers = [m["name"] for m in BLOCK.finditer(readme.read_text()) if m["kind"] == "answer"]
    assert answers == ["why_diffusion"]
    doc = {"study": "demo", "seeds": [0, 1, 2], "baseline": "a", "command": "x", "fast": False,
           "wall_seconds": 60, "arms": {"a": {"title": "A", "params": 0, "lifter_params": 1e5,
                                              "mean": {"p1": 1, "p2": 2}, "std": {"p1": 0, "p2": 0},
                                              "diff": {}}}}
    (tmp_path / "demo.json").write_text(json.dumps(doc))
    page = tmp_path / "README.md"
    page.write_text("intro\n<!-- study:demo -->\nhand-made\n<!-- /study:demo -->\nend\n")
    assert sync_readme(page, tmp_path, check=True) == ["demo"]
    assert sync_readme(page, tmp_path) == ["demo"]
    assert sync_readme(page, tmp_path, check=True) == [] and "| A |" in page.read_text()


def test_why_diffusion_answer_quotes_the_tables_cells():
    """The answer's numbers and verdicts are the stored tables' own cells (same Holm family);
    a document not stored yet is named with the command that makes it."""
    from mmdiff.study.answer import why_diffusion_answer
    from mmdiff.study.report import cell, comparisons
    study_dir = REPO / "ckpts" / "studies"
    text = why_diffusion_answer(study_dir)
    head = load_study(study_dir / "headline.json")
    fam = comparisons(head)
    for key in (("mmdiff", "p1", "lifter_tta"), ("mmdiff", "p2", "lifter_tta"),
                ("regressor", "p1", "mmdiff")):
        assert cell(fam[key]) in text and cell(fam[key]) in markdown_table(head)
    assert "std of 33 mm per 3D coordinate" in text                   # sqrt(1 - abar_6), demo.yml
    empty = why_diffusion_answer(REPO / "tests")                        # no study files there
    assert "`mmdiff study headline` makes it" in empty
    assert "`mmdiff study why_diffusion --hypotheses` makes it" in empty


def test_an_interrupted_seed_stops_the_parallel_study(tmp_path):
    """--jobs: when one seed's run is interrupted (it raises KeyboardInterrupt after saving), the
    seeds not yet started are cancelled and the interruption reaches the caller, instead of the
    pool moving on to the next seeds."""
    from mmdiff.study import run_pool
    from _pool_helpers import mark
    with pytest.raises(KeyboardInterrupt):
        for _ in run_pool(mark, [(str(tmp_path), i) for i in range(6)], jobs=2):
            pass
    ran = sorted(int(p.name) for p in tmp_path.iterdir())
    # call 1 stops at once: only the call running beside it finishes, no later one starts
    assert ran == [0], ran
    assert sorted(run_pool(mark, [(str(tmp_path), 0), (str(tmp_path), 2)], jobs=2)) == [0, 2]


def test_interrupted_study_says_how_to_continue(monkeypatch, capsys):
    """An interrupted run (it saved its checkpoint) ends the command with 130 and a message, no
    traceback."""
    import mmdiff.study as study_cli

    def stop(*args, **kwargs):
        raise KeyboardInterrupt("exp/studies/runs/x: interrupted and saved")
    monkeypatch.setattr(study_cli, "run_and_store", stop)
    assert study_cli.main(["pipelines"]) == 130
    err = capsys.readouterr().err
    assert "run the same command again to continue" in err and "runs/x" in err


def test_table_pairs_every_arm_with_the_versus_arm():
    """With ``versus`` the table adds each arm's paired difference to that arm, seed by seed."""
    from mmdiff.study.report import markdown_table, paired
    p1 = {"a": [70.0, 71.0, 69.0], "b": [68.0, 70.5, 66.0], "c": [67.0, 69.0, 68.0]}
    arms = {n: {"title": n, "params": 1, "lifter_params": 1,
                "mean": {"p1": 0, "p2": 0}, "std": {"p1": 0, "p2": 0},
                "diff": {"p1": paired(v, p1["a"]), "p2": paired(v, p1["a"])},
                "seeds": {str(s): {"p1": v[s], "p2": v[s]} for s in range(3)}}
            for n, v in p1.items()}
    doc = {"seeds": [0, 1, 2], "baseline": "a", "versus": "b", "arms": arms,
           "command": "mmdiff study x", "wall_seconds": 60}
    table = markdown_table(doc)
    from mmdiff.study.report import comparisons
    want = comparisons(doc)[("c", "p1", "b")]
    assert len(comparisons(doc)) == 2 * 2 + 2                  # ΔP1, ΔP2 of b, c; ΔP1 of a, c
    low, high = want.adjusted
    row_c = [ln for ln in table.splitlines() if ln.startswith("| c |")][0]
    assert row_c.endswith(f" {want.mean:+.2f} [{low:+.2f}, {high:+.2f}] {want.verdict} |")
    assert "ΔP1 vs b" in table.splitlines()[0] and "(reference)" in table
    assert "Holm-adjusted over the 6 differences" in table


def test_contrasts_join_the_table_and_its_holm_family():
    """A study's contrasts are compared on P1 and P2, Holm-adjusted with the table's other
    differences, and printed in their own table; a contrast naming an unknown arm is refused."""
    from mmdiff.study.grid import Arm, Study
    from mmdiff.study.report import comparisons
    doc = {"study": "x", "seeds": [0, 1, 2], "baseline": "a", "versus": None, "command": "x",
           "fast": False, "wall_seconds": 60, "contrasts": [["c", "b"]], "arms": {
               name: {"title": name, "params": 1, "lifter_params": 1, "mean": {}, "std": {},
                      "seeds": {str(s): {"p1": p1 + s * 0.1 + k * s * 0.05, "p2": p1 / 2 + s}
                                for s in range(3)}}
               for k, (name, p1) in enumerate((("a", 70.0), ("b", 68.0), ("c", 66.0)))}}
    for e in doc["arms"].values():
        for m in ("p1", "p2"):
            e["mean"][m], e["std"][m] = 0.0, 0.0
    family = comparisons(doc)
    assert ("c", "p1", "b") in family and ("c", "p2", "b") in family and len(family) == 6
    assert family[("c", "p1", "b")].mean == pytest.approx(-2.0 + 0.05)
    text = markdown_table(doc)
    assert "| c − b |" in text and "over the 6 differences" in text
    with pytest.raises(ConfigError, match=r"contrasts name arms it lacks: \['z'\]"):
        Study("s", "t", "q", "embedded", (Arm("a", "a"),), contrasts=(("a", "z"),))


def test_run_key_ignores_later_fields_at_their_default():
    """A config field added later (train.precision) leaves the keys of earlier runs unchanged
    while at its default (the key below was computed before the field existed), and names a
    different run when set."""
    from mmdiff.config import load_config
    from mmdiff.study.run import run_key
    cfg = load_config("demo")
    assert run_key(cfg, "denoiser") == "denoiser-c051f974de7b"
    assert run_key(cfg.replace({"train.precision": "bf16"}), "denoiser") != run_key(cfg, "denoiser")


def test_renamed_config_keys_keep_the_run_keys_of_earlier_runs():
    """Run folders are named by a hash of the config; keys renamed since (mmdiff.config.RENAMED)
    are hashed under their old names, so finished runs are found again, not retrained. The
    expected keys were computed by the kit before the rename."""
    from mmdiff.study.grid import STUDIES
    from mmdiff.study.run import run_config, run_key
    files = {"path_3d": "a.npz", "path_2d": "b.npz", "gt_gmm": "c.npz"}
    study = STUDIES["pipelines"]
    keys = {a.name: run_key(run_config(study, files, 0, False, a), "denoiser") for a in study.arms}
    assert keys["mmdiff"] == "denoiser-e1bfdb234bd5"
    assert keys["diffpose_own"] == "denoiser-bb6b63df4f45"
    assert keys["regressor"] == "denoiser-239768eadd74"


def test_readme_verdict_words_agree_with_their_intervals():
    """Every "mean [low, high] word" cell in README's study tables: the word is the one the
    interval gives (holds: excludes 0; equivalent: inside ±1 mm; else inconclusive)."""
    import re
    text = (REPO / "README.md").read_text()
    cells = re.findall(r"([+-]\d+\.\d\d) \[([+-]\d+\.\d\d), ([+-]\d+\.\d\d)\] "
                       r"(holds|equivalent within ±1 mm|inconclusive)", text)
    assert len(cells) >= 20
    for mean, low, high, word in cells:
        assert verdict(float(low), float(high)) == word or (
            # a bound that rounds to 0.00 or ±1.00 is decided by the unrounded number
            {abs(float(low)), abs(float(high))} & {0.0, 1.0}), (mean, low, high, word)


def test_lesson_verdicts_are_cells_of_the_stored_studies():
    """A "mean [low, high] word" quoted in a lesson's text is a cell of a stored study's table
    (same Holm family, same rounding), so a lesson cannot type a verdict the data do not give."""
    import re
    from mmdiff.study.hypotheses import comparisons as hyp_comparisons
    from mmdiff.study.report import cell, comparisons
    stored = set()
    for path in STORED:
        doc = load_study(path)
        family = hyp_comparisons(doc) if "of" in doc else comparisons(doc)
        stored |= {cell(c) for c in family.values()}
    pattern = re.compile(r"[+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\] "
                         r"(?:holds|equivalent within ±1 mm|inconclusive)")
    quoted = 0
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        for c in json.loads(nb.read_text())["cells"]:
            if c["cell_type"] != "markdown":
                continue
            text = re.sub(r"\s+", " ", "".join(c["source"]))
            for found in pattern.findall(text):
                quoted += 1
                assert found in stored, f"{nb.name}: {found!r} is no stored study's cell"
    assert quoted >= 3


@pytest.mark.slow
def test_seeds_as_parallel_jobs_and_as_submitit_jobs_give_the_same_results(tmp_path, monkeypatch):
    """--jobs 2 (two single-thread processes) and submitit's local executor (what a SLURM
    cluster runs) train and evaluate each seed to the same numbers; results are per-run files."""
    monkeypatch.chdir(REPO)
    docs = []
    for k, extra in enumerate((["--jobs", "2"], ["--executor", "local"])):
        exp = tmp_path / f"s{k}"
        assert main(["train_steps_val", "--fast", "--seeds", "0,1", "--exp", str(exp)] + extra) == 0
        docs.append(load_study(exp / "fast" / "train_steps_val.json"))
        assert len(list((exp / "fast" / "results" / "train_steps_val").rglob("seed*.json"))) == 4
    for arm in ("mmdiff", "train_all"):
        for s in ("0", "1"):
            a, b = (d["arms"][arm]["seeds"][s] for d in docs)
            assert a["p1"] == b["p1"] and a["p2"] == b["p2"] and a["commit"] == b["commit"]
    assert docs[0]["validation"] == ["S8"] and docs[0]["evaluate_on"] == "validation"
