"""The code base type-checks: mypy passes on ``accel_sim`` and ``workloads`` (configuration in
pyproject.toml, [tool.mypy]).

mypy is run through this interpreter (``python -m mypy``), never looked up on PATH, so that it
sees the packages installed with the test extra.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_clean():
    assert importlib.util.find_spec("mypy"), "mypy is part of the test extra: " \
                                             "pip install -e '.[test]'"
    res = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr
