"""The command line: train-lifter / train / eval on tiny files, --set errors, predict on npz and
detector JSON, layout errors."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdiff.checkpoints import save_checkpoint
from mmdiff.cli import main
from mmdiff.data.h36m import ACTIONS
from mmdiff.models.graformer import GraFormer, GraFormerConfig
from mmdiff.models.mmdiff import DenoiserConfig, MMDiffDenoiser
from mmdiff.wild.keypoints import BODY25_TO_COCO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import REPO  # noqa: E402
from _train_helpers import tiny_yaml, write_tiny_h36m  # noqa: E402
from _keypoint_files import alphapose_entry, coco_frames, halpe_frames  # noqa: E402


@pytest.fixture
def tiny_files(tmp_path):
    p3, p2 = write_tiny_h36m(tmp_path)
    return tmp_path, tiny_yaml(tmp_path, p3, p2)


@pytest.fixture
def tiny_ckpts(tmp_path):
    torch.manual_seed(0)
    lifter = GraFormer(GraFormerConfig(hid_dim=16, num_layers=1, n_head=2))
    denoiser = MMDiffDenoiser(DenoiserConfig(hid_dim=16, emd_dim=16, num_layers=1, n_head=2))
    return (save_checkpoint(tmp_path / "lifter.pth", lifter),
            save_checkpoint(tmp_path / "den.pth", denoiser))


def test_unknown_override_is_a_clear_error(tiny_files, capsys):
    folder, cfg = tiny_files
    code = main(["train-lifter", "--config", cfg, "--exp", str(folder / "exp"), "--doc", "x",
                 "--set", "optim.lrr=1", "--quiet"])
    assert code == 2
    assert "unknown key 'lrr' in section 'optim' (did you mean 'lr'?)" in capsys.readouterr().err


def test_train_lifter_then_eval_lifter_only(tiny_files, capsys):
    folder, cfg = tiny_files
    exp = folder / "exp"
    assert main(["train-lifter", "--config", cfg, "--exp", str(exp), "--doc", "lift",
                 "--quiet", "--set", "lifter_train.epochs=2"]) == 0
    run = exp / "lift"
    assert {"config.yml", "log.txt", "metrics.jsonl", "ckpt.pth", "best.pth", "ckpt_1.pth"} <= {
        p.name for p in run.iterdir()}
    capsys.readouterr()
    assert main(["eval", "--config", cfg, "--exp", str(exp), "--doc", "lift", "--lifter-only",
                 "--lifter", str(run / "best.pth"), "--no-flip", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "lifter alone: flip TTA off" in out
    lines = out.strip().splitlines()
    assert lines[-17] == "===Action=== ==p#1 mm== =p#2 mm= ==p#2 sample=="     # the reference's
    assert [ln.split()[0] for ln in lines[-16:]] == list(ACTIONS) + ["Average"]  # 15 actions
    rows = (run / "eval_lifter.csv").read_text().splitlines()
    assert rows[0] == "action,p1_mm,p2_mm,p2_per_sample_mm,count" and rows[-1].startswith("Average,")
    assert main(["eval", "--config", cfg, "--exp", str(exp), "--doc", "lift", "--lifter-only",
                 "--lifter", str(run / "best.pth"), "--no-flip", "--quiet",
                 "--set", "eval.average=present"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split()[0] for ln in lines[-3:]] == ["Eating", "Walking", "Average"]


def test_predict_npz_h36m_and_coco_json(tmp_path, tiny_ckpts, capsys):
    lifter, _ = tiny_ckpts
    from mmdiff.wild.keypoints import coco_to_h36m
    np.savez(tmp_path / "kp.npz", keypoints=coco_to_h36m(coco_frames(4))[..., :2])
    out = tmp_path / "out.npz"
    assert main(["predict", str(tmp_path / "kp.npz"), "--width", "1000", "--height", "1000",
                 "--lifter", str(lifter), "--lifter-only", "--out", str(out),
                 "--config", "cpn"]) == 0
    z = np.load(out)
    assert z["pose_3d"].shape == (1, 4, 17, 3) and np.allclose(z["pose_3d"][0, :, 0], 0)
    dets = [{"image_id": i, "keypoints": f.ravel().tolist(), "score": 1.0}
            for i, f in enumerate(coco_frames(4))]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    out2 = tmp_path / "out2.npz"
    assert main(["predict", str(tmp_path / "dets.json"), "--width", "1000", "--height", "1000",
                 "--lifter", str(lifter), "--lifter-only", "--out", str(out2),
                 "--config", "cpn", "--html", str(tmp_path / "view.html")]) == 0
    assert "plotly" in (tmp_path / "view.html").read_text()[:100000].lower()
    np.testing.assert_allclose(np.load(out2)["pose_3d"], z["pose_3d"], atol=1e-5)


def test_predict_wrong_layout_is_an_error(tmp_path, tiny_ckpts, capsys):
    lifter, _ = tiny_ckpts
    np.savez(tmp_path / "coco.npz", keypoints=coco_frames(3))  # COCO order given as h36m
    code = main(["predict", str(tmp_path / "coco.npz"), "--width", "1000", "--height", "1000",
                 "--lifter", str(lifter), "--lifter-only", "--out", str(tmp_path / "o.npz")])
    assert code == 2 and "--layout coco" in capsys.readouterr().err
    np.savez(tmp_path / "bad.npz", keypoints=np.zeros((3, 13, 2)))
    code = main(["predict", str(tmp_path / "bad.npz"), "--width", "1000", "--height", "1000",
                 "--lifter", str(lifter), "--lifter-only", "--out", str(tmp_path / "o.npz")])
    assert code == 2 and "bad.npz: no known layout has 13 points" in capsys.readouterr().err
    code = main(["predict", str(tmp_path / "coco.npz"), "--lifter", str(lifter), "--lifter-only",
                 "--layout", "coco", "--framing", "image", "--out", str(tmp_path / "o.npz")])
    assert code == 2 and "pass --width W --height H" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "coco.npz"), "--lifter", str(lifter), "--lifter-only",
                 "--layout", "coco", "--out", str(tmp_path / "o.npz")]) == 0   # h36m framing


@pytest.mark.slow
def test_train_denoiser_resume_and_eval_pipeline(tiny_files, capsys):
    folder, cfg = tiny_files
    exp = folder / "exp"
    assert main(["train-lifter", "--config", cfg, "--exp", str(exp), "--doc", "lift", "--quiet"]) == 0
    lifter = str(exp / "lift" / "best.pth")
    assert main(["train", "--config", cfg, "--exp", str(exp), "--doc", "den", "--lifter", lifter,
                 "--quiet"]) == 0
    assert main(["train", "--config", cfg, "--exp", str(exp), "--doc", "den", "--resume",
                 "--set", "train.epochs=2", "--quiet"]) == 0
    rows = (exp / "den" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [0, 1] and "p1" in json.loads(rows[-1])
    capsys.readouterr()
    assert main(["eval", "--config", cfg, "--exp", str(exp), "--doc", "den", "--lifter", lifter,
                 "--hypotheses", "2", "--steps", "1", "--eta", "0.5", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "DDIM 1 steps of 12, eta 0.5, 2 hypotheses, flip TTA on" in out
    assert out.strip().splitlines()[-1].startswith("Average")
    assert (exp / "den" / "eval.csv").is_file()


def test_predict_with_denoiser_openpose_json(tmp_path, tiny_ckpts):
    lifter, den = tiny_ckpts
    frames = []
    for f in coco_frames(3):
        body = np.zeros((25, 3))
        body[list(BODY25_TO_COCO)] = f
        frames.append({"people": [{"pose_keypoints_2d": body.ravel().tolist()}]})
    (tmp_path / "op.json").write_text(json.dumps(frames))
    out = tmp_path / "o.npz"
    assert main(["predict", str(tmp_path / "op.json"), "--width", "1000", "--height", "1000",
                 "--lifter", str(lifter), "--ckpt", str(den), "--out", str(out),
                 "--config", "cpn"]) == 0
    z = np.load(out)
    assert z["pose_3d"].shape == (1, 3, 17, 3) and str(z["source_layout"]) == "openpose25"


def test_predict_alphapose_halpe_two_people_report_npz_html(tmp_path, tiny_ckpts, capsys):
    lifter, den = tiny_ckpts
    main_p, other = halpe_frames(8), halpe_frames(8, shift=(300, 0))
    main_p[5, 10, 2] = 0.05                                                 # right wrist unsure
    entries = [alphapose_entry(f, main_p[f], 2.9) for f in range(8) if f != 3]
    entries += [alphapose_entry(f, other[f], 3.2) for f in (1, 2, 6)]
    (tmp_path / "ap.json").write_text(json.dumps(entries))
    out, html = tmp_path / "o.npz", tmp_path / "v.html"
    assert main(["predict", str(tmp_path / "ap.json"), "--width", "1000", "--height", "1000",
                 "--lifter", str(lifter), "--ckpt", str(den), "--config", "cpn", "--hypotheses", "2",
                 "--keep-hypotheses", "--out", str(out), "--html", str(html)]) == 0
    text = capsys.readouterr().out
    assert "layout: halpe26 (26 points per person)" in text
    assert "people lifted: 1 (tracks 0, most confident first)" in text   # the other: 3 frames
    assert "tracks with fewer than 5 detections not lifted: 1" in text
    assert "1 filled by interpolation" in text and "plausibility: bone length variation" in text
    z = np.load(out)
    assert z["pose_3d"].shape == (1, 8, 17, 3) and z["hypotheses"].shape == (1, 2, 8, 17, 3)
    assert z["filled_frames"][0].tolist() == [False] * 3 + [True] + [False] * 4
    assert z["interpolated_joints"][0, 5, 16] and str(z["source_layout"]) == "halpe26"
    np.testing.assert_allclose(z["hypotheses"].mean(1), z["pose_3d"], atol=1e-6)
    assert main(["predict", str(tmp_path / "ap.json"), "--lifter", str(lifter), "--ckpt", str(den),
                 "--config", "cpn", "--min-detections", "2", "--out", str(out)]) == 0
    assert np.load(out)["pose_3d"].shape == (2, 8, 17, 3)
    assert "Plotly.addFrames" in html.read_text()


@pytest.mark.slow
def test_demo_pipeline_exports_reloadable_weights(tiny_files, capsys):
    from mmdiff.checkpoints import load_denoiser, load_lifter, read_checkpoint
    from mmdiff.config import load_config
    from mmdiff.evaluate import evaluate_models
    from mmdiff.data.dataset import load_split
    folder, cfg = tiny_files
    out = folder / "ckpts"
    assert main(["demo", "--config", cfg, "--exp", str(folder / "exp"), "--out", str(out),
                 "--baseline", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert text.index("lifter alone") < text.index("DiffPose") < text.index("lifter + MMDiff")
    recorded = json.loads((out / "metrics.json").read_text())
    assert set(recorded) == {"lifter", "diffpose", "mmdiff"}
    info = read_checkpoint(out / "mmdiff.pth")
    assert info.optimizer_state == {} and info.ema_state is None  # weights only
    eval_cfg = load_config(out / "eval_config.yml")
    lifter = load_lifter(out / "lifter.pth", device="cpu")
    errors = evaluate_models(eval_cfg, lifter, load_denoiser(out / "mmdiff.pth", device="cpu"),
                             load_split(eval_cfg.data, "test"))
    assert errors.average()[0] == pytest.approx(recorded["mmdiff"]["Average"][0], abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_training_stopped_by_a_signal_saves_and_exits_128_plus_signal(tiny_files, sig, code):
    """`mmdiff train-lifter` stopped mid-run writes ckpt.pth, then exits 130 (SIGINT) or 143
    (SIGTERM) as a shell expects, so a script or a scheduler sees the run did not finish."""
    folder, cfg = tiny_files
    run = folder / "exp" / "stop"
    cmd = [sys.executable, "-m", "mmdiff", "--threads", "1", "train-lifter", "--config", cfg,
           "--exp", str(folder / "exp"), "--doc", "stop", "--quiet",
           "--set", "lifter_train.epochs=500", "--set", "lifter_train.batch_size=8"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:        # wait for a trained step
        log = run / "log.txt"
        if log.is_file() and " step " in log.read_text():
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert (run / "ckpt.pth").is_file() and "stopped (signal" in (run / "log.txt").read_text()
    assert "interrupted, resume with --resume" in out
