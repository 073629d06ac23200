import numpy as np
import pytest
import torch

from mmdiff import skeleton as sk
from mmdiff.errors import DataError


def test_subset_indices_and_names():
    assert sk.KEEP_17 == (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
    assert len(sk.NAMES_17) == 17 and sk.NAMES_17[0] == "Hip" and sk.NAMES_17[8] == "Thorax"
    assert len(sk.NAMES_32) == len(sk.PARENTS_32) == 32


def test_shoulders_reparented_to_thorax():
    thorax = sk.NAMES_17.index("Thorax")
    assert sk.PARENTS_17[sk.NAMES_17.index("LShoulder")] == thorax
    assert sk.PARENTS_17[sk.NAMES_17.index("RShoulder")] == thorax


def test_edges_form_a_tree():
    assert len(sk.EDGES_17) == 16
    children = [c for c, _ in sk.EDGES_17]
    assert sorted(children) == list(range(1, 17))
    for c, p in sk.EDGES_17:
        assert p < c  # parents come first: a valid kinematic order


def test_parents_consistent_with_32_joint_tree():
    # each 17-joint parent is an ancestor of the child in the 32-joint tree, except the
    # shoulders, which hang from the spine there and are re-parented to the thorax
    shoulders = {sk.NAMES_17.index("LShoulder"), sk.NAMES_17.index("RShoulder")}
    for j17, p17 in enumerate(sk.PARENTS_17):
        if p17 < 0 or j17 in shoulders:
            continue
        ancestor, target = sk.PARENTS_32[sk.KEEP_17[j17]], sk.KEEP_17[p17]
        while ancestor not in (target, -1):
            ancestor = sk.PARENTS_32[ancestor]
        assert ancestor == target, sk.NAMES_17[j17]


def test_left_right_lists_match_names():
    for l, r in zip(sk.LEFT_17, sk.RIGHT_17):
        assert sk.NAMES_17[l][0] == "L" and sk.NAMES_17[r][0] == "R"
        assert sk.NAMES_17[l][1:] == sk.NAMES_17[r][1:]
    assert sk.LEFT_17 == (4, 5, 6, 11, 12, 13) and sk.RIGHT_17 == (1, 2, 3, 14, 15, 16)


@pytest.mark.parametrize("channels", [2, 3])
def test_flip_twice_is_identity_and_input_unchanged(channels, rng):
    pose = rng.normal(size=(4, 17, channels))
    before = pose.copy()
    flipped = sk.flip_pose(pose)
    assert np.array_equal(pose, before)
    assert np.allclose(flipped[:, 4, 0], -pose[:, 1, 0])     # LHip <- -RHip.x
    assert np.allclose(flipped[:, 4, 1:], pose[:, 1, 1:])
    assert np.allclose(sk.flip_pose(flipped), pose)


def test_flip_torch_and_uvxyz():
    x = torch.randn(3, 17, 5)
    before = x.clone()
    y = sk.flip_pose(x, flip_channels=(0, 2))
    assert torch.equal(x, before)
    assert torch.allclose(y[:, 0, [0, 2]], -x[:, 0, [0, 2]])
    assert torch.allclose(y[:, 0, [1, 3, 4]], x[:, 0, [1, 3, 4]])
    assert torch.allclose(sk.flip_pose(y, flip_channels=(0, 2)), x)


def test_reduce_and_bone_lengths(rng):
    pos32 = rng.normal(size=(5, 32, 3))
    pos17 = sk.reduce_32_to_17(pos32)
    assert pos17.shape == (5, 17, 3) and np.array_equal(pos17[:, 7], pos32[:, 12])
    lengths = sk.bone_lengths(pos17)
    assert lengths.shape == (5, 16)
    assert np.allclose(lengths[:, 0], np.linalg.norm(pos17[:, 1] - pos17[:, 0], axis=-1))
    with pytest.raises(DataError, match="32"):
        sk.reduce_32_to_17(pos17)
