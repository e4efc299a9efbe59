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
* observations are float32 vectors; ``info`` holds Playground's per-step ``metrics``.

Importing Playground (and compiling models) logs and warns; this module and :func:`make_dmc`
silence that (:func:`projected_envs.backends.brax.quiet`), routing MuJoCo's compiler warnings
to the ``projected_envs.backends`` logger at DEBUG level.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from projected_envs.backends.brax import BraxEnv, quiet

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
        state = super().reset(rng)
        info = {**state.info, "actuator_directions": sample_actuation_directions(key_dirs)}
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


#: Our additions to the Playground suite, registered as ``dmc/<name>``.
EXTRA_ENVS: dict[str, type] = {"PointMassHard": PointMassHard}


def dmc_env_names() -> tuple[str, ...]:
    """Every ``dmc/`` env name: Playground's ``ALL_ENVS`` plus :data:`EXTRA_ENVS`."""
    return tuple(dm_control_suite.ALL_ENVS) + tuple(EXTRA_ENVS)


def make_dmc(
    env_name: str,
    max_steps_in_episode: int | None = None,
    impl: str = "jax",
    **config_overrides: Any,
) -> BraxEnv:
    """Build ``dmc/<env_name>``.

    Args:
        env_name: a name of :func:`dmc_env_names`, e.g. ``"CartpoleSwingup"``.
        max_steps_in_episode: time limit in agent steps; default
            ``ceil(episode_length / action_repeat)`` of the env's Playground config (1000).
        impl: MJX implementation, ``"jax"`` (any device) or ``"warp"`` (NVIDIA GPUs).
        **config_overrides: other fields of the Playground config (e.g. ``ctrl_dt``,
            ``episode_length``, ``action_repeat``).

    Raises:
        ValueError: for an unknown env name or config field.
    """
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
    return BraxEnv(raw, f"dmc/{env_name}", None, max_steps_in_episode, action_repeat=repeat)


def _check_overrides(env_name: str, config: Any, overrides: dict[str, Any]) -> None:
    unknown = sorted(set(overrides) - set(config.keys()))
    if unknown:
        raise ValueError(
            f"dmc/{env_name}: unknown keyword(s) {unknown}; the config fields are "
            f"{sorted(config.keys())} (plus max_steps_in_episode)."
        )
