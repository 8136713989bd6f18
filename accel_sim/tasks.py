"""Functional work a trace carries, as typed values (:attr:`accel_sim.Trace.task`).

A workload that can be measured for more than time and energy attaches a task: a network with
shipped weights and a test set (:class:`Classification`), a DQN training task
(:class:`DqnLearning`), one serving iteration of an LLM (:class:`LlmIteration`). A device
declares the task types it handles (``Device.supported_tasks``) and implements one hook,
``Device.accuracy(task)``; a device that does not handle a trace's task says so
(:meth:`accel_sim.Device.task_note`) and reports no accuracy.

Tasks are plain frozen values (names and sizes); the functional models they name live in
:mod:`accel_sim.nets` (networks and data), :mod:`accel_sim.replay` (DQN) and
:mod:`accel_sim.llm` (LLM presets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._metrics import Metric

__all__ = ["Classification", "DqnLearning", "LlmIteration", "Task"]


class Task:
    """Base of every task. Subclasses are frozen dataclasses.

    Attributes:
        kind: Short name of the task type (``"classification"``, ``"dqn"``, ...).
        accuracy_unit: What the ``accuracy`` metric of this task is ("" when the task has no
            accuracy, e.g. an LLM iteration).
    """

    kind: ClassVar[str] = "task"
    accuracy_unit: ClassVar[str] = ""

    def describe(self) -> str:
        """One line saying what the task measures."""
        return self.kind

    @classmethod
    def accuracy_metric(cls) -> Metric | None:
        """The declaration of the ``accuracy`` metric of this task type (``None``: no
        accuracy); higher is better."""
        if not cls.accuracy_unit:
            return None
        return Metric("accuracy", cls.accuracy_unit, "maximize",
                      doc=f"Accuracy of the {cls.kind} task.")


@dataclass(frozen=True)
class Classification(Task):
    """Classify the test set with a network whose weights ship with accel_sim
    (:mod:`accel_sim.nets`): ``accuracy`` is the fraction of test images classified
    correctly.

    Attributes:
        network: ``"digits_mlp"`` or ``"digits_cnn"`` (at the sizes of the shipped weights).
    """

    kind: ClassVar[str] = "classification"
    accuracy_unit: ClassVar[str] = "fraction correct"
    network: str

    def describe(self) -> str:
        return (f"fraction correct: share of the {self.network.split('_')[0]} test images "
                "classified correctly")


@dataclass(frozen=True)
class DqnLearning(Task):
    """Train a DQN with the device's replay buffer: ``accuracy`` is the mean return of the
    final training episodes (:mod:`accel_sim.replay`), averaged over ``runs`` seeds.

    Attributes:
        env: ``"cartpole"`` or ``"acrobot"``.
        capacity: Replay buffer capacity, transitions.
        batch: Sampled batch, transitions.
        steps: Environment steps per run.
        runs: Training runs (seeds) averaged.
    """

    kind: ClassVar[str] = "dqn"
    accuracy_unit: ClassVar[str] = "mean episode return"
    env: str
    capacity: int
    batch: int
    steps: int
    runs: int

    def describe(self) -> str:
        return (f"mean episode return of DQN on {self.env}: the final training episodes, "
                f"averaged over {self.runs} runs of {self.steps} steps")


@dataclass(frozen=True)
class LlmIteration(Task):
    """One serving iteration of an LLM preset (:mod:`accel_sim.llm`): what a serving system
    needs beyond the operators (the model, its routing, the KV cache held).

    Attributes:
        model: Preset name.
        top_k, experts: MoE routing (0 for dense models).
        hidden: Hidden size.
        tokens: Tokens processed in the iteration.
        decode_requests, prefill_requests: Requests in each phase.
        kv_tokens: Tokens held in the KV cache.
        kv_bytes_per_token: KV-cache bytes per token of the whole model, B.
        weight_bytes: Weight bytes of the whole model, B.
        expert_counts: Tokens routed to each expert, per MoE layer (``None``: dense model).
    """

    kind: ClassVar[str] = "llm_iteration"
    model: str
    top_k: int
    experts: int
    hidden: int
    tokens: int
    decode_requests: int
    prefill_requests: int
    kv_tokens: int
    kv_bytes_per_token: float
    weight_bytes: float
    expert_counts: tuple[tuple[int, ...], ...] | None = None

    def describe(self) -> str:
        return (f"{self.model}: {self.decode_requests} decode and {self.prefill_requests} "
                f"prefill requests, {self.tokens} tokens")
