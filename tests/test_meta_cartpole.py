"""meta-cartpole: gymnax CartPole-v1 dynamics under a continuous push, the
stateless observation, and an orthogonal M_o drawn per task and held across its 16 trials."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from gymnax.environments.classic_control import cartpole

import projected_envs as pe
from projected_envs.meta_cartpole import META_CARTPOLE_ENV, make_meta_cartpole_env

PINNED = "47c4415ec373"  # meta-cartpole's fingerprint: change it only on purpose


def _cartpole_state(tree):
    found = [
        x
        for x in jax.tree_util.tree_leaves(tree, is_leaf=lambda x: isinstance(x, cartpole.EnvState))
        if isinstance(x, cartpole.EnvState)
    ]
    (state,) = found
    return state


def test_unit_pushes_are_gymnax_cartpoles_discrete_actions_bitwise():
    env, params = pe.make(META_CARTPOLE_ENV)
    gym = cartpole.CartPole()
    gym_params = gym.default_params
    obs, state = env.reset(jax.random.key(3), params)
    _, gstate = gym.reset_env(jax.random.key(3), gym_params)
    actions = np.random.default_rng(0).integers(0, 2, size=40)
    for t, a in enumerate(actions):
        key = jax.random.key(t)
        push = np.array([2.0 * a - 1.0], np.float32)  # +1 -> action 1, -1 -> action 0
        obs, state, reward, terminated, _, _ = env.transition(key, state, push, params)
        gobs, gstate, greward, gdone, _ = gym.step_env(key, gstate, int(a), gym_params)
        for f in ("x", "x_dot", "theta", "theta_dot"):
            assert np.asarray(getattr(state, f)) == np.asarray(getattr(gstate, f)), (t, f)
        np.testing.assert_array_equal(obs, np.asarray(gobs)[[0, 2]])  # stateless: x, theta
        assert float(reward) == float(greward)
        assert bool(terminated) == bool(gdone)
        if bool(terminated):
            break


def test_intermediate_push_matches_a_hand_written_euler_step():
    env, params = pe.make(META_CARTPOLE_ENV)
    _, state = env.reset(jax.random.key(0), params)
    a = 0.37
    _, new, *_ = env.step(jax.random.key(1), state, np.array([a], np.float32), params)
    x, x_dot, th, th_dot = (float(getattr(state, f)) for f in ("x", "x_dot", "theta", "theta_dot"))
    g, mc, mp, length, tau = 9.8, 1.0, 0.1, 0.5, 0.02
    force = 10.0 * a  # [-1, 1] mapped onto [-force_mag, force_mag]
    temp = (force + mp * length * th_dot**2 * np.sin(th)) / (mc + mp)
    th_acc = (g * np.sin(th) - np.cos(th) * temp) / (
        length * (4 / 3 - mp * np.cos(th) ** 2 / (mc + mp))
    )
    x_acc = temp - mp * length * th_acc * np.cos(th) / (mc + mp)
    expected = (x + tau * x_dot, x_dot + tau * x_acc, th + tau * th_dot, th_dot + tau * th_acc)
    got = tuple(float(getattr(new, f)) for f in ("x", "x_dot", "theta", "theta_dot"))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_bad_keyword_is_refused_with_the_fields():
    with pytest.raises(ValueError, match=r"unknown keyword.*reward_per_step"):
        make_meta_cartpole_env(reward_per_stp=0.1)


def test_benchmark_is_popjaxrls_shape_and_pinned():
    bench = pe.benchmark("meta-cartpole")
    assert bench.fingerprint == PINNED
    assert (bench.obs_dim, bench.action_dim, bench.num_trials) == (4, 1, 16)
    assert bench.train.obs_family == "orthogonal" and bench.ood_test.obs_family == "gaussian"
    assert bench.train.obs_size == 4 + 1 + 1 + 1  # M_o o, previous action, trial-done, start


def test_projection_is_drawn_per_task_and_held_across_all_16_trials():
    stack = pe.benchmark("meta-cartpole").train.make_env(0)
    tasks = [stack.sample_task(jax.random.key(s)) for s in (0, 1)]
    mats = [np.asarray(t.inner.obs_matrix) for t in tasks]  # [4, 2] each
    assert mats[0].shape == (4, 2) and not np.allclose(mats[0], mats[1])
    np.testing.assert_allclose(mats[0].T @ mats[0], 2.0 * np.eye(2), atol=1e-5)  # sqrt(2) Q

    step = jax.jit(stack.step)
    task, m = tasks[0], mats[0]
    obs, state = stack.reset(jax.random.key(7), task)
    trials_ended, t = 0, 0
    while True:
        raw = _cartpole_state(state)
        np.testing.assert_allclose(
            np.asarray(obs)[:4], m @ np.array([raw.x, raw.theta]), rtol=1e-5, atol=1e-6
        )
        push = np.array([1.0], np.float32)  # constant push: the pole falls in ~10 steps
        obs, state, _, terminated, truncated, info = step(jax.random.key(t), state, push, task)
        trials_ended += int(info["trial_done"])
        t += 1
        if bool(terminated):
            break
        assert not bool(truncated) and t < 16 * 200
    assert trials_ended == 16 and int(info["trial"]) == 15
