"""GMM fitting (EM) and DiffPose-layout GMM files."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mmdiff.data import gmm
from mmdiff.data.h36m import load_positions_2d, load_positions_3d, save_positions_2d
from mmdiff.errors import DataError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
DET = SAMPLE / "data_2d_h36m_synth_det.npz"
POS = SAMPLE / "data_3d_h36m_synth.npz"


def test_detection_and_gt_kernels():
    rng = np.random.default_rng(3)
    det = rng.uniform(0, 1000, (5, 17, 2))
    scale = np.linspace(0.8, 1.2, 5)
    mix = gmm.ErrorMixture(np.tile([0.8, 0.15, 0.05], (17, 1)), np.zeros((17, 3, 2)),
                           np.tile(np.array([2.0, 5.0, 20.0])[:, None], (17, 1, 2)))
    k = gmm.detection_gmm(det, scale, mix, res_w=1000)
    assert k.shape == (5, 17, 3, 5) and k.dtype == np.float32
    assert np.allclose(k[..., 0].sum(-1), 1)
    assert np.array_equal(k[:, :, 0, 1:3], det.astype(np.float32))
    assert np.allclose(k[:, 0, 2, 3], 20.0 * scale * 2 / 1000)  # spreads in normalised units
    g = gmm.gt_gmm(det, scale, res_w=1000)
    assert np.allclose(g[..., 0].sum(-1), 1) and np.allclose(g[:, :, 1, 1:3], det)
    assert g[..., 3:].max() <= 4.0 * 1.2 * 2 / 1000 + 1e-8


def test_write_gmm_file_from_plain_detections(tmp_path):
    out = gmm.write_gmm_file(DET, POS, tmp_path / "det_gmm.npz", seed=0)
    loaded, det = load_positions_2d(out), load_positions_2d(DET)
    for s, actions in det.items():
        for a, cams in actions.items():
            for c, d in enumerate(cams):
                g = loaded[s][a][c]
                assert g.shape == d.shape[:2] + (gmm.DEFAULT_KERNELS, 5)
                assert np.allclose(g[..., 0].sum(-1), 1.0, atol=1e-6)
                assert np.array_equal(g[:, :, 0, 1:3], d)
    again = load_positions_2d(gmm.write_gmm_file(DET, POS, tmp_path / "again.npz", seed=0))
    assert all(np.array_equal(x, y) for s in det for a in det[s]
               for x, y in zip(loaded[s][a], again[s][a]))
    two = load_positions_2d(gmm.write_gmm_file(DET, POS, tmp_path / "k2.npz", num_kernels=2))
    assert next(iter(next(iter(two.values())).values()))[0].shape[2] == 2


def test_write_gmm_file_tolerates_longer_detections(tmp_path):
    det = load_positions_2d(DET)
    longer = {s: {a: [np.concatenate([c, c[-2:]]) for c in cams] for a, cams in acts.items()}
              for s, acts in det.items()}
    save_positions_2d(tmp_path / "long.npz", longer)
    g = load_positions_2d(gmm.write_gmm_file(tmp_path / "long.npz", POS, tmp_path / "g.npz"))
    s, a = "S1", "Walking 1"
    assert len(g[s][a][0]) == len(load_positions_3d(POS)[s][a]) + 2


def test_write_gmm_file_errors_name_the_problem(tmp_path):
    det = load_positions_2d(DET)
    det["S1"]["Dancing 1"] = det["S1"]["Walking 1"]
    save_positions_2d(tmp_path / "extra.npz", det)
    with pytest.raises(DataError, match="no 3D ground truth"):
        gmm.write_gmm_file(tmp_path / "extra.npz", POS, tmp_path / "out.npz")
    gmm_file = SAMPLE / "data_2d_h36m_synth_det_gmm.npz"
    shutil.copy(gmm_file, tmp_path / "g.npz")
    with pytest.raises(DataError, match="expected plain detections"):
        gmm.write_gmm_file(tmp_path / "g.npz", POS, tmp_path / "out.npz")


def _per_camera(det, make):
    return {s: {a: [make(c) for c in cams] for a, cams in acts.items()} for s, acts in det.items()}


def test_write_gmm_file_fits_each_frame_to_confidences(tmp_path):
    det = load_positions_2d(DET)
    conf = _per_camera(det, lambda c: np.where(np.arange(len(c))[:, None] % 2 == 0, 0.95, 0.2)
                       * np.ones((1, 17)))
    np.savez(tmp_path / "conf.npz", confidences=np.array(conf, dtype=object))
    g = load_positions_2d(gmm.write_gmm_file(DET, POS, tmp_path / "g.npz",
                                             evidence=tmp_path / "conf.npz"))
    x = g["S1"]["Walking 1"][0]                                          # (F, 17, 3, 5)
    assert np.array_equal(x[:, :, 0, 1:3], det["S1"]["Walking 1"][0])
    assert x[0::2, :, 0, 0].min() > 0.8 and x[1::2, :, 0, 0].max() < 0.5   # follows confidence
    plain = load_positions_2d(gmm.write_gmm_file(DET, POS, tmp_path / "p.npz"))
    assert np.ptp(plain["S1"]["Walking 1"][0][..., 0, 0], axis=0).max() < 1e-6  # mixture path


def test_write_gmm_file_fits_each_frame_to_heatmaps(tmp_path):
    det = load_positions_2d(DET)
    H, W, box = 24, 32, np.array([0.0, 0.0, 1000.0, 750.0])           # ~31 px per heatmap pixel
    r, c = np.mgrid[0:H, 0:W] + 0.5

    def heatmaps(d):
        col, row = d[..., 0] / (1000 / W), d[..., 1] / (750 / H)       # (F, 17) heatmap coords
        hm = np.exp(-0.5 * ((r - row[..., None, None]) ** 2 + (c - col[..., None, None]) ** 2))
        hm[1::3] += 0.6 * np.exp(-0.5 * ((r - row[1::3, :, None, None]) ** 2 +
                                         (c - col[1::3, :, None, None] - 4) ** 2))
        return hm                                                       # second mode 4 px right
    hms = {s: {a: [heatmaps(d) for d in cams] for a, cams in acts.items()}
           for s, acts in det.items()}
    boxes = _per_camera(det, lambda d: np.tile(box, (len(d), 1)))
    np.savez(tmp_path / "hm.npz", heatmaps=np.array(hms, dtype=object),
             boxes=np.array(boxes, dtype=object))
    g = load_positions_2d(gmm.write_gmm_file(DET, POS, tmp_path / "g.npz",
                                             evidence=tmp_path / "hm.npz"))
    x, d = g["S5"]["Sitting 1"][1], det["S5"]["Sitting 1"][1]
    assert np.array_equal(x[:, :, 0, 1:3], d)
    second = np.linalg.norm(x[1::3, :, 1:, 1:3] - (d[1::3, :, None] + [4 * 1000 / W, 0]), axis=-1)
    assert np.median(second.min(-1)) < 15                               # a kernel on mode 2
    assert x[1::3, :, 0, 0].mean() < x[0::3, :, 0, 0].mean() - 0.05     # weights follow


def test_evidence_file_errors_name_the_problem(tmp_path):
    np.savez(tmp_path / "bad.npz", scores=np.zeros(3))
    with pytest.raises(DataError, match="confidences"):
        gmm.write_gmm_file(DET, POS, tmp_path / "o.npz", evidence=tmp_path / "bad.npz")
    np.savez(tmp_path / "short.npz", confidences=np.array(
        {"S1": {"Walking 1": [np.ones((2, 17))] * 4}}, dtype=object))
    with pytest.raises(DataError, match="Walking 1|S5|missing"):
        gmm.write_gmm_file(DET, POS, tmp_path / "o.npz", evidence=tmp_path / "short.npz")
