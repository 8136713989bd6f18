"""Shared fixtures: paths of the shared data sets beside the project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ACCEL_SIM_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data folder (``../shared`` or $ACCEL_SIM_SHARED); it must exist."""
    assert SHARED.is_dir(), f"shared data folder {SHARED} is missing"
    return SHARED
