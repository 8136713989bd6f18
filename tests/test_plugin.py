"""A third-party package, installed for real, plugs in a device with an accuracy, a serving
system and a workload through entry points, and each passes the shipped contracts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).parent / "plugin_pkg"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    target = tmp_path_factory.mktemp("site")
    src = tmp_path_factory.mktemp("src") / "plugin"
    shutil.copytree(PLUGIN, src)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(src)],
        check=True, capture_output=True, text=True)
    assert list(target.glob("accel_sim_toy_plugin-*.dist-info"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")])
    return env


def _run(env, *args, check=True):
    return subprocess.run([sys.executable, "-m", "accel_sim", *args], env=env,
                          capture_output=True, text=True, check=check)


def test_plugin_listed_with_its_parameters(plugin_env):
    out = _run(plugin_env, "devices").stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("toy_mac_array "))
    assert "Toy MAC array: one MAC per unit per cycle (4 parameters, 4 searched" in line
    assert any(ln.startswith("systolic ") for ln in out.splitlines())  # built-ins still there
    out = _run(plugin_env, "devices", "toy_mac_array").stdout
    assert "macs_per_cycle=64" in out and "searched" in out and "[MAC/cycle]" in out


def test_readme_example_is_the_tested_plugin():
    """The README's plug-in example is this package's code, line for line, and its
    entry-point block is this package's pyproject.toml table."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Writing plug-ins")[1].split("\n## ")[0]
    blocks = section.split("```")
    code = next(b for b in blocks if b.startswith("python\nfrom dataclasses"))
    source = (PLUGIN / "accel_sim_toy_plugin" / "__init__.py").read_text()
    assert code.removeprefix("python\n") in source
    toml = next(b for b in blocks if b.startswith("toml\n")).removeprefix("toml\n")
    assert toml in (PLUGIN / "pyproject.toml").read_text()


def test_plugin_runs_from_the_cli(plugin_env, tmp_path):
    _run(plugin_env, "run", "-w", "digits_mlp:batch=4", "-d", "toy_mac_array",
         "-s", "macs_per_cycle=16", "-o", str(tmp_path))
    import json

    summary = json.loads((tmp_path / "summary.json").read_text())
    # digits_mlp batch 4: fc1 4x64x64 + fc2 4x64x10 MACs; relu 4x64 elements
    assert summary["macs"] == 4 * 64 * 64 + 4 * 64 * 10
    assert summary["cycles"] == 4 * 64 * 64 / 16 + 4 * 64 * 10 / 16 + 4 * 64 / 16


def test_plugin_passes_the_contract(plugin_env, tmp_path):
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(PLUGIN / "contract_check.py")], env=plugin_env,
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert " passed" in res.stdout


def test_unknown_parameter_of_plugin_is_a_clear_error(plugin_env):
    res = _run(plugin_env, "run", "-w", "digits_mlp", "-d", "toy_mac_array", "-s", "foo=1",
               "-o", "x", check=False)
    assert res.returncode == 2
    assert "unknown parameter 'foo'" in res.stderr and "Traceback" not in res.stderr


def test_plugin_device_measures_digits_accuracy_through_the_hook(plugin_env, tmp_path):
    import json

    _run(plugin_env, "run", "-w", "digits_mlp", "-d", "toy_mac_array", "-s", "weight_bits=4",
         "-o", str(tmp_path / "a"))
    acc4 = json.loads((tmp_path / "a" / "summary.json").read_text())["accuracy"]
    _run(plugin_env, "run", "-w", "digits_mlp", "-d", "toy_mac_array", "-s", "weight_bits=12",
         "-o", str(tmp_path / "b"))
    acc12 = json.loads((tmp_path / "b" / "summary.json").read_text())["accuracy"]
    # the shipped float weights reach 0.9756 on the 450 test images (weights_info); 12-bit
    # weights change at most a few images, 4-bit ones cost accuracy
    assert 0.95 <= acc12 <= 1.0 and acc4 < acc12
    res = _run(plugin_env, "explore", "-w", "digits_mlp", "-d", "toy_mac_array",
               "--objectives", "latency,accuracy", "--trials", "4", "-q", "-o",
               str(tmp_path / "e"))
    assert "4 complete trials" in res.stdout


def test_plugin_serving_system_is_served_and_explored(plugin_env, tmp_path):
    import json

    res = _run(plugin_env, "serve", "-m", "llama3_70b", "-d", "toy_server", "--batch", "16",
               "--lin", "256", "--lout", "64", "--requests", "64", "-q", "-o",
               str(tmp_path / "s"))
    assert res.returncode == 0
    s = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert s["device"] == "toy_server" and s["devices"] == 4 and s["throughput_tok_s"] > 0
    res = _run(plugin_env, "explore", "--serve", "-d", "toy_server", "-s", "model=llama3_70b",
               "-s", "lin=128", "-s", "lout=32", "-s", "requests=32", "--space", "batch=4:64",
               "tflops", "--objectives", "throughput_tok_s,energy_per_token_j", "--trials", "5",
               "-q", "-o", str(tmp_path / "x"))
    assert "5 complete trials" in res.stdout
    res = _run(plugin_env, "serve", "-m", "llama3_70b", "-d", "toy_mac_array", "-o",
               str(tmp_path / "n"), check=False)
    assert res.returncode == 2 and "toy_server" in res.stderr  # named among those that serve


def test_plugin_workload_is_reached_by_name(plugin_env, tmp_path):
    import json

    out = _run(plugin_env, "workloads").stdout
    assert "toy_mlp: Toy MLP" in out and "hidden=256" in out
    _run(plugin_env, "run", "-w", "toy_mlp:hidden=128,layers=3,batch=2", "-d", "systolic",
         "-o", str(tmp_path / "w"))
    s = json.loads((tmp_path / "w" / "summary.json").read_text())
    assert s["macs"] == 2 * (64 * 128 + 128 * 128 * 2 + 128 * 10)
    bad = _run(plugin_env, "run", "-w", "toy_mlp:hidden=abc", "-d", "systolic", "-o",
               str(tmp_path / "x"), check=False)
    assert bad.returncode == 2 and "hidden" in bad.stderr and "Traceback" not in bad.stderr
