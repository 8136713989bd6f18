"""Time and energy of serving iterations, vectorised over runs of decode steps.

The cost of an iteration is the device's cost of :func:`iteration_trace` (the same rows, splits
and placement), computed without building a trace per step:

* rows that depend only on the token count (projections, dense FFN, router, norms, LM head,
  all-reduces and all-to-all) are evaluated once per ``(tokens, logits)`` through
  :meth:`LlmSystem.evaluate` and cached;
* decode attention is linear in the summed KV length, so its FLOPs and bytes per step come
  from two coefficients read off the IR's own attention layers; all decode requests of a step
  form one batched kernel (FlashDecoding-style; the trace has one row per distinct length);
* MoE layers take per-step expert counts from the router and go through the device's MoE
  kernel (placement, co-processing split, expert parallelism).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._ir import Layer, OpKind
from ..llm._model import LlmModel
from ..llm._ops import iteration_trace, layer_traffic
from ..llm._routing import Router
from ..llm._system import StepCosts
from ..tasks import LlmIteration
from ._llm_cost import ATTN

if TYPE_CHECKING:
    from .llm_system import LlmSystem

__all__ = ["StepModel"]


@dataclass(frozen=True)
class _Linear:
    """FLOPs and bytes of one attention operator of one request: ``a * L + b``."""

    f_a: float
    f_b: float
    b_a: float
    b_b: float


class StepModel:
    """Iteration costs of ``model`` served on ``device``.

    Args:
        model: The served model.
        device: An xPU/PIM serving system.
        router: Expert router (``None`` for dense models).
    """

    def __init__(self, model: LlmModel, device: LlmSystem, router: Router | None) -> None:
        self.model = model
        self.device = device
        self.router = router
        self.lay = device.layout(model.experts)
        self._dense: dict[tuple[int, int], tuple[float, float, float]] = {}
        self._prefill: dict[int, list[tuple[float, float, float, float]]] = {}
        self._dense_template()
        self._attn_kind = ATTN
        self._true = np.True_
        g, d = model.group, model.head_dim
        kernel = device.backend.attention
        self._decode_ops = []
        for op in (OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT):
            vals = []
            for kv_len in (1, 2):
                mm, n, k = (g, kv_len, d) if op is OpKind.ATTN_SCORE else (g, d, kv_len)
                kvb = model.kv_cache_bits
                lay = Layer("a", op, mm, n, k, groups=model.kv_heads, input_bits=kvb,
                            weight_bits=kvb, output_bits=kvb)
                b = layer_traffic(lay)
                if kernel is not None:  # the backend's decode kernel (as LlmSystem.costs)
                    b = float(kernel.decode_bytes(b, op is OpKind.ATTN_SCORE, mm, n, k,
                                                  model.kv_heads, 1, model.kv_cache_bits,
                                                  l2_ratio=device.l2_ratio))
                vals.append((lay.flops, b))
            (f1, b1), (f2, b2) = vals
            self._decode_ops.append(_Linear(f2 - f1, 2 * f1 - f2, b2 - b1, 2 * b1 - b2))
        if model.is_moe:
            up_n = (model.ffn_matrices - 1) * model.ffn
            bpe, bpw = model.bytes_per_element, model.bytes_per_weight
            self._expert_ops = np.array([
                [2.0 * up_n * model.hidden, up_n * model.hidden * bpw,
                 (model.hidden + up_n) * bpe],
                [2.0 * model.hidden * model.ffn, model.hidden * model.ffn * bpw,
                 (model.hidden + model.ffn) * bpe],
            ])

    @property
    def scale(self) -> float:
        """Pipeline factor ``(M + K - 1) / K`` on per-micro-batch layer times."""
        return (self.lay.microbatches + self.lay.stages - 1) / self.lay.stages

    # ------------------------------------------------------------------ parts
    def _dense_template(self) -> None:
        """Columns of the token-count-dependent rows at (tokens, logits) = (1, 1), (2, 1),
        (2, 2): every such row scales linearly with its ``m`` (tokens or logits)."""
        keep = (OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT, OpKind.MOE_EXPERT)
        views = []
        for dec, pre in (([1], []), ([], [2]), ([1, 1], [])):
            trace = iteration_trace(self.model, decode_kv=dec, prefill=pre)
            idx = np.array([i for i, lay in enumerate(trace.layers) if lay.op not in keep])
            views.append((trace, idx))
        (ta, ia), (tb, ib), (tc, ic) = views
        self._d_names = tuple(ta.names[i] for i in ia)
        self._d_ops = [ta.layers[i].op for i in ia]
        assert isinstance(ta.task, LlmIteration)  # iteration_trace's task
        self._d_task = ta.task
        ca, cb, cc = (t.columns for t in (ta, tb, tc))
        self._d_const = {k: np.asarray(ca[k])[ia] for k in ca}
        self._d_lin = {}
        for k in ("flops", "macs", "input_bytes", "output_bytes", "m"):
            a_, b_, c_ = (np.asarray(col[k], dtype=float)[i]
                          for col, i in ((ca, ia), (cb, ib), (cc, ic)))
            self._d_lin[k] = (a_, b_ - a_, c_ - b_)

    def dense(self, tokens: int, logits: int) -> tuple[float, float, float]:
        """Latency (s), dynamic energy (J) and PIM time of the rows that depend only on the
        token count (what :meth:`LlmSystem.evaluate` gives for those rows; cached)."""
        key = (tokens, logits)
        hit = self._dense.get(key)
        if hit is None:
            cols = dict(self._d_const)
            for k, (a_, dt, dl) in self._d_lin.items():
                cols[k] = a_ + dt * (tokens - 1) + dl * (logits - 1)
            task = dataclasses.replace(self._d_task, tokens=tokens)
            out = self.device.costs(self._d_names, self._d_ops, cols, task)
            hit = (float(out.columns["latency_s"].sum()),
                   float(out.columns["energy_dynamic_j"].sum()),
                   float(out.columns["pim_s"].sum()))
            if len(self._dense) < 65536:
                self._dense[key] = hit
        return hit

    def attention(self, n_decode: int, sum_kv: np.ndarray, prefill: tuple[int, ...] = (),
                  context: tuple[int | np.ndarray, ...] = ()
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per step: attention latency (s, per micro-batch slot, before the pipeline factor),
        dynamic energy (J) and PIM time, for ``n_decode`` decode requests whose KV lengths sum
        to ``sum_kv[step]`` plus the prompt chunks in ``prefill`` (``context[i]`` tokens of
        chunk ``i``'s prompt already cached, an integer or one value per step; empty: whole
        prompts)."""
        dev, lay, m = self.device, self.lay, self.model
        mb = lay.microbatches
        sum_kv = np.asarray(sum_kv, dtype=float)
        n_dec = len(self._decode_ops) if n_decode else 0
        groups: dict[tuple[int, int], int] = {}
        per_step: list[tuple[int, np.ndarray]] = []
        for p_len, c_len in zip(prefill, context if context else (0,) * len(prefill),
                                strict=True):
            if np.ndim(c_len):
                per_step.append((p_len, np.asarray(c_len, dtype=float)))
            else:
                key = (p_len, int(c_len))
                groups[key] = groups.get(key, 0) + 1
        n_rows = n_dec + 2 * (len(groups) + len(per_step))
        if not n_rows:
            z = np.zeros_like(sum_kv)
            return z, z.copy(), z.copy()
        f = np.empty((n_rows, sum_kv.size))
        b = np.empty((n_rows, sum_kv.size))
        for i, op in enumerate(self._decode_ops[:n_dec]):
            f[i] = (op.f_a * sum_kv + op.f_b * n_decode) / mb
            b[i] = (op.b_a * sum_kv + op.b_b * n_decode) / mb
        i = n_dec
        for (p_len, c_len), n_req in sorted(groups.items()):
            for f1, b1 in self._prefill_rows(p_len, c_len):
                f[i] = f1 * n_req / mb
                b[i] = b1 * n_req / mb
                i += 1
        for p_len, c_arr in per_step:  # one chunk whose context grows step by step
            for f0, df, b0, db in self._prefill_coeffs(p_len):
                f[i] = (f0 + df * c_arr) / mb
                b[i] = (b0 + db * c_arr) / mb
                i += 1
        f_dev, b_dev = dev.split_rows(self._attn_kind, f, 0.0, b, lay, m.kv_heads)
        decode = None
        if n_dec:
            decode = np.zeros(f.shape, dtype=bool)
            decode[:n_dec] = True
        on_pim, t, e = dev.run_rows(f_dev, b_dev, self._true, decode)
        if on_pim.any():
            t_pim = (np.where(on_pim, t, 0.0) * m.layers).sum(axis=0)
            t_xpu = (np.where(on_pim, 0.0, t) * m.layers).sum(axis=0)
        else:
            t_pim = np.zeros_like(sum_kv)
            t_xpu = (t * m.layers).sum(axis=0)
        energy = (e * m.layers * lay.stage * mb).sum(axis=0)
        if dev.co_processing:  # decode attention (PIM) overlaps prefill attention (xPU)
            latency = np.where((t_pim > 0) & (t_xpu > 0), np.maximum(t_pim, t_xpu),
                               t_pim + t_xpu)
        else:
            latency = t_pim + t_xpu
        return latency, energy, t_pim

    def _prefill_rows(self, p_len: int, ctx: int = 0) -> list[tuple[float, float]]:
        """FLOPs and bytes of the attention rows of one prompt chunk of ``p_len`` tokens whose
        first ``ctx`` prompt tokens are already cached (one block): each query attends the
        cached keys plus, under the causal mask, ``ceil((p_len + 1) / 2)`` of its chunk's on
        average (as :func:`~accel_sim.llm.iteration_trace` for a whole prompt)."""
        return [(f0 + df * ctx, b0 + db * ctx) for f0, df, b0, db in self._prefill_coeffs(p_len)]

    def _prefill_coeffs(self, p_len: int) -> list[tuple[float, float, float, float]]:
        """``(flops, d flops / d ctx, bytes, d bytes / d ctx)`` of the score and context rows
        of a ``p_len``-token chunk: both are linear in the cached context (the keys), so two
        layers per ``p_len`` are built and cached."""
        hit = self._prefill.get(p_len)
        if hit is None:
            m = self.model
            g, d = m.group, m.head_dim
            rows = []
            for keys in ((p_len + 2) // 2, (p_len + 2) // 2 + 1):
                row = []
                for op, n, k in ((OpKind.ATTN_SCORE, keys, d), (OpKind.ATTN_CONTEXT, d, keys)):
                    kvb = m.kv_cache_bits
                    lay = Layer("a", op, g * p_len, n, k, groups=m.kv_heads, input_bits=kvb,
                                weight_bits=m.stored_weight_bits, output_bits=kvb)
                    row.append((float(lay.flops), layer_traffic(lay)))
                rows.append(row)
            hit = [(f0, f1 - f0, b0, b1 - b0) for (f0, b0), (f1, b1) in zip(*rows, strict=True)]
            if len(self._prefill) < 65536:
                self._prefill[p_len] = hit
        return hit

    def moe(self, tokens: int, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per step: MoE latency (s, per micro-batch slot), dynamic energy (J) and PIM time for
        ``tokens`` tokens, with fresh routing each step."""
        if not self.model.is_moe or tokens == 0:
            z = np.zeros(steps)
            return z, z.copy(), z.copy()
        assert self.router is not None
        lay, dev = self.lay, self.device
        mb = lay.microbatches
        per_mb = -(-tokens // mb)
        counts = self.router.counts_many(per_mb, steps)
        n_layers, n_exp = counts.shape[1], counts.shape[2]
        t, work = dev.moe_times(counts.reshape(steps * n_layers, n_exp), self._expert_ops, lay)
        x, p = dev.xpu_unit(), dev.pim_unit()
        e = x.energy(work[:, 0], work[:, 1])
        if p is not None:
            e = e + p.energy(work[:, 2], work[:, 3])
        share = work[:, 3] / np.maximum(work[:, 1] + work[:, 3], 1e-30)
        t2 = t.reshape(steps, n_layers)
        return (t2.sum(axis=1), e.reshape(steps, n_layers).sum(axis=1) * mb,
                (t * share).reshape(steps, n_layers).sum(axis=1))

    # ------------------------------------------------------------------ iterations
    #: ``context`` entries may be arrays (one value per step): the server then prices a run
    #: of chunked-prefill iterations in one call.
    vector_context = True

    def steps(self, n_decode: int, sum_kv: np.ndarray, prefill: tuple[int, ...] = (),
              context: tuple[int | np.ndarray, ...] = ()) -> StepCosts:
        """Iterations with ``n_decode`` decode requests (KV lengths summing to ``sum_kv[i]`` in
        step ``i``) and the prompt chunks ``prefill`` (``context``: tokens of each chunk's
        prompt already cached): latency (s), energy (J, dynamic + the devices' idle power over
        the latency) and PIM-busy time (s) per step."""
        sum_kv = np.atleast_1d(np.asarray(sum_kv, dtype=float))
        steps = sum_kv.size
        tokens = n_decode + sum(prefill)
        logits = n_decode + len(prefill)
        d_lat, d_e, d_pim = self.dense(tokens, logits)
        a_lat, a_e, a_pim = self.attention(n_decode, sum_kv, prefill, context)
        m_lat, m_e, m_pim = self.moe(tokens, steps)
        s = self.scale
        latency = d_lat + (a_lat + m_lat) * s + self.device.backend.iteration_overhead_s(
            n_decode + len(prefill), len(prefill))
        energy = d_e + a_e + m_e + self.device.static_w * self.lay.devices * latency
        pim = d_pim + (a_pim + m_pim) * s
        return StepCosts(latency, energy, pim)
