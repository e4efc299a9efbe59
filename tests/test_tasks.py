"""Task sets: deterministic banks and seed spaces, fingerprints, bad input that names the fix, and
stacks that keep non-finite values from the agent.

Most tests use a two-env gymnax task set (``SMALL``). The extreme-action rollout compiles once
per env (default run: one env per suite, the rest ``slow``).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import projected_envs as pe
from projected_envs.benchmark_registry import make_benchmark
from projected_envs.shipped_benchmarks import SHIPPED_GAMMA
from projected_envs.tasks import TaskBank
from tests.helpers import PENDULUM_SET, SMALL

tasks_module = importlib.import_module("projected_envs.tasks")


def _obs_matrices(bank: TaskBank) -> list[np.ndarray]:
    return [np.asarray(p.inner.obs_matrix) for p in bank.params]  # per group [n, O, E]


def _same(a, b) -> bool:
    """Bitwise equal pytrees (Python scalars compared as the arrays jax makes of them)."""
    leaves = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return all(np.array_equal(jnp.asarray(x), jnp.asarray(y)) for x, y in leaves)


def test_fingerprint_changes_iff_the_definition_changes():
    same = dataclasses.replace(SMALL)
    assert same.fingerprint == SMALL.fingerprint
    renamed = dataclasses.replace(SMALL, name="renamed")
    assert renamed == SMALL and renamed.fingerprint == SMALL.fingerprint  # a label only
    changed = [
        dataclasses.replace(SMALL, obs_dim=7),
        dataclasses.replace(SMALL, num_trials=3),
        dataclasses.replace(SMALL, seed=1),
        dataclasses.replace(SMALL, obs_family="sparse"),
        dataclasses.replace(SMALL, weights=(1.0, 2.0)),
        dataclasses.replace(SMALL, env_kwargs={"gymnax/Pendulum-v1": {"max_steps_in_episode": 9}}),
    ]
    prints = {ts.fingerprint for ts in changed} | {SMALL.fingerprint}
    assert len(prints) == len(changed) + 1
    assert all(len(p) == 12 and int(p, 16) >= 0 for p in prints)


def test_obs_extras_order_and_mapping_kwargs_are_canonical():
    a = dataclasses.replace(SMALL, obs_extras=("trial_done", "reward"))
    b = dataclasses.replace(SMALL, obs_extras=("reward", "trial_done"))
    assert a == b and a.fingerprint == b.fingerprint and a.obs_size == 6 + 2
    k1 = dataclasses.replace(
        SMALL, env_kwargs={"gymnax/Reacher-misc": {"dt": 1, "torque_scale": [2]}}
    )
    k2 = dataclasses.replace(
        SMALL, env_kwargs=(("gymnax/Reacher-misc", (("torque_scale", (2,)), ("dt", 1))),)
    )
    assert k1 == k2 and hash(k1) == hash(k2)


def test_obs_size_matches_the_built_stack():
    assert SMALL.obs_size == 6 + 2 + 3
    for i in range(len(SMALL.envs)):
        env = SMALL.make_env(i)
        assert (env.obs_size, env.action_size) == (SMALL.obs_size, SMALL.action_size)
    assert SMALL.make_env(0) is SMALL.make_env(0)  # cached: jit caches see one env object
    # gymnax defaults: Pendulum 200 steps, Reacher-misc 100; K = 2
    assert [SMALL.max_trial_steps(i) for i in range(2)] == [200, 100]
    assert SMALL.max_steps_in_episode == 2 * 200


# ------------------------------------------------------------------------------ tasks
@functools.cache
def _small_bank() -> TaskBank:
    return SMALL.eval_tasks(per_env=3)


def test_eval_tasks_are_a_pure_function_of_the_definition():
    bank = _small_bank()
    assert len(bank) == 6 and bank.sizes == (3, 3)
    np.testing.assert_array_equal(bank.env_index, [0, 0, 0, 1, 1, 1])
    # fresh env objects and samplers: nothing cached may matter
    tasks_module._build_env.cache_clear()
    tasks_module._batched_sampler.cache_clear()
    again = dataclasses.replace(SMALL, name="another name").eval_tasks(per_env=3)
    assert _same(bank.params, again.params) and _same(bank.seeds, again.seeds)
    # more tasks extend the bank; K, extras and weights do not change the tasks
    longer = dataclasses.replace(SMALL, num_trials=5, weights=(3.0, 1.0)).eval_tasks(per_env=4)
    short = jax.tree.map(lambda x: x[:3], longer.params)
    assert _same(short, bank.params)
    # tasks within the bank are distinct
    for m in _obs_matrices(bank):
        assert len({x.tobytes() for x in m}) == len(m)


def test_sample_is_deterministic_and_follows_the_weights():
    key = jax.random.key(5)
    weighted = dataclasses.replace(SMALL, weights=(2.0, 1.0))
    a, b = weighted.sample(key, 6), weighted.sample(key, 6)
    assert a.sizes == (4, 2) and _same(a.params, b.params)
    c = weighted.sample(jax.random.key(6), 6)
    assert not np.array_equal(_obs_matrices(a)[0], _obs_matrices(c)[0])
    # task t of the bank is sample_task(env_index[t], fold_in(key, t))
    # (jitted: eager and jitted sampling may differ in the last bit of a float)
    one = jax.jit(weighted.sample_task, static_argnums=0)(1, jax.random.fold_in(key, 5))
    assert _same(one, jax.tree.map(lambda x: x[1], a.params[1]))


def test_eval_seeds_are_disjoint_from_training_seeds():
    bank = _small_bank()
    for seeds in bank.seeds:
        assert np.all(np.asarray(seeds)[:, 0] >> 31 == 1)  # evaluation: top bit set
        np.testing.assert_array_equal(np.asarray(seeds)[:, 0] & 0x7FFFFFFF, SMALL.seed)
    keys = jax.random.split(jax.random.key(0), 4096)
    raw = jax.vmap(lambda k: jax.random.key_data(tasks_module._train_seed(k, SMALL.seed)))(keys)
    assert np.all(np.asarray(raw)[:, 0] >> 31 == 0)  # training: top bit clear, any key
    raw_keys = jax.vmap(lambda k: tasks_module._train_seed(k, 0))(
        jax.random.split(jax.random.PRNGKey(0), 64)
    )
    assert np.all(np.asarray(raw_keys)[:, 0] >> 31 == 0)  # raw uint32 keys too
    # ... and the tasks differ from training tasks drawn with the same small seeds
    train = SMALL.sample(jax.random.PRNGKey(0), 16)
    for ev, tr in zip(_obs_matrices(bank), _obs_matrices(train)):
        assert not any(np.array_equal(x, y) for x in ev for y in tr)


def test_id_test_and_train_eval_banks_differ():
    b = make_benchmark("tiny", SMALL.envs[:1], SMALL.envs[1:], 6, 2, normalize=False)
    train, id_test = b.train.eval_tasks(2), b.id_test.eval_tasks(2)
    assert not np.array_equal(train.seeds[0], id_test.seeds[0])
    x, y = _obs_matrices(train)[0], _obs_matrices(id_test)[0]  # [2, O, E] each
    assert not np.any(np.all(x[:, None] == y[None], axis=(2, 3)))


def test_typed_and_raw_keys_give_the_same_task():
    typed = SMALL.sample_task(0, jax.random.key(3))
    raw = SMALL.sample_task(0, jax.random.PRNGKey(3))
    assert _same(typed, raw)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"obs_dim": 0}, "obs_dim must be a positive int"),
        ({"obs_dim": -3}, "obs_dim must be a positive int"),
        ({"obs_dim": 2.5}, "obs_dim must be a positive int"),
        ({"action_dim": 0}, "action_dim must be a positive int"),
        ({"num_trials": 0}, "num_trials must be a positive int"),
        ({"obs_family": "gausian"}, "unknown obs_family 'gausian'; valid families: gaussian"),
        ({"action_family": "dense"}, "valid families: .*signed_permutation"),
        ({"weights": (1.0, -1.0)}, "weights must be finite and >= 0"),
        ({"weights": (0.0, 0.0)}, "weights are all zero"),
        ({"weights": (1.0,)}, "1 weights for 2 envs"),
        ({"envs": ("gymnax/Pendulum-v2",)}, "unknown env id.*gymnax/Pendulum-v1"),
        ({"envs": ("gymnax/Pendulum-v1",) * 2}, "duplicates"),
        ({"envs": ()}, "envs is empty"),
        ({"obs_extras": ("reward", "time")}, "unknown obs extra 'time'"),
        ({"seed": -1}, r"seed must be in \[0, 2\*\*31\)"),
        ({"env_kwargs": {"gymnax/Swimmer-misc": {}}}, "not in envs"),
    ],
)
def test_bad_task_set_input_raises_with_a_clear_message(change, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(SMALL, **change)


def test_task_set_stacks_carry_the_guard_into_meta_episode_info():
    env = PENDULUM_SET.make_env(0)
    assert isinstance(env.unwrapped, pe.Environment)
    layers, layer = [], env
    while hasattr(layer, "env"):
        layers.append(type(layer).__name__)
        layer = layer.env
    assert layers[-1] == "FiniteGuard"
    task = PENDULUM_SET.sample_task(0, jax.random.key(0))
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
    for name in SHIPPED_GAMMA:  # the shipped ids, whatever else a test module registered
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


def test_task_set_bad_inputs_name_the_fix():
    with pytest.raises(IndexError, match=r"valid indices are 0..0"):
        PENDULUM_SET.sample_task(1, jax.random.key(0))
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
