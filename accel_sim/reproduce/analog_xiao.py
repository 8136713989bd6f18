"""Reproduction of Xiao et al., "On the Accuracy of Analog Neural Network Inference
Accelerators" (IEEE CAS Magazine 2022, arXiv 2109.01262) on networks trained here.

The paper evaluates ImageNet/CIFAR networks; we use the digits MLP and CNN that ship with
accel_sim (largest layer: 512 rows, the CNN's classifier), so array-size effects beyond 512 rows
cannot appear, and absolute accuracy losses are smaller than on ImageNet. The trends are
compared, with the conditions stated per row of the table.
"""

from __future__ import annotations

import csv
import os
from typing import Any

import numpy as np

from .._plotting import subplots
from .._progress import progress_bar
from .._simulate import simulate
from ._common import Comparison, write_comparison
from ._neurosim_ppa import comparisons as neurosim_comparisons

ADC_BITS = (3, 4, 5, 6, 7, 8, 10, 12)
ROWS = (72, 144, 288, 576, 1152)
PROG_SIGMAS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
SLICES = (1, 2, 4, 8)
RP_NORMS = (0.0, 1e-5, 1e-4, 1e-3)
MAPPINGS = ("proportional", "differential", "offset_digital", "offset_unit_column")
NET = "digits_cnn"


def _acc(samples: int, **cfg: Any) -> float:
    params = {"eval_samples": samples, **cfg}
    return float(simulate(NET, "analog", params).summary()["accuracy"])


def _bits_needed(curve: dict[int, float], reference: float, margin: float = 0.01) -> float:
    """Fewest ADC bits whose accuracy is within ``margin`` of ``reference``."""
    for bits in sorted(curve):
        if curve[bits] >= reference - margin:
            return float(bits)
    return float("inf")


def _useful_signal_fraction(rows: int) -> float:
    """Offset mapping: span of the weight-dependent signal over the span of the total column
    current (the ADC range), on the CNN classifier's inputs (99.98 % percentiles)."""
    from workloads import digits_forward, digits_split, load_weights

    from ..devices._analog_core import AnalogLayer
    from ..devices.analog import AnalogConfig

    params = load_weights(NET)
    xtr, _, _, _ = digits_split()
    seen: dict[str, np.ndarray] = {}

    def grab(layer: str, a: np.ndarray, w: np.ndarray) -> np.ndarray:
        seen[layer] = a
        return a @ w

    digits_forward(NET, params, xtr[:200], matmul=grab)
    cfg = AnalogConfig(mapping="offset_digital", rows=rows, quantize=False)
    lay = AnalogLayer(params["fc.W"], cfg, np.random.default_rng(0))
    lay.calibrate_inputs(seen["fc"])
    v = lay._inputs(seen["fc"])
    total = lay._read(v)[0]  # (B, T, n)
    vb = np.pad(v, ((0, 0), (0, lay.T * rows - lay.k))).reshape(len(v), lay.T, rows)
    mid = (1.0 + lay.gmin) / 2.0  # conductance of a zero weight
    signal = total - mid * vb.sum(axis=2)[:, :, None]

    def span(x: np.ndarray) -> float:
        return float(np.percentile(x, 99.98) - np.percentile(x, 0.02))

    return span(signal) / span(total)


def run(outdir: str, quick: bool = False) -> list[Comparison]:
    """Run the sweeps, write CSVs, plots and the comparison table; return the comparisons."""
    samples = 150 if quick else 450
    os.makedirs(outdir, exist_ok=True)
    # sweep -> series -> [(x, analog parameters)]
    plan: dict[str, dict[str, list[tuple[float, dict[str, Any]]]]] = {
        "adc_bits": {m: [(b, {"mapping": m, "adc_bits": b}) for b in ADC_BITS]
                     for m in MAPPINGS},
        "rows": {f"{m}, {bpc} bits/cell": [(r, {"mapping": m, "rows": r,
                                                "weight_slices": 8 // bpc}) for r in ROWS]
                 for m in ("proportional", "offset_digital") for bpc in (8, 2)},
        "prog_error": {f"{m}, {model}": [(s, {"mapping": m, "prog_error_sigma": s,
                                              "prog_error_model": model if s else "none"})
                                         for s in PROG_SIGMAS]
                       for m in MAPPINGS for model in ("independent", "proportional")},
        "slices": {m: [(s, {"mapping": m, "weight_slices": s}) for s in SLICES]
                   for m in ("proportional", "offset_digital")},
        "rp_norm": {m: [(rp, {"mapping": m, "rp_norm": rp}) for rp in RP_NORMS]
                    for m in ("proportional", "differential")},
    }
    total = 1 + len(MAPPINGS) + sum(len(pts) for series in plan.values()
                                    for pts in series.values())
    with progress_bar(total, desc="analog-xiao: accuracy simulations", unit="eval") as bar:

        def acc(**cfg: Any) -> float:
            out = _acc(samples, **cfg)
            bar.update(1)
            return out

        ideal = acc(quantize=False)
        ref16 = {m: acc(mapping=m, adc_bits=16) for m in MAPPINGS}
        sweeps: dict[str, dict] = {
            key: {label: {x: acc(**cfg) for x, cfg in pts} for label, pts in series.items()}
            for key, series in plan.items()}
    _write_sweeps(sweeps, ideal, outdir)
    _plot(sweeps, ideal, samples, os.path.join(outdir, "accuracy_sweeps.png"))

    rows: list[Comparison] = []
    need_prop = _bits_needed(sweeps["adc_bits"]["proportional"], ref16["proportional"])
    need_off = _bits_needed(sweeps["adc_bits"]["offset_digital"], ref16["offset_digital"])
    rows.append(Comparison(
        "extra ADC bits offset needs for equal accuracy", f"{NET}, 1152 rows, 8-bit weights, "
        "calibrated ADC, within 1 % of a 16-bit ADC", 2.5, need_off - need_prop, 0.4,
        "paper: about 2-3 bits; the digits layers have at most 512 rows, so the offset current "
        "is smaller relative to the signal than in the paper's networks"))
    frac = _useful_signal_fraction(1152)
    rows.append(Comparison(
        "useful signal fraction of the ADC range (offset)", f"{NET} classifier (512 rows used)",
        0.15, frac, 0.34, "paper: 10-20 % at 1152 rows; with 512 rows of inputs the offset "
        "is a smaller share of the current"))
    rows.append(Comparison(
        "ADC bits that suffice (proportional)", f"{NET}, within 1 % of a 16-bit ADC", 8.0,
        need_prop, 0.25, "paper: about 8 bits; fewer suffice on this small network"
        if need_prop < 6 else "paper: about 8 bits"))
    drop_prop = ref16["proportional"] - sweeps["rows"]["proportional, 8 bits/cell"][1152]
    rows.append(Comparison(
        "accuracy loss, proportional, no slicing, 8-bit ADC", "1152 rows", 0.0, drop_prop, 0.01,
        "paper: stays near baseline"))
    off = sweeps["rows"]
    drop_small = ref16["offset_digital"] - off["offset_digital, 2 bits/cell"][144]
    rows.append(Comparison(
        "accuracy loss, offset, 8-bit ADC", "144 rows, 2 bits/cell", 0.0, drop_small, 0.01,
        "paper: accurate at <= 144 rows and <= 2 bits/cell"))
    drop_big = ref16["offset_digital"] - off["offset_digital, 8 bits/cell"][1152]
    rows.append(Comparison(
        "accuracy loss, offset, 8-bit ADC", "1152 rows, 8 bits/cell", 0.05, drop_big, 0.8,
        "paper: a large loss (>= 1 % counts as agreement); the digits classifier uses only 512 "
        "rows and a small, robust network loses less"))
    rows.extend(neurosim_comparisons(outdir))
    write_comparison(rows, outdir, "Xiao et al. 2022 (analog accuracy) vs accel_sim")
    with open(os.path.join(outdir, "comparison.md"), "a") as fh:
        fh.write(f"\nFloat accuracy of {NET} on the {samples} test images used: {ideal:.4f}. "
                 "VGG-8 energy and area by category beside NeuroSim's: vgg8_breakdown.csv "
                 "and vgg8_breakdown.png.\n")
        flat = [k for k, series in sweeps.items() if _flat(series, ideal, samples)]
        if flat:
            fh.write(f"\nFlat panels of accuracy_sweeps.png ({', '.join(flat)}): every point "
                     f"is within one of the {samples} test images of the float accuracy. "
                     + " ".join(_sentence(_FLAT_WHY[k]) for k in flat if k in _FLAT_WHY)
                     + "\n")
    return rows


def _write_sweeps(sweeps: dict[str, dict], ideal: float, outdir: str) -> None:
    with open(os.path.join(outdir, "sweeps.csv"), "w", newline="") as fh:
        w = csv.writer(fh)  # series names hold commas: quoted
        w.writerow(["sweep", "series", "x", "accuracy"])
        for sweep, series in sweeps.items():
            for label, curve in series.items():
                for x, acc in curve.items():
                    w.writerow([sweep, label, x, acc])
        w.writerow(["float", "ideal", 0, ideal])


#: x-axis labels of the sweep panels, with units.
_XLABELS = {"adc_bits": "ADC resolution [bit]", "rows": "array rows [cells]",
            "prog_error": "programming error alpha [sigma / Gmax or sigma / G]",
            "slices": "weight slices [count]", "rp_norm": "bit-line parasitics Rp x Gmax "
            "[dimensionless]"}
#: Why a panel is flat (see :func:`_plot`).
_FLAT_WHY = {
    "rows": "with ideal cells (no programming error, no read noise) and an 8-bit\n"
            "calibrated ADC, array height and bits per cell add too little error\n"
            "to change a decision; the CNN's largest layer has 512 rows, so\n"
            "576 and 1152 rows map it identically",
    "slices": "with ideal cells and an 8-bit calibrated ADC per slice there is\n"
              "no cell error for slicing to reduce",
}


def _flat(curves: dict[str, dict], ideal: float, samples: int) -> bool:
    """Whether every point is within one test image of the float accuracy."""
    return all(abs(a - ideal) <= 1.0 / samples + 1e-9 for c in curves.values()
               for a in c.values())


def _sentence(text: str) -> str:
    text = text.replace("\n", " ")
    return text[:1].upper() + text[1:] + "."


def _figure(sweeps: dict[str, dict], ideal: float, samples: int) -> Any:
    """The sweep panels (a matplotlib Figure, not registered with pyplot)."""
    from .._units import axis_label

    ylabel = axis_label(f"{NET} accuracy", "maximize", unit="fraction correct")
    fig, axes = subplots(2, 3, figsize=(15, 8.5))
    for ax, (key, series) in zip(axes.flat, sweeps.items(), strict=False):
        for label, curve in series.items():
            xs = list(curve)
            xplot = [x if x else (1e-6 if key == "rp_norm" else 0.0) for x in xs]
            ax.plot(xplot, list(curve.values()), "o-", ms=4, label=label)
        ax.axhline(ideal, color="k", ls="--", lw=0.8, label="float")
        if key in ("rows", "rp_norm"):
            ax.set_xscale("log")
        if key == "rp_norm":
            ax.set_xticks([1e-6, 1e-5, 1e-4, 1e-3], ["0", "1e-5", "1e-4", "1e-3"])
        if key == "rows":
            ax.set_xticks(ROWS, [str(r) for r in ROWS])
            ax.minorticks_off()
        ax.set_xlabel(_XLABELS[key])
        ax.set_ylabel(ylabel)
        if _flat(series, ideal, samples):
            # a one-image difference must not fill the panel: fixed +-5 % window
            ax.set_ylim(ideal - 0.05, min(ideal + 0.02, 1.005))
            ax.set_title(f"flat: every point within 1 of {samples} test images of float",
                         fontsize=9)
            ax.text(0.02, 0.04, _FLAT_WHY.get(key, ""), transform=ax.transAxes, fontsize=7,
                    va="bottom", color="0.25")
        ax.legend(fontsize=7, loc="upper right" if key in ("rows", "slices") else "best")
    axes.flat[-1].axis("off")
    fig.suptitle(f"Xiao et al. trends on the digits CNN (accel_sim analog, {samples} test "
                 "images, 8-bit calibrated ADC unless swept)")
    fig.tight_layout()
    return fig


def _plot(sweeps: dict[str, dict], ideal: float, samples: int, path: str) -> None:
    fig = _figure(sweeps, ideal, samples)
    fig.savefig(path, dpi=100)
