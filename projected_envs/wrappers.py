"""Task wrappers, one job each: projections, multi-trial meta-episodes, normalisation, legacy API.

The intended stack, innermost first (see ``docs/tasks.md``)::

    env, _ = projected_envs.make("brax/hopper")
    env = Normalize(env)                          # per-base-env obs standardisation, reward scale
    env = ProjectObservation(env, dim=12)         # o' = M_o o
    env = ProjectAction(env, dim=2)               # a_env = clip(M_a a, -1, 1)
    env = MetaEpisode(env, num_trials=4)          # K trials of one task, extras in the obs
    task = env.sample_task(key)                   # nested params: task.inner.inner.obs_matrix ...

Every wrapper follows :mod:`projected_envs.core`: ``reset``, ``transition`` (no auto-reset),
``step`` (auto-reset) and ``sample_task``. A wrapper that samples part of the task keeps it in
its own ``flax.struct`` params dataclass next to the inner params (``params.inner``); its
``sample_task(key)`` splits ``key`` into ``(k_inner, k_own)``, so the same key gives the same
task bitwise. Wrappers without a task part of their own pass params (and ``sample_task``)
through unchanged. ``reset`` and ``step`` never sample a task.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from projected_envs.core import (
    Environment,
    StepResult,
    Wrapper,
    check_action,
    check_state,
    real_box,
    reset_from_step_key,
    reset_where,
    sanitize_action,
    step_key,
    unit_box,
)
from projected_envs.projections import ProjectionFn, embed, identity, projection

__all__ = [
    "META_EPISODE_EXTRAS",
    "FiniteGuard",
    "LegacyStepAPI",
    "MetaEpisode",
    "MetaEpisodeState",
    "NormalizationStats",
    "Normalize",
    "ProjectAction",
    "ProjectActionParams",
    "ProjectObservation",
    "ProjectObservationParams",
    "normalization_stats",
]

_NORMALIZATION_SCRIPT = "scripts/compute_normalization.py"


def _positive_int(value: Any, where: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}.")
    return int(value)


def _family(family: str, where: str) -> ProjectionFn:
    try:
        return projection(family)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _check_matrix(matrix: jax.Array, shape: tuple[int, int], where: str) -> None:
    if tuple(matrix.shape) != shape:
        raise ValueError(
            f"{where}: projection matrix has shape {tuple(matrix.shape)}, expected {shape}. "
            "Pass params made by this env's sample_task(key) or default_params "
            "(for a batch of tasks, jax.vmap over the params)."
        )


class _OwnParamsWrapper(Wrapper):
    """A projection wrapper: params ``Own(inner=..., <matrix>)``, unwrapped for the spaces.

    Subclasses set ``family`` and ``_sample``; the ``identity`` family has no matrix (None).
    """

    family: str
    _sample: ProjectionFn

    def _inner_params(self, params: Any) -> Any:
        return self.env.default_params if params is None else params.inner

    def _matrix(self, key: jax.Array | None, rows: int, cols: int) -> jax.Array | None:
        """The task's matrix: None for ``identity``, else drawn (``key``) or the identity."""
        if self.family == "identity":
            return None
        return identity(None, rows, cols) if key is None else self._sample(key, rows, cols)

    @property
    def samples_task(self) -> bool:
        """True (a matrix per task); ``identity`` family: whether the inner env samples."""
        return self.family != "identity" or self.env.samples_task

    def observation_space(self, params: Any = None) -> spaces.Box:
        return self.env.observation_space(self._inner_params(params))

    def action_space(self, params: Any = None) -> spaces.Box:
        return self.env.action_space(self._inner_params(params))


# ------------------------------------------------------------------------- ProjectObservation


@struct.dataclass
class ProjectObservationParams:
    """Params of :class:`ProjectObservation`: the inner task plus the observation projection."""

    inner: Any  # params of the wrapped env
    # float32 [dim, inner obs size]: M_o; None for the ``identity`` family (no matrix: zero-pad
    # or truncate, no matmul)
    obs_matrix: jax.Array | None

    # gymnax's EnvParams field, read by rejax, gymnax's RolloutWrapper and evosax (issue 29)
    @property
    def max_steps_in_episode(self) -> Any:
        """The inner task's time limit in steps (one trial's; gymnax's ``EnvParams`` field)."""
        return self.inner.max_steps_in_episode


class ProjectObservation(_OwnParamsWrapper):
    """Project observations to a fixed size: ``o' = M_o o`` with ``M_o`` part of the task.

    ``M_o`` (float32 ``[dim, inner obs size]``) is drawn from ``family`` by ``sample_task``
    (see :mod:`projected_envs.projections` for the scaling of each family). ``default_params``
    uses the ``identity`` family (pad with zeros / truncate), so ``make()`` + this wrapper with
    default params is deterministic and, for ``dim`` equal to the inner obs size, reproduces the
    inner observations bitwise. The state is the inner env's state, unchanged.

    With ``family="identity"`` nothing is random, so the wrapper carries no matrix: its params
    have ``obs_matrix=None`` (``default_params`` and ``sample_task`` alike) and observations are
    zero-padded or truncated without a matmul (:func:`projected_envs.projections.embed`; the
    same numbers, at a fraction of the cost on small envs: docs/benchmarks.md). Params with a
    matrix are refused there (another tree structure): to apply your own ``M_o``, use a
    wrapper of a random family and put the matrix in its params.

    Args:
        env: the env to wrap (usually ``Normalize(make(...))``).
        dim: size ``O`` of the projected observation, a positive int.
        family: projection family sampled by ``sample_task``, one of ``PROJECTION_FAMILIES``.

    Raises:
        ValueError: for a non-positive ``dim`` or an unknown ``family`` (listing the valid ones);
            at trace time, for ``params=None`` (this wrapper samples its matrix per task:
            pass ``env.sample_task(key)``, or ``default_params`` explicitly) or params of
            another env or stack.
    """

    def __init__(self, env: Environment, dim: int, family: str = "gaussian"):
        super().__init__(env)
        self.dim = _positive_int(dim, "ProjectObservation", "dim")
        self.family = family
        self._sample = _family(family, "ProjectObservation")
        self.in_dim = env.obs_size

    @property
    def default_params(self) -> ProjectObservationParams:
        """Inner default params with the identity (pad/truncate) projection."""
        matrix = self._matrix(None, self.dim, self.in_dim)
        return ProjectObservationParams(inner=self.env.default_params, obs_matrix=matrix)

    def sample_task(self, key: jax.Array) -> ProjectObservationParams:
        """Inner task from ``split(key)[0]``, ``M_o`` from ``family`` with ``split(key)[1]``."""
        key_inner, key_own = jax.random.split(key)
        matrix = self._matrix(key_own, self.dim, self.in_dim)
        return ProjectObservationParams(inner=self.env.sample_task(key_inner), obs_matrix=matrix)

    def _project(self, obs: jax.Array, params: ProjectObservationParams) -> jax.Array:
        if params.obs_matrix is None:  # identity family (check_params fixed the structure)
            return embed(obs, self.dim)
        _check_matrix(params.obs_matrix, (self.dim, self.in_dim), "ProjectObservation")
        return jnp.dot(params.obs_matrix, obs, precision=jax.lax.Precision.HIGHEST)  # [dim]

    def reset(
        self, key: jax.Array, params: ProjectObservationParams | None = None
    ) -> tuple[jax.Array, Any]:
        params = self.check_params(params)
        obs, state = self.env.reset(key, params.inner)
        return self._project(obs, params), state

    def transition(
        self, key: jax.Array, state: Any, action: jax.Array, params: ProjectObservationParams
    ) -> StepResult:
        check_state(state, self.name)
        params = self.check_params(params)
        obs, state, reward, terminated, truncated, info = self.env.transition(
            key, state, action, params.inner
        )
        return self._project(obs, params), state, reward, terminated, truncated, info

    def observation_space(self, params: Any = None) -> spaces.Box:
        return real_box(self.dim)


# ----------------------------------------------------------------------------- ProjectAction


@struct.dataclass
class ProjectActionParams:
    """Params of :class:`ProjectAction`: the inner task plus the action projection."""

    inner: Any  # params of the wrapped env
    # float32 [inner action size, dim]: M_a; None for the ``identity`` family (no matrix)
    action_matrix: jax.Array | None

    # gymnax's EnvParams field, read by rejax, gymnax's RolloutWrapper and evosax (issue 29)
    @property
    def max_steps_in_episode(self) -> Any:
        """The inner task's time limit in steps (one trial's; gymnax's ``EnvParams`` field)."""
        return self.inner.max_steps_in_episode


class ProjectAction(_OwnParamsWrapper):
    """Take actions of a fixed size: ``a_env = clip(M_a a, -1, 1)`` with ``M_a`` part of the task.

    The agent acts in ``[-1, 1]^dim``: its action is made finite (NaN and +-inf entries become
    0; ``info["action_nonfinite"]``, int32 ``[]``, counts them) and clipped to ``[-1, 1]``
    *before* the projection, so no action can push the inner env outside its box or make its
    input non-finite. ``M_a`` (float32 ``[inner action size, dim]``) is drawn
    from ``family`` by ``sample_task``. With the package's scaling convention each coordinate
    of ``M_a a`` has the second moment of an average coordinate of ``a``, but it can leave
    ``[-1, 1]``: it is then clipped to the inner env's action box, and
    ``info["action_clip"]`` (float32 ``[]``) reports the L1 norm ``sum |M_a a - clip(M_a a)|``
    of what was cut off (0 when nothing was). ``default_params`` uses the ``identity`` family,
    so with ``dim`` equal to the inner action size and actions in ``[-1, 1]`` the inner env sees
    the agent's actions unchanged. The state is the inner env's state, unchanged. With
    ``family="identity"`` the wrapper carries no matrix (``action_matrix=None``) and pads or
    truncates the action without a matmul, as :class:`ProjectObservation` does.

    Args:
        env: the env to wrap.
        dim: size ``A`` of the agent's action, a positive int.
        family: projection family sampled by ``sample_task``, one of ``PROJECTION_FAMILIES``.

    Raises:
        ValueError: for a non-positive ``dim``, an unknown ``family`` (listing the valid ones),
            or, at trace time, an action whose shape is not ``(dim,)``, ``params=None`` (this
            wrapper samples its matrix per task: pass ``env.sample_task(key)``) or params of
            another env or stack.
    """

    def __init__(self, env: Environment, dim: int, family: str = "gaussian"):
        super().__init__(env)
        self.dim = _positive_int(dim, "ProjectAction", "dim")
        self.family = family
        self._sample = _family(family, "ProjectAction")
        self.out_dim = env.action_size

    @property
    def default_params(self) -> ProjectActionParams:
        """Inner default params with the identity (pad/truncate) projection."""
        matrix = self._matrix(None, self.out_dim, self.dim)
        return ProjectActionParams(inner=self.env.default_params, action_matrix=matrix)

    def sample_task(self, key: jax.Array) -> ProjectActionParams:
        """Inner task from ``split(key)[0]``, ``M_a`` from ``family`` with ``split(key)[1]``."""
        key_inner, key_own = jax.random.split(key)
        matrix = self._matrix(key_own, self.out_dim, self.dim)
        return ProjectActionParams(inner=self.env.sample_task(key_inner), action_matrix=matrix)

    def reset(
        self, key: jax.Array, params: ProjectActionParams | None = None
    ) -> tuple[jax.Array, Any]:
        return self.env.reset(key, self.check_params(params).inner)

    def transition(
        self, key: jax.Array, state: Any, action: jax.Array, params: ProjectActionParams
    ) -> StepResult:
        check_state(state, self.name)
        params = self.check_params(params)
        action = check_action(action, self.dim, "ProjectAction")
        action, num_nonfinite = sanitize_action(action)  # [dim] in [-1, 1], finite
        if params.action_matrix is None:  # identity family: no matrix (structure checked)
            env_action = embed(action, self.out_dim)
        else:
            _check_matrix(params.action_matrix, (self.out_dim, self.dim), "ProjectAction")
            env_action = jnp.dot(params.action_matrix, action, precision=jax.lax.Precision.HIGHEST)
        clipped = jnp.clip(env_action, -1.0, 1.0)  # [inner action size]
        obs, state, reward, terminated, truncated, info = self.env.transition(
            key, state, clipped, params.inner
        )
        info = {
            **info,
            "action_clip": jnp.sum(jnp.abs(env_action - clipped)),
            "action_nonfinite": num_nonfinite,
        }
        return obs, state, reward, terminated, truncated, info

    def action_space(self, params: Any = None) -> spaces.Box:
        return unit_box(self.dim)


# ------------------------------------------------------------------------------- MetaEpisode

META_EPISODE_EXTRAS: tuple[str, ...] = ("action", "reward", "trial_done", "task_start")
"""Observation extras of :class:`MetaEpisode`, in the order they are appended."""


@struct.dataclass
class MetaEpisodeState:
    """State of :class:`MetaEpisode`: the inner episode plus the trial bookkeeping."""

    inner: Any  # state of the wrapped env (the current trial's episode)
    trial: jax.Array  # int32 []: index of the current trial, 0 .. num_trials - 1
    trial_returns: jax.Array  # float32 [num_trials]: summed reward of each trial so far


class MetaEpisode(Wrapper):
    """Run ``num_trials`` episodes (trials) of one task as one outer episode.

    When an inner episode ends (``terminated`` or ``truncated``), the inner env is reset with a
    fresh key and the same task; that end is visible only as the ``trial_done`` flag of the
    observation and of ``info``, never as an outer done. The outer episode ends with
    ``terminated=True`` exactly when the ``num_trials``-th inner episode ends; ``truncated`` is
    always False. The agent's memory should be reset at task (outer) boundaries only.

    Observation (float32): ``concat(inner_obs, extras)`` where the enabled extras are appended
    in the order of :data:`META_EPISODE_EXTRAS` whatever the order given:

    * ``"action"`` ``[A]``: the previous action as the inner env used it: NaN / +-inf entries
      replaced by 0, then clipped to ``[-1, 1]`` (zeros at task start);
    * ``"reward"`` ``[1]``: the previous reward (0 at task start);
    * ``"trial_done"`` ``[1]``: 1 if the previous step ended a trial, so ``inner_obs`` is the
      first observation of the next trial (or, at task end, the last of the final trial);
    * ``"task_start"`` ``[1]``: 1 on the first observation of the task, else 0.

    :attr:`obs_layout` maps each part to its slice. The paper's DMC variant uses
    ``obs_extras=("reward", "trial_done")``.

    ``info`` adds (besides the inner env's keys):

    * ``"trial"`` int32 ``[]``: index of the trial this step belongs to;
    * ``"trial_done"`` bool ``[]``: this step ended that trial;
    * ``"trial_return"`` float32 ``[]``: that trial's return so far (its full return where
      ``trial_done``);
    * ``"trial_returns"`` float32 ``[num_trials]``: the return of every trial of the task so
      far (complete on the step with outer ``terminated``).

    Params are the inner env's params (this wrapper samples nothing). ``step`` runs at most one
    inner reset per step, serving both a new trial and a new task, and only where an inner
    episode ended (``core.reset_where``).

    Args:
        env: the env to wrap (usually the projected env).
        num_trials: trials per task ``K``, a positive int.
        obs_extras: subset of :data:`META_EPISODE_EXTRAS` to append to the observation.

    Raises:
        ValueError: for ``num_trials < 1``, unknown or repeated extras, or, at trace time, an
            action whose shape is not the inner env's.
    """

    def __init__(
        self,
        env: Environment,
        num_trials: int,
        obs_extras: Sequence[str] = META_EPISODE_EXTRAS,
    ):
        super().__init__(env)
        self.num_trials = _positive_int(num_trials, "MetaEpisode", "num_trials")
        if isinstance(obs_extras, str):
            obs_extras = (obs_extras,)
        unknown = [e for e in obs_extras if e not in META_EPISODE_EXTRAS]
        if unknown or len(set(obs_extras)) != len(obs_extras):
            raise ValueError(
                f"MetaEpisode: obs_extras must be distinct names from {META_EPISODE_EXTRAS}; "
                f"got {tuple(obs_extras)!r}."
            )
        self.obs_extras = tuple(e for e in META_EPISODE_EXTRAS if e in obs_extras)
        self.inner_obs_size = env.obs_size
        self.inner_action_size = env.action_size

    @property
    def obs_layout(self) -> dict[str, slice]:
        """Slice of the observation holding each part: ``"obs"`` (inner obs) and each extra."""
        sizes = {"obs": self.inner_obs_size, "action": self.inner_action_size}
        layout, start = {}, 0
        for part in ("obs", *self.obs_extras):
            size = sizes.get(part, 1)
            layout[part] = slice(start, start + size)
            start += size
        return layout

    def _observe(
        self,
        inner_obs: jax.Array,
        action: jax.Array,
        reward: jax.Array,
        trial_done: jax.Array,
        task_start: jax.Array,
    ) -> jax.Array:
        parts = {
            "action": action,
            "reward": reward,
            "trial_done": trial_done,
            "task_start": task_start,
        }
        pieces = [inner_obs.astype(jnp.float32)]
        pieces += [jnp.reshape(parts[e], (-1,)).astype(jnp.float32) for e in self.obs_extras]
        return jnp.concatenate(pieces)

    def _first(self, inner_obs: jax.Array, inner_state: Any) -> tuple[jax.Array, MetaEpisodeState]:
        obs = self._observe(
            inner_obs,
            jnp.zeros((self.inner_action_size,), jnp.float32),
            jnp.zeros((), jnp.float32),
            jnp.zeros((), jnp.float32),
            jnp.ones((), jnp.float32),
        )
        return obs, self._first_state(inner_state)

    def _first_state(self, inner_state: Any) -> MetaEpisodeState:
        """The state at a task's first step: trial 0, no returns yet."""
        return MetaEpisodeState(
            inner=inner_state,
            trial=jnp.zeros((), jnp.int32),
            trial_returns=jnp.zeros((self.num_trials,), jnp.float32),
        )

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, MetaEpisodeState]:
        return self._first(*self.env.reset(key, self.check_params(params)))

    def _inner_step(
        self, key: jax.Array, state: MetaEpisodeState, action: jax.Array, params: Any
    ) -> tuple[Any, ...]:
        """The inner transition and the trial bookkeeping, before any reset."""
        check_state(state, self.name)
        action = check_action(action, self.inner_action_size, "MetaEpisode")
        # The action the inner env uses (finite, in [-1, 1]): the "action" extra echoes it.
        action, num_nonfinite = sanitize_action(action)
        obs_st, inner_st, reward, terminated, truncated, info = self.env.transition(
            step_key(key), state.inner, action, params
        )
        reward = jnp.asarray(reward, jnp.float32)
        trial_done = jnp.logical_or(terminated, truncated)
        task_done = jnp.logical_and(trial_done, state.trial + 1 >= self.num_trials)
        # one-hot add rather than a scatter: cheaper under vmap
        is_trial = jnp.arange(self.num_trials) == state.trial
        trial_returns = state.trial_returns + jnp.where(is_trial, reward, 0.0)
        info = {
            **info,
            # counted here: the inner env (e.g. ProjectAction) only sees the sanitised action
            "action_nonfinite": num_nonfinite,
            "trial": state.trial,
            "trial_done": trial_done,
            "trial_return": jnp.sum(jnp.where(is_trial, trial_returns, 0.0)),
            "trial_returns": trial_returns,
        }
        return action, obs_st, inner_st, reward, trial_done, task_done, info

    def _continue(
        self, state: MetaEpisodeState, inner: Any, trial_done: jax.Array, info: dict[str, Any]
    ) -> MetaEpisodeState:
        return MetaEpisodeState(
            inner=inner,
            trial=state.trial + trial_done.astype(jnp.int32),
            trial_returns=info["trial_returns"],
        )

    def transition(
        self, key: jax.Array, state: MetaEpisodeState, action: jax.Array, params: Any
    ) -> StepResult:
        params = self.check_params(params)
        action, obs_st, inner_st, reward, trial_done, task_done, info = self._inner_step(
            key, state, action, params
        )
        # A trial ended and the task goes on: the next trial starts from a fresh inner reset.
        next_trial = jnp.logical_and(trial_done, jnp.logical_not(task_done))
        inner_obs, inner = reset_where(
            reset_from_step_key(self.env.reset), next_trial, key, params, obs_st, inner_st
        )
        obs = self._observe(inner_obs, action, reward, trial_done, jnp.zeros((), jnp.float32))
        state = self._continue(state, inner, trial_done, info)
        return obs, state, reward, task_done, jnp.zeros((), bool), info

    def step(
        self, key: jax.Array, state: MetaEpisodeState, action: jax.Array, params: Any = None
    ) -> StepResult:
        """``transition`` with auto-reset at task end (same contract as ``core`` ``step``).

        One inner reset serves both a new trial and a new task, and it only runs when an
        inner episode ended (:func:`projected_envs.core.reset_where`).
        """
        params = self.check_params(params)
        action, obs_st, inner_st, reward, trial_done, task_done, info = self._inner_step(
            key, state, action, params
        )
        inner_obs, inner = reset_where(
            reset_from_step_key(self.env.reset), trial_done, key, params, obs_st, inner_st
        )
        zero = jnp.zeros((), jnp.float32)
        # One observation: where the task ended its extras are a new task's first ones (the
        # inner observation is the new task's reset either way); selecting the few extras,
        # not two whole observations, keeps this step cheap on small envs.
        keep = jnp.logical_not(task_done)
        obs = self._observe(
            inner_obs,
            jnp.where(keep, action, 0.0),
            jnp.where(keep, reward, 0.0),
            jnp.logical_and(keep, trial_done),
            task_done,
        )
        state_first = self._first_state(inner)  # task ended: a new one starts
        state_next = self._continue(state, inner, trial_done, info)
        state = jax.tree.map(lambda f, n: jnp.where(task_done, f, n), state_first, state_next)
        final = jnp.where(task_done, self._observe(obs_st, action, reward, trial_done, zero), obs)
        truncated = jnp.zeros((), bool)
        info = {
            **info,
            "terminated": task_done,
            "truncated": truncated,
            "final_observation": final,
        }
        return obs, state, reward, task_done, truncated, info

    def observation_space(self, params: Any = None) -> spaces.Box:
        return real_box(self.layout_size)

    @property
    def layout_size(self) -> int:
        """Length of the observation: inner obs plus the enabled extras."""
        return max(s.stop for s in self.obs_layout.values())


# --------------------------------------------------------------------------------- Normalize


@dataclasses.dataclass(frozen=True, eq=False)
class NormalizationStats:
    """Normalisation statistics of one base env (see ``docs/tasks.md``, "Normalization").

    Attributes:
        obs_mean: float32 ``[obs_size]``, mean of each observation coordinate.
        obs_std: float32 ``[obs_size]``, its standard deviation (> 0; 1 for constant ones).
        reward_scale: positive float; rewards are multiplied by it.
    """

    obs_mean: np.ndarray
    obs_std: np.ndarray
    reward_scale: float

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NormalizationStats:
        """Build from a mapping with keys ``obs_mean``, ``obs_std``, ``reward_scale``."""
        stats = cls(
            obs_mean=np.asarray(data["obs_mean"], np.float32),
            obs_std=np.asarray(data["obs_std"], np.float32),
            reward_scale=float(data["reward_scale"]),
        )
        if stats.obs_mean.ndim != 1 or stats.obs_mean.shape != stats.obs_std.shape:
            raise ValueError(
                "NormalizationStats: obs_mean and obs_std must be 1-D of the same length; got "
                f"{stats.obs_mean.shape} and {stats.obs_std.shape}."
            )
        if not (np.all(np.isfinite(stats.obs_mean)) and np.all(stats.obs_std > 0)):
            raise ValueError("NormalizationStats: obs_mean must be finite and obs_std > 0.")
        if not (np.isfinite(stats.reward_scale) and stats.reward_scale > 0):
            raise ValueError(
                f"NormalizationStats: reward_scale must be > 0, got {stats.reward_scale}."
            )
        return stats


@functools.cache
def _shipped_stats() -> dict[str, Any]:
    path = resources.files("projected_envs") / "data" / "normalization.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text())["envs"]


def normalization_stats(env_id: str) -> NormalizationStats:
    """The shipped normalisation statistics of a registered env id (``"suite/name"``).

    Raises:
        KeyError: if none are shipped for ``env_id``; the message names the script that
            computes them and the ``stats=`` argument of :class:`Normalize`.
    """
    shipped = _shipped_stats()
    if env_id not in shipped:
        raise KeyError(
            f"No shipped normalization stats for env {env_id!r} "
            f"({len(shipped)} envs have them). Compute them with "
            f"`python {_NORMALIZATION_SCRIPT} {env_id}` or pass Normalize(env, stats=...)."
        )
    return NormalizationStats.from_dict(shipped[env_id])


def _env_id(env: Environment) -> str | None:
    """The registry id of the base env: its ``env_id`` attribute, else an id-like ``name``."""
    base = env.unwrapped if isinstance(env, Wrapper) else env
    for candidate in (getattr(base, "env_id", None), base.name):
        if isinstance(candidate, str) and "/" in candidate:
            return candidate
    return None


class Normalize(Wrapper):
    """Standardise observations and scale rewards with per-base-env statistics.

    ``obs' = clip((obs - obs_mean) / obs_std, -obs_clip, obs_clip)`` and
    ``reward' = reward_scale * reward``; ``info["raw_reward"]`` keeps the unscaled reward.
    Apply it directly around the base env, under the projections, so that every base env
    enters the projection with O(1) coordinates. The statistics come from
    ``projected_envs/data/normalization.json`` (random-policy rollouts, computed by
    ``scripts/compute_normalization.py``; method in ``docs/tasks.md``) unless given.
    Params and state are the inner env's, unchanged.

    Args:
        env: a base env from ``make()`` (possibly under non-observation wrappers).
        stats: statistics to use instead of the shipped ones: :class:`NormalizationStats` or a
            mapping with ``obs_mean``, ``obs_std``, ``reward_scale``.
        env_id: registry id whose shipped stats to use; default: the id ``make()`` gave
            the base env.
        obs_clip: bound on the standardised observation (in standard deviations); ``None``
            disables clipping.
        reward_scale: multiply rewards by this instead of the stats' per-step
            ``reward_scale``; shipped benchmarks pass their gamma-aware return scale
            (``TaskSet.reward_scales``, docs/tasks.md "Reward scale").

    Raises:
        KeyError: no stats shipped for the env (names the script and ``stats=``).
        ValueError: stats of the wrong size, the env id unknown, or ``env`` already projected
            or normalised.
    """

    def __init__(
        self,
        env: Environment,
        stats: NormalizationStats | Mapping[str, Any] | None = None,
        env_id: str | None = None,
        obs_clip: float | None = 10.0,
        reward_scale: float | None = None,
    ):
        super().__init__(env)
        layer = env
        while isinstance(layer, Wrapper):
            if isinstance(layer, ProjectObservation | MetaEpisode | Normalize):
                raise ValueError(
                    f"Normalize must wrap the base env directly (under the projections); "
                    f"it was given {env.name}. Use ProjectObservation(Normalize(base_env), ...)."
                )
            layer = layer.env
        own_id = _env_id(env)
        if stats is None and env_id is not None and own_id is not None and env_id != own_id:
            raise ValueError(
                f"Normalize: env_id={env_id!r} names another env than the one wrapped "
                f"({own_id!r}); its statistics would standardise with the wrong mean and std. "
                "Leave env_id out (the base env's own id is used) or pass stats= explicitly."
            )
        if stats is None:
            env_id = env_id if env_id is not None else own_id
            if env_id is None:
                raise ValueError(
                    f"Normalize: cannot tell which registered env {env.name} is. Pass "
                    "env_id='suite/name' or stats=NormalizationStats(...)."
                )
            stats = normalization_stats(env_id)
        elif not isinstance(stats, NormalizationStats):
            stats = NormalizationStats.from_dict(stats)
        if stats.obs_mean.shape != (env.obs_size,):
            raise ValueError(
                f"Normalize: stats are for observations of shape {stats.obs_mean.shape}, the env "
                f"{env.name} has ({env.obs_size},). Use the stats of this env "
                f"(python {_NORMALIZATION_SCRIPT} <env id>)."
            )
        if obs_clip is not None and not obs_clip > 0:
            raise ValueError(f"Normalize: obs_clip must be > 0 or None, got {obs_clip}.")
        if reward_scale is not None:
            if not (np.isfinite(reward_scale) and reward_scale > 0):
                raise ValueError(f"Normalize: reward_scale must be > 0, got {reward_scale}.")
            stats = dataclasses.replace(stats, reward_scale=float(reward_scale))
        self.env_id = env_id
        self.stats = stats
        self.obs_clip = obs_clip

    def _normalize(self, obs: jax.Array) -> jax.Array:
        obs = (obs - jnp.asarray(self.stats.obs_mean)) / jnp.asarray(self.stats.obs_std)
        if self.obs_clip is not None:
            obs = jnp.clip(obs, -self.obs_clip, self.obs_clip)
        return obs.astype(jnp.float32)

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, Any]:
        obs, state = self.env.reset(key, self.check_params(params))
        return self._normalize(obs), state

    def transition(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> StepResult:
        check_state(state, self.name)
        obs, state, reward, terminated, truncated, info = self.env.transition(
            key, state, action, self.check_params(params)
        )
        scaled = (reward * jnp.float32(self.stats.reward_scale)).astype(jnp.float32)
        info = {**info, "raw_reward": reward}
        return self._normalize(obs), state, scaled, terminated, truncated, info


# ------------------------------------------------------------------------------- FiniteGuard


class FiniteGuard(Wrapper):
    """End the episode on a non-finite observation or reward, so none reaches the agent.

    Where the wrapped env's ``transition`` returns an observation or reward with a NaN or
    +-inf entry (a simulator that blew up), this step instead returns the observation with
    those entries set to 0, reward 0, ``terminated=True`` (``truncated=False``) and
    ``info["nonfinite"] = True`` (bool ``[]``, False on every other step). ``step`` then draws
    a fresh initial state by the usual auto-reset, and :class:`MetaEpisode` starts the next
    trial, so a broken physics state is never stepped again. Reset observations are made
    finite the same way. Put it directly around the base env (under :class:`Normalize`, whose
    clip lets NaN through); :class:`projected_envs.TaskSet` stacks do. Params and state are the
    inner env's, unchanged. Cost: one ``isfinite`` over the observation per step.
    """

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, Any]:
        obs, state = self.env.reset(key, self.check_params(params))
        return jnp.where(jnp.isfinite(obs), obs, 0.0), state

    def transition(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> StepResult:
        check_state(state, self.name)
        obs, state, reward, terminated, truncated, info = self.env.transition(
            key, state, action, self.check_params(params)
        )
        finite_obs = jnp.isfinite(obs)
        bad = jnp.logical_not(jnp.logical_and(jnp.all(finite_obs), jnp.isfinite(reward)))
        obs = jnp.where(finite_obs, obs, 0.0)
        reward = jnp.where(bad, jnp.zeros_like(reward), reward)
        terminated = jnp.logical_or(terminated, bad)
        truncated = jnp.logical_and(truncated, jnp.logical_not(terminated))
        return obs, state, reward, terminated, truncated, {**info, "nonfinite": bad}


# ----------------------------------------------------------------------------- LegacyStepAPI


class LegacyStepAPI(Wrapper):
    """gymnax < 1.0 step signature for code such as purejaxrl / popjaxrl.

    ``step(key, state, action, params=None) -> (obs, state, reward, done, info)`` with
    ``done = terminated | truncated`` and ``info["terminated"]``, ``info["truncated"]``,
    ``info["discount"]`` (float32, ``1 - terminated``) added to the wrapped env's info
    (which keeps ``"final_observation"``). Auto-reset is the wrapped env's ``step``.
    ``reset``, ``transition``, ``sample_task``, params and state are unchanged; keep this
    wrapper outermost.

    ``params=None`` (what such loops pass) is refused by stacks that sample tasks
    (:attr:`projected_envs.core.Environment.samples_task`): give each env its own task from
    ``env.sample_task(key)`` and draw a new one where ``done`` (a task end, under
    :class:`MetaEpisode`). ``docs/tasks.md`` ("Legacy 5-tuple API") has a tested recipe.
    """

    def step(  # type: ignore[override]
        self, key: jax.Array, state: Any, action: jax.Array, params: Any = None
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict[str, Any]]:
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "discount": 1.0 - jnp.asarray(terminated, jnp.float32),
        }
        return obs, state, reward, jnp.logical_or(terminated, truncated), info

    @property
    def num_actions(self) -> int:
        """Size of the action vector (gymnax < 1.0 name)."""
        return self.action_size
