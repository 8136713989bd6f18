"""``accel-sim sweep --scheduler tcp://...``: the grid on a Dask distributed cluster (a
scheduler and two worker processes on loopback) gives the local sweep's CSV, row for row."""

from __future__ import annotations

import distributed  # the test extra installs dask[distributed]
import pytest

from accel_sim.cli import main

SWEEP = ["sweep", "-w", "resnet18", "-d", "systolic", "--grid", "rows=8,16,32,64",
         "cols=8,16,32", "dataflow=os,ws,is", "-q"]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as c:
        yield c


def test_dask_sweep_equals_the_local_sweep(cluster, tmp_path):
    local, remote = tmp_path / "local.csv", tmp_path / "dask.csv"
    assert main([*SWEEP, "-j", "1", "-o", str(local)]) == 0
    assert main([*SWEEP, "--scheduler", cluster.scheduler_address, "-o", str(remote)]) == 0
    text = remote.read_text()
    assert text == local.read_text()
    assert len(text.splitlines()) == 1 + 4 * 3 * 3


def test_dask_sweep_in_small_chunks_keeps_the_order(cluster):
    from accel_sim._registry import get_device
    from accel_sim._sweep import Grid, iter_sweep, run_sweep
    from workloads import load_workload

    cls = get_device("systolic")
    grid = Grid.build(cls, {"rows": [4, 8, 16, 32, 64], "cols": [8, 16]}, {})
    trace = load_workload("resnet18")
    chunks = list(iter_sweep(trace, cls, grid, chunk_size=3,
                             scheduler=cluster.scheduler_address))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert [r for c in chunks for r in c] == run_sweep(trace, cls, grid, jobs=1)


@pytest.mark.parametrize(("extra", "needle"), [
    (["--scheduler", "tcp://127.0.0.1:1"], "cannot reach the Dask scheduler"),
    (["--scheduler", "localhost:8786"], "expected the address of a Dask scheduler"),
    (["--scheduler", "tls://127.0.0.1:1"], "tcp://HOST:PORT"),
    (["--scheduler", "tcp://127.0.0.1:1", "-j", "2"], "choose one"),
])
def test_bad_scheduler_is_one_line(extra, needle, tmp_path, capsys, monkeypatch):
    from accel_sim import _sweep

    monkeypatch.setattr(_sweep, "DASK_TIMEOUT_S", 1.0)
    assert main([*SWEEP, *extra, "-o", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("accel-sim: error:") and needle in err[0], err
