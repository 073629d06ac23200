"""The committed copy of the reference golden fixture still equals its source in ../shared."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import REFERENCE_FIXTURE, SHARED

SOURCE = SHARED / "reference"


@pytest.mark.skipif(not SOURCE.is_dir(), reason=f"{SOURCE} is absent: the committed copy in "
                    f"{REFERENCE_FIXTURE} is used unchecked")
@pytest.mark.parametrize("name", ["ckpt_lifter.pth", "ckpt_mmdiff.pth"])
def test_checkpoint_copy_equals_source(name):
    ours = torch.load(REFERENCE_FIXTURE / name, weights_only=True)
    theirs = torch.load(SOURCE / "fixture" / name, weights_only=True)
    assert len(ours) == len(theirs) and ours[2:4] == theirs[2:4]
    for mine, source in zip(ours, theirs):
        if isinstance(source, dict) and source:
            assert mine.keys() == source.keys()
            assert all(torch.equal(mine[k], source[k]) for k in source)


@pytest.mark.skipif(not SOURCE.is_dir(), reason=f"{SOURCE} is absent")
def test_io_and_layout_copies_equal_source():
    ours, theirs = np.load(REFERENCE_FIXTURE / "io.npz"), np.load(SOURCE / "fixture" / "io.npz")
    assert sorted(ours.files) == sorted(theirs.files)
    assert all(np.array_equal(ours[k], theirs[k]) for k in theirs.files)
    for tsv in ("mmdiff_denoiser_state_dict.tsv", "graformer_lifter_state_dict.tsv"):
        assert (REFERENCE_FIXTURE / tsv).read_text() == (SOURCE / tsv).read_text()
