"""Distributed exploration against a real PostgreSQL server on loopback.

The server is Debian's PostgreSQL (``.ci/run`` installs the package); this module starts a
private cluster in a temporary folder on a free port and removes it afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert found, "PostgreSQL server binaries are missing: apt-get install postgresql"
    return os.path.dirname(found[-1])


def _runuser() -> str:
    """util-linux's runuser by its absolute path: /usr/sbin is not on every PATH (CI runs
    the tests with PATH=/usr/bin:/bin)."""
    for path in ("/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser"):
        if os.access(path, os.X_OK):
            return path
    raise AssertionError("runuser (util-linux) is missing from /usr/sbin, /sbin, /usr/bin and "
                         "/bin: apt-get install util-linux")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as url:
        yield url


@contextlib.contextmanager
def postgres_server():
    """Start a private PostgreSQL cluster on a free loopback port; yields its URL."""
    bindir = _pg_bin()
    # directly under /tmp: pytest's own temporary folders are private to root
    root = Path(tempfile.mkdtemp(prefix="accel_sim_pg_"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        user = pwd.getpwnam("postgres")
        for path in (root, sock):
            os.chown(path, user.pw_uid, user.pw_gid)
        prefix = [_runuser(), "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*prefix, f"{bindir}/initdb", "-D", str(data), "-U", "postgres",
                             "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
    subprocess.run([*prefix, f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l",
                             str(root / "log"), "-o",
                             f"-p {port} -k {sock} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    try:
        subprocess.run([*prefix, f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port),
                                 "-U", "postgres", "accel"], check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/accel"
    finally:
        subprocess.run([*prefix, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate",
                                 "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _worker(url: str, out: str, trials: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "accel_sim", "explore", "-w", "resnet50", "-d", "systolic",
         "--objectives", "latency,energy,area", "--trials", str(trials), "--storage", url,
         "--study", "pg2", "--heartbeat", "1", "-q", "-o", out],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_workers_one_killed(pg_url, tmp_path):
    n = 120
    storage = optuna.storages.RDBStorage(pg_url)  # creates the schema
    a = _worker(pg_url, str(tmp_path / "a"), n)
    b = _worker(pg_url, str(tmp_path / "b"), n)
    running_at_kill: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and b.poll() is None:
        time.sleep(0.05)
        try:
            study = optuna.load_study(study_name="pg2", storage=storage)
        except KeyError:
            continue
        done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if done >= 10 and len(running) == 2:  # both workers are inside a trial
            a.send_signal(signal.SIGKILL)
            a.wait()
            study = optuna.load_study(study_name="pg2", storage=storage)
            running_at_kill = {t.number for t in study.get_trials(
                deepcopy=False, states=(TrialState.RUNNING,))}
            break
    out, err = b.communicate(timeout=300)
    assert a.returncode == -signal.SIGKILL, "worker A was not killed during the run"
    assert b.returncode == 0, err
    study = optuna.load_study(study_name="pg2", storage=storage)
    by_state = {s: study.get_trials(deepcopy=False, states=(s,)) for s in TrialState}
    complete = by_state[TrialState.COMPLETE]
    assert n <= len(complete) <= n + 1  # at most one extra for the worker that was mid-trial
    assert not by_state[TrialState.RUNNING]  # the dead worker's trial went stale and failed
    failed = by_state[TrialState.FAIL]
    # the trial A was running when it died is the only failure, and it was queued again
    # with the same parameters: no trial lost
    assert {t.number for t in failed} <= running_at_kill and len(failed) <= 1
    orphans = running_at_kill - {t.number for t in complete}
    assert {t.number for t in failed} == orphans
    for f in failed:
        retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == f.number]
        assert len(retries) == 1
        # parameters suggested before the kill are kept; the rest is sampled on the retry
        assert all(retries[0].params[k] == v for k, v in f.params.items())
        assert retries[0].state in (TrialState.COMPLETE, TrialState.WAITING)
    assert "complete trials" in out
