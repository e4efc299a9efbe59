"""LegacyStepAPI: the five-tuple step equals the six-tuple API, and a purejaxrl-style loop runs
through it."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from projected_envs.core import reset_where
from projected_envs.wrappers import LegacyStepAPI
from tests.helpers import META, PENDULUM_SET, dyadic_actions, fake_params, rollout


@functools.partial(jax.jit, static_argnums=0)
def legacy_rollout(env, params, key, actions):
    key_reset, key_steps = jax.random.split(key)
    obs0, state = env.reset(key_reset, params)

    def body(state, xs):
        key, action = xs
        obs, state, reward, done, info = env.step(key, state, action, params)
        return state, (obs, reward, done, info)

    keys = jax.random.split(key_steps, actions.shape[0])
    return obs0, *jax.lax.scan(body, state, (keys, actions))[1]


def test_legacy_step_api_matches_the_six_tuple_api():
    legacy = LegacyStepAPI(META)
    actions = dyadic_actions(seed=4, steps=120)
    params, key = fake_params(2.0, 4), jax.random.key(5)
    obs0, obs, reward, terminated, truncated, info = rollout(META, params, key, actions)
    l_obs0, l_obs, l_reward, l_done, l_info = legacy_rollout(legacy, params, key, actions)
    np.testing.assert_array_equal(l_obs0, obs0)
    np.testing.assert_array_equal(l_obs, obs)
    np.testing.assert_array_equal(l_reward, reward)
    np.testing.assert_array_equal(l_done, np.logical_or(terminated, truncated))
    np.testing.assert_array_equal(l_info["terminated"], terminated)
    np.testing.assert_array_equal(l_info["truncated"], truncated)
    np.testing.assert_array_equal(l_info["discount"], 1.0 - np.asarray(terminated))
    np.testing.assert_array_equal(l_info["trial_returns"], info["trial_returns"])
    assert np.any(l_done)
    assert legacy.num_actions == 2 and legacy.sample_task is not None


def test_purejaxrl_style_ppo_loop_runs_through_legacy_step_api():
    """A purejaxrl-shaped loop (5-tuple step, resample the task where ``done``) that trains a
    linear Gaussian policy for a few updates; the task changes at every task end."""
    env, num_envs, num_steps = LegacyStepAPI(PENDULUM_SET.make_env(0)), 4, 40
    obs_size, act = env.observation_space().shape[0], env.num_actions

    def policy(theta, obs):
        return obs @ theta["w"], theta["log_std"]

    def env_step(carry, key):
        theta, obs, state, tasks = carry
        k_act, k_step, k_task, k_reset = jax.random.split(key, 4)
        mean, log_std = policy(theta, obs)
        action = mean + jnp.exp(log_std) * jax.random.normal(k_act, mean.shape)
        obs2, state, reward, done, info = jax.vmap(env.step)(
            jax.random.split(k_step, num_envs), state, action, tasks
        )
        new = jax.vmap(env.sample_task)(jax.random.split(k_task, num_envs))
        pick = lambda n, o: jnp.where(done.reshape((-1,) + (1,) * (n.ndim - 1)), n, o)
        tasks = jax.tree.map(pick, new, tasks)
        keys = jax.random.split(k_reset, num_envs)  # the new task's first obs, where done
        obs2, state = jax.vmap(lambda *a: reset_where(env.reset, *a))(
            done, keys, tasks, obs2, state
        )
        return (theta, obs2, state, tasks), (obs, action, reward, done, info["discount"])

    def loss(theta, batch):
        obs, action, reward, _, _ = batch
        mean, log_std = policy(theta, obs)
        logp = -0.5 * jnp.sum(((action - mean) / jnp.exp(log_std)) ** 2 + 2 * log_std, -1)
        adv = reward - reward.mean()
        return -jnp.mean(logp * jax.lax.stop_gradient(adv))

    @jax.jit
    def update(carry, key):
        carry, batch = jax.lax.scan(env_step, carry, jax.random.split(key, num_steps))
        grads = jax.grad(loss)(carry[0], batch)
        theta = jax.tree.map(lambda p, g: p - 1e-2 * g, carry[0], grads)
        return (theta, *carry[1:]), batch

    keys = jax.random.split(jax.random.key(0), num_envs)
    tasks = jax.vmap(env.sample_task)(keys)
    obs, state = jax.vmap(env.reset)(keys, tasks)
    theta = {"w": jnp.zeros((obs_size, act)), "log_std": jnp.zeros(act)}
    carry = (theta, obs, state, tasks)
    first_tasks = tasks
    for i in range(3):
        carry, (o, _, r, d, disc) = update(carry, jax.random.key(i))
        assert np.all(np.isfinite(o)) and np.all(np.isfinite(r))
        assert o.shape == (num_steps, num_envs, obs_size) and d.dtype == bool
        np.testing.assert_array_equal(disc, 1.0 - np.asarray(d, np.float32))  # 1-task end
    assert int(np.sum(d)) == num_envs  # each env ended one task (2 trials x 20 steps) per update
    start = np.asarray(o)[:, :, PENDULUM_SET.make_env(0).obs_layout["task_start"]][..., 0]  # [T, B]
    np.testing.assert_array_equal(start[1:], np.asarray(d)[:-1])  # new tasks start after done
    assert not np.allclose(carry[3].action_matrix, first_tasks.action_matrix)
    assert not np.allclose(carry[0]["w"], 0.0)  # the policy was updated
