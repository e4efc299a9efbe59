"""The environment protocol every env and wrapper in this package follows.

Every env here is a gymnax 1.x :class:`gymnax.environments.environment.Environment`
with three additions that make tasks explicit and wrappers composable:

* ``transition(key, state, action, params)`` is one step **without** auto-reset and
  returns the gymnax 1.x six-tuple ``(obs, state, reward, terminated, truncated, info)``.
  Wrappers compose ``transition`` (and ``reset``) of the env they wrap.
* ``step`` is ``transition`` followed by an auto-reset that draws a **fresh** initial state
  from its own key (never a cached first state); the observation of the finished episode is
  kept in ``info["final_observation"]``.
* ``sample_task(key) -> params`` returns the pytree that fixes the whole MDP. Base envs
  return their default params; each wrapper adds its own sampled part. ``reset`` and
  ``step`` never sample a task.

Flag semantics: ``terminated`` is a real end of the MDP (a fall, a goal), ``truncated`` a
time limit; at most one of them is True on a step.

Nothing here is jitted: jit once at the top of your program.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp
from gymnax.environments import environment as gymnax_environment
from gymnax.environments import spaces

TEnvState = TypeVar("TEnvState")
TEnvParams = TypeVar("TEnvParams")

# (obs, state, reward, terminated, truncated, info)
StepResult = tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]


class Environment(gymnax_environment.Environment, Generic[TEnvState, TEnvParams]):
    """Base class of every env and wrapper in ``projected_envs`` (see module docstring)."""

    # ----------------------------------------------------------------- to implement
    def reset(self, key: jax.Array, params: TEnvParams | None = None) -> tuple[jax.Array, TEnvState]:
        """Start an episode of the task ``params``; returns ``(obs, state)``."""
        raise NotImplementedError

    def transition(
        self, key: jax.Array, state: TEnvState, action: jax.Array, params: TEnvParams
    ) -> StepResult:
        """One step without auto-reset: ``(obs, state, reward, terminated, truncated, info)``."""
        raise NotImplementedError

    def sample_task(self, key: jax.Array) -> TEnvParams:
        """Sample a task: the params pytree that fixes the whole MDP. Base envs: default params."""
        del key
        return self.default_params

    # ----------------------------------------------------------------- provided
    def step(
        self,
        key: jax.Array,
        state: TEnvState,
        action: jax.Array,
        params: TEnvParams | None = None,
    ) -> StepResult:
        """``transition`` then, where the episode ended, a fresh reset from ``key``.

        ``info["final_observation"]`` holds the observation that ended the episode (equal to
        ``obs`` on steps that did not end one).
        """
        if params is None:
            params = self.default_params
        key_step, key_reset = jax.random.split(key)
        obs_st, state_st, reward, terminated, truncated, info = self.transition(
            key_step, state, action, params
        )
        done = jnp.logical_or(terminated, truncated)
        obs_re, state_re = self.reset(key_reset, params)
        state = jax.tree.map(lambda r, s: jnp.where(done, r, s), state_re, state_st)
        obs = jnp.where(done, obs_re, obs_st)
        info = {**info, "final_observation": obs_st}
        return obs, state, reward, terminated, truncated, info

    def reset_env(self, key: jax.Array, params: TEnvParams) -> tuple[jax.Array, TEnvState]:
        """gymnax hook, kept for code that calls it directly: same as :meth:`reset`."""
        return self.reset(key, params)

    def step_env(self, key: jax.Array, state: TEnvState, action: jax.Array, params: TEnvParams):
        """gymnax < 1.0 style hook: ``(obs, state, reward, done, info)`` without auto-reset."""
        obs, state, reward, terminated, truncated, info = self.transition(key, state, action, params)
        info = {**info, "terminated": terminated, "truncated": truncated}
        return obs, state, reward, jnp.logical_or(terminated, truncated), info

    @property
    def obs_size(self) -> int:
        """Length of the (flat) observation vector."""
        return int(self.observation_space(self.default_params).shape[0])

    @property
    def action_size(self) -> int:
        """Length of the action vector; actions live in ``[-1, 1]``."""
        return int(self.action_space(self.default_params).shape[0])


def check_action(action: jax.Array, action_size: int, where: str) -> jax.Array:
    """Validate an action's shape at trace time and cast it to float32.

    Raises:
        ValueError: naming the expected shape ``(action_size,)``; batch with ``jax.vmap``.
    """
    action = jnp.asarray(action)
    if action.shape != (action_size,):
        raise ValueError(
            f"{where}: action has shape {action.shape}, expected ({action_size},). "
            "Pass one action vector per env; use jax.vmap for a batch of envs."
        )
    return action.astype(jnp.float32)


def unit_box(size: int) -> spaces.Box:
    """The ``[-1, 1]^size`` float32 action box shared by every env."""
    return spaces.Box(low=-1.0, high=1.0, shape=(size,), dtype=jnp.float32)


def real_box(size: int) -> spaces.Box:
    """An unbounded float32 observation box."""
    return spaces.Box(low=-jnp.inf, high=jnp.inf, shape=(size,), dtype=jnp.float32)


class Wrapper(Environment):
    """Base wrapper: forwards everything to ``self.env``; subclasses override one job.

    A wrapper that samples its own part of a task stores it next to the inner params
    (``params.inner``) in a ``flax.struct`` dataclass of its own.
    """

    def __init__(self, env: Environment):
        if not isinstance(env, Environment):
            raise TypeError(
                f"{type(self).__name__} wraps projected_envs environments; got {type(env).__name__}. "
                "Build envs with projected_envs.make(...)."
            )
        self.env = env

    @property
    def unwrapped(self) -> Environment:
        """The base env under all wrappers."""
        env = self.env
        while isinstance(env, Wrapper):
            env = env.env
        return env

    @property
    def default_params(self):
        return self.env.default_params

    def sample_task(self, key: jax.Array):
        return self.env.sample_task(key)

    def reset(self, key, params=None):
        return self.env.reset(key, self.default_params if params is None else params)

    def transition(self, key, state, action, params):
        return self.env.transition(key, state, action, params)

    def observation_space(self, params):
        return self.env.observation_space(params)

    def action_space(self, params):
        return self.env.action_space(params)

    @property
    def name(self) -> str:
        return f"{type(self).__name__}<{self.env.name}>"
