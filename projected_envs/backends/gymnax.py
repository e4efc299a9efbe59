"""Continuous-action gymnax envs through the common API (see :mod:`projected_envs.core`).

:class:`GymnaxEnv` wraps any gymnax environment whose action space is a ``Box``:

* observations are flattened to 1-D float32;
* actions live in ``[-1, 1]``: they are clipped to that box, then mapped affinely onto the
  base env's own action box (Pendulum-v1: ``[-2, 2]`` N m of torque; PointRobot-misc:
  ``[-0.1, 0.1]`` of displacement per step; the other built-ins already use ``[-1, 1]``);
* ``terminated`` is the env's own natural end (MountainCarContinuous: goal reached),
  ``truncated`` is gymnax's ``is_truncated`` (``state.time >= params.max_steps_in_episode``)
  and is False whenever ``terminated`` is True;
* params are the gymnax env's own ``EnvParams`` (a ``flax.struct`` dataclass), so
  ``params.max_steps_in_episode`` sets the time limit and every physical constant can be
  changed per task.
"""

from __future__ import annotations

from typing import Any

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import environment as gymnax_environment
from gymnax.environments import spaces

from projected_envs.core import Environment, StepResult, check_action, real_box, unit_box


def strong_like(new: Any, old: Any) -> Any:
    """Cast every leaf of ``new`` to the dtype of the matching leaf of ``old`` (strongly typed).

    Keeps an env's state pytree type-stable across ``reset`` and ``transition`` (Python
    scalars and weakly typed leaves would otherwise change the avals of a ``lax.scan`` carry).
    PRNG-key leaves are passed through unchanged.
    """

    def cast(n, o):
        dtype = jnp.asarray(o).dtype if not hasattr(o, "dtype") else o.dtype
        if jax.dtypes.issubdtype(dtype, jax.dtypes.extended):
            return n
        return jnp.asarray(n, dtype=dtype)

    return jax.tree.map(cast, new, old)


def strong(tree: Any) -> Any:
    """``tree`` with every leaf a strongly typed array of its canonical dtype."""

    def cast(x):
        dtype = jnp.asarray(x).dtype
        if jax.dtypes.issubdtype(dtype, jax.dtypes.extended):
            return x
        return jnp.asarray(x, dtype=dtype)

    return jax.tree.map(cast, tree)


class GymnaxEnv(Environment):
    """A continuous-action gymnax env behind the ``projected_envs`` API.

    Args:
        env: a gymnax environment instance with a ``Box`` action space.
        params: its params (defaults to ``env.default_params``); the task of this env.
        name: the id shown in messages, e.g. ``"gymnax/Pendulum-v1"``.

    Raises:
        ValueError: if the action space is not a ``Box`` (discrete envs are not supported).
    """

    def __init__(
        self,
        env: gymnax_environment.Environment,
        params: Any = None,
        name: str | None = None,
    ):
        self._env = env
        self._params = env.default_params if params is None else params
        self._name = name or f"gymnax/{env.name}"
        space = env.action_space(self._params)
        if not isinstance(space, spaces.Box):
            raise ValueError(
                f"{self._name}: action space is {type(space).__name__}; projected_envs needs "
                "continuous Box actions (discrete-action envs are not supported)."
            )
        self._action_size = int(np.prod(space.shape))
        key = jax.random.key(0)
        obs = jax.eval_shape(env.reset_env, key, self._params)[0]
        self._obs_size = int(np.prod(obs.shape))

    # ------------------------------------------------------------------ API
    @property
    def default_params(self) -> Any:
        """The gymnax ``EnvParams`` of this env (``max_steps_in_episode`` = time limit)."""
        return self._params

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, Any]:
        """Fresh episode: ``obs [obs_size] float32`` and the gymnax env state."""
        params = self._params if params is None else params
        obs, state = self._env.reset_env(key, params)
        return self._flat(obs), strong(state)

    def transition(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> StepResult:
        """One step without auto-reset; ``action [action_size]`` in ``[-1, 1]`` (clipped)."""
        action = check_action(action, self._action_size, self._name)
        env_action = self._to_env_action(action, params)
        obs, new_state, reward, done, info = self._env.step_env(key, state, env_action, params)
        new_state = strong_like(new_state, state)
        terminated = jnp.asarray(done, dtype=bool).reshape(())
        truncated = jnp.logical_and(
            jnp.asarray(self._env.is_truncated(new_state, params), dtype=bool).reshape(()),
            jnp.logical_not(terminated),
        )
        reward = jnp.asarray(reward, dtype=jnp.float32).reshape(())
        info = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in info.items()}
        return self._flat(obs), new_state, reward, terminated, truncated, info

    def observation_space(self, params: Any = None) -> spaces.Box:
        """Unbounded float32 box of shape ``(obs_size,)``."""
        return real_box(self._obs_size)

    def action_space(self, params: Any = None) -> spaces.Box:
        """``[-1, 1]^action_size`` (see :meth:`env_action_box` for the base env's box)."""
        return unit_box(self._action_size)

    def env_action_box(self, params: Any = None) -> tuple[jax.Array, jax.Array]:
        """``(low, high)`` of the base env's own action box that ``[-1, 1]`` maps onto."""
        params = self._params if params is None else params
        space = self._env.action_space(params)
        shape = (self._action_size,)
        low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), shape)
        high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), shape)
        return low, high

    @property
    def name(self) -> str:
        return self._name

    @property
    def num_actions(self) -> int:
        return self._action_size

    @property
    def gymnax_env(self) -> gymnax_environment.Environment:
        """The wrapped gymnax env."""
        return self._env

    # ------------------------------------------------------------------ helpers
    def _to_env_action(self, action: jax.Array, params: Any) -> jax.Array:
        action = jnp.clip(action, -1.0, 1.0)
        low, high = self.env_action_box(params)
        center, half = 0.5 * (high + low), 0.5 * (high - low)
        return center + half * action

    @staticmethod
    def _flat(obs: jax.Array) -> jax.Array:
        return jnp.ravel(jnp.asarray(obs, dtype=jnp.float32))


def make_gymnax(env_name: str, **param_overrides: Any) -> GymnaxEnv:
    """Build ``gymnax/<env_name>``; keyword arguments override fields of its ``EnvParams``.

    Example: ``make_gymnax("Pendulum-v1", max_steps_in_episode=50, max_torque=1.0)``.

    Raises:
        ValueError: for a name gymnax does not know or a params field it does not have.
    """
    env, params = gymnax.make(env_name)
    fields = set(params.__dataclass_fields__)
    unknown = sorted(set(param_overrides) - fields)
    if unknown:
        raise ValueError(
            f"gymnax/{env_name}: unknown keyword(s) {unknown}; the params fields are "
            f"{sorted(fields)}."
        )
    params = params.replace(**param_overrides)
    return GymnaxEnv(env, params, name=f"gymnax/{env_name}")
