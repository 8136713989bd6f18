"""IR-drop crossbar solver: ideal limit, nodal-analysis reference (scipy), physics, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg

from accel_sim.devices._irdrop import IRDropError, solve_crossbar, solve_crossbar_stats
from accel_sim.errors import AccelSimError, ConfigError


def nodal_reference(G: np.ndarray, V: np.ndarray, rp_col: float, rp_row: float) -> np.ndarray:
    """Column currents (batch, cols) by sparse nodal analysis of the whole crossbar.

    Nodes: row nodes U(i, j), column nodes W(i, j), one source node per row (at V_i) and the
    virtual ground (0 V). Edges: the driver (source i - U(i, 0), 1/rp_row), row wire
    U(i, j) - U(i, j+1) (1/rp_row), the cell U(i, j) - W(i, j) (G_ij), column wire
    W(i, j) - W(i+1, j) (1/rp_col), sense amp W(R-1, j) - ground (1/rp_col). A zero rp merges
    the nodes it joins: U(i, j) is then fixed at V_i (rp_row = 0) or W(i, j) at 0 V (rp_col = 0).
    """
    R, C = G.shape
    n = R * C
    V = np.atleast_2d(V)
    idx = np.arange(n).reshape(R, C)
    u_id, w_id = idx, n + idx
    src_id, gnd_id = 2 * n + np.arange(R), 3 * n
    edges = [(u_id.ravel(), w_id.ravel(), G.ravel())]
    if rp_row > 0:
        edges.append((u_id[:, :-1].ravel(), u_id[:, 1:].ravel(), np.full(R * (C - 1), 1 / rp_row)))
        edges.append((src_id, u_id[:, 0], np.full(R, 1 / rp_row)))
    if rp_col > 0:
        edges.append((w_id[:-1].ravel(), w_id[1:].ravel(), np.full((R - 1) * C, 1 / rp_col)))
        edges.append((w_id[-1], np.full(C, gnd_id), np.full(C, 1 / rp_col)))
    a = np.concatenate([e[0] for e in edges])
    b = np.concatenate([e[1] for e in edges])
    g = np.concatenate([e[2] for e in edges])
    N = 3 * n + 1
    L = scipy.sparse.coo_matrix((np.concatenate([g, g, -g, -g]),
                                 (np.concatenate([a, b, a, b]), np.concatenate([a, b, b, a]))),
                                shape=(N, N)).tocsr()
    x = np.zeros((N, V.shape[0]))  # node potentials, one column per input vector
    known = np.zeros(N, dtype=bool)
    known[src_id] = known[gnd_id] = True
    x[src_id] = V.T
    if rp_row == 0:
        known[u_id.ravel()] = True
        x[u_id.ravel()] = np.repeat(V.T, C, axis=0)
    if rp_col == 0:
        known[w_id.ravel()] = True
    used = np.zeros(N, dtype=bool)
    used[a] = used[b] = True
    free = np.flatnonzero(~known & used)
    if free.size:
        fixed = np.flatnonzero(known)
        rhs = -(L[free][:, fixed] @ x[fixed])
        sol = scipy.sparse.linalg.spsolve(L[free][:, free].tocsc(), rhs)
        x[free] = sol.reshape(free.size, -1)
    if rp_col > 0:
        return (x[w_id[-1]] / rp_col).T
    cell = G[:, :, None] * (x[u_id] - x[w_id])  # (R, C, batch)
    return cell.sum(axis=0).T


def banded_reference(G: np.ndarray, V: np.ndarray, rp_col: float) -> np.ndarray:
    """Column currents (batch, cols) for ideal rows: one banded solve of all column nodes."""
    R, C = G.shape
    rp_g = rp_col * G.T  # (C, R), column-major node order j * R + i
    diag = 2.0 + rp_g
    diag[:, 0] -= 1.0  # the top node has no segment above it
    upper = -np.ones((C, R))
    upper[:, -1] = 0.0  # no coupling between columns
    lower = -np.ones((C, R))
    lower[:, -1] = 0.0
    ab = np.zeros((3, R * C))
    ab[0, 1:] = upper.ravel()[:-1]
    ab[1] = diag.ravel()
    ab[2, :-1] = lower.ravel()[:-1]
    rhs = (rp_g[:, :, None] * np.atleast_2d(V).T[None, :, :]).reshape(R * C, -1)
    w = scipy.linalg.solve_banded((1, 1), ab, rhs)  # column-node voltages
    return (w.reshape(C, R, -1)[:, -1, :] / rp_col).T


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


# --- the ideal limit ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (64, 40), (300, 17)])
def test_zero_parasitics_is_matmul(rng, shape):
    G = rng.uniform(0, 1, shape)
    V = rng.uniform(-1, 1, (5, shape[0]))
    ideal = V @ G
    tol = 1e-12 * np.abs(V) @ G
    assert np.all(np.abs(solve_crossbar(G, V, 0.0) - ideal) <= tol)
    assert np.all(np.abs(solve_crossbar(G, V, 0.0, 0.0) - ideal) <= tol)
    assert np.all(np.abs(solve_crossbar(G, V[0], 0.0) - ideal[0]) <= tol[0])


# --- against nodal analysis -------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 5), (16, 16), (32, 8)])
@pytest.mark.parametrize("rp_row", [0.0, 1e-4, 1e-3])
@pytest.mark.parametrize("rp_col", [1e-5, 1e-4, 1e-3, 1e-2])
def test_matches_nodal_analysis(rng, shape, rp_col, rp_row):
    G = rng.uniform(0.1, 1, shape)
    V = rng.uniform(0, 1, (3, shape[0]))
    ref = nodal_reference(G, V, rp_col, rp_row)
    got = solve_crossbar(G, V, rp_col, rp_row)
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=0)


@pytest.mark.parametrize(("rp_col", "rp_row"), [(0.0, 1e-3), (0.0, 1e-2), (1e-2, 1e-2),
                                                (1e-3, 3e-2)])
def test_matches_nodal_analysis_bipolar_and_extremes(rng, rp_col, rp_row):
    """Bipolar inputs, ideal columns, strong parasitics (many sweeps with over-relaxation)."""
    G = rng.uniform(0, 1, (48, 40))
    V = rng.uniform(-1, 1, (4, 48))
    ref = nodal_reference(G, V, rp_col, rp_row)
    got = solve_crossbar(G, V, rp_col, rp_row)
    assert np.max(np.abs(got - ref)) <= 1e-8 * np.max(np.abs(ref))


def test_large_array_ideal_rows_matches_banded_solve(rng):
    """1024x1024 with rp_norm = 1e-4 and 1e-3 (CrossSim's solver diverged at 1e-4)."""
    G = rng.uniform(0, 1, (1024, 1024))
    V = rng.uniform(0, 1, (2, 1024))
    ideal = V @ G
    for rp in (1e-4, 1e-3):
        got = solve_crossbar(G, V, rp)
        assert np.all(np.isfinite(got)) and np.all(got > 0) and np.all(got < ideal)
        np.testing.assert_allclose(got, banded_reference(G, V, rp), rtol=1e-8, atol=0)


def test_row_and_column_parasitics_256_converges(rng):
    G = rng.uniform(0, 1, (256, 256))
    V = rng.uniform(0, 1, (2, 256))
    got = solve_crossbar(G, V, 1e-4, 1e-4)
    tight = solve_crossbar(G, V, 1e-4, 1e-4, tol=1e-12)
    assert np.all(np.isfinite(got)) and np.all(got > 0) and np.all(got < V @ G)
    assert np.all(got < solve_crossbar(G, V, 1e-4))  # row drops lower the currents further
    np.testing.assert_allclose(got, tight, rtol=1e-8, atol=0)


def test_row_and_column_parasitics_1024_converges_in_a_few_cycles(rng):
    """Issue 15: 1024x1024 with both wires resistive (rp_norm = rp_norm_row = 1e-4, and 1e-3)
    converges in a few two-grid cycles (the former line-SOR needed 51 and 144 sweeps) and agrees
    with a much tighter solve."""
    G = rng.uniform(0, 1, (1024, 1024))
    V = rng.uniform(0, 1, (1, 1024))
    bit_line = solve_crossbar(G, V, 1e-4)
    for rp in (1e-4, 1e-3):
        got, stats = solve_crossbar_stats(G, V, rp, rp)
        assert stats["sweeps"] <= 8, f"rp={rp}: {stats}"
        assert stats["coarse_nodes"] > 0
        tight = solve_crossbar(G, V, rp, rp, tol=1e-13, max_iter=100)
        assert np.all(np.isfinite(got)) and np.all(got > 0) and np.all(got < V @ G)
        np.testing.assert_allclose(got, tight, rtol=1e-8, atol=0, err_msg=f"rp={rp}")
    assert np.all(solve_crossbar(G, V, 1e-4, 1e-4) < bit_line)


def test_batch_of_64_equals_single_vector_solves(rng):
    """The vectors of a batch share the line factors and the coarse-grid factorisation only:
    each gives what it gives alone."""
    G = rng.uniform(0, 1, (160, 96))
    V = rng.uniform(-1, 1, (64, 160))
    V[5] = 0.0
    for rp_col, rp_row in ((1e-3, 1e-3), (1e-4, 3e-3)):
        batch = solve_crossbar(G, V, rp_col, rp_row)
        assert batch.shape == (64, 96) and np.all(batch[5] == 0.0)
        scale = np.max(np.abs(batch))
        for b in range(64):
            single = solve_crossbar(G, V[b], rp_col, rp_row)
            np.testing.assert_allclose(single, batch[b], rtol=0, atol=1e-12 * scale,
                                       err_msg=f"vector {b}, rp_col={rp_col}, rp_row={rp_row}")


@pytest.mark.parametrize("shape", [(40, 70), (70, 40), (1, 30), (30, 1), (9, 3)])
@pytest.mark.parametrize("case", ["uniform", "zero_columns", "zero_rows", "blocks", "sparse"])
def test_structured_conductances_match_nodal_analysis(rng, shape, case):
    """Coarse grids on non-square arrays and conductances with structure (empty rows and
    columns, blocks, 5 % of the cells on), unequal wires, against the sparse direct solve."""
    R, C = shape
    G = rng.uniform(0, 1, shape)
    if case == "zero_columns":
        G[:, C // 3:2 * C // 3] = 0.0
    elif case == "zero_rows":
        G[R // 3:2 * R // 3] = 0.0
    elif case == "blocks":
        G = rng.uniform(0, 1, (4, 4))[np.arange(R) * 4 // R][:, np.arange(C) * 4 // C] ** 4
    elif case == "sparse":
        G *= rng.uniform(size=shape) < 0.05
    V = rng.uniform(-0.2, 1, (2, R))
    for rp_col, rp_row in ((1e-3, 3e-3), (2e-2, 5e-4)):
        ref = nodal_reference(G, V, rp_col, rp_row)
        got = solve_crossbar(G, V, rp_col, rp_row)
        scale = max(np.max(np.abs(ref)), 1e-300)
        assert np.max(np.abs(got - ref)) <= 1e-8 * scale, (case, shape, rp_col, rp_row)


@pytest.mark.parametrize("rp", [1e-4, 1e-3])
def test_tolerance_bounds_the_output_error(rng, rp):
    """``tol`` is on node voltages relative to max|V|: the outputs (relative to the largest)
    are within it too, and a looser tolerance takes fewer cycles."""
    G = rng.uniform(0, 1, (256, 256))
    V = rng.uniform(0, 1, (2, 256))
    tight = solve_crossbar(G, V, rp, rp, tol=1e-13, max_iter=100)
    cycles = []
    for tol in (1e-5, 1e-7, 1e-9):
        got, stats = solve_crossbar_stats(G, V, rp, rp, tol=tol)
        assert np.max(np.abs(got - tight)) <= tol * np.max(np.abs(tight)), (rp, tol)
        cycles.append(stats["sweeps"])
    assert cycles == sorted(cycles) and cycles[0] < cycles[-1] <= 8, cycles


def test_strong_parasitics_converge(rng):
    """rp 0.1 on both wires (the drop takes most of the signal): more cycles, still exact."""
    G = rng.uniform(0, 1, (96, 80))
    V = rng.uniform(0, 1, (2, 96))
    got, stats = solve_crossbar_stats(G, V, 0.1, 0.1)
    ref = nodal_reference(G, V, 0.1, 0.1)
    assert np.max(np.abs(got - ref)) <= 1e-8 * np.max(np.abs(ref)), stats
    assert np.all(got < 0.5 * (V @ G))


# --- physics ------------------------------------------------------------------------------------

def test_currents_below_ideal_and_error_grows_with_rp_and_rows(rng):
    G = rng.uniform(0, 1, (128, 32))
    V = rng.uniform(0, 1, (3, 128))
    ideal = V @ G
    errors = []
    for rp in (1e-5, 1e-4, 1e-3, 1e-2):
        for rp_row in (0.0, rp):
            got = solve_crossbar(G, V, rp, rp_row)
            assert np.all(got > 0) and np.all(got < ideal)
        got = solve_crossbar(G, V, rp)
        errors.append(np.mean(1 - got / ideal))
    assert np.all(np.diff(errors) > 0)
    # more rows (the same cells plus more below): larger relative error
    row_errors = []
    for rows in (16, 32, 64, 128):
        got = solve_crossbar(G[:rows], V[:, :rows], 1e-4)
        row_errors.append(np.mean(1 - got / (V[:, :rows] @ G[:rows])))
    assert np.all(np.diff(row_errors) > 0)
    # row parasitics hurt more on longer rows too
    with_row = [np.mean(1 - solve_crossbar(G[:, :c], V, 0.0, 1e-3) / (V @ G[:, :c]))
                for c in (8, 16, 32)]
    assert np.all(np.diff(with_row) > 0)


def test_rows_far_from_sense_amp_lose_more(rng):
    """A single active row: the current of row 0 (top) crosses the most column segments."""
    G = np.full((64, 4), 0.5)
    top = solve_crossbar(G, np.eye(64)[0], 1e-3)
    bottom = solve_crossbar(G, np.eye(64)[-1], 1e-3)
    assert np.all(top < bottom) and np.all(bottom < 0.5)


# --- batch ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("rp_row", [0.0, 1e-3])
def test_batch_and_single_vector_agree(rng, rp_row):
    G = rng.uniform(0, 1, (40, 24))
    V = rng.uniform(-1, 1, (6, 40))
    V[2] = 0.0
    batch = solve_crossbar(G, V, 1e-3, rp_row)
    assert batch.shape == (6, 24)
    assert np.all(batch[2] == 0.0)
    for b in range(6):
        single = solve_crossbar(G, V[b], 1e-3, rp_row)
        assert single.shape == (24,)
        np.testing.assert_allclose(single, batch[b], rtol=0, atol=1e-8 * np.max(np.abs(batch)))
    assert solve_crossbar(G, np.zeros((0, 40)), 1e-3, rp_row).shape == (0, 24)
    assert solve_crossbar(G.tolist(), V.tolist(), 1e-3, rp_row).shape == (6, 24)


# --- errors --------------------------------------------------------------------------------------

def test_not_converged_names_parameters(rng):
    G = rng.uniform(0, 1, (16, 16))
    V = rng.uniform(0, 1, 16)
    with pytest.raises(IRDropError, match="did not converge") as exc:
        solve_crossbar(G, V, 1e-3, 1e-3, max_iter=1)
    msg = str(exc.value)
    assert "\n" not in msg
    for part in ("rp_norm", "rp_row_norm", "16x16", "max_iter=1", "sweeps", "lower rp_norm"):
        assert part in msg
    assert isinstance(exc.value, AccelSimError) and isinstance(exc.value, ValueError)


def test_non_finite_solution_raises():
    """Overflow (the wire resistance bounds the currents, so it needs ideal columns)."""
    G = np.full((4, 3), 1e300)
    V = np.full(4, 1e300)
    with pytest.raises(IRDropError, match=r"not finite.*rp_norm"):
        solve_crossbar(G, V, 0.0)
    with pytest.raises(IRDropError, match=r"diverged.*rp_norm.*rp_row_norm"):
        solve_crossbar(G, V, 0.0, 1e-300)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"rp_col": -1e-4}, "rp_col"),
    ({"rp_col": float("nan")}, "rp_norm"),
    ({"rp_row": -1e-4}, "rp_row"),
    ({"rp_row": float("inf")}, "rp_row_norm"),
    ({"rp_col": "big"}, "rp_col"),
    ({"G": np.array([[0.5, np.nan], [0.1, 0.2]])}, "G"),
    ({"G": np.array([[0.5, -0.1], [0.1, 0.2]])}, "G"),
    ({"G": np.ones(3)}, "G"),
    ({"G": np.ones((0, 2))}, "G"),
    ({"V": np.ones(3)}, "V"),
    ({"V": np.ones((2, 5))}, "V"),
    ({"V": np.array([1.0, np.inf])}, "V"),
    ({"tol": 0.0}, "tol"),
    ({"max_iter": 0}, "max_iter"),
    ({"max_iter": 2.5}, "max_iter"),
])
def test_invalid_inputs_name_the_argument(kwargs, name):
    args = {"G": np.full((2, 2), 0.5), "V": np.ones(2), "rp_col": 1e-4, "rp_row": 1e-4}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=name) as exc:
        solve_crossbar(args.pop("G"), args.pop("V"), args.pop("rp_col"), args.pop("rp_row"),
                       **args)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("size", [64, 256])
@pytest.mark.parametrize("rp", [1e-6, 1e-3])
def test_device_with_both_wires_matches_the_direct_solve(size, rp):
    """The ``analog`` device's read with ``rp_norm`` (bit line) and ``rp_norm_row`` (word line)
    equals a direct sparse solve of the whole resistive network on its programmed
    conductances (offset mapping: one device per weight)."""
    from accel_sim.devices._analog_core import AnalogLayer
    from accel_sim.devices.analog import AnalogConfig

    gen = np.random.default_rng(size)
    w = gen.normal(size=(size, size))
    cfg = AnalogConfig(rows=size, cols=size, mapping="offset_digital", quantize=False,
                       rp_norm=rp, rp_norm_row=rp)
    lay = AnalogLayer(w, cfg, np.random.default_rng(0))
    a = gen.uniform(0, 1, (2, size))
    lay.calibrate_inputs(a)
    v = lay._inputs(a)
    got = lay._read(v)[0, :, 0]
    ref = nodal_reference(lay.slices.pos[0, 0], v, rp, rp)
    np.testing.assert_allclose(got, ref, rtol=1e-7, atol=0)
    ideal = v @ lay.slices.pos[0, 0]
    assert np.all(got < ideal)
    # both wires lose more than the bit line alone
    bit_line = AnalogLayer(w, cfg.replace(rp_norm_row=0.0), np.random.default_rng(0))
    bit_line.calibrate_inputs(a)
    assert np.all(got < bit_line._read(v)[0, :, 0])
