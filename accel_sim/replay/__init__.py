"""Replay memories for deep RL: uniform and prioritized (sum tree) buffers with one API."""

from __future__ import annotations

from ._buffers import PrioritizedReplay, ReplayBuffer, UniformReplay

__all__ = ["PrioritizedReplay", "ReplayBuffer", "UniformReplay"]
