"""The task API is safe to import (issue 10): no silent default task, no non-finite value
reaches the agent, gymnax parity, and every bad input fails at construction or trace time with a
message naming the fix.

Compiles are kept few: the fake-env tests share FakeEnv from test_wrappers; the extreme-action
rollout compiles once per env (default run: one env per suite, the rest ``slow``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.wrappers.purerl import LogWrapper

import projected_envs as pe
from projected_envs.core import reset_where, sanitize_action
from projected_envs.wrappers import (
    FiniteGuard,
    LegacyStepAPI,
    MetaEpisode,
    Normalize,
    ProjectAction,
    ProjectActionParams,
    ProjectObservation,
)
from tests.test_wrappers import FAKE, STATS, FakeEnv

STACK = MetaEpisode(ProjectAction(ProjectObservation(FAKE, dim=4), dim=3), num_trials=2)
SMALL = pe.TaskSet(
    envs=("gymnax/Pendulum-v1",),
    obs_dim=4,
    action_dim=2,
    num_trials=2,
    env_kwargs={"gymnax/Pendulum-v1": {"max_steps_in_episode": 20}},
)


# ------------------------------------------------------------------------ 1. no silent task
def test_samples_task_is_true_exactly_where_something_is_sampled():
    assert not FAKE.samples_task
    assert not Normalize(FAKE, stats=STATS).samples_task
    assert not MetaEpisode(FAKE, num_trials=2).samples_task
    assert ProjectObservation(FAKE, dim=2).samples_task
    assert ProjectAction(FAKE, dim=2).samples_task
    assert STACK.samples_task and LegacyStepAPI(STACK).samples_task

    class GoalEnv(FakeEnv):  # a base env that draws goals per task
        @property
        def samples_task(self) -> bool:
            return True

    assert MetaEpisode(GoalEnv(), num_trials=2).samples_task
    with pytest.raises(ValueError, match="sample_task"):
        MetaEpisode(GoalEnv(), num_trials=2).reset(jax.random.key(0))


@pytest.mark.parametrize(
    "env",
    [STACK, STACK.env, STACK.env.env, LegacyStepAPI(STACK), SMALL.make_env(0)],
    ids=lambda e: e.name[:40],
)
def test_a_stack_that_samples_refuses_params_none(env):
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"params=None.*sample_task\(key\)"):
        env.reset(key)
    task = env.sample_task(key)
    _, state = env.reset(key, task)
    action = jnp.zeros(env.action_size)
    for call in (env.step, env.transition):
        with pytest.raises(ValueError, match=r"params=None.*sample_task\(key\)"):
            jax.eval_shape(functools.partial(call, key, state, action, None))
    env.step(key, state, action, task)  # the explicit task is accepted
    env.step(key, state, action, env.default_params)  # default_params stays available


def test_envs_that_sample_nothing_keep_the_gymnax_default():
    meta = MetaEpisode(FAKE, num_trials=2)
    obs, state = meta.reset(jax.random.key(0))
    expected, _ = meta.reset(jax.random.key(0), FAKE.default_params)
    np.testing.assert_array_equal(obs, expected)
    meta.step(jax.random.key(1), state, jnp.zeros(2))


def test_foreign_params_are_refused_naming_sample_task():
    key = jax.random.key(0)
    task = STACK.sample_task(key)
    _, state = STACK.reset(key, task)
    action = jnp.zeros(3)
    other = SMALL.sample_task(0, key)  # another stack's task
    for params in (task.inner, task.inner.inner, other):  # inner params, another stack
        with pytest.raises(ValueError, match=r"task structure.*sample_task"):
            STACK.reset(key, params)
        with pytest.raises(ValueError, match=r"task structure.*sample_task"):
            STACK.step(key, state, action, params)
    pendulum, _ = pe.make("gymnax/Pendulum-v1")
    _, reacher_params = pe.make("gymnax/Reacher-misc")
    _, p_state = pendulum.reset(key)
    with pytest.raises(ValueError, match="task structure"):  # was: AttributeError torque_scale
        pendulum.step(key, p_state, jnp.zeros(1), reacher_params)


def test_step_before_reset_says_call_reset_first():
    task = STACK.sample_task(jax.random.key(0))
    for env, params in ((STACK, task), (STACK.env, task), (FAKE, None)):
        with pytest.raises(ValueError, match="reset"):
            env.step(jax.random.key(0), None, jnp.zeros(env.action_size), params)


# ---------------------------------------------------------------------- 2. safe actions
def test_sanitize_action_zeroes_nonfinite_then_clips():
    used, count = sanitize_action(jnp.array([jnp.nan, jnp.inf, -jnp.inf, 1e6, -0.5, -3.0]))
    np.testing.assert_array_equal(used, [0.0, 0.0, 0.0, 1.0, -0.5, -1.0])
    assert int(count) == 3


def test_project_action_clips_to_the_agent_box_before_projecting():
    env = ProjectAction(FAKE, dim=3)
    matrix = jnp.array([[0.5, -0.25, 1.0], [0.125, 0.5, -0.5]], jnp.float32)
    params = ProjectActionParams(inner=FAKE.default_params, action_matrix=matrix)
    _, state = env.reset(jax.random.key(0), params)
    action = jnp.array([4.0, jnp.nan, -0.5])
    _, new_state, reward, *_, info = env.transition(jax.random.key(1), state, action, params)
    used = np.array([1.0, 0.0, -0.5])  # clip(4) = 1, NaN -> 0
    env_action = np.clip(np.asarray(matrix, np.float64) @ used, -1, 1)  # [0, 0.375]
    assert float(new_state.acc) == pytest.approx(env_action[0])
    assert float(reward) == pytest.approx(env_action[0] + 0.5 * env_action[1])
    assert int(info["action_nonfinite"]) == 1
    assert float(info["action_clip"]) == pytest.approx(0.0)


def test_full_stack_reports_nonfinite_actions():
    # MetaEpisode sanitises before ProjectAction sees the action, so it must count them itself.
    task = STACK.sample_task(jax.random.key(0))
    _, state = STACK.reset(jax.random.key(1), task)
    action = jnp.array([jnp.nan, -jnp.inf, 0.5])
    *_, info = STACK.step(jax.random.key(2), state, action, task)
    assert int(info["action_nonfinite"]) == 2


def test_meta_episode_echoes_the_action_the_env_used():
    meta = MetaEpisode(FAKE, num_trials=2)
    _, state = meta.reset(jax.random.key(0))
    obs, *_ = meta.step(jax.random.key(1), state, jnp.array([jnp.nan, 1e6]))
    np.testing.assert_array_equal(obs[meta.obs_layout["action"]], [0.0, 1.0])


class NanEnv(FakeEnv):
    """FakeEnv whose physics blows up (NaN obs, inf reward) once acc exceeds 0.6."""

    def transition(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = super().transition(
            key, state, action, params
        )
        broken = state.acc > 0.6
        obs = jnp.where(broken, obs.at[1].set(jnp.nan), obs)
        reward = jnp.where(broken, jnp.inf, reward)
        return obs, state, reward, terminated, truncated, info


def test_finite_guard_ends_the_episode_and_draws_a_fresh_state():
    env = FiniteGuard(NanEnv())
    params = env.default_params.replace(goal=jnp.float32(10.0), max_steps=jnp.int32(100))
    _, state = env.reset(jax.random.key(0), params)
    action = jnp.array([0.5, 0.0])
    obs, state, reward, term, trunc, info = env.step(jax.random.key(1), state, action, params)
    assert not bool(info["nonfinite"]) and float(reward) == 0.5 and int(state.time) == 1
    obs, state, reward, term, trunc, info = env.step(jax.random.key(2), state, action, params)
    assert bool(info["nonfinite"]) and bool(term) and not bool(trunc)
    assert float(reward) == 0.0 and np.all(np.isfinite(info["final_observation"]))
    assert int(state.time) == 0 and float(state.acc) == 0.0  # auto-reset: a fresh episode
    assert np.all(np.isfinite(obs))


def test_task_set_stacks_carry_the_guard_into_meta_episode_info():
    env = SMALL.make_env(0)
    assert isinstance(env.unwrapped, pe.Environment)
    layers, layer = [], env
    while hasattr(layer, "env"):
        layers.append(type(layer).__name__)
        layer = layer.env
    assert layers[-1] == "FiniteGuard"
    task = SMALL.sample_task(0, jax.random.key(0))
    _, state = env.reset(jax.random.key(0), task)
    info = env.step(jax.random.key(1), state, jnp.zeros(2), task)[-1]
    assert info["nonfinite"].dtype == bool and not bool(info["nonfinite"])


EXTREMES = jnp.array([jnp.nan, jnp.inf, -jnp.inf, 1e6, -1e6], jnp.float32)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def extreme_rollout(task_set, index, steps, batch):
    """``batch`` envs of ``task_set.envs[index]`` under ``steps`` random extreme actions (NaN,
    +-inf, +-1e6, or uniform in [-1, 1] per entry); returns (all obs finite, all rewards
    finite, count of guard events)."""
    env = task_set.make_env(index)
    keys = jax.random.split(jax.random.key(index), batch)
    tasks = jax.vmap(lambda k: task_set.sample_task(index, k))(keys)
    _, state = jax.vmap(env.reset)(keys, tasks)

    def body(carry, key):
        state, ok_obs, ok_rew, events = carry
        k_pick, k_unif, k_step = jax.random.split(key, 3)
        shape = (batch, task_set.action_dim)
        pick = jax.random.randint(k_pick, shape, 0, EXTREMES.shape[0] + 1)
        uniform = jax.random.uniform(k_unif, shape, minval=-1.0, maxval=1.0)
        action = jnp.where(pick < EXTREMES.shape[0], EXTREMES[pick % EXTREMES.shape[0]], uniform)
        obs, state, reward, *_, info = jax.vmap(env.step)(
            jax.random.split(k_step, batch), state, action, tasks
        )
        ok_obs = (
            ok_obs & jnp.all(jnp.isfinite(obs)) & jnp.all(jnp.isfinite(info["final_observation"]))
        )
        ok_rew = ok_rew & jnp.all(jnp.isfinite(reward))
        return (state, ok_obs, ok_rew, events + jnp.sum(info["nonfinite"])), None

    init = (state, jnp.array(True), jnp.array(True), jnp.array(0))
    (_, ok_obs, ok_rew, events), _ = jax.lax.scan(
        body, init, jax.random.split(jax.random.key(99), steps)
    )
    return ok_obs, ok_rew, events


def _shipped_envs() -> list[tuple[str, pe.TaskSet, int]]:
    """Every env of every shipped benchmark once: (env id, a task set holding it, its index)."""
    seen: dict[str, tuple[pe.TaskSet, int]] = {}
    for name in pe.benchmarks():
        bench = pe.benchmark(name)
        for ts in (bench.train, bench.id_test, bench.ood_test):
            for i, env_id in enumerate(ts.envs):
                seen.setdefault(env_id, (ts, i))
    return [(e, ts, i) for e, (ts, i) in sorted(seen.items())]


_DEFAULT_RUN = {"gymnax/Pendulum-v1", "brax/inverted_pendulum", "dmc/PointMass"}


@pytest.mark.parametrize(
    "env_id,task_set,index",
    [
        pytest.param(*entry, marks=() if entry[0] in _DEFAULT_RUN else pytest.mark.slow)
        for entry in _shipped_envs()
    ],
    ids=[entry[0] for entry in _shipped_envs()],
)
def test_extreme_actions_never_put_a_nonfinite_value_in_obs_or_reward(env_id, task_set, index):
    if env_id.startswith("dmc/"):
        pytest.importorskip("mujoco_playground")
    ok_obs, ok_rew, _ = extreme_rollout(task_set, index, 10_000, 2)
    assert bool(ok_obs) and bool(ok_rew)


# ---------------------------------------------------------------------- 3. gymnax parity
@pytest.mark.parametrize(
    "env",
    [Normalize(FAKE, stats=STATS), STACK.env.env, STACK.env, STACK, LegacyStepAPI(STACK)],
    ids=lambda e: type(e).__name__,
)
def test_every_wrapper_answers_what_a_gymnax_user_reads(env):
    assert env.num_actions == env.action_size == env.action_space().shape[0]
    assert env.observation_space().shape == (env.obs_size,)
    assert env.action_space(env.default_params).shape == env.action_space().shape
    assert isinstance(env.name, str) and "FakeEnv" in env.name


def test_step_info_has_the_gymnax_1x_keys():
    task = STACK.sample_task(jax.random.key(0))
    for env in (STACK, STACK.env):  # MetaEpisode samples nothing: its task is ProjectAction's
        _, st = env.reset(jax.random.key(0), task)
        out = env.step(jax.random.key(1), st, jnp.zeros(3), task)
        assert {"terminated", "truncated", "final_observation"} <= set(out[-1])
        np.testing.assert_array_equal(out[-1]["terminated"], out[3])


def test_gymnax_log_wrapper_runs_on_a_full_task_stack():
    env = LogWrapper(SMALL.make_env(0))
    keys = jax.random.split(jax.random.key(0), 4)
    tasks = jax.vmap(lambda k: SMALL.sample_task(0, k))(keys)
    _, state = jax.vmap(env.reset)(keys, tasks)
    returns, steps = np.zeros(4), 0
    for t in range(2 * 20):  # two trials of 20 steps: the task (outer episode) ends at t = 39
        action = jnp.full((4, 2), 0.5)
        _, state, reward, term, _, info = jax.vmap(env.step)(
            jax.random.split(jax.random.key(t + 1), 4), state, action, tasks
        )
        returns += np.asarray(reward)
        steps += 1
    assert np.all(np.asarray(term)) and np.all(np.asarray(info["returned_episode"]))
    np.testing.assert_allclose(info["returned_episode_returns"], returns, rtol=1e-5)
    np.testing.assert_array_equal(info["returned_episode_lengths"], steps)


def test_purejaxrl_style_ppo_loop_runs_through_legacy_step_api():
    """A purejaxrl-shaped loop (5-tuple step, resample the task where ``done``) that trains a
    linear Gaussian policy for a few updates; the task changes at every task end."""
    env, num_envs, num_steps = LegacyStepAPI(SMALL.make_env(0)), 4, 40
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
    start = np.asarray(o)[:, :, SMALL.make_env(0).obs_layout["task_start"]][..., 0]  # [T, B]
    np.testing.assert_array_equal(start[1:], np.asarray(d)[:-1])  # new tasks start after done
    assert not np.allclose(carry[3].action_matrix, first_tasks.action_matrix)
    assert not np.allclose(carry[0]["w"], 0.0)  # the policy was updated


# ------------------------------------------------------------------ 4. clear errors
def test_bad_make_inputs_name_the_fix():
    with pytest.raises(ValueError, match="string 'suite/name'"):
        pe.make(None)
    for steps in (0, -5, 10.5):
        with pytest.raises(ValueError, match="max_steps_in_episode must be a positive int"):
            pe.make("gymnax/Pendulum-v1", max_steps_in_episode=steps)
    with pytest.raises(ValueError, match=r"positive int .*got 10\.5"):
        pe.make("brax/inverted_pendulum", max_steps_in_episode=10.5)
    with pytest.raises(ValueError, match=r"ctrl_cost_weight.*Valid keywords"):
        pe.make("brax/hopper", ctrl_cost=0.1)
    with pytest.raises(ValueError, match="valid: generalized"):
        pe.make("brax/hopper", backend="mjxx")
    with pytest.raises(ValueError, match="valid: jax, warp"):
        pe.make("dmc/CartpoleSwingup", impl="wrap")


def test_brax_env_refuses_a_float_time_limit():
    from projected_envs.backends.brax import BraxEnv

    env, _ = pe.make("brax/inverted_pendulum")
    with pytest.raises(ValueError, match=r"positive int, got 10\.5"):
        BraxEnv(env.raw_env, "brax/inverted_pendulum", max_steps_in_episode=10.5)


def test_make_works_inside_a_jit_trace():
    @jax.jit
    def first_obs(key):
        env, params = pe.make("gymnax/Pendulum-v1", max_steps_in_episode=7)
        return env.reset(key, params)[0], params.max_steps_in_episode

    obs, steps = first_obs(jax.random.key(0))
    env, params = pe.make("gymnax/Pendulum-v1", max_steps_in_episode=7)
    np.testing.assert_array_equal(obs, env.reset(jax.random.key(0), params)[0])
    assert int(steps) == 7


def test_task_set_bad_inputs_name_the_fix():
    with pytest.raises(IndexError, match=r"valid indices are 0..0"):
        SMALL.sample_task(1, jax.random.key(0))
    with pytest.raises(ValueError, match="Did you mean 'max_steps_in_episode'"):
        pe.TaskSet(
            envs=("gymnax/Pendulum-v1",),
            obs_dim=4,
            action_dim=2,
            env_kwargs={"gymnax/Pendulum-v1": {"max_step_in_episode": 20}},
        )
    with pytest.raises(ValueError, match="positive int"):
        pe.TaskSet(
            envs=("brax/hopper",),
            obs_dim=4,
            action_dim=2,
            env_kwargs={"brax/hopper": {"max_steps_in_episode": 0}},
        )


def test_numpy_int_dims_work_everywhere():
    matrix = pe.sample_projection(jax.random.key(0), "gaussian", np.int64(3), np.int32(2))
    assert matrix.shape == (3, 2)
    assert ProjectObservation(FAKE, dim=np.int64(3)).sample_task(
        jax.random.key(0)
    ).obs_matrix.shape == (3, 3)


def test_normalize_refuses_another_envs_id():
    env, _ = pe.make("gymnax/Pendulum-v1")
    with pytest.raises(ValueError, match="another env"):
        Normalize(env, env_id="gymnax/Reacher-misc")
    assert Normalize(env, env_id="gymnax/Pendulum-v1").env_id == "gymnax/Pendulum-v1"


def test_ppo_metrics_count_nonfinite_events():
    from agents.ppo import _task_metrics, _task_stats

    info = {"nonfinite": jnp.array([True, False, True])}
    done = jnp.array([True, False, True])
    stats = _task_stats(done, jnp.array([1.0, 2.0, 3.0]), info)
    assert float(stats["nonfinite"]) == 2.0
    assert float(_task_metrics(stats)["nonfinite"]) == 2.0
    assert "nonfinite" not in _task_stats(done, jnp.zeros(3), {})  # envs without the guard
