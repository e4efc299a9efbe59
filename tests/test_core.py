"""The env protocol of projected_envs.core: reset_where against the plain compute-then-select
reference under every transform, step as transition then a fresh reset, no silent default task,
safe actions, and what a gymnax user reads (spaces, info keys, gymnax's LogWrapper)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.wrappers.purerl import LogWrapper

import projected_envs as pe
from projected_envs.core import reset_chunk_size, reset_where, sanitize_action
from projected_envs.wrappers import (
    LegacyStepAPI,
    MetaEpisode,
    Normalize,
    ProjectAction,
    ProjectObservation,
)
from tests.helpers import FAKE, PENDULUM_SET, STACK, STATS, FakeEnv

OFFSET = np.array([0.5, -1.0, 2.0], np.float32)  # a constant the reset closes over


def reset(key, params):
    """A reset whose result depends on the key, the (batched) params and a constant."""
    return jax.random.normal(key, (3,)) + params * jnp.asarray(OFFSET), {
        "t": jnp.zeros((), jnp.int32),
        "p": params,
    }


def current(params):
    return jnp.full((3,), 7.0) * params, {"t": jnp.int32(5), "p": params * 2}


def with_reset_where(done, key, params):
    return reset_where(reset, done, key, params, *current(params))


def reference(done, key, params):
    """Compute the reset, then select: what reset_where must equal."""
    return jax.tree.map(lambda r, c: jnp.where(done, r, c), reset(key, params), current(params))


DONE = jnp.array([True, False, False, True])
KEYS = jax.random.split(jax.random.key(0), 4)
PARAMS = jnp.arange(1.0, 5.0)


def assert_tree_equal(got, want):
    # equal up to float rounding: XLA may fuse the sampled reset differently in each program
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_single_env_and_vmap_match_the_select_reference():
    for i in range(4):
        assert_tree_equal(
            with_reset_where(DONE[i], KEYS[i], PARAMS[i]), reference(DONE[i], KEYS[i], PARAMS[i])
        )
    batched = jax.jit(jax.vmap(with_reset_where))(DONE, KEYS, PARAMS)
    assert_tree_equal(batched, jax.vmap(reference)(DONE, KEYS, PARAMS))
    none_done = jax.vmap(with_reset_where)(jnp.zeros(4, bool), KEYS, PARAMS)
    assert_tree_equal(none_done, jax.vmap(current)(PARAMS))


def test_nested_vmap_matches_the_select_reference():
    shape = lambda x: x.reshape(2, 2, *x.shape[1:])
    got = jax.vmap(jax.vmap(with_reset_where))(shape(DONE), shape(KEYS), shape(PARAMS))
    want = jax.vmap(jax.vmap(reference))(shape(DONE), shape(KEYS), shape(PARAMS))
    assert_tree_equal(got, want)


def test_inside_switch_with_a_batched_index():
    """lax.switch under vmap with a per-member index runs every branch: still correct."""

    def branches(done, key, params):
        return [
            lambda: with_reset_where(done, key, params),
            lambda: with_reset_where(jnp.logical_not(done), key, params),
        ]

    def f(index, done, key, params):
        return jax.lax.switch(index, branches(done, key, params))

    index = jnp.array([0, 1, 0, 1])
    got = jax.jit(jax.vmap(f))(index, DONE, KEYS, PARAMS)
    flipped = jnp.where(index == 1, ~DONE, DONE)
    assert_tree_equal(got, jax.vmap(reference)(flipped, KEYS, PARAMS))


def test_large_batches_reset_only_their_finished_members_in_chunks():
    """B = 300 (chunk 19): none, a few, more than a chunk, and all members finished."""
    size = 300
    keys = jax.random.split(jax.random.key(1), size)
    params = jnp.linspace(-1.0, 1.0, size)
    run = jax.jit(jax.vmap(with_reset_where))
    for probability in (0.0, 0.02, 0.3, 1.0):
        done = jax.random.bernoulli(jax.random.key(2), probability, (size,))
        assert_tree_equal(run(done, keys, params), jax.vmap(reference)(done, keys, params))


def _primitive_shapes(jaxpr, name):
    """Output shapes of every ``name`` equation in ``jaxpr`` and its sub-jaxprs."""
    shapes = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == name:
            shapes += [v.aval.shape for v in eqn.outvars]
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else (param,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    shapes += _primitive_shapes(inner, name)
    return shapes


def test_under_vmap_the_reset_runs_on_chunks_not_on_the_whole_batch():
    size = 256
    assert reset_chunk_size(size) == 16 and reset_chunk_size(64) == 64
    keys = jax.random.split(jax.random.key(0), size)
    args = (jnp.zeros(size, bool), keys, jnp.zeros(size))
    jaxpr = jax.make_jaxpr(jax.vmap(with_reset_where))(*args).jaxpr
    shapes = _primitive_shapes(jaxpr, "random_bits")
    assert sorted({shape[0] for shape in shapes}) == [16, size], shapes  # few / many finished


def test_gradients_flow_through_the_kept_and_the_reset_members():
    def loss(params):
        obs, state = jax.vmap(with_reset_where)(DONE, KEYS, params)
        return obs.sum() + state["p"].sum()

    def loss_ref(params):
        obs, state = jax.vmap(reference)(DONE, KEYS, params)
        return obs.sum() + state["p"].sum()

    np.testing.assert_allclose(jax.grad(loss)(PARAMS), jax.grad(loss_ref)(PARAMS))


def test_unbatched_key_and_params_with_batched_done():
    """Every member resets from the same key and task: still the select reference."""
    size = 100  # chunk 7
    done = jnp.arange(size) % 20 == 0  # 5 finished: the gather path
    got = jax.vmap(with_reset_where, (0, None, None))(done, KEYS[0], PARAMS[0])
    want = jax.vmap(reference, (0, None, None))(done, KEYS[0], PARAMS[0])
    assert_tree_equal(got, want)


@pytest.mark.parametrize("num_envs", [4, 256])  # one cond per env / gathered chunks
def test_step_is_transition_on_split0_then_reset_on_split1_where_done(num_envs):
    """``step(key)`` equals, computed by hand: ``transition(split(key)[0])``, then where the
    episode ended ``reset(split(key)[1])`` (the reset's key is split off lazily)."""
    keys = jax.random.split(jax.random.key(3), num_envs)
    _, state = jax.vmap(FAKE.reset)(keys, None)
    # envs 0, 20, 40, ... one step from their goal: they terminate this step, few enough
    # that a batch of 256 takes the gathered-chunk path
    near = (np.arange(num_envs) % 20 == 0).astype(np.float32)
    state = state.replace(acc=jnp.asarray(near * (FAKE.default_params.goal - 1.0)))
    action = jnp.tile(jnp.array([1.0, 0.0]), (num_envs, 1))
    params = FAKE.default_params
    step_keys = jax.random.split(jax.random.key(4), num_envs)
    got = jax.jit(jax.vmap(lambda k, s, a: FAKE.step(k, s, a, params)))(step_keys, state, action)

    def by_hand(key, s, a):
        k_transition, k_reset = jax.random.split(key)
        obs_t, s_t, reward, terminated, truncated, _ = FAKE.transition(k_transition, s, a, params)
        obs_r, s_r = FAKE.reset(k_reset, params)
        done = jnp.logical_or(terminated, truncated)
        pick = lambda r, t: jnp.where(done, r, t)
        return pick(obs_r, obs_t), jax.tree.map(pick, s_r, s_t), reward, terminated

    want = jax.jit(jax.vmap(by_hand))(step_keys, state, action)
    assert int(got[3].sum()) == int(near.sum()) <= reset_chunk_size(num_envs)
    np.testing.assert_array_equal(got[0], want[0])
    for g, w in zip(jax.tree.leaves(got[1]), jax.tree.leaves(want[1]), strict=True):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(got[2], want[2])
    np.testing.assert_array_equal(got[3], want[3])


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
    [STACK, STACK.env, STACK.env.env, LegacyStepAPI(STACK), PENDULUM_SET.make_env(0)],
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
    other = PENDULUM_SET.sample_task(0, key)  # another stack's task
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
    env = LogWrapper(PENDULUM_SET.make_env(0))
    keys = jax.random.split(jax.random.key(0), 4)
    tasks = jax.vmap(lambda k: PENDULUM_SET.sample_task(0, k))(keys)
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
