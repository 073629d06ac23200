"""Shared test fixtures: paths to the repository, its committed sample data and ../shared."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
#: a copy of ../shared/reference's golden fixture (tests/fixtures/reference/README.md)
REFERENCE_FIXTURE = REPO / "tests" / "fixtures" / "reference"


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def shared_dir() -> Path:
    """../shared beside the checkout; tests that need it skip with a reason when absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: reference fixtures and real motion are not available")
    return SHARED


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)
