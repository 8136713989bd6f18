"""Outputs of a serving run people look at: a Chrome/Perfetto trace of the iterations of every
replica (``trace.json``, open it in https://ui.perfetto.dev or chrome://tracing) and a plot of
batch size, KV-cache use and queue length over time (``timeline.png``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from .._plotting import subplots

if TYPE_CHECKING:
    from ._serve import ServeResult

__all__ = ["plot_timeline", "write_chrome_trace"]


def _block_rows(result: ServeResult) -> tuple[np.ndarray, np.ndarray]:
    """First iteration and iteration count of every logged block."""
    sizes = result.blocks
    if sizes.size == 0:  # a result built without blocks: one slice per iteration
        sizes = np.ones(len(result.iterations["latency_s"]), dtype=np.int64)
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64), sizes


def write_chrome_trace(path: str, result: ServeResult) -> str:
    """Write the iterations as Chrome trace events: one slice per iteration (a run of
    decode-only iterations is one slice), counters of batch, KV use and queue; times in us."""
    its = result.iterations
    first, sizes = _block_rows(result)
    start, lat = its["start_s"], its["latency_s"]
    end = np.add.reduceat(lat, first) if first.size else np.zeros(0)
    events: list[dict] = []
    for rep in np.unique(its["replica"]) if its["replica"].size else []:
        events.append({"ph": "M", "name": "process_name", "pid": int(rep), "tid": 0,
                       "args": {"name": f"replica {int(rep)}"}})
    for i, n, dur in zip(first.tolist(), sizes.tolist(), end.tolist(), strict=True):
        pid = int(its["replica"][i])
        dec, pre, ptok = (int(its[k][i]) for k in ("decode", "prefill_requests",
                                                   "prefill_tokens"))
        if pre:
            name = f"prefill {pre} ({ptok} tok)" + (f" + decode {dec}" if dec else "")
        else:
            name = f"decode {dec}" + (f" x {n}" if n > 1 else "")
        ts = float(start[i]) * 1e6
        events.append({"ph": "X", "name": name, "pid": pid, "tid": 0, "ts": ts,
                       "dur": dur * 1e6,
                       "args": {"iterations": n, "decode_requests": dec,
                                "prefill_requests": pre, "prefill_tokens": ptok,
                                "energy_j": float(its["energy_j"][i:i + n].sum())}})
        events.append({"ph": "C", "name": "batch (requests)", "pid": pid, "ts": ts,
                       "args": {"decode": dec, "prefill": pre}})
        events.append({"ph": "C", "name": "KV cache (tokens)", "pid": pid, "ts": ts,
                       "args": {"used": int(its["kv_tokens"][i])}})
        events.append({"ph": "C", "name": "queue (requests)", "pid": pid, "ts": ts,
                       "args": {"waiting": int(its["queue"][i])}})
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"traceEvents": events, "displayTimeUnit": "ms",
                   "otherData": {k: v for k, v in result.summary.items()
                                 if isinstance(v, (str, int, float)) or v is None}},
                  fh, separators=(",", ":"))
    return path


def plot_timeline(path: str, result: ServeResult) -> str:
    """Batch size, KV-cache use (% of a replica's room) and queue length over time, per
    replica (at most 8 drawn, named in the legend)."""
    its = result.iterations
    cap = float(result.summary.get("kv_capacity_tokens") or 0)
    fig, axes = subplots(3, 1, figsize=(8, 7), sharex=True, layout="constrained")
    reps = np.unique(its["replica"]) if its["replica"].size else np.zeros(0, np.int64)
    for rep in reps[:8]:
        sel = its["replica"] == rep
        t = its["start_s"][sel]
        label = f"replica {int(rep)}"
        axes[0].step(t, its["decode"][sel] + its["prefill_requests"][sel], where="post",
                     lw=0.8, label=label)
        kv = its["kv_tokens"][sel] / cap * 100 if cap > 0 else its["kv_tokens"][sel] * 0.0
        axes[1].step(t, kv, where="post", lw=0.8, label=label)
        axes[2].step(t, its["queue"][sel], where="post", lw=0.8, label=label)
    axes[0].set_ylabel("batch (requests)")
    axes[1].set_ylabel("KV cache used (%)")
    axes[2].set_ylabel("queue (requests)")
    axes[2].set_xlabel("time (s)")
    s = result.summary
    axes[0].set_title(f"{s.get('model')} on {s.get('replicas', 1)} x {s.get('devices')} "
                      f"{s.get('device')}, scheduler {s.get('scheduler')}, KV {s.get('kv')}")
    if 1 < reps.size <= 8:
        axes[0].legend(fontsize="small", ncols=min(int(reps.size), 4))
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110)
    return path
