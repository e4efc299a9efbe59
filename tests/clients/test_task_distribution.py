"""pe.TaskDistribution: the task drawn in reset and held in the state, for shared-params trainers.

References: the wrapped stack itself (same task, same keys), a by-hand reset after a task end,
and the real client libraries, unmodified (gymnax's RolloutWrapper and LogWrapper, rejax).
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import projected_envs as pe
from projected_envs.clients.task_distribution import _RESET_TAG

NAV = pe.benchmark("point-nav")
N = 8


def _leaves_equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.fixture(scope="module")
def env() -> pe.TaskDistribution:
    return pe.TaskDistribution(NAV.train)


def test_params_carry_the_whole_task_length_as_a_static_int(env):
    params = env.default_params
    # K trials x the base env's time limit (point-nav: 4 x 50)
    assert params.max_steps_in_episode == NAV.train.num_trials * 50 == 200
    assert isinstance(params.max_steps_in_episode, int)
    assert jax.tree.leaves(params) == []  # nothing traced: the distribution, not a task
    # below MetaEpisode the name means a trial's length, as in gymnax's EnvParams
    task = env.stack.sample_task(jax.random.key(0))
    assert int(task.max_steps_in_episode) == 50


def test_reset_draws_the_task_the_task_set_samples_and_resets_the_stack(env):
    key = jax.random.key(3)
    obs, state = env.reset(key, env.default_params)
    k_task, k_reset = jax.random.split(key)
    task = NAV.train.sample_task(0, k_task)
    want_obs, want_inner = env.stack.reset(k_reset, task)
    assert _leaves_equal(state.task, task)
    np.testing.assert_array_equal(obs, want_obs)
    assert _leaves_equal(state.inner, want_inner)


def test_members_of_one_batch_hold_different_tasks(env):
    _, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(jax.random.key(0), N), env.default_params
    )
    matrices = np.asarray(state.task.action_matrix).reshape(N, -1)
    assert len({m.tobytes() for m in matrices}) == N


def test_steps_equal_the_stack_with_the_held_task_and_a_new_task_follows_each_end(env):
    """A sequential reference: stack.transition with the held task on every step; where the
    task ends, the state is reset(fold_in(key, 0x5EED)): a new task, drawn only then."""
    step = jax.jit(env.step)
    transition = jax.jit(env.stack.transition)
    reset = jax.jit(env.reset)
    _, state = reset(jax.random.key(0))
    ends = 0
    for t in range(2 * 200 + 3):
        key = jax.random.key(100 + t)
        action = jnp.asarray([np.sin(t), np.cos(0.3 * t)], jnp.float32)
        r_obs, r_inner, r_rew, r_term, r_trunc, _ = transition(key, state.inner, action, state.task)
        obs2, state2, rew, term, trunc, info = step(key, state, action)
        np.testing.assert_array_equal(rew, r_rew)
        assert bool(term) == bool(r_term) and bool(trunc) == bool(r_trunc)
        np.testing.assert_array_equal(info["final_observation"], r_obs)
        if bool(r_term or r_trunc):
            ends += 1
            want_obs, want_state = reset(jax.random.fold_in(key, _RESET_TAG))
            assert not _leaves_equal(want_state.task, state.task)  # a new task
        else:
            want_obs, want_state = r_obs, state.replace(inner=r_inner)
            assert _leaves_equal(state2.task, state.task)  # the task is held
        np.testing.assert_array_equal(obs2, want_obs)
        assert _leaves_equal(state2, want_state)
        _obs, state = obs2, state2
    assert ends == 2  # K x 50 steps per task


def test_a_fixed_bank_is_drawn_from_and_only_from(env):
    bank = NAV.id_test.eval_tasks(3)
    dist = pe.TaskDistribution(NAV.id_test, tasks=bank)
    _, state = jax.vmap(dist.reset, in_axes=(0, None))(
        jax.random.split(jax.random.key(1), 32), dist.default_params
    )
    index = np.asarray(state.task_index)
    assert set(index.tolist()) == {0, 1, 2}
    want = np.asarray(bank.params[0].action_matrix)[index]
    np.testing.assert_array_equal(np.asarray(state.task.action_matrix), want)


def test_deep_copies_are_equal_and_hit_the_jit_cache(env):
    clone = copy.deepcopy(env)
    assert clone == env and hash(clone) == hash(env)
    assert pe.TaskDistribution(NAV.train) == env  # same task set, same cached stack
    assert pe.TaskDistribution(NAV.id_test) != env
    traces = []

    def run(e, key):
        traces.append(1)
        return e.reset(key)[0]

    f = jax.jit(run, static_argnums=0)
    f(env, jax.random.key(0))
    f(clone, jax.random.key(1))
    assert len(traces) == 1


def test_legacy_step_api_serves_five_tuple_clients(env):
    legacy = pe.LegacyStepAPI(env)
    obs, state = legacy.reset(jax.random.key(0), None)  # params=None: the distribution
    out = legacy.step(jax.random.key(1), state, jnp.zeros(2), None)
    assert len(out) == 5
    assert out[0].shape == obs.shape and "discount" in out[4]


def test_several_base_envs_name_vecenv_and_env_picks_one():
    classic = pe.benchmark("classic").train
    with pytest.raises(ValueError, match="VecEnv"):
        pe.TaskDistribution(classic)
    one = pe.TaskDistribution(classic, env="gymnax/Pendulum-v1")
    assert one.stack is classic.make_env(classic.envs.index("gymnax/Pendulum-v1"))


def test_bad_params_and_sources_fail_with_the_fix(env):
    with pytest.raises(ValueError, match="default_params"):
        env.reset(jax.random.key(0), env.stack.sample_task(jax.random.key(0)))
    with pytest.raises(TypeError, match="TaskSet"):
        pe.TaskDistribution("point-nav")
    with pytest.raises(ValueError, match="TaskSet"):
        pe.TaskDistribution(env.stack, tasks=NAV.train.eval_tasks(2))


def test_gymnax_rollout_wrapper_runs_whole_tasks(env):
    from gymnax.experimental import RolloutWrapper

    def forward(policy_params, obs, key):
        return jnp.tanh(policy_params @ obs)

    rollout = RolloutWrapper(forward, env=env, env_params=env.default_params)
    assert rollout.num_env_steps == 200
    policy_params = 0.3 * jax.random.normal(jax.random.key(0), (2, env.obs_size))
    obs, action, reward, _next_obs, done, cum_return = rollout.batch_rollout(
        jax.random.split(jax.random.key(1), 4), policy_params
    )
    assert obs.shape == (4, 200, env.obs_size) and action.shape == (4, 200, 2)
    # exactly one task end per rollout, on its last step
    np.testing.assert_array_equal(np.asarray(done).sum(1), 1)
    assert np.asarray(done)[:, -1].all()
    np.testing.assert_allclose(np.asarray(cum_return)[:, 0], np.asarray(reward).sum(1), rtol=1e-5)


def test_a_purejaxrl_style_log_wrapper_loop_logs_whole_tasks(env):
    from gymnax.wrappers.purerl import LogWrapper

    logged = LogWrapper(env)
    params = env.default_params
    _, state = jax.vmap(logged.reset, in_axes=(0, None))(
        jax.random.split(jax.random.key(0), N), params
    )

    def body(state, key):
        k_act, k_step = jax.random.split(key)
        action = jax.random.uniform(k_act, (N, 2), minval=-1.0, maxval=1.0)
        _obs, state, reward, _term, _trunc, info = jax.vmap(logged.step, in_axes=(0, 0, 0, None))(
            jax.random.split(k_step, N), state, action, params
        )
        return state, (reward, info)

    _, (reward, info) = jax.lax.scan(jax.jit(body), state, jax.random.split(jax.random.key(1), 400))
    done = np.asarray(info["returned_episode"])
    assert done.sum(0).tolist() == [2] * N  # two whole tasks of 200 steps each
    lengths = np.asarray(info["returned_episode_lengths"])[done]
    np.testing.assert_array_equal(lengths, 200)
    first = np.asarray(info["returned_episode_returns"])[199]
    np.testing.assert_allclose(first, np.asarray(reward)[:200].sum(0), rtol=1e-5, atol=1e-5)
    # the logged return of a task is the sum of its trial returns
    np.testing.assert_allclose(
        first, np.asarray(info["trial_returns"])[199].sum(-1), rtol=1e-5, atol=1e-5
    )
