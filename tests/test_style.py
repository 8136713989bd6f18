"""The code base is ruff clean (configuration in pyproject.toml).

ruff is run through this interpreter (``python -m ruff``), never looked up on PATH: a ruff
installed elsewhere on a developer's machine must not stand in for the test extra's.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    assert importlib.util.find_spec("ruff"), "ruff is part of the test extra: " \
                                             "pip install -e '.[test]'"
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
