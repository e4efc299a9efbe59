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

Goal envs (:data:`TASK_GOALS`: Reacher-misc, PointRobot-misc, Swimmer-misc) draw a goal at
every ``reset_env`` in gymnax. Here the goal is part of the task (:class:`GoalGymnaxEnv`):
``sample_task(key)`` draws it with gymnax's own distribution into :class:`GoalParams`, and
``reset`` redraws only the initial state, so every trial of a task chases the same goal.
``make_gymnax(name, goal_sampling="episode")`` keeps gymnax's per-reset goals (for
single-episode use).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
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


# ------------------------------------------------------------------------------ goal envs
GoalSampling = Literal["task", "episode"]
GOAL_SAMPLING: tuple[str, ...] = ("task", "episode")


class GoalSpec(NamedTuple):
    """Where a gymnax env keeps its goal and how gymnax draws it at reset."""

    field: str  # name of the goal field of the gymnax EnvState
    sample: Callable[[jax.Array, Any], jax.Array]  # (key, gymnax params) -> float32 [2]
    what: str  # prose for docs and messages
    # other state fields that define the reward and are drawn at reset: (key) -> {field: array}
    others: Callable[[jax.Array], dict[str, jax.Array]] | None = None


def _reacher_goal(env: Any) -> Callable[[jax.Array, Any], jax.Array]:
    def sample(key: jax.Array, params: Any) -> jax.Array:
        del params  # gymnax: uniform in [-num_joints, num_joints]^2 (some are out of reach)
        n = env.num_joints
        return jax.random.uniform(key, (2,), jnp.float32, -n, n)

    return sample


#: gymnax's arc of PointRobot-misc goals: angles (radians) of the upper semicircle.
POINT_ROBOT_GOAL_ANGLES: tuple[float, float] = (0.0, float(np.pi))


def _point_robot_goal(
    angles: tuple[float, float] = POINT_ROBOT_GOAL_ANGLES,
) -> Callable[[jax.Array, Any], jax.Array]:
    def sample(key: jax.Array, params: Any) -> jax.Array:
        # gymnax (Dorfman et al. 2021): uniform angle on an arc of the circle of circle_radius
        angle = jax.random.uniform(key, (), jnp.float32, angles[0], angles[1])
        return params.circle_radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)])

    return sample


def _swimmer_goal(key: jax.Array, params: Any) -> jax.Array:
    del params  # gymnax: uniform in [-1, 1]^2
    return jax.random.uniform(key, (2,), jnp.float32, -1.0, 1.0)


TASK_GOALS: dict[str, Callable[[Any], GoalSpec]] = {
    "Reacher-misc": lambda env: GoalSpec(
        "goal_xy", _reacher_goal(env), "goal position, uniform in [-joints, joints]^2 (observed)"
    ),
    "PointRobot-misc": lambda env: GoalSpec(
        "goal", _point_robot_goal(), "goal on the upper semicircle, uniform angle (not observed)"
    ),
    "Swimmer-misc": lambda env: GoalSpec(
        "goal_xy",
        _swimmer_goal,
        "goal position, uniform in [-1, 1]^2, and urchin positions (observed)",
        lambda key: {
            "urchin_xys": jax.random.uniform(key, (env.num_urchins, 2), jnp.float32, -1.0, 1.0)
        },
    ),
}
"""gymnax envs that draw a goal at reset: name -> its :class:`GoalSpec` (given the env)."""


@struct.dataclass
class GoalParams:
    """Task of a :class:`GoalGymnaxEnv`: the gymnax params plus the goal held for the task.

    Attribute reads that are not ``env`` or ``goal`` fall through to the gymnax params, so
    ``params.max_steps_in_episode`` works as for plain gymnax envs.
    """

    env: Any  # the gymnax EnvParams (time limit, physical constants)
    goal: jax.Array  # float32 [2]: the goal, drawn by sample_task
    others: dict[str, jax.Array]  # other reward-defining state fields (Swimmer's urchins)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("env", "goal", "others"):
            raise AttributeError(name)
        return getattr(self.env, name)


class GoalGymnaxEnv(GymnaxEnv):
    """A gymnax goal env whose goal is part of the task, not of the episode.

    ``sample_task(key)`` draws the goal with gymnax's own distribution (:data:`TASK_GOALS`);
    ``reset(key, params)`` draws the initial state from ``key`` as gymnax does and replaces
    gymnax's per-reset goal by ``params.goal``; ``transition`` is gymnax's ``step_env``, which
    never changes the goal. ``default_params`` holds the goal drawn from ``jax.random.key(0)``.
    Because the task is sampled, ``samples_task`` is True: pass ``sample_task(key)`` (or
    ``default_params`` for that fixed goal) to ``reset`` and ``step``.

    Args:
        env: the gymnax env (one of :data:`TASK_GOALS`).
        params: its gymnax params.
        name: the id shown in messages.
        goal_spec: the goal's law, if not gymnax's (:data:`TASK_GOALS`).
    """

    def __init__(
        self,
        env: gymnax_environment.Environment,
        params: Any = None,
        name=None,
        goal_spec: GoalSpec | None = None,
    ):
        super().__init__(env, params, name)
        self.goal_spec = TASK_GOALS[env.name](env) if goal_spec is None else goal_spec
        gymnax_params = self._params
        self._params = jax.device_get(self._draw(jax.random.key(0), gymnax_params))

    @property
    def samples_task(self) -> bool:
        """True: the goal is drawn per task by :meth:`sample_task`."""
        return True

    def _draw(self, key: jax.Array, gymnax_params: Any) -> GoalParams:
        key_goal, key_others = jax.random.split(key)
        goal = self.goal_spec.sample(key_goal, gymnax_params).astype(jnp.float32)
        others = {} if self.goal_spec.others is None else self.goal_spec.others(key_others)
        return GoalParams(env=gymnax_params, goal=goal, others=others)

    def sample_task(self, key: jax.Array) -> GoalParams:
        """The gymnax params with a goal drawn from gymnax's goal distribution."""
        return self._draw(key, self._params.env)

    def _gymnax_params(self, params: Any) -> Any:
        if params is None:
            self.check_params(params)  # raises: the goal is part of the task
        if not isinstance(params, GoalParams):
            raise ValueError(
                f"{self._name}: params must be GoalParams (the goal is part of the task); got "
                f"{type(params).__name__}. Pass env.sample_task(key) or env.default_params, or "
                f'build the env with goal_sampling="episode" for gymnax\'s per-reset goals.'
            )
        return params.env

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, Any]:
        """Fresh initial state from ``key``; the goal is ``params.goal``."""
        gymnax_params = self._gymnax_params(params)
        _, state = self._env.reset_env(key, gymnax_params)
        held = {self.goal_spec.field: params.goal, **params.others}
        state = state.replace(
            **{k: jnp.asarray(v, getattr(state, k).dtype) for k, v in held.items()}
        )
        return self._flat(self._env.get_obs(state, gymnax_params)), strong(state)

    def transition(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> StepResult:
        return super().transition(key, state, action, self._gymnax_params(params))

    def env_action_box(self, params: Any = None) -> tuple[jax.Array, jax.Array]:
        params = self._params if params is None else params
        return super().env_action_box(params.env if isinstance(params, GoalParams) else params)


class StayingPointRobot(GoalGymnaxEnv):
    """PointRobot-misc without gymnax's teleport: the robot stays where it is at the goal.

    gymnax moves the robot to a fresh start position at every step it is within
    ``goal_radius`` of the goal, so a trial can reach the goal several times and the goal is
    worth finding again within the same trial. In the sparse semicircle task as introduced for
    meta-RL (Rakelly et al., 2019, PEARL; Zintgraf et al., 2020, VariBAD) the robot stays:
    once found, the goal pays at every step spent in it, and a later trial can go straight
    there. ``make_gymnax("PointRobot-misc", teleport=False)`` builds this env; everything
    else (reward, observation, goal law, start law) is gymnax's.

    ``observe_last_action=False`` shows gymnax's last-action entries of the observation
    (``obs[3:5]``, the robot's last displacement) as 0, so the observation keeps gymnax's
    layout and normalisation statistics. With them, a memoryless policy can keep moving the
    way it last moved under any action projection (docs/concepts/point_nav.md).
    """

    def __init__(self, *args: Any, observe_last_action: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.observe_last_action = bool(observe_last_action)

    def _shown(self, obs: jax.Array) -> jax.Array:
        return obs if self.observe_last_action else obs.at[3:5].set(0.0)

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, Any]:
        """Fresh initial state from ``key``; the goal is ``params.goal``."""
        obs, state = super().reset(key, params)
        return self._shown(obs), state

    def transition(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> StepResult:
        _, new_state, reward, terminated, truncated, info = super().transition(
            key, state, action, params
        )
        # gymnax's own displacement (clipped to max_force), never the teleport; the reward,
        # time and truncation do not depend on where the robot ends up
        gymnax_params = self._gymnax_params(params)
        action = check_action(action, self._action_size, self._name)
        env_action = self._to_env_action(action, params)
        force = gymnax_params.max_force
        new_state = new_state.replace(pos=state.pos + jnp.clip(env_action, -force, force))
        obs = self._shown(self._flat(self._env.get_obs(new_state, gymnax_params)))
        return obs, new_state, reward, terminated, truncated, info


def make_gymnax(
    env_name: str,
    goal_sampling: GoalSampling = "task",
    teleport: bool = True,
    goal_angles: tuple[float, float] | None = None,
    observe_last_action: bool = True,
    **param_overrides: Any,
) -> GymnaxEnv:
    """Build ``gymnax/<env_name>``; keyword arguments override fields of its ``EnvParams``.

    Example: ``make_gymnax("Pendulum-v1", max_steps_in_episode=50, max_torque=1.0)``.

    Args:
        env_name: gymnax's name of the env.
        goal_sampling: for the goal envs of :data:`TASK_GOALS`: ``"task"`` (default) draws
            the goal in ``sample_task`` and holds it across resets (:class:`GoalGymnaxEnv`);
            ``"episode"`` keeps gymnax's goal drawn at every reset. Ignored by other envs.
        teleport: PointRobot-misc only. ``True`` (gymnax's behaviour) moves the robot to a
            fresh start position whenever it reaches the goal; ``False`` lets it stay there
            (:class:`StayingPointRobot`, the original semicircle task). Needs
            ``goal_sampling="task"``.
        goal_angles: PointRobot-misc only: ``(low, high)`` in radians, the arc of the circle
            its task goals are drawn on (uniform angle). Default: gymnax's upper semicircle
            ``(0, pi)``; ``(pi, 2 pi)`` is the lower one (a held-out goal region). Needs
            ``goal_sampling="task"``.
        observe_last_action: PointRobot-misc with ``teleport=False`` only: ``False`` shows
            the last displacement in the observation as 0 (:class:`StayingPointRobot`).
        **param_overrides: fields of the gymnax ``EnvParams``.

    Raises:
        ValueError: for a name gymnax does not know, a params field it does not have, an
            unknown ``goal_sampling``, or ``teleport=False`` or ``goal_angles`` for another
            env or with per-episode goals, or ``goal_angles`` that are not an arc.
    """
    if goal_sampling not in GOAL_SAMPLING:
        raise ValueError(
            f"gymnax/{env_name}: goal_sampling must be one of {GOAL_SAMPLING}, "
            f"got {goal_sampling!r}."
        )
    env, params = gymnax.make(env_name)
    fields = set(params.__dataclass_fields__)
    unknown = sorted(set(param_overrides) - fields)
    if unknown:
        raise ValueError(
            f"gymnax/{env_name}: unknown keyword(s) {unknown}; the params fields are "
            f"{sorted(fields)} (and goal_sampling)."
        )
    point_robot_task = env_name == "PointRobot-misc" and goal_sampling == "task"
    given = {"teleport=False": not teleport, "goal_angles": goal_angles is not None}
    for option in (name for name, on in given.items() if on and not point_robot_task):
        raise ValueError(
            f"gymnax/{env_name}: {option} is an option of PointRobot-misc with "
            f'goal_sampling="task" only (got goal_sampling={goal_sampling!r}); drop it.'
        )
    if not observe_last_action and teleport:
        raise ValueError(
            f"gymnax/{env_name}: observe_last_action=False is an option of PointRobot-misc "
            "with teleport=False only; add teleport=False or drop it."
        )
    goal_spec = None
    if goal_angles is not None:
        low, high = (float(a) for a in goal_angles)
        if not (np.isfinite(low) and np.isfinite(high) and low < high <= low + 2 * np.pi):
            raise ValueError(
                f"gymnax/{env_name}: goal_angles must be (low, high) radians with low < high "
                f"<= low + 2 pi, e.g. (0, pi) for the upper semicircle; got {goal_angles!r}."
            )
        where = f"angle uniform in [{low:.4g}, {high:.4g}] rad"
        goal_spec = GoalSpec("goal", _point_robot_goal((low, high)), f"goal on the circle, {where}")
    params = params.replace(**param_overrides)
    if not teleport:
        return StayingPointRobot(
            env,
            params,
            name=f"gymnax/{env_name}",
            goal_spec=goal_spec,
            observe_last_action=observe_last_action,
        )
    if env_name in TASK_GOALS and goal_sampling == "task":
        return GoalGymnaxEnv(env, params, name=f"gymnax/{env_name}", goal_spec=goal_spec)
    return GymnaxEnv(env, params, name=f"gymnax/{env_name}")
