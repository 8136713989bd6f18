"""docs/design.md against the code: the files and names it points to exist, and its picture of
the layers is the one the import-linter contract checks."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGN = (ROOT / "docs" / "design.md").read_text()
PROSE = re.sub(r"```.*?```", "", DESIGN, flags=re.S)
TICKED = re.findall(r"`([^`]+)`", PROSE)
#: Where relative paths in the document start (``devices/_fpga.py`` is under accel_sim/).
BASES = (ROOT, ROOT / "accel_sim")


def _exists(rel: str) -> bool:
    return any((base / rel).exists() for base in BASES)


def test_every_file_it_names_exists():
    paths = {t.split(":")[0].strip() for t in TICKED
             if re.fullmatch(r"[\w./]+(\.py|/)(:\s*\w+)?", t.strip())}
    assert len(paths) > 20, sorted(paths)
    missing = sorted(p for p in paths if not _exists(p))
    assert not missing, missing


def test_every_function_it_places_in_a_file_is_there():
    """``devices/_analog_core.py: mapping_pass`` and the like."""
    pairs = [m.groups() for t in TICKED
             if (m := re.fullmatch(r"([\w./]+\.py):\s*(\w+)", t.strip()))]
    pairs += re.findall(r"`([\w./]+\.py)`\)?: `?(\w+)`", PROSE)
    assert pairs
    for path, name in pairs:
        text = next((b / path).read_text() for b in BASES if (b / path).exists())
        assert re.search(rf"^\s*(def|class) {name}\b|^{name}\s*[:=]", text, re.M), (path, name)


def test_every_module_it_names_imports():
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    groups = set(cfg["options.entry_points"])  # entry-point groups, not modules
    mods = {t for t in TICKED if re.fullmatch(r"accel_sim(\.\w+)+", t)} - groups
    assert len(mods) >= 4
    for mod in sorted(mods):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError:  # a public name rather than a module
            parent, _, name = mod.rpartition(".")
            assert hasattr(importlib.import_module(parent), name), mod


def test_the_picture_of_the_layers_is_the_checked_one():
    """Every module of the import-linter layers contract is drawn, in the contract's order."""
    text = (ROOT / "pyproject.toml").read_text()  # (tomllib is 3.11+; the list is plain)
    block = re.search(r'type = "layers"\s*layers = \[(.*?)\]', text, re.S)
    assert block, "no layers contract in pyproject.toml"
    layers = re.findall(r'"([^"]+)"', block.group(1))
    picture = DESIGN.split("## Layers", 1)[1].split("```")[1]
    rows = [ln for ln in picture.splitlines() if ln.strip() and ln.strip() != "|"]

    def row_of(module: str) -> int:
        short = module.removeprefix("accel_sim.")
        pattern = (r"(?<![\w.])workloads/" if module == "workloads" else
                   rf"(?<![\w])(accel_sim\.)?{re.escape(short)}(?![\w])")
        for i, ln in enumerate(rows):
            if re.search(pattern, ln.split("(")[0] if module != "workloads" else ln):
                return i
        raise AssertionError(f"{module} is not in the picture of the layers")

    previous = 0
    for layer in layers:
        at = [row_of(m.strip()) for m in re.split(r"[:|]", layer)]
        assert min(at) >= previous, (layer, at, previous)
        previous = max(at)
