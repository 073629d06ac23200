"""Evaluation: the seed's per-action table and CSV, lifter flip TTA, batching invariance, and the
shipped demo checkpoints reproducing their recorded accuracy."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdiff.config import Config, load_config
from mmdiff.data.h36m import ACTIONS
from mmdiff.evaluate import (action_errors, evaluate_models, predictions,
                             write_metrics_json)
from mmdiff.models.graformer import GraFormer, GraFormerConfig
from mmdiff.skeleton import flip_pose

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _train_helpers import tiny_samples  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "ckpts" / "demo"


def tiny_lifter():
    torch.manual_seed(0)
    return GraFormer(GraFormerConfig(hid_dim=16, num_layers=1, n_head=2)).eval()


def test_table_has_15_actions_and_average_in_the_seed_layout(tmp_path):
    samples = tiny_samples(45)
    pred = samples.pose_3d + 0.01
    errors = action_errors(pred, samples)
    lines = errors.table().splitlines()
    assert lines[0] == "===Action=== ==p#1 mm== =p#2 mm= ==p#2 sample=="
    assert [l.split()[0] for l in lines[1:]] == list(ACTIONS) + ["Average"]
    p1 = float(lines[-1].split()[1])
    assert p1 == pytest.approx(np.sqrt(3) * 10, abs=0.01)  # every joint off by 1 cm on x, y, z
    rows = errors.to_csv(tmp_path / "t.csv").read_text().splitlines()
    assert len(rows) == 17 and rows[-1].startswith("Average,17.32")
    assert rows[0] == "action,p1_mm,p2_mm,p2_per_sample_mm,count"
    saved = json.loads(write_metrics_json(tmp_path / "m.json", {"x": errors}).read_text())
    assert saved["x"]["Average"][0] == pytest.approx(17.321, abs=1e-3)


def test_lifter_alone_flip_tta_is_the_mean_with_the_lifter_run_on_the_mirrored_2d():
    lifter = tiny_lifter()
    x = torch.randn(5, 17, 2) * 0.3
    with torch.no_grad():
        plain = lifter(x)
        mirrored = lifter(flip_pose(x))
    plain = plain - plain[:, :1]
    expected = (plain + flip_pose(mirrored - mirrored[:, :1])) / 2
    cfg = Config()
    assert cfg.eval.flip and cfg.eval.lifter_tta
    np.testing.assert_allclose(predictions(cfg, lifter, None, x), expected.numpy(), atol=1e-6)
    # eval.lifter_tta false: the lifter's plain output, the pose the refinement starts from
    start = predictions(cfg.replace({"eval.lifter_tta": False}), lifter, None, x)
    np.testing.assert_allclose(start, plain.numpy(), atol=1e-6)
    assert np.abs(start - expected.numpy()).max() > 1e-4


def test_predictions_do_not_depend_on_the_batch_size():
    lifter, samples = tiny_lifter(), tiny_samples(23)
    cfg = Config().replace({"eval.batch_size": 5})
    a = predictions(cfg, lifter, None, samples.pose_2d)
    b = predictions(cfg.replace({"eval.batch_size": 100}), lifter, None, samples.pose_2d)
    assert a.shape == (23, 17, 3) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, 17, 2\)"):
        predictions(cfg, lifter, None, np.zeros((3, 16, 2)))


def test_demo_checkpoints_reproduce_their_recorded_accuracy(monkeypatch):
    """ckpts/demo/*.pth, evaluated as `mmdiff demo` did, give the numbers in metrics.json."""
    monkeypatch.chdir(REPO)  # the config's data paths are relative to the repository
    if not (DEMO / "metrics.json").is_file():
        pytest.skip(f"{DEMO}/metrics.json absent: run `make demo` to produce the demo checkpoints")
    from mmdiff.checkpoints import load_denoiser, load_lifter
    from mmdiff.data.dataset import load_split
    cfg = load_config(DEMO / "eval_config.yml")
    if not Path(cfg.data.path_3d).is_file():
        pytest.skip(f"{cfg.data.path_3d} absent: run `mmdiff data synth` first")
    recorded = json.loads((DEMO / "metrics.json").read_text())
    test = load_split(cfg.data, "test")
    lifter = load_lifter(DEMO / "lifter.pth", device="cpu")
    for name, table in recorded.items():
        denoiser = None if name == "lifter" else load_denoiser(DEMO / f"{name}.pth", device="cpu")
        errors = evaluate_models(cfg, lifter, denoiser, test, device="cpu")
        assert errors.average()[0] == pytest.approx(table["Average"][0], abs=0.05), name
        assert errors.average()[1] == pytest.approx(table["Average"][1], abs=0.05), name
