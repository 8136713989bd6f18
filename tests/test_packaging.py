"""Packaging: the extras cover every optional feature, and the README's commands name the
extras their examples need."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _extras() -> dict[str, set[str]]:
    cp = configparser.ConfigParser()
    cp.read(ROOT / "setup.cfg")
    out = {}
    for name, text in cp["options.extras_require"].items():
        out[name] = {line.strip() for line in text.splitlines() if line.strip()}
    return out


def _project(req: str) -> str:
    return re.split(r"[\[<>=!~ ]", req, maxsplit=1)[0].lower()


def test_all_extra_installs_every_optional_feature():
    extras = _extras()
    features = {k: v for k, v in extras.items() if k not in ("all", "test", "bench")}
    want = {_project(r) for reqs in features.values() for r in reqs}
    assert want <= {_project(r) for r in extras["all"]}, want - {_project(r)
                                                               for r in extras["all"]}
    assert "pytest" in {_project(r) for r in extras["testing"]}


def test_readme_examples_name_their_extras():
    readme = (ROOT / "README.md").read_text()
    first = re.search(r"pip install -q -e '?\.(\[[a-z,]+\])?'?", readme)
    assert first, "the README's first command installs the package"
    installed = set((first.group(1) or "[]").strip("[]").split(","))
    # every example that needs an optional package is covered by the first command or says
    # which extra it needs on its own line
    needs = {"onnx": r"\.onnx", "yaml": r"spec\.yaml", "rl": r"env=cartpole",
             "postgres": r"postgresql://", "gp": r"--sampler gp"}
    for extra, pattern in needs.items():
        for m in re.finditer(pattern, readme):
            line = readme[readme.rfind("\n", 0, m.start()) + 1:readme.find("\n", m.end())]
            assert extra in installed or f"[{extra}]" in line or f"'.[{extra}" in line \
                or f"accel-sim[{extra}]" in line, (extra, line)


def test_package_data_ships_every_data_file():
    """Every file in a package's ``data/`` folder is matched by a ``package_data`` glob of
    setup.cfg (an editable install would hide a missing one)."""
    import fnmatch

    cp = configparser.ConfigParser()
    cp.read(ROOT / "setup.cfg")
    globs = {pkg: [g.strip() for g in text.replace("\n", ",").split(",") if g.strip()]
             for pkg, text in cp["options.package_data"].items()}
    missing = []
    for path in sorted((ROOT / "accel_sim").rglob("data/*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        pkg_dir = path.parent.parent
        pkg = ".".join(pkg_dir.relative_to(ROOT).parts)
        rel = path.relative_to(pkg_dir).as_posix()
        if not any(fnmatch.fnmatch(rel, g) for g in globs.get(pkg, [])):
            missing.append(f"{pkg}: {rel}")
    assert not missing, missing
    assert "accel_sim.serving" in globs  # the shipped conversation trace
