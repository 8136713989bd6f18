"""Duplex (Yun et al., MICRO 2024) vs accel_sim's xPU/PIM serving systems.

Figures are from ``../shared/REFERENCES.md`` and the paper's evaluation section as recorded
from the authors' public sources (LLMSimulator). Systems, as in the paper: GPU = ``xpu`` (H100);
Duplex = ``logic_pim`` (Op/B placement, no co-processing); Duplex+PE = ``duplex``
(co-processing); Duplex+PE+ET = ``duplex`` with experts tensor-parallel over the node's devices;
Bank-PIM = ``bank_pim``. Devices: Mixtral, OPT-66B and Llama3-70B on 4, GLaM on 8, Grok-1 on 2
nodes x 8. Closed-loop continuous batching with uniform routing unless stated; a batch that
does not fit the KV memory is capped to the largest that does (noted in ``throughput.csv``).

Compared: Op/B of decode attention and MoE layers; throughput vs GPU over models, batches and
lengths (average 2.07x; co-processing's share); time between tokens and end-to-end latency;
energy per token; the Bank-PIM comparison; a Poisson load sweep; and the GPU baseline's absolute
tokens/s against measured TensorRT-LLM H100/A100 numbers.

Writes ``comparison.csv``/``.md``, ``opb.csv``, ``throughput.csv``, ``load.csv``,
``gpu_absolute.csv`` and ``opb.png``, ``throughput_vs_gpu.png``, ``energy_per_token.png``,
``load_sweep.png``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from .._ir import OpKind
from .._plotting import subplots
from .._progress import track
from .._registry import make_device
from .._sweep import write_rows_csv
from ..llm import MODELS, ServingSystem, iteration_trace, layer_traffic, op_intensity
from ..serving import ServeConfig, serve
from ._common import Comparison, save_axes, write_comparison

#: Devices per model in the paper's evaluation.
DEVICES = {"mixtral_8x7b": 4, "glam": 8, "grok1": 16, "opt_66b": 4, "llama3_70b": 4}
MOE_MODELS = ("mixtral_8x7b", "glam", "grok1")
BATCHES = (32, 64, 128)
LENGTHS = ((256, 256), (512, 512), (1024, 1024), (2048, 2048), (4096, 4096))
QUICK_LENGTHS = ((256, 256), (2048, 2048))

#: Measured H100/A100-SXM4 serving throughput with unquantised 16-bit engines ("Mixed"):
#: TensorRT-LLM v0.15.0 performance overview (docs/source/performance/perf-overview.md of
#: NVIDIA/TensorRT-LLM, https://nvidia.github.io/TensorRT-LLM/performance/perf-overview.html),
#: trtllm-bench, fixed lengths, all requests at once, in-flight batching; total output tokens/s
#: of the tensor-parallel group. (model, xpu, GPUs, input, output, tokens/s)
MEASURED = (
    ("mixtral_8x7b", "h100", 2, 128, 128, 15904.17),
    ("mixtral_8x7b", "a100", 2, 128, 128, 5758.21),
    ("mixtral_8x7b", "h100", 2, 128, 2048, 7660.05),
    ("mixtral_8x7b", "a100", 2, 128, 2048, 4365.92),
    ("mixtral_8x7b", "h100", 4, 2048, 2048, 10381.54),
    ("llama3_70b", "h100", 4, 128, 128, 6387.29),
    ("llama3_70b", "a100", 4, 128, 128, 2713.51),
    ("llama3_70b", "h100", 4, 128, 2048, 5767.81),
    ("llama3_70b", "a100", 4, 128, 2048, 2684.63),
)
#: TensorRT-LLM's engine limit in those runs (--max_batch_size 2048).
MEASURED_MAX_BATCH = 2048


def _systems(model: str) -> dict[str, tuple[str, dict[str, Any]]]:
    n = DEVICES[model]
    et = {"expert_tp": min(n, 8)} if model in MOE_MODELS else {}
    return {"GPU": ("xpu", {"devices": n}), "Duplex": ("logic_pim", {"devices": n}),
            "Duplex+PE": ("duplex", {"devices": n}),
            "Duplex+PE+ET": ("duplex", {"devices": n, **et}),
            "Bank-PIM": ("bank_pim", {"devices": n})}


def _serving_system(name: str, params: dict[str, Any]) -> ServingSystem:
    """The registered LLM serving system ``name`` configured with ``params``."""
    return cast(ServingSystem, make_device(name, params))


def _serve(model: str, system: tuple[str, dict[str, Any]], **kw: Any) -> dict[str, Any]:
    dev = _serving_system(system[0], system[1])
    cfg = ServeConfig(model=model, **kw)
    return dict(serve(cfg, dev, cap_to_memory=True).summary)


def _opb(models: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for name in models:
        m = MODELS[name]
        for batch in BATCHES:
            tr = iteration_trace(m, decode_kv=[4096] * batch)
            att = [lay for lay in tr.layers if lay.op in (OpKind.ATTN_SCORE,
                                                           OpKind.ATTN_CONTEXT)]
            att_opb = sum(lay.flops for lay in att) / sum(layer_traffic(lay) for lay in att)
            exp = [lay for lay in tr.layers if lay.op is OpKind.MOE_EXPERT]
            moe_opb = (sum(lay.flops for lay in exp) / sum(layer_traffic(lay) for lay in exp)
                       if exp else float("nan"))
            dense = next(lay for lay in tr.layers if lay.name == "blocks.qkv")
            rows.append({"model": name, "batch": batch, "kv_len": 4096,
                         "attention_opb": att_opb, "moe_opb": moe_opb,
                         "qkv_opb": op_intensity(dense), "gqa_group": m.group,
                         "tokens_per_expert": batch * m.top_k / m.experts if m.is_moe
                         else float("nan")})
    return rows




def _ratio(rows: Sequence[dict[str, Any]], label: str, base: str = "GPU") -> np.ndarray:
    """Throughput of ``label`` over that of ``base``, per row [ratio]."""
    return np.array([r[f"{label}_tok_s"] / r[f"{base}_tok_s"] for r in rows])


def run(outdir: str, quick: bool = False) -> list[Comparison]:
    """Run every comparison; write CSVs, plots and the table."""
    os.makedirs(outdir, exist_ok=True)
    lengths = QUICK_LENGTHS if quick else LENGTHS
    comps: list[Comparison] = []

    opb = _opb(tuple(DEVICES))
    write_rows_csv(os.path.join(outdir, "opb.csv"), opb)
    comps += _opb_comparisons(opb)
    _plot_opb(opb, os.path.join(outdir, "opb.png"))

    grid = _throughput_grid(lengths)
    write_rows_csv(os.path.join(outdir, "throughput.csv"), grid)
    comps += _throughput_comparisons(grid, lengths)
    _plot_throughput(grid, os.path.join(outdir, "throughput_vs_gpu.png"))
    comps += _latency_comparisons(grid)
    comps += _energy_comparisons(grid)
    _plot_energy(grid, os.path.join(outdir, "energy_per_token.png"))

    bank_rows = _bank_pim_rows(lengths)
    write_rows_csv(os.path.join(outdir, "bank_pim.csv"), bank_rows)
    comps += _bank_pim_comparisons(bank_rows)

    rates = (4.0, 8.0, 12.0, 16.0) if quick else tuple(float(q) for q in range(4, 17))
    n_req = 300 if quick else 1000
    load = _load_sweep(rates, n_req)
    write_rows_csv(os.path.join(outdir, "load.csv"), load)
    comps += _load_comparisons(load, rates, n_req)
    _plot_load(load, os.path.join(outdir, "load_sweep.png"))

    absrows, abscomps = _gpu_absolute(quick)
    comps += abscomps
    write_rows_csv(os.path.join(outdir, "gpu_absolute.csv"), absrows)
    write_rows_csv(os.path.join(outdir, "backends.csv"), _backend_rows())
    write_comparison(comps, outdir, "Duplex (MICRO 2024): paper vs accel_sim")
    return comps


# ---------------------------------------------------------------------- Op/B
def _opb_comparisons(opb: Sequence[dict[str, Any]]) -> list[Comparison]:
    """Decode attention Op/B (= the GQA group) and MoE expert Op/B against the paper."""
    comps = []
    for name, group in (("mixtral_8x7b", 4), ("grok1", 6), ("llama3_70b", 8), ("glam", 1),
                        ("opt_66b", 1)):
        r = next(x for x in opb if x["model"] == name and x["batch"] == 32)
        comps.append(Comparison("decode attention Op/B", f"{name}, kv 4096", group,
                                r["attention_opb"], 0.05,
                                "fused attention: Q, K, V and output bytes"))
    for batch, paper in ((32, 8.0), (128, 32.0)):
        r = next(x for x in opb if x["model"] == "mixtral_8x7b" and x["batch"] == batch)
        comps.append(Comparison("MoE expert Op/B", f"mixtral_8x7b, decode batch {batch}",
                                paper, r["moe_opb"], 0.05,
                                "tokens per expert; weights dominate the bytes"))
    return comps


# ---------------------------------------------------------------------- throughput grid
def _throughput_grid(lengths: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """Closed-loop serving of the MoE models on the GPU and the Duplex variants over
    batches and (prompt, output) lengths [tokens]: tokens/s, J/token, TBT and end-to-end
    latency [s] per system (throughput.csv rows)."""
    grid: list[dict[str, Any]] = []
    runs = [(m, b, li, lo) for m in MOE_MODELS for b in BATCHES for li, lo in lengths]
    for model, batch, lin, lout in track(runs, desc="duplex throughput", unit="point",
                                        leave=False):
        systems = _systems(model)
        row: dict[str, Any] = {"model": model, "batch": batch, "lin": lin, "lout": lout}
        for label in ("GPU", "Duplex", "Duplex+PE", "Duplex+PE+ET"):
            s = _serve(model, systems[label], batch=batch, lin=lin, lout=lout,
                       requests=2 * batch)
            row[f"{label}_tok_s"] = s["throughput_tok_s"]
            row[f"{label}_j_per_tok"] = s["energy_per_token_j"]
            row[f"{label}_dyn_j_per_tok"] = s["energy_dynamic_per_token_j"]
            row[f"{label}_tbt_p50_s"] = s["tbt_p50_s"]
            row[f"{label}_e2e_p50_s"] = s["e2e_p50_s"]
            row["batch_cap"] = s["batch_cap"]
        grid.append(row)
    return grid


def _throughput_comparisons(grid: Sequence[dict[str, Any]],
                            lengths: Sequence[tuple[int, int]]) -> list[Comparison]:
    """Throughput over the GPU (average 2.07x, maxima) and co-processing's gain."""
    full = _ratio(grid, "Duplex+PE+ET")
    where = "Mixtral/GLaM/Grok-1, batch 32-128, lengths " + \
        f"{lengths[0][0]}-{lengths[-1][0]}"
    return [
        Comparison("throughput Duplex vs GPU, average", where, 2.07,
                   float(np.mean(full)), 0.25,
                   f"Duplex+PE+ET; geometric mean "
                   f"{float(np.exp(np.log(full).mean())):.3g}"),
        Comparison("throughput Duplex+PE+ET vs GPU, max", where, 2.67,
                   float(full.max()), 0.25, ""),
        Comparison("throughput Duplex (no co-processing) vs GPU, max", where, 2.51,
                   float(_ratio(grid, "Duplex").max()), 0.25, ""),
        Comparison("co-processing gain (Duplex+PE / Duplex), average", where, 1.04,
                   float(_ratio(grid, "Duplex+PE", base="Duplex").mean()), 0.05,
                   "experts split and decode/prefill attention overlapped"),
    ]


def _latency_comparisons(grid: Sequence[dict[str, Any]]) -> list[Comparison]:
    """Median TBT and end-to-end latency of Duplex over the GPU (GLaM, batch 64); none when
    the grid has no such point."""
    lat = [r for r in grid if r["model"] == "glam" and r["batch"] == 64
           and 512 <= r["lin"] <= 2048]
    if not lat:
        return []
    tbt = np.mean([r["Duplex+PE+ET_tbt_p50_s"] / r["GPU_tbt_p50_s"] for r in lat])
    e2e = np.mean([r["Duplex+PE+ET_e2e_p50_s"] / r["GPU_e2e_p50_s"] for r in lat])
    cond = "GLaM, batch 64, lengths " + ", ".join(str(r["lin"]) for r in lat)
    return [Comparison("median TBT, Duplex / GPU", cond, 1 - 0.583, float(tbt),
                       0.25, "paper: -58.3 %"),
            Comparison("median end-to-end latency, Duplex / GPU", cond,
                       1 - 0.602, float(e2e), 0.25, "paper: -60.20 %")]


def _energy_comparisons(grid: Sequence[dict[str, Any]]) -> list[Comparison]:
    """Largest energy-per-token reduction of Duplex vs the GPU, per MoE model."""
    comps = []
    for model, paper in (("mixtral_8x7b", 0.3328), ("glam", 0.4203), ("grok1", 0.3459)):
        dyn, red = _energy_reduction([r for r in grid if r["model"] == model])
        comps.append(Comparison("energy per token, max reduction vs GPU", model, paper,
                                float(dyn.max()), 0.3,
                                "DRAM + activation + arithmetic energy, as the paper; with "
                                f"the xPU's idle power the reduction is up to {red.max():.0%}"))
    return comps


# ---------------------------------------------------------------------- Bank-PIM
def _bank_pim_rows(lengths: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """Tokens/s of the GPU, Bank-PIM and Duplex+PE+ET: Mixtral over the grid, OPT-66B and
    Llama3-70B at a short and a long point (bank_pim.csv rows)."""
    bank_rows: list[dict[str, Any]] = []
    bank_cases = [("mixtral_8x7b", b, li, lo) for b in BATCHES for li, lo in lengths]
    bank_cases += [(m, 64, 256, 256) for m in ("opt_66b", "llama3_70b")]
    bank_cases += [(m, 32, 4096, 4096) for m in ("opt_66b", "llama3_70b")]
    for model, batch, lin, lout in track(bank_cases, desc="bank-pim"):
        systems = _systems(model)
        row: dict[str, Any] = {"model": model, "batch": batch, "lin": lin, "lout": lout}
        for label in ("GPU", "Bank-PIM", "Duplex+PE+ET"):
            s = _serve(model, systems[label], batch=batch, lin=lin, lout=lout,
                       requests=2 * batch)
            row[f"{label}_tok_s"] = s["throughput_tok_s"]
        bank_rows.append(row)
    return bank_rows


def _bank_pim_comparisons(bank_rows: Sequence[dict[str, Any]]) -> list[Comparison]:
    """Duplex vs Bank-PIM and Bank-PIM vs GPU (Mixtral); which wins for MHA and GQA."""
    mix = [r for r in bank_rows if r["model"] == "mixtral_8x7b"]
    dvb = _ratio(mix, "Duplex+PE+ET", "Bank-PIM")
    r256 = next(r for r in mix if (r["batch"], r["lin"]) == (64, 256))
    comps = [
        Comparison("Duplex vs Bank-PIM, max", "Mixtral", 1.80, float(dvb.max()), 0.25, ""),
        Comparison("Duplex vs Bank-PIM, average", "Mixtral", 1.49, float(dvb.mean()),
                   0.25, ""),
        Comparison("Bank-PIM vs GPU, max", "Mixtral", 2.17,
                   float(_ratio(mix, "Bank-PIM").max()), 0.25,
                   "paper's maximum is at batch 32, length 4096"),
        Comparison("Bank-PIM vs GPU", "Mixtral, batch 64, 256/256", 1.18,
                   r256["Bank-PIM_tok_s"] / r256["GPU_tok_s"], 0.25, ""),
        Comparison("Duplex vs GPU", "Mixtral, batch 64, 256/256", 2.05,
                   r256["Duplex+PE+ET_tok_s"] / r256["GPU_tok_s"], 0.25, ""),
    ]
    for model, paper_bank_wins in (("opt_66b", 1.0), ("llama3_70b", 0.0)):
        rs = [r for r in bank_rows if r["model"] == model]
        wins = float(np.mean([r["Bank-PIM_tok_s"] > r["Duplex+PE+ET_tok_s"] for r in rs]))
        comps.append(Comparison("Bank-PIM faster than Duplex (share of points)", model,
                                paper_bank_wins, wins, 0.0,
                                "MHA (OPT) favours Bank-PIM; GQA 8 (Llama3) favours Duplex"))
    return comps


# ---------------------------------------------------------------------- load sweep
def _load_sweep(rates: Sequence[float], n_req: int) -> list[dict[str, Any]]:
    """Mixtral 4096/512 under Poisson arrivals at each rate [req/s], ``n_req`` requests, on
    the GPU and Duplex+PE+ET: achieved load, tokens/s and latency percentiles [s]
    (load.csv rows)."""
    load: list[dict[str, Any]] = []
    for label in ("GPU", "Duplex+PE+ET"):
        system = _systems("mixtral_8x7b")[label]
        for q in track(rates, desc=f"load {label}"):
            s = _serve("mixtral_8x7b", system, batch=128, lin=4096, lout=512, rate=q,
                       requests=n_req)
            load.append({"system": label, "rate": q, "achieved_req_s": s["throughput_req_s"],
                         "throughput_tok_s": s["throughput_tok_s"],
                         "ttft_p50_s": s["ttft_p50_s"], "tbt_p50_s": s["tbt_p50_s"],
                         "tbt_p99_s": s["tbt_p99_s"], "e2e_p50_s": s["e2e_p50_s"]})
    return load


def _load_comparisons(load: Sequence[dict[str, Any]], rates: Sequence[float],
                      n_req: int) -> list[Comparison]:
    """Highest sustained load [req/s] per system: the median time to first token at most
    twice that at the lowest rate."""
    comps = []
    for label, paper in (("GPU", 9.0), ("Duplex+PE+ET", 14.0)):
        rs = [r for r in load if r["system"] == label]
        base = rs[0]["ttft_p50_s"]
        ok = [r["rate"] for r in rs if r["ttft_p50_s"] <= 2.0 * base]
        comps.append(Comparison("highest sustained load (req/s)",
                                f"Mixtral 4096/512, batch cap 128, {label}", paper,
                                max(ok) if ok else 0.0, 0.25,
                                "sustained: requests do not queue (median time to first "
                                f"token at most twice that at {rates[0]:g} req/s; {n_req} "
                                "requests)"))
    return comps


# ---------------------------------------------------------------------- serving backends
#: The case of the paper's throughput maxima the default (ideal) model misses.
BACKEND_CASE = ("glam", 128, 4096, 4096)


def _backend_rows() -> list[dict[str, Any]]:
    """GLaM at batch 128, 4096/4096 tokens, with every system on each serving backend
    (attention kernel, NCCL collectives, runtime overhead; the same software stack on the
    GPU and on Duplex): throughput [tok/s] and the ratios the paper's maxima compare
    (backends.csv)."""
    from ..devices._llm_backend import BACKENDS

    model, batch, lin, lout = BACKEND_CASE
    systems = _systems(model)
    rows = []
    for backend in BACKENDS:
        if backend == "trtllm_mmha":  # per-query-head KV reads: GLaM has one head per KV head
            continue
        row: dict[str, Any] = {"model": model, "batch": batch, "lin": lin, "lout": lout,
                               "backend": backend}
        for label in ("GPU", "Duplex", "Duplex+PE+ET"):
            name, params = systems[label]
            s = _serve(model, (name, {**params, "backend": backend}), batch=batch, lin=lin,
                       lout=lout, requests=2 * batch)
            row[f"{label}_tok_s"] = s["throughput_tok_s"]
        row["Duplex+PE+ET_vs_GPU"] = row["Duplex+PE+ET_tok_s"] / row["GPU_tok_s"]
        row["Duplex_vs_GPU"] = row["Duplex_tok_s"] / row["GPU_tok_s"]
        rows.append(row)
    return rows


# ---------------------------------------------------------------------- GPU absolute
def _gpu_absolute(quick: bool) -> tuple[list[dict[str, Any]], list[Comparison]]:
    """The GPU system's tokens/s against measured TensorRT-LLM numbers (:data:`MEASURED`):
    gpu_absolute.csv rows and one comparison per measurement."""
    absrows: list[dict[str, Any]] = []
    comps = []
    for model, xpu, n, lin, lout, measured in MEASURED:
        dev = _serving_system("xpu", {"devices": n, "xpu": xpu})
        fit = dev.max_batch(MODELS[model], lin + lout)
        batch = min(fit, MEASURED_MAX_BATCH)
        s = serve(ServeConfig(model=model, batch=batch, lin=lin, lout=lout,
                              requests=3 * batch if not quick else batch), dev).summary
        absrows.append({"model": model, "xpu": xpu, "devices": n, "lin": lin, "lout": lout,
                        "batch": batch, "measured_tok_s": measured,
                        "accel_sim_tok_s": s["throughput_tok_s"]})
        comps.append(Comparison("GPU serving throughput (tok/s)",
                                f"{model}, {n} x {xpu.upper()}, {lin}/{lout}, batch {batch}",
                                measured, s["throughput_tok_s"], 0.5,
                                "TensorRT-LLM v0.15 measured (16-bit, in-flight batching); "
                                "we do not model chunked prefill"))
    return absrows, comps


# ---------------------------------------------------------------------- plots (from the CSVs)
_SYSTEMS = ("Duplex", "Duplex+PE", "Duplex+PE+ET")


def _plot_opb(opb: Sequence[dict[str, Any]], path: str) -> None:
    """Op/B of decode attention and MoE experts against the batch (opb.csv)."""
    fig, ax = subplots(figsize=(6, 3.6))
    for name in DEVICES:
        rs = [x for x in opb if x["model"] == name]
        ax.plot([x["batch"] for x in rs], [x["attention_opb"] for x in rs], "o--",
                label=f"{name} attention")
        if MODELS[name].is_moe:
            ax.plot([x["batch"] for x in rs], [x["moe_opb"] for x in rs], "s-",
                    label=f"{name} MoE")
    for ridge, lab in ((295.0, "H100 ridge"), (8.0, "Logic-PIM ridge"), (1.0, "Bank-PIM ridge")):
        ax.axhline(ridge, color="grey", lw=0.8, ls=":")
        ax.text(33, ridge * 1.1, lab, fontsize=7, color="grey")
    ax.set_yscale("log")
    ax.set_xscale("log", base=2)
    ax.set_xticks(BATCHES, [str(b) for b in BATCHES])
    ax.minorticks_off()
    ax.set_title("decode, KV length 4096 tokens", fontsize=9)
    save_axes(fig, ax, "decode batch [requests]", "operational intensity [FLOP/B]", path,
              legend_size=6)


def _grouped_x(rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, list[str],
                                                      list[tuple[float, str]]]:
    """x positions of (batch, length) points, grouped by batch with a gap between groups:
    positions, tick labels (lengths) and (centre, label) of each batch group."""
    xs, ticks, groups = [], [], []
    pos, last = 0.0, None
    start = 0.0
    for r in rows:
        b = int(r["batch"])
        if last is not None and b != last:
            groups.append(((start + pos - 1) / 2, f"batch {last}"))
            pos += 0.8
            start = pos
        xs.append(pos)
        ticks.append(f"{int(r['lin'])}")
        pos += 1
        last = b
    if last is not None:
        groups.append(((start + pos - 1) / 2, f"batch {last}"))
    return np.array(xs), ticks, groups


def _label_groups(ax: Any, groups: list[tuple[float, str]]) -> None:
    for centre, text in groups:
        ax.text(centre, 1.01, text, transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=7)


def _plot_throughput(grid: Sequence[dict[str, Any]], path: str) -> None:
    """Throughput of the Duplex variants over the GPU system, one panel per model
    (throughput.csv)."""
    models = list(dict.fromkeys(r["model"] for r in grid))
    fig, axes = subplots(len(models), 1, figsize=(7.5, 2.4 * len(models) + 0.6),
                                   sharey=True, squeeze=False)
    for ax, model in zip(axes[:, 0], models, strict=True):
        rows = [r for r in grid if r["model"] == model]
        x, ticks, groups = _grouped_x(rows)
        for i, label in enumerate(_SYSTEMS):
            ratio = [float(r[f"{label}_tok_s"]) / float(r["GPU_tok_s"]) for r in rows]
            ax.bar(x + (i - 1) * 0.27, ratio, width=0.27, label=label, color=f"C{i}")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.axhline(2.07, color="r", lw=0.8, ls="--", label="paper average 2.07x")
        ax.set_xticks(x, ticks, fontsize=7)
        _label_groups(ax, groups)
        ax.set_ylabel(f"{model}\nthroughput / GPU [ratio]", fontsize=8)
    axes[0, 0].legend(fontsize=7, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.12))
    axes[-1, 0].set_xlabel("prompt = output length [tokens], grouped by batch cap [requests]")
    fig.suptitle("throughput relative to the GPU system [ratio] (higher is better)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _energy_reduction(rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Energy-per-token reduction of Duplex+PE+ET vs the GPU: dynamic only, and with the
    devices' idle power (fractions)."""
    dyn = np.array([1 - float(r["Duplex+PE+ET_dyn_j_per_tok"]) / float(r["GPU_dyn_j_per_tok"])
                    for r in rows])
    red = np.array([1 - float(r["Duplex+PE+ET_j_per_tok"]) / float(r["GPU_j_per_tok"])
                    for r in rows])
    return dyn, red


def _plot_energy(grid: Sequence[dict[str, Any]], path: str) -> None:
    """Energy per output token, reduction of Duplex+PE+ET vs the GPU (throughput.csv)."""
    fig, ax = subplots(figsize=(7, 3.8))
    xaxis: tuple[np.ndarray, list[str], list[tuple[float, str]]] | None = None
    for i, model in enumerate(dict.fromkeys(r["model"] for r in grid)):
        rows = [r for r in grid if r["model"] == model]
        xaxis = _grouped_x(rows)
        x = xaxis[0]
        dyn, red = _energy_reduction(rows)
        for b in sorted({int(r["batch"]) for r in rows}):
            sel = np.array([int(r["batch"]) == b for r in rows])
            first = b == int(rows[0]["batch"])
            ax.plot(x[sel], dyn[sel] * 100, "o-", color=f"C{i}",
                    label=f"{model} (dynamic)" if first else None)
            ax.plot(x[sel], red[sel] * 100, "x:", color=f"C{i}",
                    label=f"{model} (+ idle power)" if first else None)
    if xaxis is not None:
        x, ticks, groups = xaxis
        ax.set_xticks(x, ticks, fontsize=7)
        _label_groups(ax, groups)
    save_axes(fig, ax, "prompt = output length [tokens], grouped by batch cap [requests]",
              "energy per token, reduction\nvs GPU [%] (higher is better)", path,
              legend_size=7)


def _plot_load(load: Sequence[dict[str, Any]], path: str) -> None:
    """Median end-to-end latency against the offered Poisson load (load.csv)."""
    fig, ax = subplots(figsize=(6, 3.6))
    for label in dict.fromkeys(r["system"] for r in load):
        rs = [r for r in load if r["system"] == label]
        ax.plot([float(r["rate"]) for r in rs], [float(r["e2e_p50_s"]) for r in rs], "o-",
                label=label)
    ax.set_yscale("log")
    from matplotlib.ticker import FormatStrFormatter

    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.set_title("Mixtral, 4096 + 512 tokens, batch cap 128 requests", fontsize=9)
    save_axes(fig, ax, "offered load [req/s]", "median end-to-end latency [s]\n(lower is "
              "better)", path)
