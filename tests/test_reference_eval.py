"""End to end against the reference's OWN evaluation loop (../shared/reference/eval): released-
layout checkpoints, small files in the published formats, and the per-action table that
monoMotionDiff's ``test()`` printed on them. `mmdiff eval --config cpn` must print the same
table (every action's P1 and P2 and the Average within 0.01 mm), and each protocol choice,
changed alone, must give the reference's numbers for that variant."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from mmdiff.cli import main
from mmdiff.config import load_config
from mmdiff.data.dataset import load_split
from mmdiff.evaluate import action_errors, evaluate, predictions

from conftest import SHARED

EVAL = SHARED / "reference" / "eval"
TOL_MM = 0.01                                    # eval/README.md: on every full-precision value
pytestmark = pytest.mark.skipif(not (EVAL / "reference_table.json").is_file(),
                                reason=f"{EVAL} is absent: the end-to-end reference table cannot "
                                       f"be checked (it needs ../shared beside the checkout)")


def _table() -> dict:
    return json.loads((EVAL / "reference_table.json").read_text())


def _cfg(**overrides):
    return load_config("cpn", {"data.path_3d": str(EVAL / "data" / "data_3d_h36m.npz"),
                               "data.path_2d": str(EVAL / "data" /
                                                   "data_2d_h36m_cpn_ft_h36m_dbb_gmm.npz"),
                               "eval.batch_size": 50, **overrides})


def _assert_matches(summary: dict, average: tuple, reference: dict, keys=("p1", "p2")) -> None:
    for action, values in reference.items():
        if action.startswith("Average"):
            continue
        got = summary.get(action, (0.0, 0.0))
        for i, key in enumerate(keys):
            assert got[i] == pytest.approx(values[key], abs=TOL_MM), (action, key)


@pytest.mark.slow
def test_mmdiff_eval_prints_the_reference_table(tmp_path, capsys):
    out = tmp_path / "eval.csv"
    code = main(["eval", "--config", "cpn", "--quiet", "--device", "cpu",
                 "--set", f"data.path_3d={EVAL / 'data' / 'data_3d_h36m.npz'}",
                 "--set", f"data.path_2d={EVAL / 'data' / 'data_2d_h36m_cpn_ft_h36m_dbb_gmm.npz'}",
                 "--set", "eval.batch_size=50", "--lifter", str(EVAL / "gcn_xyz_cpn.pth"),
                 "--ckpt", str(EVAL / "ckpt_cpn.pth"), "--csv", str(out)])
    assert code == 0
    rows = {r["action"]: r for r in csv.DictReader(open(out))}
    table = _table()
    assert list(rows) == [a for a in table if not a.startswith("_")]          # 15 + Average
    for action, ref in table["_full_precision"].items():
        assert float(rows[action]["p1_mm"]) == pytest.approx(ref["p1"], abs=TOL_MM), action
        assert float(rows[action]["p2_mm"]) == pytest.approx(ref["p2"], abs=TOL_MM), action
    for action, ref in table["_per_sample_p2"].items():                      # second P2 column
        if action in rows:
            assert float(rows[action]["p2_per_sample_mm"]) == pytest.approx(ref, abs=TOL_MM)
    printed = capsys.readouterr().out
    for line in table["_printed"].splitlines()[1:]:                          # the printed rows
        name, p1, p2 = line.split()
        assert any(ln.split()[:3] == [name, p1, p2] for ln in printed.splitlines()), line


@pytest.fixture(scope="module")
def raw_predictions():
    """The kit's predictions with the reference protocol, in the test loader's order."""
    cfg = _cfg()
    from mmdiff.checkpoints import load_denoiser, load_lifter
    samples = load_split(cfg.data, "test")
    pred = predictions(cfg, load_lifter(EVAL / "gcn_xyz_cpn.pth", device="cpu"),
                       load_denoiser(EVAL / "ckpt_cpn.pth", device="cpu"), samples.pose_2d,
                       device="cpu")
    return cfg, samples, pred


@pytest.mark.slow
def test_predictions_equal_the_reference_in_loader_order(raw_predictions):
    _, samples, pred = raw_predictions
    ref = np.load(EVAL / "predictions.npz")
    assert pred.shape == ref["pred"].shape
    np.testing.assert_allclose(samples.pose_3d, ref["target"], atol=1e-5)
    assert [a.split(" ")[0] for a in ref["action"].tolist()] == samples.action.tolist()
    np.testing.assert_allclose(pred, ref["pred"], atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("variant, change", [("batch_64", {"eval.batch_size": 64})])
def test_p2_batching_variant(raw_predictions, variant, change):
    cfg, samples, pred = raw_predictions
    errors = action_errors(pred, samples, cfg.replace(change))
    ref = json.loads((EVAL / "variants.json").read_text())[variant]
    _assert_matches(errors.summary(), errors.average(), ref["full"])
    assert errors.average() == pytest.approx(tuple(ref["full_average"].values()), abs=TOL_MM)


@pytest.mark.slow
@pytest.mark.parametrize("variant, change", [
    ("ema_weights", {"eval.use_ema": True}),
    ("per_camera_normalisation", {"data.normalization": "camera"})])
def test_protocol_variants(variant, change):
    cfg = _cfg(**change)
    errors = evaluate(cfg, EVAL / "gcn_xyz_cpn.pth", EVAL / "ckpt_cpn.pth", device="cpu",
                      progress=False)
    ref = json.loads((EVAL / "variants.json").read_text())[variant]
    _assert_matches(errors.summary(), errors.average(), ref["full"])
    assert errors.average() == pytest.approx(tuple(ref["full_average"].values()), abs=TOL_MM)
    assert errors.average(p2="per_sample")[1] == pytest.approx(ref["per_sample_p2_average"],
                                                               abs=TOL_MM)
