"""``MetaEpisode``: K trials (inner episodes) of one task as one outer episode.

The trial bookkeeping (trial index, per-trial returns) lives in :class:`MetaEpisodeState`; the
observation appends the enabled extras of :data:`META_EPISODE_EXTRAS`. A task ends (outer
``terminated``) when its ``num_trials``-th trial ends; the agent's memory is reset there only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
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
)
from projected_envs.wrappers._checks import positive_int as _positive_int

__all__ = ["META_EPISODE_EXTRAS", "MetaEpisode", "MetaEpisodeState"]


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
    def max_steps_in_episode(self) -> int | None:
        """Upper bound on the steps of one outer episode, i.e. of one whole task:
        ``num_trials`` times the base env's time limit (its default params'
        ``max_steps_in_episode``, agent steps), or None if the base env has none.

        gymnax's name for an episode's length; from this wrapper upward an episode is a task.
        """
        limit = getattr(self.unwrapped.default_params, "max_steps_in_episode", None)
        return None if limit is None else self.num_trials * int(limit)

    @property
    def layout_size(self) -> int:
        """Length of the observation: inner obs plus the enabled extras."""
        return max(s.stop for s in self.obs_layout.values())
