"""Per-iteration operator lists of LLM serving (prefill and decode) as layer traces.

One serving iteration runs every block of the model on ``T = D + sum(prefill)`` tokens: ``D``
decode requests (one new token each, attending to their KV cache) and the prompts of the
requests being prefilled. Rows of identical blocks are one layer with ``repeat`` = block count.

Row names follow a convention the xPU/PIM devices rely on (see
:class:`accel_sim.devices.llm_system.LlmSystem`):

* ``blocks.attn_out`` and ``dense.ffn_down`` are row-parallel GEMMs (an all-reduce follows under
  tensor parallelism);
* ``moe<i>.router`` precedes the all-to-all dispatch of MoE layer ``i``;
* ``moe<i>.expert_up.c<c>`` / ``moe<i>.expert_down.c<c>``: the experts of MoE layer ``i`` that
  received ``c`` tokens (``groups`` = how many experts did); the up projection holds the gate and
  up matrices of a gated FFN;
* ``blocks.attn_score.decode.L<n>`` / ``...prefill.P<p>``: attention of decode requests with
  ``n`` cached tokens and of prompts of ``p`` tokens.

Attention is grouped per KV head: the ``heads / kv_heads`` query heads sharing a KV head are the
rows of one GEMM (``m = group x tokens``), so the decode attention's Op/B is the GQA group size.
Causal prefill attention: each query attends on average ``(p + 1) / 2`` keys (what
FlashAttention computes when it skips masked tiles). Softmax is fused into the attention
(FlashAttention / FlashDecoding) and not listed, and the devices do not charge the score
matrix's traffic (:func:`layer_traffic`); the activation function inside an expert is
fused into its GEMMs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from .._ir import Layer, OpKind, Trace
from ..errors import ConfigError
from ..tasks import LlmIteration
from ._model import LlmModel, get_model

__all__ = ["activation_bytes", "balanced_counts", "iteration_trace", "layer_traffic",
           "op_intensity"]


def balanced_counts(model: LlmModel, tokens: int) -> np.ndarray:
    """Expert counts when ``tokens x top_k`` picks spread as evenly as possible:
    ``[moe_layers, experts]``."""
    if not model.is_moe:
        return np.zeros((0, 0), dtype=np.int64)
    picks = tokens * model.top_k
    base, extra = divmod(picks, model.experts)
    row = np.full(model.experts, base, dtype=np.int64)
    row[:extra] += 1
    return np.tile(row, (model.moe_layers, 1))


def _check_lengths(name: str, values: Sequence[int]) -> list[int]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"{name}: every length must be an integer >= 1, got {v!r}")
        out.append(int(v))
    return out


def iteration_trace(model: LlmModel | str, *, decode_kv: Sequence[int] = (),
                    prefill: Sequence[int] = (), expert_counts: np.ndarray | None = None,
                    name: str | None = None) -> Trace:
    """The operators of one serving iteration.

    Args:
        model: A :class:`LlmModel` or a preset name.
        decode_kv: For each decode request, the KV-cache length its new token attends to
            (prompt + tokens generated so far, including the new token's own entry).
        prefill: Prompt lengths of the requests prefilled in this iteration.
        expert_counts: ``[moe_layers, experts]`` tokens routed to each expert (rows sum to
            ``T x top_k``); ``None``: as even as possible (:func:`balanced_counts`).
        name: Trace name (default ``<model>.iteration``).
    """
    m = get_model(model)
    dec = _check_lengths("decode_kv", decode_kv)
    pre = _check_lengths("prefill", prefill)
    if not dec and not pre:
        raise ConfigError("iteration_trace: give decode_kv and/or prefill (an empty iteration "
                          "has no operators)")
    tokens = len(dec) + sum(pre)
    logits = len(dec) + len(pre)
    bits, wbits, kv_bits = m.bits, m.stored_weight_bits, m.kv_cache_bits
    h, d, g = m.hidden, m.head_dim, m.group
    rows: list[Layer] = []

    def add(lname: str, op: OpKind, mm: int, n: int, k: int, **kw) -> None:
        # attention rows move the KV cache (and Q and their output) at the cache's precision
        b = kv_bits if op in (OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT) else bits
        rows.append(Layer(name=lname, op=op, m=mm, n=n, k=k, input_bits=b,
                          weight_bits=wbits, output_bits=b, **kw))

    blocks = m.layers
    add("blocks.attn_norm", OpKind.NORM, tokens, h, 1, repeat=blocks)
    add("blocks.qkv", OpKind.GEMM, tokens, (m.heads + 2 * m.kv_heads) * d, h, repeat=blocks)
    for kv_len, n_req in sorted(Counter(dec).items()):
        add(f"blocks.attn_score.decode.L{kv_len}", OpKind.ATTN_SCORE, g, kv_len, d,
            groups=m.kv_heads, batch=n_req, repeat=blocks)
        add(f"blocks.attn_context.decode.L{kv_len}", OpKind.ATTN_CONTEXT, g, d, kv_len,
            groups=m.kv_heads, batch=n_req, repeat=blocks)
    for p, n_req in sorted(Counter(pre).items()):
        keys = (p + 2) // 2  # ceil((p + 1) / 2): mean keys per query under the causal mask
        add(f"blocks.attn_score.prefill.P{p}", OpKind.ATTN_SCORE, g * p, keys, d,
            groups=m.kv_heads, batch=n_req, repeat=blocks)
        add(f"blocks.attn_context.prefill.P{p}", OpKind.ATTN_CONTEXT, g * p, d, keys,
            groups=m.kv_heads, batch=n_req, repeat=blocks)
    add("blocks.attn_out", OpKind.GEMM, tokens, h, m.heads * d, repeat=blocks)
    add("blocks.residual", OpKind.ELEMENTWISE, tokens, h, 1, repeat=2 * blocks)
    add("blocks.ffn_norm", OpKind.NORM, tokens, h, 1, repeat=blocks)
    up_n = (m.ffn_matrices - 1) * m.ffn
    if m.dense_ffn_layers:
        reps = m.dense_ffn_layers
        add("dense.ffn_up", OpKind.GEMM, tokens, up_n, h, repeat=reps)
        add("dense.ffn_act", OpKind.ELEMENTWISE, tokens, m.ffn, 1, repeat=reps)
        add("dense.ffn_down", OpKind.GEMM, tokens, h, m.ffn, repeat=reps)
    if m.is_moe:
        counts = balanced_counts(m, tokens) if expert_counts is None else np.asarray(
            expert_counts)
        if counts.shape != (m.moe_layers, m.experts):
            raise ConfigError(f"expert_counts: shape {counts.shape}, expected "
                              f"({m.moe_layers}, {m.experts})")
        if (counts < 0).any() or (counts > tokens).any() or (
                counts.sum(axis=1) != tokens * m.top_k).any():
            raise ConfigError(f"expert_counts: each layer must route {tokens} tokens x top_k="
                              f"{m.top_k} picks, with 0 <= count <= {tokens} per expert")
        for i in range(m.moe_layers):
            add(f"moe{i}.router", OpKind.GEMM, tokens, m.experts, h)
            for c, n_exp in sorted(Counter(int(x) for x in counts[i] if x > 0).items()):
                add(f"moe{i}.expert_up.c{c}", OpKind.MOE_EXPERT, c, up_n, h, groups=n_exp)
                add(f"moe{i}.expert_down.c{c}", OpKind.MOE_EXPERT, c, h, m.ffn, groups=n_exp)
    add("final_norm", OpKind.NORM, logits, h, 1)
    add("lm_head", OpKind.GEMM, logits, m.vocab, h)
    task = LlmIteration(
        model=m.name, top_k=m.top_k, experts=m.experts, hidden=h, tokens=tokens,
        decode_requests=len(dec), prefill_requests=len(pre), kv_tokens=sum(dec) + sum(pre),
        kv_bytes_per_token=m.kv_bytes_per_token, weight_bytes=m.weight_bytes,
        # which expert got which count (the rows keep only how many got each)
        expert_counts=(tuple(tuple(int(x) for x in row) for row in counts) if m.is_moe
                       else None))
    return Trace(name or f"{m.name}.iteration", tuple(rows), {}, task)


def activation_bytes(score: np.ndarray, context: np.ndarray, input_bytes: np.ndarray,
                     output_bytes: np.ndarray, m: np.ndarray, k: np.ndarray,
                     groups: np.ndarray, batch: np.ndarray, repeat: np.ndarray,
                     input_bits: np.ndarray) -> np.ndarray:
    """DRAM traffic of operators' activations, B, with attention fused (FlashAttention /
    FlashDecoding): the score matrix ``S = Q K^T`` never leaves the chip, so a score row moves
    only Q and K, and a context row only V and its output (``input_bytes`` of a context row
    counts the probabilities ``m x k`` and V)."""
    probs = np.asarray(repeat, np.float64) * groups * batch * m * k * input_bits / 8.0
    return np.where(score, input_bytes,
                    np.where(context, input_bytes - probs + output_bytes,
                             input_bytes + output_bytes))


def layer_traffic(layer: Layer) -> float:
    """DRAM bytes of a layer as the serving devices count them: weights plus activations, with
    attention fused (the score matrix stays on chip; see
    :func:`activation_bytes`)."""
    act = activation_bytes(
        np.array(layer.op is OpKind.ATTN_SCORE), np.array(layer.op is OpKind.ATTN_CONTEXT),
        np.array(layer.input_bytes), np.array(layer.output_bytes), np.array(layer.m),
        np.array(layer.k), np.array(layer.groups), np.array(layer.batch),
        np.array(layer.repeat), np.array(layer.input_bits))
    return float(act) + layer.weight_bytes * layer.repeat


def op_intensity(layer: Layer) -> float:
    """Op/B of a layer: FLOPs per byte of DRAM traffic (:func:`layer_traffic`)."""
    b = layer_traffic(layer)
    return layer.flops / b if b > 0 else float("inf")
