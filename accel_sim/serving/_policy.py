"""Batching policies of the server and its KV-cache memory.

A policy decides, at the start of every iteration of one replica, which running requests
decode, which prompt tokens are prefilled and which waiting requests are admitted
(:meth:`SchedulerPolicy.plan`). The server (:mod:`accel_sim.serving._serve`) does the rest: it
preempts when the KV cache runs out (before asking the policy), prices the iteration, advances
the requests, and runs stretches of decode-only iterations in one vectorised call.

The built-in policies are declared by three flags of :class:`SchedulerPolicy`:

=========  =====  =======  ==================  =============================================
name       mixed  chunked  batch to completion  as in
=========  =====  =======  ==================  =============================================
orca       yes    no       no                  Orca (Yu et al., OSDI'22): iteration-level
                                               scheduling, whole prompts join the decodes
vllm       no     no       no                  vLLM v0 (Kwon et al., SOSP'23): prefill
                                               first, a prefill iteration runs alone
sarathi    yes    yes      no                  Sarathi-Serve (Agrawal et al., OSDI'24):
                                               decodes first, prompt chunks fill a
                                               per-iteration token budget (stall-free)
static     --     no       yes                 static batching: a batch is admitted when
                                               the previous one has finished
=========  =====  =======  ==================  =============================================

Admission is first come, first served and stops at the first waiting request that does not
fit (the batch cap or the KV memory), as vLLM's scheduler does. A user adds a policy by
subclassing :class:`SchedulerPolicy` (setting the flags, or overriding :meth:`plan`) and passing
an instance to :func:`accel_sim.serving.serve`.

KV memory (:class:`KvCache`): with ``block_size`` unset every admitted request reserves its
whole ``lin + lout`` tokens (no preemption ever happens); with a block size the cache is paged
(vLLM's PagedAttention): a request gets the blocks of its prompt at admission and one more block
whenever its KV grows past its last one; when a decode step cannot get its block, the most
recently admitted running request is preempted (its blocks freed; ``recompute``: its prompt and
the tokens made so far are prefilled again on readmission; ``swap``: its KV goes to host memory
and comes back on readmission, each way at the host link's bandwidth) and put at the head of
the queue.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

__all__ = ["SCHEDULERS", "Batch", "KvCache", "Orca", "ReplicaState", "Sarathi",
           "SchedulerPolicy", "Static", "Vllm", "make_policy"]


class KvCache:
    """KV memory of one replica, in blocks.

    Args:
        capacity_tokens: KV tokens that fit next to the weights.
        block_size: Tokens per block (``None``: reservation of ``lin + lout`` per request,
            counted in tokens).
    """

    def __init__(self, capacity_tokens: int, block_size: int | None) -> None:
        self.paged = block_size is not None
        self.block = int(block_size) if block_size is not None else 1
        self.total = int(capacity_tokens) // self.block
        self.used = 0

    @property
    def free(self) -> int:
        """Free blocks."""
        return self.total - self.used

    def blocks(self, tokens: np.ndarray | int) -> np.ndarray:
        """Blocks holding ``tokens`` tokens (ceil)."""
        return -(-np.asarray(tokens, dtype=np.int64) // self.block)


@dataclass
class ReplicaState:
    """What a policy sees of one replica (and the server updates).

    Attributes:
        cap: Most requests running at once (the batch cap).
        waiting: Queue of request ids, head first (preempted requests go to the head).
        running: Admitted request ids, in admission order.
        kv: The replica's KV memory.
        lin, lout, made, pre_need, pre_done, held, swapped: Per-request arrays (shared by all
            replicas): prompt and output lengths, tokens produced, tokens to prefill in the
            current prefill (prompt, or prompt plus tokens made after a recompute), tokens of
            it prefilled so far, KV blocks held, and whether the KV is swapped out.
    """

    cap: int
    kv: KvCache
    lin: np.ndarray
    lout: np.ndarray
    made: np.ndarray
    pre_need: np.ndarray
    pre_done: np.ndarray
    held: np.ndarray
    swapped: np.ndarray
    waiting: deque[int]
    running: list[int]

    def admit_blocks(self, rid: int) -> int:
        """Blocks request ``rid`` needs to be admitted."""
        kv = self.kv
        if not kv.paged:
            return int(self.lin[rid] + self.lout[rid])
        if self.swapped[rid]:
            return int(kv.blocks(self.lin[rid] + self.made[rid]))
        return int(kv.blocks(self.pre_need[rid]))

    def decoding(self) -> list[int]:
        """Running requests past their prefill (they decode one token per iteration)."""
        pn, pd = self.pre_need, self.pre_done
        return [r for r in self.running if pd[r] >= pn[r]]


@dataclass(frozen=True)
class Batch:
    """One iteration's work.

    Attributes:
        decode: Requests decoding one token.
        chunks: ``(request, tokens)`` prompt tokens prefilled (a whole prompt unless chunked).
        admit: Requests admitted from the head of the queue (in order).
    """

    decode: tuple[int, ...]
    chunks: tuple[tuple[int, int], ...] = ()
    admit: tuple[int, ...] = ()


class SchedulerPolicy:
    """Base of the batching policies: three declared flags and :meth:`plan`.

    Attributes:
        name: The policy's name (``--scheduler``).
        mixed: Decodes run in iterations that prefill (``False``: a prefill iteration runs
            alone and the decodes wait, vLLM's prefill-first).
        chunked: Prompts are split to fill ``token_budget`` tokens per iteration (decodes
            first), Sarathi-Serve's stall-free batching.
        batch_to_completion: No request is admitted while any runs (static batching).
        token_budget: Tokens per iteration: under ``chunked`` the chunks fill it
            (``--chunk-size``); otherwise whole prompts are admitted while they fit beside
            the decodes (``--max-batched-tokens``; ``None``: no limit).
    """

    name: ClassVar[str] = "policy"
    mixed: ClassVar[bool] = True
    chunked: ClassVar[bool] = False
    batch_to_completion: ClassVar[bool] = False

    def __init__(self, token_budget: int | None = None) -> None:
        self.token_budget = token_budget

    def admits_on_arrival(self, state: ReplicaState) -> bool:
        """Whether an arrival could join now (the server then stops a run of decode-only
        iterations at the next arrival)."""
        if self.batch_to_completion and state.running:
            return False
        return len(state.running) < state.cap

    def plan(self, state: ReplicaState) -> Batch:
        """The next iteration of ``state``'s replica (the decodes already have their KV)."""
        decode = state.decoding()
        budget = (max(int(self.token_budget) - len(decode), 0)
                  if self.chunked and self.token_budget is not None else None)
        chunks: list[tuple[int, int]] = []
        if self.chunked:  # running prompts first, in admission order
            for r in state.running:
                left = int(state.pre_need[r] - state.pre_done[r])
                if left <= 0:
                    continue
                if budget is not None and budget <= 0:
                    break
                take = left if budget is None else min(left, budget)
                chunks.append((r, take))
                if budget is not None:
                    budget -= take
        admit: list[int] = []
        # whole prompts under a token budget: they fit beside the decodes (or alone)
        whole = (int(self.token_budget) - (len(decode) if self.mixed else 0)
                 if not self.chunked and self.token_budget is not None else None)
        if not (self.batch_to_completion and state.running):
            room = state.cap - len(state.running)
            free = state.kv.free
            for r in state.waiting:
                if room <= 0 or (budget is not None and budget <= 0):
                    break
                need = state.admit_blocks(r)
                if need > free:
                    break
                if whole is not None and not state.swapped[r]:
                    tokens = int(state.pre_need[r] - state.pre_done[r])
                    if tokens > whole:
                        break
                    whole -= tokens
                free -= need
                room -= 1
                admit.append(r)
                if state.swapped[r]:  # back from host memory: it decodes
                    decode.append(r)
                    continue
                left = int(state.pre_need[r] - state.pre_done[r])
                take = left if budget is None else min(left, budget)
                chunks.append((r, take))
                if budget is not None:
                    budget -= take
        if chunks and not self.mixed:
            decode = [r for r in admit if state.swapped[r]]
        return Batch(tuple(decode), tuple(chunks), tuple(admit))


class Orca(SchedulerPolicy):
    """Iteration-level scheduling: whole prompts join the running decodes."""

    name = "orca"


class Vllm(SchedulerPolicy):
    """Prefill first: an iteration that prefills runs alone, the decodes wait (vLLM v0)."""

    name = "vllm"
    mixed = False


class Sarathi(SchedulerPolicy):
    """Chunked prefill: decodes first, then prompt chunks up to the token budget."""

    name = "sarathi"
    chunked = True


class Static(SchedulerPolicy):
    """Static batching: a new batch is admitted only when the previous one has finished."""

    name = "static"
    batch_to_completion = True


#: The built-in policies by name.
SCHEDULERS: dict[str, type[SchedulerPolicy]] = {
    c.name: c for c in (Vllm, Sarathi, Orca, Static)}


def make_policy(name: str, token_budget: int | None) -> SchedulerPolicy:
    """A built-in policy by name with its token budget per iteration."""
    return SCHEDULERS[name](token_budget)
