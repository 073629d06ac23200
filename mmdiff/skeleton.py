"""The Human3.6M skeleton: 32 motion-capture joints and the 17-joint subset used by the field.

Joint order follows VideoPose3D's ``data_3d_h36m.npz``. The 17-joint subset keeps the joints that
move (``KEEP_17``) and re-parents the shoulders to the thorax, as VideoPose3D does.

17-joint order (index: name)::

    0 Hip        1 RHip      2 RKnee     3 RFoot     4 LHip      5 LKnee     6 LFoot
    7 Spine      8 Thorax    9 Neck/Nose 10 Head     11 LShoulder 12 LElbow  13 LWrist
    14 RShoulder 15 RElbow   16 RWrist
"""
from __future__ import annotations

import numpy as np
import torch

from mmdiff.errors import DataError

# --- 32-joint motion-capture skeleton -------------------------------------------------------
PARENTS_32 = (-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12,
              16, 17, 18, 19, 20, 19, 22, 12, 24, 25, 26, 27, 28, 27, 30)
NAMES_32 = (
    "Hip", "RHip", "RKnee", "RFoot", "RToeBase", "RToeSite",
    "LHip", "LKnee", "LFoot", "LToeBase", "LToeSite",
    "Spine0", "Spine", "Thorax", "Neck/Nose", "Head",
    "LClavicle", "LShoulder", "LElbow", "LWrist", "LHand", "LHandSite", "LThumb", "LThumbSite",
    "RClavicle", "RShoulder", "RElbow", "RWrist", "RHand", "RHandSite", "RThumb", "RThumbSite",
)
LEFT_32 = (6, 7, 8, 9, 10, 16, 17, 18, 19, 20, 21, 22, 23)
RIGHT_32 = (1, 2, 3, 4, 5, 24, 25, 26, 27, 28, 29, 30, 31)

# --- 17-joint subset ------------------------------------------------------------------------
KEEP_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
NUM_JOINTS = 17
PARENTS_17 = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
NAMES_17 = tuple(NAMES_32[i] for i in KEEP_17)
LEFT_17 = (4, 5, 6, 11, 12, 13)
RIGHT_17 = (1, 2, 3, 14, 15, 16)
#: The 16 bones as (child, parent) pairs.
EDGES_17 = tuple((j, p) for j, p in enumerate(PARENTS_17) if p >= 0)
#: Root (pelvis) index in both layouts.
ROOT = 0


def reduce_32_to_17(pose):
    """Keep the 17 moving joints of a 32-joint pose.

    pose: (..., 32, C) numpy array or tensor. Returns (..., 17, C), a new array.
    """
    if pose.shape[-2] != 32:
        raise DataError(f"reduce_32_to_17 expects (..., 32, C), got shape {tuple(pose.shape)}")
    return pose[..., list(KEEP_17), :]


def flip_permutation(num_joints: int = NUM_JOINTS, left=LEFT_17, right=RIGHT_17) -> list[int]:
    """Joint permutation that swaps left and right joints (an involution)."""
    perm = list(range(num_joints))
    for l, r in zip(left, right):
        perm[l], perm[r] = r, l
    return perm


def flip_pose(pose, left=LEFT_17, right=RIGHT_17, flip_channels=(0,)):
    """Mirror a pose about the vertical image axis: negate x (or u) and swap left/right joints.

    pose: (..., J, C) numpy array or tensor, 2D (u, v) or 3D (x, y, z) or 5-channel uvxyz.
    flip_channels: the channels to negate; (0,) for 2D/3D, (0, 2) for uvxyz.
    Returns a new array of the same shape and type; the input is never modified.
    Flipping twice gives the input back.
    """
    perm = flip_permutation(pose.shape[-2], left, right)
    out = pose[..., perm, :]
    out = out.clone() if isinstance(out, torch.Tensor) else np.array(out, copy=True)
    for c in flip_channels:
        out[..., c] = -out[..., c]
    return out


def bone_lengths(pose, parents=PARENTS_17):
    """Length of every bone.

    pose: (..., J, 3) numpy array in metres. Returns (..., J-1) bone lengths in metres, in the
    order of the joints that have a parent.
    """
    pose = np.asarray(pose)
    children = [j for j, p in enumerate(parents) if p >= 0]
    par = [parents[j] for j in children]
    return np.linalg.norm(pose[..., children, :] - pose[..., par, :], axis=-1)
