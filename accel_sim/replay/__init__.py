"""Replay memories for deep RL and a numpy DQN to measure learning with them.

Buffers share one API (``add``, ``sample(batch) -> (indices, weights)``,
``update_priorities``): uniform, sum-tree prioritized (PER) and AMPER's nearest-neighbour
sampling over quantised priorities (AMPER-k, AMPER-fr).
"""

from __future__ import annotations

from ._amper import AmperFrReplay, AmperKReplay, AmperReplay
from ._buffers import PrioritizedReplay, ReplayBuffer, UniformReplay
from ._dqn import (
                   ENVS,
                   DQNConfig,
                   LearningCurve,
                   final_return,
                   learning_return,
                   make_buffer,
                   train_dqn,
)

__all__ = ["ENVS", "AmperFrReplay", "AmperKReplay", "AmperReplay", "DQNConfig", "LearningCurve",
           "PrioritizedReplay", "ReplayBuffer", "UniformReplay", "final_return", "learning_return",
           "make_buffer", "train_dqn"]
