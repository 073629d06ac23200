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


def two_people_file(tmp_path):
    """20 frames: person A in every frame, person B (to the right, less confident) in frames
    5-14, and a one-frame false detection at frame 3; AlphaPose without tracking (idx 0)."""
    a, b = halpe_frames(20), halpe_frames(20, shift=(300.0, 40.0))
    entries = [alphapose_entry(f, a[f], score=2.8, track=0) for f in range(20)]
    entries += [alphapose_entry(f, b[f], score=2.0, track=0) for f in range(5, 15)]
    entries.append(alphapose_entry(3, halpe_frames(1, shift=(-400.0, 0.0))[0], score=0.5,
                                   track=0))
    return write_json(tmp_path / "two.json", entries)


def test_gap_frames_stay_nan(tmp_path, tiny_models):
    lifter, den = tiny_models
    cfg = load_config("cpn", {"eval.hypotheses": 3, "sampler.eta": 0.5})
    pred = predict_file(gap_file(tmp_path), cfg, lifter, den, max_gap=5, device="cpu")
    (person,) = pred.people
    assert pred.pose_3d.shape == (1, 12, 17, 3) and person.hypotheses.shape == (3, 12, 17, 3)
    assert np.isnan(person.pose_3d[3:10]).all()
    assert np.isfinite(person.pose_3d[person.keypoints.lifted]).all()
    assert person.report.lifted == 5 and any("not lifted" in n for n in person.notes)


def test_every_person_is_lifted_on_one_frame_axis(tmp_path, tiny_models):
    lifter, den = tiny_models
    pred = predict_file(two_people_file(tmp_path), load_config("cpn"), lifter, den, device="cpu")
    assert [p.track for p in pred.people] == [0, 2]     # numbered as they appear; by confidence
    assert pred.pose_3d.shape == (2, 20, 17, 3) and pred.frame.tolist() == list(range(20))
    present = np.isfinite(pred.pose_3d).all(axis=(2, 3))                   # (P, F)
    assert present[0].all() and present[1].tolist() == [5 <= f < 15 for f in range(20)]
    assert any("fewer than 5 detections not lifted: 1" in n for n in pred.notes)
    text = report_text(pred)
    assert "person 0 (track 0, frames 0-19)" in text and "person 1 (track 2, frames 5-14)" in text
    z = np.load(save_prediction(pred, tmp_path / "o.npz", hypotheses=True))
    assert z["frame_range"].tolist() == [[0, 19], [5, 14]] and z["track"].tolist() == [0, 2]
    assert z["present"].tolist() == present.tolist()
    assert z["hypotheses"].shape == (2, 1, 20, 17, 3) and z["bone_variation"].shape == (2, 16)
    np.testing.assert_array_equal(z["pose_3d"][1, 5:15], pred.people[1].pose_3d)
    one = predict_file(two_people_file(tmp_path), load_config("cpn"), lifter, den, person=2)
    assert one.pose_3d.shape == (1, 10, 17, 3) and one.frame.tolist() == list(range(5, 15))
    np.testing.assert_array_equal(one.people[0].pose_3d, pred.people[1].pose_3d)
    view = sequence_view(pred)
    assert "3d/1/joints" in [t.meta for t in view.fig.data] and len(view.fig.frames) == 20


def test_h36m_framing_makes_the_lift_independent_of_the_frame(tmp_path, tiny_models):
    """The same person filmed in a small portrait frame (scaled and moved) gets the same model
    input under h36m framing; image framing gives another."""
    lifter, den = tiny_models
    main = halpe_frames(6)
    small = main.copy()
    small[..., :2] = small[..., :2] * 0.45 + [20.0, 60.0]
    files = [write_json(tmp_path / f"{k}.json", [alphapose_entry(f, x[f]) for f in range(6)])
             for k, x in (("big", main), ("small", small))]
    cfg = load_config("cpn")
    big, little = (predict_file(f, cfg, lifter, den, device="cpu") for f in files)
    np.testing.assert_allclose(big.people[0].pose_2d, little.people[0].pose_2d, atol=1e-5)
    np.testing.assert_allclose(big.pose_3d, little.pose_3d, atol=1e-5)
    image = predict_file(files[1], cfg, lifter, den, width=360, height=640, framing="image")
    assert not np.allclose(image.people[0].pose_2d, little.people[0].pose_2d, atol=1e-2)
    assert "framing: image (360 x 640 px" in image.people[0].notes[-2]


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
    for framing in ("h36m", "image"):
        (pred,) = predict_file(gap_file(tmp_path), cfg, lifter, den, width=1000, height=1000,
                               max_gap=5, device="cpu", framing=framing).people
        lifted = pred.keypoints.lifted
        expected = predictions(cfg, lifter, den, pred.pose_2d[lifted], device="cpu")
        assert np.array_equal(pred.pose_3d[lifted], expected)
    if objective == "lifter alone" and precision == "fp32":
        plain = lifter(torch.as_tensor(pred.pose_2d[lifted])).detach()
        plain = (plain - plain[:, :1]).numpy()              # no TTA: the lifter's own output
        assert np.allclose(expected, plain, atol=1e-6) is (not lifter_tta)


def test_image_framing_needs_the_image_size(tmp_path, tiny_models):
    lifter, _ = tiny_models
    cfg = load_config("cpn")
    with pytest.raises(DataError, match="does not give the image size: pass --width W --height H"):
        predict_file(gap_file(tmp_path), cfg, lifter, framing="image")
    with pytest.raises(DataError, match="unknown framing 'box'"):
        predict_file(gap_file(tmp_path), cfg, lifter, framing="box")
    with pytest.raises(DataError, match="pass both --width and --height"):
        predict_file(gap_file(tmp_path), cfg, lifter, width=1000)


def test_npz_keys_and_html(tmp_path, tiny_models):
    lifter, den = tiny_models
    pred = predict_file(gap_file(tmp_path), load_config("cpn"), lifter, den, width=1000,
                        height=800, max_gap=5)
    path = save_prediction(pred, tmp_path / "out.npz", hypotheses=True)
    z = np.load(path)
    assert {"pose_3d", "hypotheses", "pose_2d", "keypoints_px", "scores", "frame", "image_size",
            "filled_frames", "gap_frames", "unseen_frames", "interpolated_joints", "low_confidence",
            "bone_variation", "source_layout", "track", "frame_range", "present", "framing",
            "framing_scale", "joint_names"} == set(z.files)
    assert z["image_size"].tolist() == [1000, 800] and z["gap_frames"].sum() == 7
    assert str(z["framing"]) == "h36m" and z["pose_3d"].shape == (1, 12, 17, 3)
    assert "hypotheses" not in np.load(save_prediction(pred, tmp_path / "o2.npz")).files
    view = sequence_view(pred)
    assert len(view.fig.frames) == 12 and "7 frames" not in view.fig.layout.title.text
    assert write_html(pred, tmp_path / "v.html").stat().st_size > 1e6      # plotly.js inlined


def test_a_single_image_is_lifted_without_a_report(tmp_path, tiny_models):
    lifter, den = tiny_models
    path = write_json(tmp_path / "one.json", [alphapose_entry(0, halpe_frames(1)[0])])
    pred = predict_file(path, load_config("cpn"), lifter, den, width=1000, height=1000)
    assert pred.pose_3d.shape == (1, 1, 17, 3) and pred.people[0].report is None
    assert "not measured" in report_text(pred)
    assert np.isnan(np.load(save_prediction(pred, tmp_path / "o.npz"))["bone_variation"]).all()


@pytest.mark.slow
@pytest.mark.skipif(not (DEMO / "lifter.pth").is_file(), reason="ckpts/demo/ is missing")
def test_committed_sample_lifted_by_the_demo_weights_has_steady_bones():
    cfg = load_config(DEMO / "eval_config.yml")
    pred = predict_file(SAMPLE, cfg, load_lifter(DEMO / "lifter.pth", device="cpu"),
                        load_denoiser(DEMO / "mmdiff.pth", device="cpu"), device="cpu")
    main, second = pred.people
    assert main.keypoints.source_layout == "halpe26" and main.track == 0
    assert main.keypoints.filled_frames.sum() == 7 and main.report.lifted == 300
    assert second.keypoints.frame[[0, -1]].tolist() == [100, 224]
    assert main.report.median <= 0.05 and second.report.median <= 0.05  # 3.9 %, 3.8 %
