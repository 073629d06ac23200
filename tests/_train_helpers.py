"""Tiny configs and samples shared by the training, evaluation and CLI tests (not a test file)."""
from __future__ import annotations

import numpy as np

from mmdiff.config import Config
from mmdiff.data.h36m import ACTIONS

TINY = {
    "lifter.hid_dim": 16, "lifter.num_layers": 1, "lifter.n_head": 2, "lifter.dropout": 0.1,
    "model.hid_dim": 16, "model.emd_dim": 16, "model.num_layers": 1, "model.n_head": 2,
    "model.dropout": 0.1, "train.epochs": 2, "train.batch_size": 16, "train.seed": 3,
    "train.ema_rate": 0.9, "train.log_every": 1, "lifter_train.epochs": 2,
    "lifter_train.batch_size": 16, "optim.lr_decay_every": 1, "lifter_train.lr_decay_every": 1,
    "eval.batch_size": 32, "data.num_workers": 0,
}


def tiny_config(**extra) -> Config:
    """A config small enough for a unit test (models of a few thousand parameters)."""
    return Config().replace({**TINY, **extra})


def tiny_samples(n: int, seed: int = 0):
    """PoseSamples of ``n`` random but plausible poses: root-relative 3D in metres and its
    perspective projection (camera 4 m away), over all 15 actions."""
    from mmdiff.data.dataset import PoseSamples
    rng = np.random.default_rng(seed)
    pose_3d = rng.normal(0, 0.25, (n, 17, 3)).astype(np.float32)
    pose_3d -= pose_3d[:, :1]
    pose_2d = (pose_3d[..., :2] / (4.0 + pose_3d[..., 2:])).astype(np.float32)
    actions = np.array([ACTIONS[i % len(ACTIONS)] for i in range(n)])
    return PoseSamples(pose_3d=pose_3d, pose_2d=pose_2d, gmm=None,
                       subject=np.array(["S9"] * n), action=actions,
                       camera=np.zeros(n, np.int64), frame=np.arange(n, dtype=np.int64))


def save_samples(path, samples) -> None:
    np.savez(path, pose_3d=samples.pose_3d, pose_2d=samples.pose_2d, action=samples.action)


def load_saved_samples(path):
    from mmdiff.data.dataset import PoseSamples
    z = np.load(path)
    n = len(z["pose_3d"])
    return PoseSamples(pose_3d=z["pose_3d"], pose_2d=z["pose_2d"], gmm=None,
                       subject=np.array(["S9"] * n), action=z["action"],
                       camera=np.zeros(n, np.int64), frame=np.arange(n, dtype=np.int64))


def write_tiny_h36m(folder, frames: int = 12, seed: int = 0):
    """Tiny files in the published layouts: data_3d (world metres, 32 joints) for S1 and S9 with
    two actions each, and the plain 2D file (4 cameras, pixels) projected from it.
    Returns (path_3d, path_2d)."""
    from pathlib import Path
    from mmdiff.camera import cameras_for, project_to_2d, world_to_camera
    from mmdiff.data.h36m import save_positions_2d, save_positions_3d
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    pos3d, pos2d = {}, {}
    for subject in ("S1", "S9"):
        pos3d[subject], pos2d[subject] = {}, {}
        for action in ("Walking 1", "Eating"):
            base = rng.normal(0, 0.3, (1, 32, 3)) + np.array([0.0, 0.0, 1.0])
            seq = (base + rng.normal(0, 0.02, (frames, 32, 3))).astype(np.float32)
            pos3d[subject][action] = seq
            pos2d[subject][action] = [
                project_to_2d(world_to_camera(seq, cam), cam)[:, [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15,
                                                                   17, 18, 19, 25, 26, 27]]
                .astype(np.float32) for cam in cameras_for(subject)]
    p3, p2 = folder / "data_3d_tiny.npz", folder / "data_2d_tiny.npz"
    save_positions_3d(p3, pos3d)
    save_positions_2d(p2, pos2d)
    return p3, p2


def tiny_yaml(folder, path_3d, path_2d) -> str:
    """A config file for the tiny files, written to ``folder/tiny.yml``; returns its path."""
    import yaml
    from pathlib import Path
    nested: dict = {"data": {"path_3d": str(path_3d), "path_2d": str(path_2d),
                             "train_subjects": ["S1"], "test_subjects": ["S9"]}}
    for key, value in TINY.items():
        section, name = key.split(".")
        nested.setdefault(section, {})[name] = value
    nested["train"]["batch_size"] = 32
    nested["lifter_train"]["batch_size"] = 32
    nested["train"]["epochs"] = 1
    nested["lifter_train"]["epochs"] = 1
    path = Path(folder) / "tiny.yml"
    path.write_text(yaml.safe_dump(nested))
    return str(path)
