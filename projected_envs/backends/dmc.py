"""MuJoCo Playground's DM Control Suite through the common API (optional extra ``dmc``).

Every env of ``mujoco_playground.dm_control_suite`` plus :class:`PointMassHard` (dm_control's
``point_mass-hard``, which Playground lacks). Envs run the raw Playground env through
:class:`projected_envs.backends.brax.BraxEnv` (Playground's ``State`` has brax's fields), so:

* MJX runs with ``impl="jax"`` by default (Playground's default, ``"warp"``, needs an NVIDIA
  GPU); pass ``impl="warp"`` to change it;
* the episode lasts ``ceil(episode_length / action_repeat)`` agent steps (Playground's
  ``default_config()``: 1000 steps, ``action_repeat=1``), ending with ``truncated=True``;
  ``params.max_steps_in_episode`` changes it per task. ``terminated`` is Playground's ``done``,
  which only flags a physics blow-up (NaN state): DM Control tasks have no early end;
* every DM Control actuator takes controls in ``[-1, 1]``, so actions pass through (clipped);
* observations are float32 vectors; ``info`` holds Playground's per-step ``metrics``;
* the envs whose objective Playground (like dm_control) redraws at every reset
  (:data:`DMC_GOALS`: ReacherEasy / ReacherHard, FingerTurnEasy / FingerTurnHard, FishSwim,
  SwimmerSwimmer6 targets; PointMassHard's actuation directions) hold it per task:
  ``sample_task`` draws it into ``params.goal`` (:class:`~projected_envs.backends.brax.GoalParams`)
  and every reset of the task uses it; ``goal_sampling="episode"`` restores the per-reset draw.

Importing Playground (and compiling models) logs and warns; this module and :func:`make_dmc`
silence that (:func:`projected_envs.backends.brax.quiet`), routing MuJoCo's compiler warnings
to the ``projected_envs.backends`` logger at DEBUG level.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from projected_envs.backends.brax import BraxEnv, TaskGoal, check_goal_sampling, quiet

INSTALL_HINT = 'pip install "projected-envs[dmc]"'


try:
    with quiet():
        from mujoco import mjx
        from mujoco_playground import dm_control_suite
        from mujoco_playground._src import mjx_env
        from mujoco_playground._src.dm_control_suite import point_mass
except ImportError as err:  # pragma: no cover - exercised by faking a missing install
    raise ImportError(
        f"dmc/ envs need MuJoCo Playground, which is not installed: {INSTALL_HINT}"
    ) from err

#: Largest |cosine| between the two actuation directions of PointMassHard (dm_control: 0.9).
MAX_ABS_COSINE = 0.9


def sample_actuation_directions(key: jax.Array) -> jax.Array:
    """Two random unit actuation directions whose |cosine| is at most :data:`MAX_ABS_COSINE`.

    The law of dm_control's rejection sampler (both directions uniform on the circle, the
    second redrawn while ``|cos| > 0.9``), drawn without a loop: the second direction's angle
    offset is uniform on the allowed arcs. Returns ``[2, 2]``: row ``i`` is the (x, y)
    direction of actuator ``i``.
    """
    key_first, key_offset, key_flip = jax.random.split(key, 3)
    first = jax.random.uniform(key_first, (), minval=-jnp.pi, maxval=jnp.pi)
    alpha = math.acos(MAX_ABS_COSINE)
    offset = jax.random.uniform(key_offset, (), minval=alpha, maxval=jnp.pi - alpha)
    offset = offset + jnp.pi * jax.random.bernoulli(key_flip)
    angles = jnp.stack([first, first + offset])
    return jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1).astype(jnp.float32)


class PointMassHard(point_mass.PointMass):
    """dm_control's ``point_mass-hard``: random actuation directions at every reset.

    (As ``dmc/PointMassHard`` with the default ``goal_sampling="task"``, the directions are
    drawn per task instead: :meth:`reset_with_directions`.)

    In dm_control each of the two actuators drives a tendon whose joint coefficients
    (``wrap_prm``) are replaced at every episode start by a random unit direction, the two
    directions having ``|cos| <= 0.9``; actuator ``i`` then pushes the mass with force
    ``gear * clip(u_i, -1, 1) * dir_i``. MJX keeps ``wrap_prm`` static, so here the directions
    live in the episode state (``state.info["actuator_directions"]``, ``[2, 2]``) and the
    clipped action is mixed through them, ``ctrl = u @ D``, into the unmodified x / y tendons
    (whose control range is widened to ``[-2, 2]`` so the mixed control is never clamped).
    Generalized forces, observations (qpos, qvel) and reward (``near_target *
    small_control`` of the agent's control ``u``) are those of dm_control's task.
    """

    def __init__(self, config: Any = None, config_overrides: dict[str, Any] | None = None):
        super().__init__(config or point_mass.default_config(), config_overrides)
        self._mj_model.actuator_ctrlrange[:] = [-2.0, 2.0]
        self._mjx_model = mjx.put_model(self._mj_model, impl=self._config.impl)

    def reset(self, rng: jax.Array) -> Any:
        """Playground reset (uniform joint positions) plus fresh actuation directions."""
        rng, key_dirs = jax.random.split(rng)
        return self.reset_with_directions(rng, sample_actuation_directions(key_dirs))

    def reset_with_directions(self, rng: jax.Array, directions: jax.Array) -> Any:
        """Playground reset (uniform joint positions) with the given ``directions [2, 2]``."""
        state = super().reset(rng)
        info = {**state.info, "actuator_directions": jnp.asarray(directions, jnp.float32)}
        return state.replace(info=info)

    def step(self, state: Any, action: jax.Array) -> Any:
        """One control step with ``action [2]`` mixed through the episode's directions."""
        action = jnp.clip(action, -1.0, 1.0)
        ctrl = action @ state.info["actuator_directions"]
        data = mjx_env.step(self.mjx_model, state.data, ctrl, self.n_substeps)
        reward = self._get_reward(data, action, state.info, state.metrics)
        obs = self._get_obs(data, state.info)
        done = (jnp.isnan(data.qpos).any() | jnp.isnan(data.qvel).any()).astype(jnp.float32)
        return state.replace(data=data, obs=obs, reward=reward, done=done)


# ------------------------------------------------------------------------- task-level goals
def _point_mass_hard_goal(raw: PointMassHard) -> TaskGoal:
    def reset(key: jax.Array, goal: jax.Array) -> Any:
        return raw.reset_with_directions(jax.random.split(key)[0], goal)  # keys as raw.reset

    return TaskGoal(
        what="actuation directions, [2, 2]: row i is the unit (x, y) direction of actuator i",
        default=np.eye(2, dtype=np.float32),
        sample=sample_actuation_directions,
        reset=reset,
        read=lambda state: state.info["actuator_directions"],
    )


def _mocap_target(
    raw: Any, sample: Callable[[jax.Array, np.ndarray], jax.Array], default: np.ndarray
) -> TaskGoal:
    """A target that Playground places (a mocap body) after computing the reset's physics.

    The goal is the target body's world position ``[3]`` in m. Playground's reset runs
    unchanged (same initial-state law and use of ``key``); only the target it drew is
    replaced by the goal. Its first observation does not depend on the target's placement
    (Playground computes it before moving the target), so the result is Playground's reset
    with that target. ``sample(key, model_pos)`` draws a position; ``model_pos`` is the
    target's position in the model file (the coordinates Playground leaves alone).
    """
    body = int(raw._target_mocap_body_id)
    model_pos = np.asarray(raw.mj_model.body_pos[raw.mj_model.body("target").id], np.float32)

    def reset(key: jax.Array, goal: jax.Array) -> Any:
        state = raw.reset(key)
        data = state.data
        return state.replace(data=data.replace(mocap_pos=data.mocap_pos.at[body].set(goal)))

    return TaskGoal(
        what="target position (x, y, z) in m, [3]",
        default=np.asarray(default, np.float32),
        sample=lambda key: sample(key, model_pos).astype(jnp.float32),
        reset=reset,
        read=lambda state: state.data.mocap_pos[body],
    )


#: ReacherEasy / ReacherHard default target: (0.1, 0.1) in the arm's plane (radius 0.14 m,
#: inside Playground's ring 0.05-0.2 m).
REACHER_DEFAULT_XY = (0.1, 0.1)


def _reacher_goal(raw: Any) -> TaskGoal:
    def sample(key, model_pos):  # Playground: angle U(0, 2 pi), radius U(0.05, 0.2)
        key_angle, key_radius = jax.random.split(key)
        angle = jax.random.uniform(key_angle, ()) * 2 * jnp.pi
        radius = jax.random.uniform(key_radius, (), minval=0.05, maxval=0.2)
        xy = radius * jnp.stack([jnp.sin(angle), jnp.cos(angle)])
        return jnp.concatenate([xy, model_pos[2:]])

    model_z = raw.mj_model.body_pos[raw.mj_model.body("target").id, 2]
    return _mocap_target(raw, sample, np.r_[REACHER_DEFAULT_XY, model_z])


def _finger_turn_goal(raw: Any) -> TaskGoal:
    """Target on the circle of the spinner's tip: angle U(-pi, pi) from straight up."""
    import mujoco

    data = mujoco.MjData(raw.mj_model)
    mujoco.mj_forward(raw.mj_model, data)  # the hinge is fixed to the world: its anchor too
    hinge = np.asarray(data.xanchor[raw._hinge_joint_id], np.float32)
    radius = float(raw._radius)

    def position(angle, model_pos):
        x = hinge[0] + radius * jnp.sin(angle)
        z = hinge[2] + radius * jnp.cos(angle)
        return jnp.stack([x, jnp.asarray(model_pos[1]), z])

    def sample(key, model_pos):
        return position(jax.random.uniform(key, (), minval=-jnp.pi, maxval=jnp.pi), model_pos)

    model_pos = raw.mj_model.body_pos[raw.mj_model.body("target").id]
    default = np.asarray(position(0.0, model_pos))  # straight above the hinge
    return _mocap_target(raw, sample, default)


def _fish_goal(raw: Any) -> TaskGoal:
    def sample(key, model_pos):  # Playground: uniform in the box [-.4, .4] x [-.4, .4] x [.1, .3]
        return jax.random.uniform(key, (3,), minval=raw._min_xyz, maxval=raw._max_xyz)

    return _mocap_target(raw, sample, raw.mj_model.body_pos[raw.mj_model.body("target").id])


def _swimmer_goal(raw: Any) -> TaskGoal:
    def sample(key, model_pos):  # Playground: xy uniform in a box of half-width 0.3 (p 0.2) or 2
        key_box, key_xy = jax.random.split(key)
        half = jnp.where(jax.random.bernoulli(key_box, 0.2), 0.3, 2.0)
        xy = jax.random.uniform(key_xy, (2,), minval=-half, maxval=half)
        return jnp.concatenate([xy, model_pos[2:]])

    return _mocap_target(raw, sample, raw.mj_model.body_pos[raw.mj_model.body("target").id])


#: dmc envs whose MDP has a random quantity besides the initial state: name -> TaskGoal builder.
DMC_GOALS: dict[str, Callable[[Any], TaskGoal]] = {
    "FingerTurnEasy": _finger_turn_goal,
    "FingerTurnHard": _finger_turn_goal,
    "FishSwim": _fish_goal,
    "PointMassHard": _point_mass_hard_goal,
    "ReacherEasy": _reacher_goal,
    "ReacherHard": _reacher_goal,
    "SwimmerSwimmer6": _swimmer_goal,
}


#: Our additions to the Playground suite, registered as ``dmc/<name>``.
EXTRA_ENVS: dict[str, type] = {"PointMassHard": PointMassHard}


def dmc_env_names() -> tuple[str, ...]:
    """Every ``dmc/`` env name: Playground's ``ALL_ENVS`` plus :data:`EXTRA_ENVS`."""
    return tuple(dm_control_suite.ALL_ENVS) + tuple(EXTRA_ENVS)


def make_dmc(
    env_name: str,
    max_steps_in_episode: int | None = None,
    impl: str = "jax",
    goal_sampling: str = "task",
    **config_overrides: Any,
) -> BraxEnv:
    """Build ``dmc/<env_name>``.

    Args:
        env_name: a name of :func:`dmc_env_names`, e.g. ``"CartpoleSwingup"``.
        max_steps_in_episode: time limit in agent steps; default
            ``ceil(episode_length / action_repeat)`` of the env's Playground config (1000).
        impl: MJX implementation, ``"jax"`` (any device) or ``"warp"`` (NVIDIA GPUs).
        goal_sampling: for envs of :data:`DMC_GOALS`: ``"task"`` draws the goal (target,
            actuation directions) in ``sample_task`` and holds it for every episode of the
            task; ``"episode"`` redraws it at every reset, as Playground / dm_control do. No
            effect on the other envs.
        **config_overrides: other fields of the Playground config (e.g. ``ctrl_dt``,
            ``episode_length``, ``action_repeat``).

    Raises:
        ValueError: for an unknown env name or config field.
    """
    check_goal_sampling(goal_sampling, f"dmc/{env_name}")
    overrides = {"impl": impl, **config_overrides}
    with quiet():
        if env_name in EXTRA_ENVS:
            config = point_mass.default_config()
            _check_overrides(env_name, config, overrides)
            raw = EXTRA_ENVS[env_name](config, overrides)
        elif env_name in dm_control_suite.ALL_ENVS:
            config = dm_control_suite.get_default_config(env_name)
            _check_overrides(env_name, config, overrides)
            raw = dm_control_suite.load(env_name, config_overrides=overrides)
        else:
            raise ValueError(f"dmc/{env_name}: unknown env; known: {list(dmc_env_names())}")
    config = raw._config
    repeat = int(config.action_repeat)
    if max_steps_in_episode is None:
        max_steps_in_episode = math.ceil(int(config.episode_length) / repeat)
    goal = DMC_GOALS[env_name](raw) if env_name in DMC_GOALS else None
    return BraxEnv(
        raw,
        f"dmc/{env_name}",
        None,
        max_steps_in_episode,
        action_repeat=repeat,
        goal=goal,
        goal_sampling=goal_sampling,
    )


def _check_overrides(env_name: str, config: Any, overrides: dict[str, Any]) -> None:
    unknown = sorted(set(overrides) - set(config.keys()))
    if unknown:
        raise ValueError(
            f"dmc/{env_name}: unknown keyword(s) {unknown}; the config fields are "
            f"{sorted(config.keys())} (plus max_steps_in_episode)."
        )
