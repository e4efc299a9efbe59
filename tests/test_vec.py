"""VecEnv: slot equivalence with the env run alone, task resampling, banks, rounding, errors.

One small gymnax task set (2 envs, 3-step episodes, 2 trials) is compiled once per mode and
shared by the tests through module-scoped fixtures.
"""

from __future__ import annotations

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from projected_envs.tasks import TaskSet, allocate
from projected_envs.vec import VecEnv, slot_keys

EPISODE = 3  # steps per trial
TRIALS = 2  # trials per task: every task ends after EPISODE * TRIALS steps
STEPS = 2 * EPISODE * TRIALS + 2  # two task ends per slot, and a bit more
TASK_SET = TaskSet(
    envs=("gymnax/Pendulum-v1", "gymnax/Reacher-misc"),
    obs_dim=6,
    action_dim=2,
    num_trials=TRIALS,
    weights=(2.0, 1.0),
    normalize=False,
    env_kwargs=tuple(
        (e, (("max_steps_in_episode", EPISODE),))
        for e in ("gymnax/Pendulum-v1", "gymnax/Reacher-misc")
    ),
    name="vec-test",
)
NUM_ENVS = 3  # weights (2, 1) -> groups (2, 1)


def _obs_matrices(tasks) -> jax.Array:
    """The observation projection of each task of a (batched) stack params pytree."""
    return tasks.inner.obs_matrix  # ProjectAction(ProjectObservation(...)) params


def _slot_matrix(venv: VecEnv, tasks: tuple, slot: int, time_axis: bool) -> np.ndarray:
    """M_o of one slot from VecState.tasks (one entry per non-empty group)."""
    groups = [g for g, size in enumerate(venv.group_sizes) if size > 0]
    position = groups.index(int(venv.env_index[slot]))
    local = slot - sum(venv.group_sizes[: venv.env_index[slot]])
    m = np.asarray(_obs_matrices(tasks[position]))
    return m[:, local] if time_axis else m[local]


def _rollout(venv: VecEnv, key: jax.Array, actions: jax.Array):
    """Jitted reset + scan of steps; returns per-step outputs and the task matrices per step."""

    def run(key, actions):
        k_reset, k_steps = jax.random.split(key)
        obs0, state = venv.reset(k_reset)
        first_tasks = state.tasks

        def body(state, xs):
            k, a = xs
            obs, state, reward, term, trunc, info = venv.step(k, state, a)
            out = (obs, reward, term, trunc, info, state.tasks)
            return state, out

        keys = jax.random.split(k_steps, actions.shape[0])
        _, outs = jax.lax.scan(body, state, (keys, actions))
        return obs0, first_tasks, keys, outs

    return jax.jit(run)(key, actions)


@pytest.fixture(scope="module")
def actions() -> jax.Array:
    return jax.random.uniform(jax.random.key(7), (STEPS, NUM_ENVS, 2), minval=-1.0, maxval=1.0)


@pytest.fixture(scope="module")
def train_run(actions):
    venv = VecEnv(TASK_SET, NUM_ENVS)
    key = jax.random.key(3)
    return venv, key, _rollout(venv, key, actions)


@pytest.fixture(scope="module")
def bank_run():
    bank = TASK_SET.eval_tasks(per_env=2)
    venv = VecEnv.from_bank(TASK_SET, bank)
    acts = jnp.zeros((STEPS, venv.num_envs, 2))
    return venv, bank, _rollout(venv, jax.random.key(4), acts)


@functools.cache
def _alone(env_index: int):
    """Jitted (transition, reset, sample_task) of one env of TASK_SET, compiled once each."""
    env = TASK_SET.make_env(env_index)
    sample = jax.jit(lambda k: TASK_SET.sample_task(env_index, k))
    return jax.jit(env.transition), jax.jit(env.reset), sample


def _run_slot_alone(env_index, slot, key_reset, step_keys, actions):
    """The documented recipe, one slot, one env, a Python loop (the independent reference)."""
    transition, reset, sample = _alone(env_index)
    k_task, k_reset = jax.random.split(jax.random.fold_in(key_reset, slot))
    task = sample(k_task)
    obs, state = reset(k_reset, task)
    first = (obs, task)
    out = []
    for key, action in zip(step_keys, actions):
        k_env, k_new = jax.random.split(key)
        k_step = jax.random.fold_in(k_env, slot)
        k_task, k_reset = jax.random.split(jax.random.fold_in(k_new, slot))
        obs, state, reward, term, trunc, _ = transition(k_step, state, action, task)
        final = obs
        if bool(term | trunc):
            task = sample(k_task)
            obs, state = reset(k_reset, task)
        out.append((obs, reward, term, trunc, final, task))
    return first, out


def test_group_sizes_follow_weights_and_env_index_is_contiguous(train_run):
    venv, _, _ = train_run
    assert venv.group_sizes == (2, 1)
    np.testing.assert_array_equal(venv.env_index, [0, 0, 1])
    assert venv.num_envs == NUM_ENVS
    assert venv.obs_size == TASK_SET.obs_size == 6 + 2 + 3
    assert venv.action_size == 2
    assert TASK_SET.max_steps_in_episode == EPISODE * TRIALS


def test_every_slot_reproduces_its_env_run_alone_with_the_same_keys(train_run, actions):
    venv, key, (obs0, first_tasks, step_keys, outs) = train_run
    obs, reward, term, trunc, info, tasks = outs
    k_reset, _ = jax.random.split(key)
    for slot in range(NUM_ENVS):
        e = int(venv.env_index[slot])
        (obs_alone0, task0), alone = _run_slot_alone(e, slot, k_reset, step_keys, actions[:, slot])
        np.testing.assert_allclose(obs0[slot], obs_alone0, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(
            _slot_matrix(venv, first_tasks, slot, False), _obs_matrices(task0)
        )
        slot_tasks = _slot_matrix(venv, tasks, slot, True)
        for t, (o, r, te, tr, final, task) in enumerate(alone):
            np.testing.assert_allclose(obs[t, slot], o, rtol=1e-5, atol=1e-5, err_msg=f"t={t}")
            np.testing.assert_allclose(reward[t, slot], r, rtol=1e-5, atol=1e-5)
            assert bool(term[t, slot]) == bool(te) and bool(trunc[t, slot]) == bool(tr)
            np.testing.assert_allclose(info["final_observation"][t, slot], final, atol=1e-5)
            np.testing.assert_array_equal(slot_tasks[t], _obs_matrices(task))


def test_task_end_samples_a_new_projection_of_the_same_env(train_run):
    venv, _, (_, first_tasks, _, outs) = train_run
    _, _, term, trunc, info, tasks = outs
    done = np.asarray(term | trunc)
    # MetaEpisode ends every task after exactly TRIALS * EPISODE steps (all envs truncate).
    expected = np.zeros_like(done)
    expected[EPISODE * TRIALS - 1 :: EPISODE * TRIALS] = True
    np.testing.assert_array_equal(done, expected)
    for slot in range(NUM_ENVS):
        matrices = _slot_matrix(venv, tasks, slot, True)  # [STEPS, O, E]
        before = _slot_matrix(venv, first_tasks, slot, False)[None]
        previous = np.concatenate([before, matrices[:-1]])
        changed = np.any(matrices != previous, axis=(1, 2))
        np.testing.assert_array_equal(changed, done[:, slot])  # new task exactly at task ends
    np.testing.assert_array_equal(info["env_index"], np.broadcast_to(venv.env_index, done.shape))
    np.testing.assert_array_equal(info["episode_count"], np.cumsum(done, axis=0))


def test_info_has_env_index_final_observation_and_trial_bookkeeping(train_run):
    venv, _, (_, _, _, outs) = train_run
    obs, _, term, _, info, _ = outs
    assert info["env_index"].shape == (STEPS, NUM_ENVS)
    assert info["final_observation"].shape == obs.shape == (STEPS, NUM_ENVS, venv.obs_size)
    assert info["trial_returns"].shape == (STEPS, NUM_ENVS, TRIALS)
    np.testing.assert_array_equal(info["trial"][: EPISODE * TRIALS, 0], [0, 0, 0, 1, 1, 1])
    # final_observation differs from obs only where a task ended (obs is then the new task's)
    same = np.all(np.asarray(info["final_observation"]) == np.asarray(obs), axis=-1)
    assert not np.any(same & np.asarray(term)) and np.all(same | np.asarray(term))


def test_bank_slots_keep_their_task_and_flag_the_first_meta_episode(bank_run):
    venv, bank, (_, first_tasks, _, outs) = bank_run
    _, _, term, trunc, info, tasks = outs
    assert venv.num_envs == len(bank) == 4
    assert not venv.resample
    np.testing.assert_array_equal(venv.env_index, bank.env_index)
    np.testing.assert_array_equal(venv.env_index, [0, 0, 1, 1])
    for g in range(2):
        np.testing.assert_array_equal(_obs_matrices(first_tasks[g]), _obs_matrices(bank.params[g]))
        for t in range(STEPS):  # the same task at every step, across task ends
            np.testing.assert_array_equal(_obs_matrices(tasks[g])[t], _obs_matrices(bank.params[g]))
    done = np.asarray(term | trunc)
    first = np.asarray(info["first_episode_done"])
    assert np.all(first.sum(axis=0) == 1)  # exactly once per slot ...
    np.testing.assert_array_equal(np.argmax(first, axis=0), EPISODE * TRIALS - 1)  # ... here
    assert done.sum() > first.sum()  # later task ends restart the task, not flagged


def test_bank_slot_reproduces_its_task_run_alone(bank_run):
    _, bank, (obs0, _, step_keys, outs) = bank_run
    obs = outs[0]
    slot, group = 3, 1  # second task of env 1
    transition, reset, _ = _alone(1)
    task = jax.tree.map(lambda x: x[1], bank.params[group])
    k_reset, _ = jax.random.split(jax.random.key(4))
    _, k_r = jax.random.split(jax.random.fold_in(k_reset, slot))
    o, state = reset(k_r, task)
    np.testing.assert_allclose(obs0[slot], o, atol=1e-5)
    for t in range(EPISODE * TRIALS + 1):  # through the task end: the same task restarts
        k_env, k_new = jax.random.split(step_keys[t])
        k_step = jax.random.fold_in(k_env, slot)
        _, k_r = jax.random.split(jax.random.fold_in(k_new, slot))
        o, state, _, term, trunc, _ = transition(k_step, state, jnp.zeros(2), task)
        if bool(term | trunc):
            o, state = reset(k_r, task)
        np.testing.assert_allclose(obs[t, slot], o, atol=1e-5, err_msg=f"t={t}")


def test_slot_keys_are_fold_in_of_the_slot_index():
    key = jax.random.key(11)
    keys = slot_keys(key, 4)
    for i in range(4):
        np.testing.assert_array_equal(
            jax.random.key_data(keys[i]), jax.random.key_data(jax.random.fold_in(key, i))
        )


@pytest.mark.parametrize(
    ("weights", "n", "expected"),
    [
        ((1, 1, 1), 6, (2, 2, 2)),
        ((1, 1, 1), 4, (2, 1, 1)),  # remainder ties go to the earlier env
        ((2, 1), 3, (2, 1)),
        ((2, 1), 6, (4, 2)),
        ((3, 1), 4, (3, 1)),
        ((100, 1, 1), 3, (1, 1, 1)),  # every positive weight gets a slot
        ((1, 0, 1), 5, (3, 0, 2)),  # zero weight: no slot
        ((0.1, 0.2, 0.7), 10, (1, 2, 7)),
        ((2, 1, 1), 5, (3, 1, 1)),
    ],
)
def test_allocate_rounding_rule(weights, n, expected):
    assert allocate(weights, n) == expected
    assert sum(expected) == n


def test_allocate_is_proportional_for_many_slots():
    sizes = allocate((1.0, 2.0, 5.0), 8001)
    np.testing.assert_allclose(np.array(sizes) / 8001, np.array([1, 2, 5]) / 8, atol=1e-3)


def test_fewer_slots_than_envs_raises():
    with pytest.raises(ValueError, match=r"num_envs >= 2"):
        VecEnv(TASK_SET, 1)


def test_zero_weight_env_gets_no_group():
    ts = dataclasses.replace(TASK_SET, weights=(0.0, 1.0))
    venv = VecEnv(ts, 3)
    assert venv.group_sizes == (0, 3)
    np.testing.assert_array_equal(venv.env_index, [1, 1, 1])
    VecEnv(ts, 1)  # one positive weight: one slot suffices


def test_actions_of_the_wrong_shape_raise_at_trace_time(train_run):
    venv, _, _ = train_run
    _, state = jax.eval_shape(venv.reset, jax.random.key(0))
    for shape in [(NUM_ENVS,), (NUM_ENVS, 3), (NUM_ENVS + 1, 2)]:
        with pytest.raises(ValueError, match=r"expected \(3, 2\)"):
            jax.eval_shape(venv.step, jax.random.key(0), state, jnp.zeros(shape))


def test_bank_from_another_task_set_raises():
    other = dataclasses.replace(TASK_SET, envs=TASK_SET.envs[::-1], env_kwargs=(), weights=None)
    with pytest.raises(ValueError, match="is not env"):
        VecEnv.from_bank(other, jax.eval_shape(lambda: TASK_SET.eval_tasks(1)))
    wider = dataclasses.replace(TASK_SET, obs_dim=7)
    with pytest.raises(ValueError, match="do not fit"):
        VecEnv.from_bank(wider, jax.eval_shape(lambda: TASK_SET.eval_tasks(1)))


def test_jitted_step_traces_once_across_task_ends():
    """jit(VecEnv.step) reuses its first trace for the states it returns itself, through task
    ends and resampled tasks (EPISODE * TRIALS steps end every slot's task)."""
    venv = VecEnv(TASK_SET, num_envs=NUM_ENVS)
    step = jax.jit(chex.assert_max_traces(venv.step, n=1))
    _, state = jax.jit(venv.reset)(jax.random.key(0))
    actions = jnp.full((NUM_ENVS, 2), 0.5, jnp.float32)
    ended = np.zeros(NUM_ENVS, bool)
    for i in range(EPISODE * TRIALS + 1):
        _, state, _, terminated, _, _ = step(jax.random.key(i), state, actions)
        ended |= np.asarray(terminated)
    assert ended.all()


def test_vecenv_traces_under_an_outer_vmap_over_seeds():
    """jit(vmap(train)) over seeds vmaps the VecEnv: its group cond must batch (trace only)."""
    venv = VecEnv(TASK_SET, NUM_ENVS)
    keys = jax.random.split(jax.random.key(0), 2)
    obs, state = jax.eval_shape(jax.vmap(venv.reset), keys)
    assert obs.shape == (2, NUM_ENVS, venv.obs_size)
    out = jax.eval_shape(jax.vmap(venv.step), keys, state, jnp.zeros((2, NUM_ENVS, 2)))
    assert out[0].shape == (2, NUM_ENVS, venv.obs_size) and out[2].shape == (2, NUM_ENVS)


def test_bank_may_be_a_traced_argument():
    """An evaluator can pass the bank into its jitted function (trace only)."""
    bank = jax.eval_shape(lambda: TASK_SET.eval_tasks(2))

    def run(bank, key):
        venv = VecEnv.from_bank(TASK_SET, bank)
        _, state = venv.reset(key)
        return venv.step(key, state, jnp.zeros((venv.num_envs, 2)))[0]

    assert jax.eval_shape(run, bank, jax.random.key(0)).shape == (4, TASK_SET.obs_size)
