"""Shared pieces of the replay-memory devices: trace columns and the learning metric."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._ir import REPLAY_OPS, OpKind, Trace
from ..tasks import DqnLearning

__all__ = ["REPLAY_OPS", "learning_accuracy", "replay_columns", "tree_depth"]


def replay_columns(trace: Trace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per layer: transitions operated on, buffer capacity, is-sample and is-insert masks
    (the remaining layers are priority updates)."""
    c = trace.columns
    ops = [lay.op for lay in trace.layers]
    return (c["m"] * c["batch"] * c["groups"] * c["repeat"], c["n"],
            np.array([o is OpKind.REPLAY_SAMPLE for o in ops], bool),
            np.array([o is OpKind.REPLAY_INSERT for o in ops], bool))


def tree_depth(capacity: np.ndarray) -> np.ndarray:
    """Levels below the root of a sum tree over ``capacity`` leaves (``ceil(log2 N)``)."""
    cap = np.maximum(np.asarray(capacity, np.float64), 1.0)
    return np.ceil(np.log2(cap))


def learning_accuracy(task: DqnLearning, kind: str, options: dict[str, float],
                      seed: int) -> float:
    """The DQN learning metric of a replay device: mean return of the final training
    episodes of ``task`` with this buffer (see :mod:`accel_sim.replay`)."""
    from ..replay import learning_return

    return learning_return(task.env, kind, tuple(sorted(options.items())),
                           capacity=task.capacity, batch=task.batch, steps=task.steps,
                           runs=task.runs, seed=seed)


def fewer_steps(task: DqnLearning, fraction: float) -> DqnLearning:
    """``task`` with ``fraction`` of its environment steps, at least twice the batch (so the
    warm-up ends before training does; ``fraction`` >= 1: ``task`` itself)."""
    if fraction >= 1.0:
        return task
    steps = max(round(task.steps * fraction), 2 * task.batch)
    return task if steps >= task.steps else replace(task, steps=steps)
