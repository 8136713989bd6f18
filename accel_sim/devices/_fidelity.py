"""Lower-fidelity accuracy (``Device.accuracy_at``) for devices whose accuracy comes from
training: the same training with fewer epochs, or fewer DQN steps."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from ..tasks import Classification, DqnLearning, Task
from ._replay_common import fewer_steps

__all__ = ["FewerEpochs", "FewerSteps"]


class FewerEpochs:
    """Mixin for a device whose config has ``train_epochs`` and whose ``accuracy`` trains a
    digits network for them: ``accuracy_at`` trains ``fraction`` of the epochs (at least one)."""

    multi_fidelity: ClassVar[bool] = True

    def accuracy_at(self: Any, task: Task, fraction: float) -> float:
        """Test accuracy after ``fraction`` of the training epochs (at least one)."""
        from ..sparse._training import epochs_at

        assert isinstance(task, Classification)
        cfg = self.config
        epochs = epochs_at(task.network, cfg.train_epochs, fraction)
        return float(type(self)(replace(cfg, train_epochs=epochs)).accuracy(task))


class FewerSteps:
    """Mixin for a replay device whose ``accuracy`` trains a DQN: ``accuracy_at`` runs
    ``fraction`` of the task's environment steps (:func:`fewer_steps`)."""

    multi_fidelity: ClassVar[bool] = True

    def accuracy_at(self: Any, task: Task, fraction: float) -> float:
        """Mean final DQN return after ``fraction`` of the task's environment steps."""
        assert isinstance(task, DqnLearning)
        return float(self.accuracy(fewer_steps(task, fraction)))
