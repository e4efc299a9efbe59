"""Adapters against independent references: the raw gymnax / brax / Playground env for the
same key and actions, and MuJoCo (C) for PointMassHard."""

from __future__ import annotations

import functools
import importlib.util
import math

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import projected_envs.registry as registry

HAS_PLAYGROUND = importlib.util.find_spec("mujoco_playground") is not None
needs_playground = pytest.mark.skipif(not HAS_PLAYGROUND, reason="needs the dmc extra")
STEPS = 100  # long enough for the brax pendulums to fall under random actions


def _actions(key: jax.Array, size: int) -> jax.Array:
    """[STEPS, size] actions in [-1.5, 1.5]: some outside the box, to exercise clipping."""
    return jax.random.uniform(key, (STEPS, size), minval=-1.5, maxval=1.5)


# ---------------------------------------------------------------------------------- gymnax
@pytest.mark.parametrize("name", registry.GYMNAX_ENVS)
def test_gymnax_adapter_matches_raw_gymnax(name):
    """Same key, same actions (mapped by hand onto the raw box): same obs, reward, flags.

    Goal envs run with gymnax's per-reset goals (``goal_sampling="episode"``) here; their
    per-task goals are compared with gymnax in tests/backends/test_gymnax_goals.py.
    """
    env, params = registry.make(f"gymnax/{name}", max_steps_in_episode=10, goal_sampling="episode")
    raw, raw_params = gymnax.make(name)
    raw_params = raw_params.replace(max_steps_in_episode=10)
    box = raw.action_space(raw_params)
    low = np.broadcast_to(np.asarray(box.low, np.float32), (env.action_size,))
    high = np.broadcast_to(np.asarray(box.high, np.float32), (env.action_size,))

    @jax.jit
    def both(key):
        obs, state = env.reset(key, params)
        raw_obs, raw_state = raw.reset_env(key, raw_params)
        keys = jax.random.split(key, STEPS)

        def body(carry, inp):
            state, raw_state = carry
            k, a = inp
            out = env.transition(k, state, a, params)
            raw_a = low + (jnp.clip(a, -1, 1) + 1) / 2 * (high - low)
            r_obs, r_state, r_rew, r_done, _ = raw.step_env(k, raw_state, raw_a, raw_params)
            r_trunc = raw.is_truncated(r_state, raw_params)
            return (out[1], r_state), (
                out[0],
                out[2],
                out[3],
                out[4],
                r_obs,
                r_rew,
                r_done,
                r_trunc,
            )

        _, outs = jax.lax.scan(body, (state, raw_state), (keys, _actions(key, env.action_size)))
        return obs, raw_obs, outs

    obs, raw_obs, (o, r, term, trunc, ro, rr, rdone, rtrunc) = both(jax.random.key(3))
    np.testing.assert_allclose(obs, np.ravel(raw_obs), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(o, np.reshape(ro, o.shape), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(r, np.reshape(rr, r.shape), rtol=1e-5, atol=1e-5)
    rdone = np.reshape(rdone, term.shape).astype(bool)
    np.testing.assert_array_equal(term, rdone)
    np.testing.assert_array_equal(trunc, np.reshape(rtrunc, trunc.shape) & ~rdone)
    assert trunc[9:].all() and not trunc[:9].any(), "time limit of 10 steps"


def test_gymnax_action_box_is_rescaled_per_env():
    """Pendulum takes [-2, 2] N m, PointRobot [-0.1, 0.1]; [-1, 1] maps onto them linearly."""
    for env_id, bound in [("gymnax/Pendulum-v1", 2.0), ("gymnax/PointRobot-misc", 0.1)]:
        env, params = registry.make(env_id)
        low, high = env.env_action_box(params)
        np.testing.assert_allclose(low, -bound)
        np.testing.assert_allclose(high, bound)
        for a in (-1.0, -0.25, 0.0, 0.5, 1.0, 3.0):
            action = jnp.full((env.action_size,), a)
            mapped = env._to_env_action(action, params)
            np.testing.assert_allclose(mapped, np.clip(a, -1, 1) * bound, rtol=1e-6)


def test_goal_reached_at_the_time_limit_is_terminated_not_truncated():
    """MountainCar with the goal behind the start and a 1-step limit: terminated wins."""
    env, params = registry.make(
        "gymnax/MountainCarContinuous-v0", goal_position=-1.2, max_steps_in_episode=1
    )
    key = jax.random.key(0)
    _, state = env.reset(key, params)
    out = env.step(key, state, jnp.ones((1,)), params)
    assert bool(out[3]) and not bool(out[4])


# ------------------------------------------------------------------------------------ brax
@functools.partial(jax.jit, static_argnums=0)
def _lockstep_with_raw(env, params, key):
    """Our ``transition`` and the raw backend env's ``step``, same key and clipped actions.

    Returns ``(our first obs, raw first obs, (obs, reward, terminated, truncated, raw states))``
    with leaves ``[STEPS, ...]``.
    """
    raw = env.raw_env
    obs, state = env.reset(key, params)
    raw_state = raw.reset(key)

    def body(carry, a):
        state, raw_state = carry
        out = env.transition(key, state, a, params)
        raw_state = raw.step(raw_state, jnp.clip(a, -1, 1))
        return (out[1], raw_state), (out[0], out[2], out[3], out[4], raw_state)

    _, outs = jax.lax.scan(body, (state, raw_state), _actions(key, env.action_size))
    return obs, raw_state.obs, outs


def test_brax_adapter_matches_raw_brax_until_the_first_fall():
    """inverted_double_pendulum: same key and clipped actions give brax's obs / reward / done."""
    env, params = registry.make("brax/inverted_double_pendulum")
    obs, raw_obs0, (o, r, term, trunc, raw_states) = _lockstep_with_raw(
        env, params, jax.random.key(5)
    )
    np.testing.assert_allclose(obs, raw_obs0, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(o, raw_states.obs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(r, raw_states.reward, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(term, raw_states.done > 0.5)
    assert term.any(), "the pendulum should fall under random actions"
    assert not trunc.any()


@pytest.mark.parametrize(
    ("name", "bound"),
    [("humanoid", 0.4), ("humanoidstandup", 0.4), ("pusher", 2.0), ("hopper", 1.0)],
)
def test_brax_actions_map_onto_the_actuator_control_range(name, bound):
    env, _ = registry.make(f"brax/{name}")
    ctrl_range = np.asarray(env.raw_env.sys.actuator.ctrl_range)
    np.testing.assert_allclose(ctrl_range, np.tile([-bound, bound], (env.action_size, 1)))
    for a in (-2.0, -1.0, -0.5, 0.0, 0.3, 1.0):
        mapped = env.to_env_action(jnp.full((env.action_size,), a))
        np.testing.assert_allclose(mapped, np.clip(a, -1, 1) * bound, rtol=1e-6, atol=1e-7)


def test_inverted_pendulum_is_not_rescaled_twice():
    """brax's inverted_pendulum maps [-1, 1] to [-3, 3] itself: the adapter only clips."""
    env, _ = registry.make("brax/inverted_pendulum")
    np.testing.assert_allclose(env.to_env_action(jnp.array([0.5])), [0.5])
    np.testing.assert_allclose(env.to_env_action(jnp.array([1.5])), [1.0])


# ------------------------------------------------------------------------------------- dmc
@needs_playground
def test_dmc_adapter_matches_raw_playground():
    """PointMass: same key and clipped actions give Playground's obs and reward."""
    env, params = registry.make("dmc/PointMass", max_steps_in_episode=12)
    obs, raw_obs0, (o, r, term, trunc, raw_states) = _lockstep_with_raw(
        env, params, jax.random.key(9)
    )
    np.testing.assert_allclose(obs, raw_obs0, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(o, raw_states.obs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r, raw_states.reward, rtol=1e-5, atol=1e-6)
    assert not term.any()
    np.testing.assert_array_equal(trunc, np.arange(1, STEPS + 1) >= 12)


@needs_playground
def test_dmc_episode_length_follows_playground_config():
    _, params = registry.make("dmc/CartpoleSwingup")
    assert params.max_steps_in_episode == 1000
    env, params = registry.make("dmc/CartpoleSwingup", episode_length=500, action_repeat=2)
    assert params.max_steps_in_episode == 250 and env.action_repeat == 2
    with pytest.raises(ValueError, match="episode_lenght"):
        registry.make("dmc/CartpoleSwingup", episode_lenght=10)


@needs_playground
def test_point_mass_hard_directions_are_unit_and_not_too_parallel():
    from projected_envs.backends.dmc import sample_actuation_directions

    dirs = jax.jit(jax.vmap(sample_actuation_directions))(
        jax.random.split(jax.random.key(0), 20_000)
    )
    dirs = np.asarray(dirs, np.float64)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=-1), 1.0, atol=1e-5)
    cos = np.abs(np.sum(dirs[:, 0] * dirs[:, 1], axis=-1))
    assert cos.max() <= 0.9 + 1e-5
    # Law of dm_control's rejection sampler: offset uniform on the arcs where |cos| <= 0.9.
    alpha = math.acos(0.9)
    expected = (2 * math.pi / 3) / (2 * (math.pi - 2 * alpha))  # P(|cos| < 0.5)
    assert abs(np.mean(cos < 0.5) - expected) < 0.015
    angle = np.arctan2(dirs[:, 0, 1], dirs[:, 0, 0])
    assert abs(np.mean(angle)) < 0.05 and abs(np.mean(np.cos(angle))) < 0.02


def _dm_control_point_mass_reward(qpos: np.ndarray, u: np.ndarray) -> float:
    """dm_control's point_mass reward, written out: near_target * small_control."""
    size = 0.015  # target geom radius
    dist = float(np.linalg.norm(qpos))  # target at the origin, mass at (x, y)
    x = max(dist - size, 0.0) / size
    near_target = 0.1 ** (x**2)  # gaussian tolerance, value 0.1 at the margin
    small_control = (np.mean(1.0 - np.clip(u, -1, 1) ** 2) + 4) / 5  # quadratic tolerance
    return near_target * small_control


@needs_playground
def test_point_mass_hard_matches_mujoco_with_randomized_tendons():
    """Reference: MuJoCo (C) with dm_control's hard task, i.e. wrap_prm set to the directions."""
    import mujoco
    from mujoco_playground._src.dm_control_suite import common, point_mass

    env, _ = registry.make("dmc/PointMassHard")
    params = env.sample_task(jax.random.key(7))  # random directions, held for the task
    key = jax.random.key(4)
    actions = np.asarray(_actions(key, 2))

    @jax.jit
    def rollout(key):
        obs, state = env.reset(key, params)

        def body(state, a):
            out = env.transition(key, state, a, params)
            return out[1], (out[0], out[2])

        other = env.reset(jax.random.key(5), params)[1]  # another episode
        return obs, state, other, jax.lax.scan(body, state, jnp.asarray(actions))[1]

    obs0, state0, other, (obs, reward) = rollout(key)
    dirs = np.asarray(state0.inner.info["actuator_directions"], np.float64)

    model = mujoco.MjModel.from_xml_string(point_mass._XML_PATH.read_text(), common.get_assets())
    model.wrap_prm[[0, 1]] = dirs[0]
    model.wrap_prm[[2, 3]] = dirs[1]
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = obs0[:2], obs0[2:]
    mujoco.mj_forward(model, data)
    for t in range(STEPS):
        data.ctrl[:] = np.clip(actions[t], -1, 1)
        mujoco.mj_step(model, data)
        np.testing.assert_allclose(obs[t], np.r_[data.qpos, data.qvel], rtol=1e-4, atol=1e-5)
        ref = _dm_control_point_mass_reward(data.qpos, actions[t])
        np.testing.assert_allclose(reward[t], ref, rtol=1e-4, atol=1e-6)
    # The directions are the task's, held across its episodes (tests/backends/test_task_goals.py
    # checks the per-episode variant, goal_sampling="episode").
    np.testing.assert_allclose(dirs, params.goal, atol=1e-7)
    np.testing.assert_allclose(other.inner.info["actuator_directions"], dirs, atol=1e-7)
    assert not np.allclose(dirs, np.eye(2), atol=0.1)
