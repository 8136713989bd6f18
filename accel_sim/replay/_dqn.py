"""Deep Q-learning (Mnih et al., Nature 2015) in numpy on gymnasium's classic-control tasks.

A small MLP Q-network (two hidden ReLU layers), a target network copied every
``target_every`` steps, a linearly decaying epsilon-greedy policy, the Huber loss and Adam.
One gradient step per environment step after ``warmup`` steps; the replay buffer is any
:class:`~accel_sim.replay.ReplayBuffer`. With a prioritized buffer the loss is weighted by the
importance weights, beta is annealed linearly from ``beta_start`` to 1 over the run, and the
new priorities are the absolute TD errors (Schaul et al. 2016).

The learning metric (``accuracy`` of the replay devices) is :func:`final_return`: the mean
undiscounted return of the last ``final_episodes`` training episodes (epsilon-greedy at the
final epsilon), averaged over seeds. CartPole-v1 returns lie in [0, 500] (higher is better),
Acrobot-v1 returns in [-500, 0].

Needs gymnasium (``pip install 'accel-sim[rl]'``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._progress import progress_bar
from ..errors import ConfigError
from ._buffers import ReplayBuffer

__all__ = ["ENVS", "DQNConfig", "LearningCurve", "final_return", "learning_return",
           "make_buffer", "train_dqn"]

#: Short names of the supported environments -> gymnasium ids.
ENVS = {"cartpole": "CartPole-v1", "acrobot": "Acrobot-v1"}


@dataclass(frozen=True)
class DQNConfig:
    """DQN hyperparameters (defaults: common classic-control settings, e.g. the rl-zoo's).

    Attributes:
        steps: Environment steps of the run.
        hidden: Units of each of the two hidden layers.
        lr: Adam learning rate.
        batch: Transitions per gradient step.
        gamma: Discount factor.
        capacity: Replay buffer slots.
        warmup: Steps of random actions before learning starts.
        target_every: Steps between target-network copies.
        eps_start, eps_end: Epsilon of the epsilon-greedy policy at the start and the end of
            its linear decay.
        eps_fraction: Fraction of ``steps`` over which epsilon decays.
        beta_start: Importance-weight exponent at the start (annealed to 1), for PER buffers.
        final_episodes: Episodes averaged by :func:`final_return`.
    """

    steps: int = 40_000
    hidden: int = 64
    lr: float = 1e-3
    batch: int = 64
    gamma: float = 0.99
    capacity: int = 50_000
    warmup: int = 1_000
    target_every: int = 500
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_fraction: float = 0.25
    beta_start: float = 0.4
    final_episodes: int = 20

    def __post_init__(self) -> None:
        for name in ("steps", "hidden", "batch", "capacity", "target_every", "final_episodes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"DQNConfig.{name} must be an integer >= 1, got {v!r}")
        if not isinstance(self.warmup, int) or not self.batch <= self.warmup < self.steps:
            raise ConfigError(f"DQNConfig.warmup must be in [batch={self.batch}, "
                              f"steps={self.steps}), got {self.warmup!r}")
        for name, lo, hi in (("lr", 0.0, 1.0), ("gamma", 0.0, 1.0), ("eps_start", 0.0, 1.0),
                             ("eps_end", 0.0, 1.0), ("eps_fraction", 0.0, 1.0),
                             ("beta_start", 0.0, 1.0)):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not lo <= v <= hi:
                raise ConfigError(f"DQNConfig.{name} must be in [{lo}, {hi}], got {v!r}")


@dataclass(frozen=True)
class LearningCurve:
    """Returns of the episodes of one run.

    Attributes:
        env: Short environment name.
        buffer: Buffer label.
        seed: Seed of the run.
        end_steps: Environment step at which each episode ended.
        returns: Undiscounted return of each episode.
    """

    env: str
    buffer: str
    seed: int
    end_steps: np.ndarray
    returns: np.ndarray

    def final(self, episodes: int) -> float:
        """Mean return of the last ``episodes`` episodes (all if fewer)."""
        if self.returns.size == 0:
            raise ConfigError(f"{self.env}/{self.buffer}: no episode finished in the run")
        return float(self.returns[-episodes:].mean())


class _QNet:
    """MLP ``obs -> hidden -> hidden -> actions`` with all parameters in one flat vector."""

    def __init__(self, n_obs: int, hidden: int, n_act: int, rng: np.random.Generator) -> None:
        shapes = [(n_obs, hidden), (hidden,), (hidden, hidden), (hidden,), (hidden, n_act),
                  (n_act,)]
        sizes = [int(np.prod(s)) for s in shapes]
        self.flat = np.zeros(sum(sizes), np.float32)
        self.grad = np.zeros_like(self.flat)
        self.params, self.grads, at = [], [], 0
        for s, n in zip(shapes, sizes, strict=True):
            self.params.append(self.flat[at:at + n].reshape(s))
            self.grads.append(self.grad[at:at + n].reshape(s))
            if len(s) == 2:  # He-uniform weights, zero biases
                lim = np.sqrt(6.0 / s[0])
                self.params[-1][...] = rng.uniform(-lim, lim, s)
            at += n

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        w1, b1, w2, b2, w3, b3 = self.params
        h1 = np.maximum(x @ w1 + b1, 0.0)
        h2 = np.maximum(h1 @ w2 + b2, 0.0)
        return h2 @ w3 + b3, (x, h1, h2)

    def backward(self, cache: tuple[np.ndarray, ...], dq: np.ndarray) -> None:
        x, h1, h2 = cache
        _, _, w2, _, w3, _ = self.params
        g1, gb1, g2, gb2, g3, gb3 = self.grads
        np.matmul(h2.T, dq, out=g3)
        gb3[...] = dq.sum(0)
        d2 = (dq @ w3.T) * (h2 > 0)
        np.matmul(h1.T, d2, out=g2)
        gb2[...] = d2.sum(0)
        d1 = (d2 @ w2.T) * (h1 > 0)
        np.matmul(x.T, d1, out=g1)
        gb1[...] = d1.sum(0)


class _Adam:
    def __init__(self, size: int, lr: float) -> None:
        self.m = np.zeros(size, np.float32)
        self.v = np.zeros(size, np.float32)
        self.lr, self.t = lr, 0

    def step(self, flat: np.ndarray, grad: np.ndarray) -> None:
        self.t += 1
        self.m += 0.1 * (grad - self.m)
        self.v += 0.001 * (grad * grad - self.v)
        scale = self.lr * np.sqrt(1 - 0.999**self.t) / (1 - 0.9**self.t)
        flat -= scale * self.m / (np.sqrt(self.v) + 1e-8)


def _make_env(env: str):
    try:
        import gymnasium as gym
    except ImportError:
        raise ConfigError("DQN needs gymnasium: pip install 'accel-sim[rl]'") from None
    if env not in ENVS:
        raise ConfigError(f"env={env!r}: expected one of {sorted(ENVS)}")
    return gym.make(ENVS[env], disable_env_checker=True)


def train_dqn(env: str, buffer: ReplayBuffer, *, seed: int = 0,
              config: DQNConfig | None = None, label: str = "",
              progress: Callable[[int], None] | None = None) -> LearningCurve:
    """Train a DQN agent on ``env`` ("cartpole" or "acrobot") with ``buffer`` as replay memory.

    ``seed`` seeds the environment, the network initialisation and the policy; the buffer has
    its own seed. ``progress`` (optional) is called with the number of steps done every 1000
    steps. Returns the episode returns of the run.
    """
    cfg = config or DQNConfig()
    e = _make_env(env)
    rng = np.random.default_rng(seed)
    n_obs = int(np.prod(e.observation_space.shape))
    n_act = int(e.action_space.n)
    net = _QNet(n_obs, cfg.hidden, n_act, rng)
    target = _QNet(n_obs, cfg.hidden, n_act, rng)
    target.flat[:] = net.flat
    opt = _Adam(net.flat.size, cfg.lr)
    prioritized = buffer.prioritized
    decay = max(1, int(cfg.eps_fraction * cfg.steps))
    obs, _ = e.reset(seed=seed)
    obs = np.asarray(obs, np.float32)
    ep_return, returns, ends = 0.0, [], []
    arange = np.arange(cfg.batch)
    for step in range(cfg.steps):
        eps = cfg.eps_start + (cfg.eps_end - cfg.eps_start) * min(1.0, step / decay)
        if step < cfg.warmup or rng.random() < eps:
            action = int(rng.integers(n_act))
        else:
            q, _ = net.forward(obs[None])
            action = int(q[0].argmax())
        nxt, reward, terminated, truncated, _ = e.step(action)
        nxt = np.asarray(nxt, np.float32)
        buffer.add(obs=obs[None], action=np.array([action], np.int64),
                   reward=np.array([reward], np.float32), next_obs=nxt[None],
                   done=np.array([terminated], np.float32))
        ep_return += float(reward)
        if terminated or truncated:
            returns.append(ep_return)
            ends.append(step + 1)
            ep_return = 0.0
            nxt, _ = e.reset()
            nxt = np.asarray(nxt, np.float32)
        obs = nxt
        if step >= cfg.warmup:
            if prioritized:
                buffer.beta = cfg.beta_start + (1.0 - cfg.beta_start) * step / cfg.steps
            idx, w = buffer.sample(cfg.batch)
            f = buffer.fields(idx)
            q_next, _ = target.forward(f["next_obs"])
            y = f["reward"] + cfg.gamma * (1.0 - f["done"]) * q_next.max(1)
            q, cache = net.forward(f["obs"])
            td = q[arange, f["action"]] - y
            # Huber loss (delta 1), importance-weighted mean over the batch
            dq = np.zeros_like(q)
            dq[arange, f["action"]] = np.clip(td, -1.0, 1.0) * w.astype(np.float32) / cfg.batch
            net.backward(cache, dq)
            opt.step(net.flat, net.grad)
            if prioritized:
                buffer.update_priorities(idx, np.abs(td).astype(np.float64))
            if (step + 1) % cfg.target_every == 0:
                target.flat[:] = net.flat
        if progress is not None and (step + 1) % 1000 == 0:
            progress(step + 1)
    e.close()
    return LearningCurve(env, label or type(buffer).__name__, seed,
                         np.asarray(ends, np.int64), np.asarray(returns, np.float64))


def final_return(curves: list[LearningCurve], episodes: int | None = None) -> float:
    """Mean over runs of the mean return of each run's last ``episodes`` episodes."""
    if not curves:
        raise ConfigError("final_return: no learning curves")
    n = episodes or DQNConfig.final_episodes
    return float(np.mean([c.final(n) for c in curves]))


def make_buffer(kind: str, capacity: int, seed: int = 0, **options: float) -> ReplayBuffer:
    """A buffer by name: ``uniform``, ``per``, ``amper-k`` or ``amper-fr`` (options: the
    buffer's keyword arguments, e.g. ``k``, ``radius``, ``priority_bits``, ``alpha``)."""
    from ._amper import AmperFrReplay, AmperKReplay
    from ._buffers import PrioritizedReplay, UniformReplay

    classes = {"uniform": UniformReplay, "per": PrioritizedReplay, "amper-k": AmperKReplay,
               "amper-fr": AmperFrReplay}
    if kind not in classes:
        raise ConfigError(f"buffer kind {kind!r}: expected one of {sorted(classes)}")
    try:
        return classes[kind](capacity, seed, **options)
    except TypeError as exc:
        raise ConfigError(f"buffer {kind!r}: {exc}") from None


@functools.lru_cache(maxsize=128)
def learning_return(env: str, kind: str, options: tuple[tuple[str, float], ...], *,
                    capacity: int, batch: int, steps: int, runs: int, seed: int = 0) -> float:
    """:func:`final_return` of ``runs`` DQN runs (seeds ``seed .. seed + runs - 1``) with a
    ``kind`` buffer (see :func:`make_buffer`); memoised, devices call it per evaluation."""
    cfg = DQNConfig(steps=steps, batch=batch, capacity=capacity,
                    warmup=max(batch, min(DQNConfig.warmup, steps // 4)))
    curves = []
    with progress_bar(runs * steps, desc=f"DQN {env}, {kind} replay, {runs} run(s)",
                      unit="step") as bar:
        for s in range(seed, seed + runs):
            done = [0]

            def advance(step: int, done: list[int] = done) -> None:
                bar.update(step - done[0])
                done[0] = step

            curves.append(train_dqn(env, make_buffer(kind, capacity, s, **dict(options)), seed=s,
                                    config=cfg, label=kind, progress=advance))
            bar.update(steps - done[0])
    return final_return(curves, cfg.final_episodes)
