"""The project's structure: layers that point one way, no import cycles, one device loaded at
a time, scripts on the public API. Imports inside functions count; imports under
``TYPE_CHECKING`` do not (they never run).

The layers and the rule that devices never import ``workloads`` are import-linter contracts in
``pyproject.toml`` ([tool.importlinter]); the rest is checked here on the same import graph.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def _graph():
    return grimp.build_graph("accel_sim", "workloads", include_external_packages=False,
                             exclude_type_checking_imports=True)


def test_import_linter_contracts_are_kept():
    res = subprocess.run([sys.executable, "-c", "from importlinter.cli import "
                          "lint_imports_command as c; c()"], cwd=ROOT, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "2 kept, 0 broken" in res.stdout


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    adj = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(adj):
        if root in index:
            continue
        work = [(root, iter(adj[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(adj[w])))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_a_cycle():
    """The check above can fail: on a hand-made graph with a cycle it reports it."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    class Fake:
        modules = frozenset(edges)

        def find_modules_directly_imported_by(self, m):
            return edges.get(m, set())

    assert _cycles(Fake()) == [["a", "b", "c"]]


def test_only_the_command_line_uses_the_package_facade():
    """``accel_sim/__init__`` re-exports names from every layer: importing it from inside the
    project would point a layer upwards."""
    importers = _graph().find_modules_that_directly_import("accel_sim")
    assert importers <= {"accel_sim.__main__"}, sorted(importers)


def test_asking_for_one_device_loads_only_that_device():
    code = ("import sys, json; from accel_sim import get_device; get_device('systolic'); "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('accel_sim.', "
            "'workloads', 'numba', 'optuna', 'matplotlib')))))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    loaded = json.loads(res.stdout)
    devices = [m for m in loaded if m.startswith("accel_sim.devices.")]
    assert devices == ["accel_sim.devices._systolic_core", "accel_sim.devices.systolic"]
    assert not [m for m in loaded if m.split(".")[0] in ("numba", "optuna", "matplotlib",
                                                         "workloads")]


def _private(name: str) -> bool:
    """``_name`` (not a dunder such as ``__future__``)."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_imports(path: Path) -> list[str]:
    """Imports of ``path`` that reach into private code: a module path with a component
    starting with ``_`` (a private module of accel_sim or workloads: ``accel_sim._ir``,
    ``accel_sim.devices._irdrop``), or a ``_``-prefixed name imported from any module. A
    helper module next to the script (``benchmarks/_timing.py``) is the scripts' own code,
    not the library's, and may be imported."""
    local = {p.stem for p in path.parent.glob("*.py")}
    bad = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
            names: list[str] = []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            names = [a.name for a in node.names]
        else:
            continue
        for module in modules:
            if module in local:
                continue
            if any(_private(part) for part in module.split(".")):
                bad.append(f"{path.name}:{node.lineno}: module {module}")
        bad += [f"{path.name}:{node.lineno}: name {name} from {modules[0]}"
                for name in names if _private(name) and modules[0] not in local]
    return bad


def test_scripts_use_only_public_names():
    """Benchmarks and experiments are written against the public API: no private module
    (``accel_sim._sweep``) and no private name (``_TimedSampler``) is imported."""
    scripts = sorted([*ROOT.glob("benchmarks/*.py"), *ROOT.glob("experiments/*.py")])
    assert len(scripts) > 10
    bad = [b for path in scripts for b in _private_imports(path)]
    assert bad == [], bad


def test_private_import_check_finds_private_imports(tmp_path):
    """The check above can fail: it reports private modules and names, not local helpers."""
    (tmp_path / "_helper.py").write_text("X = 1\n")
    script = tmp_path / "script.py"
    script.write_text("from __future__ import annotations\n"
                      "import accel_sim._ir\nfrom accel_sim.explore._run import Explorer\n"
                      "from accel_sim.explore import _TimedSampler\nfrom accel_sim import Trace\n"
                      "from _helper import X\nfrom tests_module import _case\n")
    assert _private_imports(script) == [
        "script.py:2: module accel_sim._ir", "script.py:3: module accel_sim.explore._run",
        "script.py:4: name _TimedSampler from accel_sim.explore",
        "script.py:7: name _case from tests_module"]
