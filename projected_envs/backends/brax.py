"""brax envs through the common API (see :mod:`projected_envs.core`).

brax's own wrappers are not used: ``EpisodeWrapper`` mixes the time limit into ``done`` and
``AutoResetWrapper`` restarts every episode from one cached first state. :class:`BraxEnv`
drives the raw brax env instead and keeps its own step counter in the episode state:

* ``terminated`` = brax's ``done`` (a fall of hopper / walker2d / ant / humanoid, the pole of
  inverted_(double_)pendulum dropping); ``truncated`` = ``time >= params.max_steps_in_episode``
  and not terminated; auto-reset (``step``) draws a fresh initial state from its key;
* actions live in ``[-1, 1]``: clipped, then mapped affinely onto the actuators' control range
  where it differs (humanoid, humanoidstandup: ``[-0.4, 0.4]``; pusher: ``[-2, 2]``;
  inverted_pendulum already rescales ``[-1, 1]`` to ``[-3, 3]`` itself);
* observations are float32 vectors, ``info`` holds brax's per-step ``metrics``;
* a quantity that defines the objective and that the original env redraws at every reset
  (brax/reacher's target; dmc goals, :mod:`projected_envs.backends.dmc`) is a
  :class:`TaskGoal`: with ``goal_sampling="task"`` (the default) ``sample_task`` draws it into
  :class:`GoalParams` and ``reset`` only redraws the initial state around it; with
  ``goal_sampling="episode"`` every reset draws it anew, as the original env does.

The same episode logic serves MuJoCo Playground envs (:mod:`projected_envs.backends.dmc`),
whose ``State`` has brax's fields (``obs``, ``reward``, ``done``, ``metrics``, ``info``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from projected_envs.backends.gymnax import strong, strong_like
from projected_envs.core import Environment, StepResult, check_action, real_box, unit_box

_LOG = logging.getLogger("projected_envs.backends")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence brax / Playground / MuJoCo import and model-compile chatter inside the block.

    Python warnings are dropped, ``absl`` logging is raised to ERROR, and MuJoCo's
    ``mju_warning`` messages (e.g. deprecated XML attributes of brax's and DM Control's models)
    go to the ``projected_envs.backends`` logger at DEBUG level.
    """
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        import mujoco

        previous = mujoco.get_mju_user_warning()
        mujoco.set_mju_user_warning(lambda msg: _LOG.debug("mujoco: %s", msg))
    except (ImportError, AttributeError):
        mujoco = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        absl_logger.setLevel(level)
        if mujoco is not None:
            mujoco.set_mju_user_warning(previous)


def _clip_compat(x, min=None, max=None, *, a_min=None, a_max=None):
    """``jnp.clip`` that also takes the ``a_min`` / ``a_max`` keywords JAX 0.10 removed."""
    return jnp.clip(x, min if a_min is None else a_min, max if a_max is None else a_max)


class _NumpyWithClipCompat(types.ModuleType):
    """``jax.numpy`` whose ``clip`` accepts ``a_min`` / ``a_max`` (for brax's fluid model)."""

    clip = staticmethod(_clip_compat)

    def __getattr__(self, name: str) -> Any:
        return getattr(jnp, name)


def _fix_brax_fluid() -> None:
    """Let brax's fluid model (swimmer) run on JAX >= 0.10.

    ``brax.fluid`` (brax <= 0.14) calls ``jp.clip(x, a_min=...)``, a keyword JAX 0.10 removed,
    so every non-MJX brax pipeline fails to trace swimmer. Only the module's ``jp`` alias is
    replaced, and only when ``jnp.clip`` rejects ``a_min``.
    """
    from brax import fluid

    if isinstance(fluid.jp, _NumpyWithClipCompat):
        return
    try:
        jnp.clip(jnp.zeros(()), a_min=0.0)
    except TypeError:
        fluid.jp = _NumpyWithClipCompat("jax.numpy")


#: Physics pipeline used when ``backend`` is not given (chosen by measurement on CPU: fastest
#: to compile and to step, no non-finite states; see docs/reference/environments.md).
DEFAULT_BACKEND = "spring"

#: Envs whose brax class supports only another pipeline (swimmer: "generalized" only).
_DEFAULT_BACKEND_FOR = {"swimmer": "generalized"}

#: brax envs that map ``[-1, 1]`` onto their control range themselves.
_RESCALES_ITSELF = frozenset({"inverted_pendulum"})


@struct.dataclass
class EpisodeParams:
    """Params (the task) of a brax or Playground env: only the time limit.

    Leaves may be arrays, so a batch of tasks with different limits can be vmapped.
    """

    max_steps_in_episode: int = 1000  # agent steps until truncated=True


@struct.dataclass
class GoalParams(EpisodeParams):
    """Params of an env whose task includes a goal (:class:`TaskGoal`): time limit and goal.

    Drawn by ``sample_task``; ``default_params`` holds the env's fixed default goal.
    """

    goal: Any = None  # float32, the TaskGoal's shape (e.g. [3] target position in m)


#: Values of the ``goal_sampling`` keyword of brax / dmc envs.
GOAL_SAMPLING = ("task", "episode")


@dataclasses.dataclass(frozen=True)
class TaskGoal:
    """A random quantity of an env's MDP that is not its initial state (goal, target, ...).

    The original env draws it at every reset; here it is drawn once per task by
    ``sample_task`` (into :class:`GoalParams`) and held for every episode of the task.

    Attributes:
        what: what the goal is, with shape and unit (shown in docs and messages).
        default: the fixed default goal of ``default_params``.
        sample: ``key -> goal``, the original env's law of the quantity.
        reset: ``(key, goal) -> raw State``: the original reset (same initial-state law,
            same use of ``key``) with the quantity set to ``goal``.
        read: ``raw State -> goal``: the quantity in an episode's state.
    """

    what: str
    default: np.ndarray
    sample: Callable[[jax.Array], jax.Array]
    reset: Callable[[jax.Array, jax.Array], Any]
    read: Callable[[Any], jax.Array]


def check_goal_sampling(goal_sampling: str, name: str) -> str:
    """Validate the ``goal_sampling`` keyword (``"task"`` or ``"episode"``)."""
    if goal_sampling not in GOAL_SAMPLING:
        raise ValueError(
            f"{name}: goal_sampling must be 'task' (goals drawn by sample_task, held for all "
            f"episodes of a task) or 'episode' (redrawn at every reset, as the original env); "
            f"got {goal_sampling!r}."
        )
    return goal_sampling


@struct.dataclass
class EpisodeState:
    """Episode state of a brax or Playground env."""

    inner: Any  # the backend's own State (brax.envs.State / mujoco_playground.State)
    time: jax.Array  # int32 [], agent steps taken in this episode


class BraxEnv(Environment):
    """A brax-``State``-API env (brax or MuJoCo Playground) behind the ``projected_envs`` API.

    Args:
        raw_env: env with ``reset(rng) -> State`` and ``step(State, action) -> State``
            (no episode or auto-reset wrappers).
        name: the id shown in messages, e.g. ``"brax/hopper"``.
        ctrl_range: ``[action_size, 2]`` control range that ``[-1, 1]`` maps onto, or None
            to pass (clipped) actions through unchanged.
        max_steps_in_episode: default time limit (agent steps), stored in the params.
        action_repeat: raw steps per agent step (rewards summed, like brax's
            ``EpisodeWrapper``); the time limit counts agent steps.
        goal: the env's task-level random quantity, or None if it has none.
        goal_sampling: ``"task"``: ``goal`` is drawn by ``sample_task`` and held for every
            episode of the task (params are :class:`GoalParams`); ``"episode"``: redrawn at
            every reset, as the original env does. Without ``goal`` it changes nothing.
    """

    def __init__(
        self,
        raw_env: Any,
        name: str,
        ctrl_range: np.ndarray | None = None,
        max_steps_in_episode: int = 1000,
        action_repeat: int = 1,
        goal: TaskGoal | None = None,
        goal_sampling: str = "task",
    ):
        check_goal_sampling(goal_sampling, name)
        for what, value in (
            ("max_steps_in_episode", max_steps_in_episode),
            ("action_repeat", action_repeat),
        ):  # a float would be truncated silently by int()
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name}: {what} must be a positive int, got {value!r}.")
        self._raw = raw_env
        self._name = name
        self._action_size = int(raw_env.action_size)
        self._action_repeat = int(action_repeat)
        self._goal = goal
        self._goal_sampling = goal_sampling
        if self.samples_task:
            self._params = GoalParams(
                max_steps_in_episode=int(max_steps_in_episode),
                goal=np.asarray(goal.default, np.float32),
            )
        else:
            self._params = EpisodeParams(max_steps_in_episode=int(max_steps_in_episode))
        if ctrl_range is None or np.allclose(ctrl_range, [-1.0, 1.0]):
            self._center = self._half = None
        else:
            ctrl_range = np.asarray(ctrl_range, np.float32).reshape(self._action_size, 2)
            self._center = 0.5 * (ctrl_range[:, 1] + ctrl_range[:, 0])
            self._half = 0.5 * (ctrl_range[:, 1] - ctrl_range[:, 0])

    # ------------------------------------------------------------------ API
    @property
    def default_params(self) -> EpisodeParams:
        """``EpisodeParams`` with the default time limit (``GoalParams`` with the default
        goal where :attr:`samples_task`)."""
        return self._params

    @property
    def samples_task(self) -> bool:
        """True where ``sample_task`` draws part of the MDP (a goal held for the task)."""
        return self._goal is not None and self._goal_sampling == "task"

    @property
    def task_goal(self) -> TaskGoal | None:
        """The env's task-level random quantity (None if it has none)."""
        return self._goal

    @property
    def goal_sampling(self) -> str:
        """``"task"`` or ``"episode"`` (see the class docstring)."""
        return self._goal_sampling

    def sample_task(self, key: jax.Array) -> EpisodeParams:
        """The default params, with a goal drawn from ``key`` where :attr:`samples_task`."""
        if not self.samples_task:
            return self._params
        return self._params.replace(goal=jnp.asarray(self._goal.sample(key), jnp.float32))

    def goal_of(self, state: EpisodeState) -> jax.Array:
        """The goal an episode runs with (what :attr:`task_goal` describes), from its state."""
        if self._goal is None:
            raise ValueError(f"{self._name} has no task-level goal (task_goal is None).")
        return jnp.asarray(self._goal.read(state.inner), jnp.float32)

    def reset(
        self, key: jax.Array, params: EpisodeParams | None = None
    ) -> tuple[jax.Array, EpisodeState]:
        """Fresh episode from ``key``: ``obs [obs_size] float32`` and the episode state.

        Where :attr:`samples_task`, the episode runs with ``params.goal``; only the initial
        state comes from ``key``.
        """
        if self.samples_task:
            goal = getattr(self._params if params is None else params, "goal", None)
            if goal is None:
                raise ValueError(
                    f"{self._name} holds its goal in the task: pass params from "
                    "env.sample_task(key) or env.default_params (GoalParams), or build the "
                    'env with goal_sampling="episode" for a fresh goal at every reset.'
                )
            inner = strong(self._goal.reset(key, jnp.asarray(goal, jnp.float32)))
        else:  # the initial-state distribution does not depend on the time limit
            inner = strong(self._raw.reset(key))
        state = EpisodeState(inner=inner, time=jnp.zeros((), jnp.int32))
        return self._flat(inner.obs), state

    def transition(
        self, key: jax.Array, state: EpisodeState, action: jax.Array, params: EpisodeParams
    ) -> StepResult:
        """One step without auto-reset; ``action [action_size]`` in ``[-1, 1]`` (clipped)."""
        del key  # brax / Playground dynamics are deterministic given the state
        action = self.to_env_action(check_action(action, self._action_size, self._name))
        old = state.inner
        # brax and Playground envs update the metrics / info dicts of their input in place.
        inner = old.replace(metrics=dict(old.metrics), info=dict(old.info))
        if self._action_repeat == 1:
            inner = self._raw.step(inner, action)
            reward = inner.reward
        else:
            inner, reward = self._repeat_step(inner, action)
        inner = strong_like(inner, old)
        time = state.time + 1
        terminated = jnp.asarray(inner.done).reshape(()) > 0.5
        truncated = jnp.logical_and(
            time >= params.max_steps_in_episode, jnp.logical_not(terminated)
        )
        reward = jnp.asarray(reward, jnp.float32).reshape(())
        info = {k: jnp.asarray(v, jnp.float32) for k, v in inner.metrics.items()}
        return (
            self._flat(inner.obs),
            EpisodeState(inner=inner, time=time),
            reward,
            terminated,
            truncated,
            info,
        )

    def observation_space(self, params: Any = None) -> spaces.Box:
        """Unbounded float32 box of shape ``(obs_size,)``."""
        return real_box(self._obs_size)

    def action_space(self, params: Any = None) -> spaces.Box:
        """``[-1, 1]^action_size``."""
        return unit_box(self._action_size)

    def to_env_action(self, action: jax.Array) -> jax.Array:
        """Map ``action [action_size]`` from ``[-1, 1]`` (clipped) onto the control range."""
        action = jnp.clip(action, -1.0, 1.0)
        if self._half is None:
            return action
        return self._center + self._half * action

    @property
    def name(self) -> str:
        return self._name

    @property
    def num_actions(self) -> int:
        return self._action_size

    @property
    def raw_env(self) -> Any:
        """The wrapped backend env (no episode / auto-reset wrappers)."""
        return self._raw

    @property
    def action_repeat(self) -> int:
        """Raw env steps per agent step."""
        return self._action_repeat

    # ------------------------------------------------------------------ helpers
    @functools.cached_property
    def _obs_size(self) -> int:
        obs = jax.eval_shape(self._raw.reset, jax.random.key(0)).obs
        if not hasattr(obs, "shape"):
            raise ValueError(f"{self._name}: dict observations are not supported")
        return int(np.prod(obs.shape))

    def _repeat_step(self, inner: Any, action: jax.Array) -> tuple[Any, jax.Array]:
        def body(carry, _):
            s, total = carry
            s = self._raw.step(s.replace(metrics=dict(s.metrics), info=dict(s.info)), action)
            s = strong_like(s, inner)
            return (s, total + jnp.asarray(s.reward, jnp.float32)), None

        zero = jnp.zeros((), jnp.float32)
        (inner, total), _ = jax.lax.scan(body, (inner, zero), None, self._action_repeat)
        return inner, total

    @staticmethod
    def _flat(obs: jax.Array) -> jax.Array:
        return jnp.ravel(jnp.asarray(obs, dtype=jnp.float32))


#: brax/reacher's default target (x, y) in m: reachable, inside brax's disk of radius 0.2.
REACHER_DEFAULT_TARGET = (0.1, 0.1)


def reacher_goal(raw: Any) -> TaskGoal:
    """brax/reacher's target: ``[2]`` (x, y) in m, brax's law (``_random_target``).

    The target is the position of two slide joints (``q[2:]``), so the reset is brax's
    (same use of ``key``) with those joints set to the goal before the pipeline starts.
    """
    from brax.envs.base import State

    def reset(key: jax.Array, goal: jax.Array) -> Any:
        _, key_q, key_qd = jax.random.split(key, 3)
        q = raw.sys.init_q + jax.random.uniform(key_q, (raw.sys.q_size(),), minval=-0.1, maxval=0.1)
        qd = jax.random.uniform(key_qd, (raw.sys.qd_size(),), minval=-0.005, maxval=0.005)
        q, qd = q.at[2:].set(goal), qd.at[2:].set(0.0)
        pipeline_state = raw.pipeline_init(q, qd)
        zero = jnp.zeros(())
        metrics = {"reward_dist": zero, "reward_ctrl": zero}
        return State(pipeline_state, raw._get_obs(pipeline_state), zero, zero, metrics)

    return TaskGoal(
        what="target (x, y) in m, [2]",
        default=np.asarray(REACHER_DEFAULT_TARGET, np.float32),
        sample=lambda key: raw._random_target(key)[1],
        reset=reset,
        read=lambda state: state.pipeline_state.q[2:4],
    )


#: brax envs with a task-level random quantity: name -> its TaskGoal builder (raw env ->).
BRAX_GOALS: dict[str, Callable[[Any], TaskGoal]] = {"reacher": reacher_goal}


def make_brax(
    env_name: str,
    backend: str | None = None,
    max_steps_in_episode: int = 1000,
    goal_sampling: str = "task",
    **env_kwargs: Any,
) -> BraxEnv:
    """Build ``brax/<env_name>``.

    Args:
        env_name: one of :data:`projected_envs.registry.BRAX_ENVS`.
        backend: brax physics pipeline: ``"generalized"``, ``"positional"``, ``"spring"`` or
            ``"mjx"``; default :data:`DEFAULT_BACKEND` (``"generalized"`` for swimmer, the
            only pipeline brax's swimmer supports).
        max_steps_in_episode: time limit in agent steps (brax's default episode length).
        goal_sampling: for envs of :data:`BRAX_GOALS` (reacher's target): ``"task"`` draws
            the goal in ``sample_task`` and holds it for the task; ``"episode"`` redraws it at
            every reset (brax's behaviour). No effect on the other envs.
        **env_kwargs: passed to the brax env class (e.g. ``ctrl_cost_weight``,
            ``terminate_when_unhealthy``).
    """
    check_goal_sampling(goal_sampling, f"brax/{env_name}")
    if backend is None:
        backend = _DEFAULT_BACKEND_FOR.get(env_name, DEFAULT_BACKEND)
    with quiet():  # "Brax System, pipelines and environments are not actively maintained."
        from brax import envs as brax_envs

        _fix_brax_fluid()
        raw = brax_envs.get_environment(env_name, backend=backend, **env_kwargs)
    ctrl_range = None
    if env_name not in _RESCALES_ITSELF:
        ctrl_range = np.asarray(raw.sys.actuator.ctrl_range, np.float32)
    goal = BRAX_GOALS[env_name](raw) if env_name in BRAX_GOALS else None
    return BraxEnv(
        raw,
        f"brax/{env_name}",
        ctrl_range,
        max_steps_in_episode,
        goal=goal,
        goal_sampling=goal_sampling,
    )
