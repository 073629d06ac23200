"""Per-frame training/evaluation samples built from the published Human3.6M files.

:func:`build_samples` turns the 3D world poses and the per-camera 2D inputs into one flat table
(:class:`PoseSamples`), one row per (subject, action, camera, frame):

- ``pose_3d`` (N, 17, 3): the 3D pose in that camera's coordinates, root-relative, metres.
- ``pose_2d`` (N, 17, 2): the 2D condition, normalised screen coordinates (w = h = 1000 for every
  camera as the reference's prepare_2d_poses.py, or each camera's own size: ``normalization``).
- ``gmm`` (N, 17, K, 5) or None: GMM kernels (weight, mean u, mean v, spread u, spread v) with
  means normalised here and spreads as the file stores them (normalised units).

GMM files and ``pose_2d``. The two references differ at evaluation time: DiffPose's test loop
(``PoseGenerator_gmm``) draws one kernel per joint by weight, with an unseeded global RNG, and
conditions on its mean; MMDiff's reference (monoMotionDiff ``prepare_2d_poses.py``) conditions on
the mean of kernel 0, which DiffPose states equals the original VideoPose3D detection. We follow
MMDiff: ``pose_2d = gmm[..., 0, 1:3]``, so evaluation is deterministic and matches the plain
detection file. Spreads: DiffPose's loader normalises only the means and uses the stored spreads
unchanged as the u, v noise std, so they are in normalised units in the files; the kit does the
same (data/README.md gives the evidence). Drawing kernels by
weight, DiffPose's training input, is the ``sample_gmm`` option of :class:`PoseDataset`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from mmdiff.camera import cameras_for, normalize_screen_coordinates, world_to_camera
from mmdiff.data.h36m import ACTIONS, action_base, load_positions_2d, load_positions_3d
from mmdiff.diffusion.noise import pick_kernels
from mmdiff.engine.runtime import mix_keys, uniforms
from mmdiff.errors import DataError
from mmdiff.skeleton import NUM_JOINTS, flip_permutation, flip_pose, reduce_32_to_17


@dataclass
class PoseSamples:
    """A flat table of N per-frame samples (see the module docstring for units).

    pose_3d (N, 17, 3) float32; pose_2d (N, 17, 2) float32; gmm (N, 17, K, 5) float32 or None;
    subject, action (N,) str (action is the base name, one of ACTIONS); camera, frame (N,) int64
    (camera index 0..3, frame index in the original sequence).
    """

    pose_3d: np.ndarray
    pose_2d: np.ndarray
    gmm: np.ndarray | None
    subject: np.ndarray
    action: np.ndarray
    camera: np.ndarray
    frame: np.ndarray

    def __post_init__(self):
        n = len(self.pose_3d)
        shapes = {"pose_3d": (self.pose_3d.shape, (n, NUM_JOINTS, 3)),
                  "pose_2d": (self.pose_2d.shape, (n, NUM_JOINTS, 2))}
        if self.gmm is not None:
            shapes["gmm"] = (self.gmm.shape, (n, NUM_JOINTS) + tuple(self.gmm.shape[2:3]) + (5,))
        for name in ("subject", "action", "camera", "frame"):
            shapes[name] = (getattr(self, name).shape, (n,))
        for name, (found, expected) in shapes.items():
            if tuple(found) != tuple(expected):
                raise DataError(f"PoseSamples.{name}: expected shape {expected}, found {found}")

    def __len__(self) -> int:
        return len(self.pose_3d)

    def select(self, index) -> "PoseSamples":
        """Rows picked by an index array or boolean mask (copies) or a slice (views)."""
        gmm = None if self.gmm is None else self.gmm[index]
        return PoseSamples(self.pose_3d[index], self.pose_2d[index], gmm, self.subject[index],
                           self.action[index], self.camera[index], self.frame[index])


def _normalize_gmm(kernels: np.ndarray, w: int, h: int) -> np.ndarray:
    """(F, 17, K, 5) kernels, means in pixels -> means in normalised coords; weights and spreads
    (already normalised units in the files, as DiffPose reads them) unchanged. A new array."""
    out = np.array(kernels, dtype=np.float64, copy=True)
    out[..., 1:3] = normalize_screen_coordinates(out[..., 1:3], w, h)
    return out


#: How pixels become normalised screen coordinates (u = 2 x / w - 1, v = 2 y / w - h / w):
#: "reference" uses w = h = 1000 for every camera, as monoMotionDiff's prepare_2d_poses.py does;
#: "camera" each camera's own res_w, res_h, as VideoPose3D and DiffPose do (cameras 54138969 and
#: 60457274 are 1000 x 1002 there, so their v is 0.002 lower: about 1 px).
NORMALIZATIONS = ("reference", "camera")


def screen_size(camera, normalization: str) -> tuple[int, int]:
    """(w, h) in pixels that ``normalization`` divides a camera's pixels by."""
    if normalization not in NORMALIZATIONS:
        raise DataError(f"data.normalization: expected one of {NORMALIZATIONS}, "
                        f"found {normalization!r}")
    return (1000, 1000) if normalization == "reference" else (camera.res_w, camera.res_h)


def _camera_sequence(world17, det, camera, stride, where, normalization) -> dict:
    """Samples of one (subject, action, camera): world17 (F, 17, 3), det (F2, 17, ...) pixels."""
    num = len(world17)
    if len(det) < num:
        raise DataError(f"{where}: the 2D sequence has {len(det)} frames but the 3D mocap has "
                        f"{num}; expected at least as many 2D frames as 3D frames")
    frames = np.arange(0, num, stride)                                  # (F',)
    cam = world_to_camera(world17[frames].astype(np.float64), camera)   # (F', 17, 3)
    cam = cam - cam[:, :1]                                              # root-relative
    det = det[frames]                                                   # trims the extra frames
    w, h = screen_size(camera, normalization)
    if det.ndim == 3:                                                   # (F', 17, 2) pixels
        gmm, pose_2d = None, normalize_screen_coordinates(det.astype(np.float64), w, h)
    else:                                                               # (F', 17, K, 5)
        gmm = _normalize_gmm(det, w, h)
        pose_2d = gmm[..., 0, 1:3]                                      # kernel 0 mean
    return {"pose_3d": cam, "pose_2d": pose_2d, "gmm": gmm, "frame": frames}


def _subject_tables(positions_3d, positions_2d, subject):
    if subject not in positions_3d:
        raise DataError(f"subject {subject!r} is not in the 3D data; found {list(positions_3d)}")
    if subject not in positions_2d:
        raise DataError(f"subject {subject!r} is not in the 2D data; found {list(positions_2d)}")
    return positions_3d[subject], positions_2d[subject], cameras_for(subject)


def _wanted_actions(actions):
    if actions is None:
        return None
    if isinstance(actions, str):
        actions = [actions]
    return {action_base(a) for a in actions}


def build_samples(positions_3d: dict, positions_2d: dict, subjects, actions=None,
                  stride: int = 1, normalization: str = "reference") -> PoseSamples:
    """Per-frame samples for ``subjects`` from loaded 3D and 2D tables.

    positions_3d: {subject: {action: (F, 32 or 17, 3) world metres}} (load_positions_3d);
    positions_2d: {subject: {action: [4 x (F2, 17, 2) or (F2, 17, K, 5) pixels]}}
    (load_positions_2d); subjects: e.g. TRAIN_SUBJECTS; actions: base names to keep (None = all);
    stride: keep every stride-th frame of each sequence; normalization: :data:`NORMALIZATIONS`.
    Rows come in the reference test loader's order: subjects as given, then the 2D file's
    actions in its order, cameras 0..3, frames in order. 2D sequences longer than the mocap are
    trimmed to it (detector files run a few frames long).
    Raises DataError for a missing subject, an action in one file but not the other, a camera
    count other than 4, a 2D sequence shorter than the 3D one, or an action filter that matches
    nothing for these subjects.
    """
    if int(stride) != stride or stride < 1:
        raise DataError(f"stride must be a positive integer, found {stride!r}")
    wanted, parts, found = _wanted_actions(actions), [], set()
    for subject in subjects:
        seqs_3d, seqs_2d, cams = _subject_tables(positions_3d, positions_2d, subject)
        _check_same_actions(seqs_3d, seqs_2d, subject)
        for action, per_camera in seqs_2d.items():
            base = action_base(action)
            if wanted is not None and base not in wanted:
                continue
            if len(per_camera) != len(cams):
                raise DataError(f"{subject} {action!r}: expected {len(cams)} cameras of 2D data, "
                                f"found {len(per_camera)}")
            world = seqs_3d[action]
            world17 = reduce_32_to_17(world) if world.shape[1] == 32 else world
            for c, (det, cam) in enumerate(zip(per_camera, cams)):
                part = _camera_sequence(world17, det, cam, int(stride),
                                        f"{subject} {action!r} camera {c} ({cam.id})",
                                        normalization)
                part.update(subject=subject, action=base, camera=c)
                parts.append(part)
            found.add(base)
    if wanted is not None and wanted - found:
        raise DataError(f"no sequences of action(s) {sorted(wanted - found)} for subjects "
                        f"{list(subjects)}")
    if not parts:
        raise DataError(f"no samples: subjects {list(subjects)} have no sequences")
    return _concatenate(parts)


def _check_same_actions(seqs_3d: dict, seqs_2d: dict, subject: str) -> None:
    only_3d = [a for a in seqs_3d if a not in seqs_2d]
    only_2d = [a for a in seqs_2d if a not in seqs_3d]
    if only_3d:
        raise DataError(f"subject {subject!r}: action(s) {only_3d} are in the 3D data but not in "
                        f"the 2D data (2D has {sorted(seqs_2d)})")
    if only_2d:
        raise DataError(f"subject {subject!r}: action(s) {only_2d} are in the 2D data but not in "
                        f"the 3D data (3D has {sorted(seqs_3d)})")


def _concatenate(parts: list[dict]) -> PoseSamples:
    kinds = {None if p["gmm"] is None else p["gmm"].shape[2] for p in parts}
    if len(kinds) > 1:
        raise DataError(f"2D inputs mix plain detections and GMM kernels (K values {kinds}); "
                        "expected one kind for all subjects")
    lengths = [len(p["frame"]) for p in parts]
    gmm = None if kinds == {None} else np.concatenate([p["gmm"] for p in parts]).astype(np.float32)
    return PoseSamples(
        pose_3d=np.concatenate([p["pose_3d"] for p in parts]).astype(np.float32),   # (N, 17, 3)
        pose_2d=np.concatenate([p["pose_2d"] for p in parts]).astype(np.float32),   # (N, 17, 2)
        gmm=gmm,                                                                     # (N,17,K,5)
        subject=np.repeat([p["subject"] for p in parts], lengths),
        action=np.repeat([p["action"] for p in parts], lengths),
        camera=np.repeat(np.array([p["camera"] for p in parts], dtype=np.int64), lengths),
        frame=np.concatenate([p["frame"] for p in parts]).astype(np.int64),
    )


def load_samples(path_3d, path_2d, subjects, actions=None, stride: int = 1,
                 normalization: str = "reference") -> PoseSamples:
    """:func:`build_samples` on the files at ``path_3d`` and ``path_2d`` (read safely)."""
    return build_samples(load_positions_3d(path_3d), load_positions_2d(path_2d), subjects,
                         actions=actions, stride=stride, normalization=normalization)


def load_split(data, split: str) -> PoseSamples:
    """The train or test samples a config's ``data`` section names.

    data: a :class:`mmdiff.config.DataConfig` (paths, subjects, action filter, strides);
    split: "train" (``train_subjects``, ``train_stride``, ``path_2d_train`` when set) or "test"
    (``test_subjects``, ``test_stride``, ``path_2d``).
    """
    if split not in ("train", "test"):
        raise DataError(f"split: expected 'train' or 'test', found {split!r}")
    train = split == "train"
    subjects = data.train_subjects if train else data.test_subjects
    stride = data.train_stride if train else data.test_stride
    path_2d = data.path_2d_train if train and data.path_2d_train else data.path_2d
    return load_samples(data.path_3d, path_2d, subjects, actions=data.actions or None,
                        stride=stride, normalization=data.normalization)


def item_uniforms(seed: int, epoch: int, index, num: int) -> np.ndarray:
    """Counter-based uniforms in [0, 1): (B,) item indices -> (B, num) float64.

    Draw j of item i depends only on (seed, epoch, i, j) (:func:`mmdiff.engine.runtime.mix_keys`),
    so a batch, a single item, any worker split or a resumed run all see the same numbers.
    """
    return uniforms(mix_keys(seed, epoch, np.asarray(index, dtype=np.int64)), num)   # (B, num)


class PoseDataset(Dataset):
    """Torch dataset over :class:`PoseSamples`, with optional flip and GMM-kernel sampling.

    Item i is a dict of new tensors: 'pose_2d' (17, 2) normalised, 'pose_3d' (17, 3) metres
    root-relative, 'spread_2d' (17, 2) the chosen kernel's spread (zeros without sample_gmm),
    'action' int64 index into ACTIONS. :meth:`batch` returns the same items stacked, (B, ...),
    without a per-item Python loop (``__getitems__`` lets a DataLoader use it).

    flip: with probability 1/2 mirror the sample (u and x negated, left/right joints swapped) on
    copies; the stored arrays never change. sample_gmm: draw one kernel per joint with
    probability equal to its weight and use its mean and spread (DiffPose's training input).
    Randomness: 18 counter-based uniforms per item from :func:`item_uniforms` (seed, epoch,
    index): number 0 is the flip coin, 1..17 pick the kernels. So an item depends only on
    (seed, epoch, index), whatever the batching, worker count or order, and a resumed run sees
    the same items (call ``set_epoch``); the kernels do not depend on ``flip``.
    """

    def __init__(self, samples: PoseSamples, flip: bool = False, sample_gmm: bool = False,
                 seed: int = 0):
        if sample_gmm and samples.gmm is None:
            raise DataError("sample_gmm=True needs GMM 2D inputs (samples.gmm is None): load a "
                            "*_gmm.npz 2D file")
        if int(seed) < 0:
            raise DataError(f"seed must be >= 0, found {seed}")
        self.samples, self.flip, self.sample_gmm = samples, bool(flip), bool(sample_gmm)
        self.seed, self.epoch = int(seed), 0
        lookup = {a: i for i, a in enumerate(ACTIONS)}
        self._action_index = np.array([lookup[a] for a in samples.action], dtype=np.int64)
        self.subjects = tuple(sorted(set(samples.subject.tolist())))
        where = {s: i for i, s in enumerate(self.subjects)}
        self._subject_index = np.array([where[s] for s in samples.subject], dtype=np.int64)
        self._perm = flip_permutation(NUM_JOINTS)

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of ``epoch`` (call once per epoch, before iterating)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    @staticmethod
    def _draw_kernels(kernels: np.ndarray, u: np.ndarray):
        """kernels (B, 17, K, 5), u (B, 17) uniforms -> means (B, 17, 2), spreads (B, 17, 2)."""
        k = pick_kernels(torch.from_numpy(kernels[..., 0]), torch.from_numpy(u)).numpy()
        chosen = np.take_along_axis(kernels, k[..., None, None], axis=2)[:, :, 0]  # (B, 17, 5)
        return chosen[..., 1:3], chosen[..., 3:5]

    def batch(self, indices) -> dict[str, torch.Tensor]:
        """Items ``indices`` (B,) stacked: pose_2d (B, 17, 2), pose_3d (B, 17, 3),
        spread_2d (B, 17, 2), action (B,), subject (B,) (an index into ``self.subjects``). Fancy indexing copies, so stored arrays stay intact."""
        s, idx = self.samples, np.asarray(indices, dtype=np.int64).reshape(-1)
        u = item_uniforms(self.seed, self.epoch, idx, 1 + NUM_JOINTS)       # (B, 18)
        pose_2d, pose_3d = s.pose_2d[idx], s.pose_3d[idx]                   # copies
        spread = np.zeros_like(pose_2d)
        if self.sample_gmm:
            pose_2d, spread = self._draw_kernels(s.gmm[idx], u[:, 1:])
        rows = np.flatnonzero(u[:, 0] < 0.5) if self.flip else np.zeros(0, dtype=np.int64)
        if rows.size:
            pose_2d[rows] = flip_pose(pose_2d[rows])
            pose_3d[rows] = flip_pose(pose_3d[rows])
            spread[rows] = spread[rows][:, self._perm]
        return {"pose_2d": torch.from_numpy(np.ascontiguousarray(pose_2d, dtype=np.float32)),
                "pose_3d": torch.from_numpy(np.ascontiguousarray(pose_3d, dtype=np.float32)),
                "spread_2d": torch.from_numpy(np.ascontiguousarray(spread, dtype=np.float32)),
                "action": torch.from_numpy(self._action_index[idx]),
                "subject": torch.from_numpy(self._subject_index[idx])}

    def __getitems__(self, indices) -> list[dict[str, torch.Tensor]]:
        b = self.batch(indices)
        return [{k: v[i] for k, v in b.items()} for i in range(len(b["action"]))]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.batch([index]).items()}
