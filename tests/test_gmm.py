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


def _mixture_samples(rng, n, weights, means, sds):
    comp = rng.choice(len(weights), n, p=weights)
    return np.asarray(means)[comp] + np.asarray(sds)[comp] * rng.standard_normal((n, 2))


def test_em_recovers_a_known_two_component_mixture():
    rng = np.random.default_rng(0)
    truth = [((0.7, 0.3), ((0, 0), (5, -3)), ((1.0, 2.0), (0.5, 0.5))),
             ((0.5, 0.5), ((-2, 1), (3, 3)), ((0.8, 0.8), (1.5, 0.6)))]
    x = np.stack([_mixture_samples(rng, 4000, *t) for t in truth])      # (2, 4000, 2)
    w, m, s = gmm.fit_gmm(x, num_kernels=2, seed=0, iters=300, fixed_means=0, min_spread=0.01)
    for b, (tw, tm, ts) in enumerate(truth):
        order = np.argsort([np.linalg.norm(m[b, k] - np.asarray(tm[0])) for k in range(2)])
        assert w[b, order] == pytest.approx(tw, abs=0.03)
        assert np.abs(m[b, order] - np.asarray(tm)).max() < 0.2
        assert s[b, order] == pytest.approx(np.asarray(ts), rel=0.12)


def test_em_scale_mixture_with_means_fixed_at_zero():
    rng = np.random.default_rng(1)
    x = _mixture_samples(rng, 6000, (0.9, 0.1), ((0, 0), (0, 0)), ((2.0, 2.0), (10.0, 10.0)))
    w, m, s = gmm.fit_gmm(x[None], num_kernels=2, seed=0, iters=300, fixed_means=2)
    assert np.all(m == 0)
    assert w[0] == pytest.approx([0.9, 0.1], abs=0.03)                  # sorted by weight
    assert s[0, :, 0] == pytest.approx([2.0, 10.0], rel=0.12)


def test_em_is_reproducible_and_well_formed():
    rng = np.random.default_rng(2)
    x = rng.standard_t(3, (3, 500, 2))
    w, m, s = gmm.fit_gmm(x, 3, seed=5, fixed_means=1)
    assert all(np.array_equal(a, b) for a, b in zip((w, m, s), gmm.fit_gmm(x, 3, seed=5,
                                                                          fixed_means=1)))
    assert np.allclose(w.sum(-1), 1) and np.all(w >= 0)
    assert np.all(m[:, 0] == 0) and np.all(s >= gmm.MIN_SPREAD_PX)
    assert np.all(np.diff(w[:, 1:], axis=1) <= 0)                        # free kernels sorted


def test_fit_gmm_rejects_bad_shapes():
    with pytest.raises(DataError, match=r"\(B, N >= K, 2\)"):
        gmm.fit_gmm(np.zeros((10, 2)), 3)


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
