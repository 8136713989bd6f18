"""Lower-fidelity accuracy (``Device.accuracy_at``) for devices whose accuracy comes from
training: a checkpoint of the same training after fewer epochs, or fewer DQN steps."""

from __future__ import annotations

from typing import Any, ClassVar

from ..tasks import Classification, DqnLearning, Task
from ._replay_common import fewer_steps

__all__ = ["FewerEpochs", "FewerSteps"]


class FewerEpochs:
    """Mixin for a device whose config has ``train_epochs`` and ``seed`` and whose ``accuracy``
    trains a digits network under ``training_scheme()`` (an :class:`accel_sim.sparse.Scheme`):
    ``accuracy_at`` is the accuracy at a checkpoint of that same training, after ``fraction``
    of its epochs (at least one), so a promotion to a higher fraction trains on from there and
    full fidelity is exactly the full training's accuracy
    (:func:`accel_sim.sparse.training_accuracy`)."""

    multi_fidelity: ClassVar[bool] = True
    low_fidelity: ClassVar[str] = "checkpoint of the full training"

    def accuracy_at(self: Any, task: Task, fraction: float) -> float:
        """Test accuracy after ``fraction`` of the training's epochs (at least one), with the
        learning-rate schedule of the full training."""
        from ..sparse._training import epochs_at, training_accuracy

        assert isinstance(task, Classification)
        cfg = self.config
        at = epochs_at(task.network, cfg.train_epochs, fraction)
        return float(training_accuracy(task.network, self.training_scheme(), cfg.seed,
                                       cfg.train_epochs, at))


class FewerSteps:
    """Mixin for a replay device whose ``accuracy`` trains a DQN: ``accuracy_at`` runs
    ``fraction`` of the task's environment steps (:func:`fewer_steps`)."""

    multi_fidelity: ClassVar[bool] = True
    low_fidelity: ClassVar[str] = "fewer environment steps"

    def accuracy_at(self: Any, task: Task, fraction: float) -> float:
        """Mean final DQN return after ``fraction`` of the task's environment steps."""
        assert isinstance(task, DqnLearning)
        return float(self.accuracy(fewer_steps(task, fraction)))
