"""Library code has no side effects of its own: no output unless the application installs a
progress reporter, no evaluation when an explorer is constructed, no matplotlib backend
switch (tests/test_display.py), no global random state change (the device contract)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

CODE = """
import accel_sim
from workloads import load_workload
{setup}
trace = load_workload("digits_cnn:batch=4")
accel_sim.simulate(trace, "systolic", {{"memory_model": "scalesim", "rows": 8, "cols": 8}})
"""


def _stderr_on_a_terminal(setup: str) -> str:
    """Run the code with standard error on a pseudo-terminal; what it wrote there."""
    primary, secondary = pty.openpty()
    # a real terminal's size: tqdm sizes its bar to the terminal (0 columns: an empty bar)
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-c", CODE.format(setup=setup)],
                            stdout=subprocess.DEVNULL, stderr=secondary)
    os.close(secondary)
    out = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=300)
    os.close(primary)
    assert proc.returncode == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


def test_library_is_silent_on_a_terminal_unless_asked():
    assert _stderr_on_a_terminal("") == ""
    shown = _stderr_on_a_terminal("accel_sim.set_progress(None)")
    assert "SCALE-Sim memory model" in shown and "layer" in shown


def test_constructing_an_explorer_evaluates_nothing(monkeypatch, tmp_path):
    from accel_sim.devices.systolic import SystolicArray
    from accel_sim.errors import AccelSimError
    from accel_sim.explore import Explorer, ExploreSpec

    calls = []

    def counting(self, trace, configs):
        calls.append(len(configs))
        raise AccelSimError("evaluated")

    monkeypatch.setattr(SystolicArray, "evaluate_many", counting)
    ex = Explorer(ExploreSpec(workloads="resnet18", device="systolic",
                              output=str(tmp_path / "o")))
    assert calls == [] and not (tmp_path / "o").exists()
    with pytest.raises(AccelSimError, match="evaluated"):
        ex.run(progress=False)  # the metric check is the first thing run() does
    assert calls == [1] and not (tmp_path / "o").exists()
