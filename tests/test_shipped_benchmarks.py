"""Benchmarks and task sets: pinned definitions, deterministic banks, seed spaces, bad input,
and the O(1) scale of projected observations for every env of every shipped benchmark.

Most tests use a two-env gymnax task set. The scale tests roll out each env once (one jit per
env); brax and dmc envs compile for a minute or more each on CPU, so theirs are marked slow.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from projected_envs.benchmark_registry import benchmark, make_benchmark
from projected_envs.tasks import TaskBank, TaskSet

bm = importlib.import_module("projected_envs.benchmark_registry")
shipped = importlib.import_module("projected_envs.shipped_benchmarks")
tasks_module = importlib.import_module("projected_envs.tasks")

# Changing a shipped benchmark must be deliberate: update the pin *and* say why in the change.
# Pins changed on 2026-11-28 on purpose: every shipped benchmark got the gamma-aware return
# scales (TaskSet.return_scales, then named reward_scales) and a design gamma; classic was
# redesigned (gaussian action projections only, no previous-action extra); classic-full is new.
# See docs/tasks.md.
# dmc-lu2023 and dmc-lu2023-multitrial changed again later that day, on purpose: their return
# scales were recomputed on the final envs (goals per task), and rare-reward envs (the random
# policy rewarded in fewer than half of the tasks: every dmc env but the cartpoles) are now
# scaled by their reward bound (RARE_REWARD_FRACTION in return_scale.py; docs/tasks.md).
# point-nav is new on 2026-11-28 (third session): the main job's cpu benchmark, in-context
# navigation (docs/tasks.md, "Designing point-nav").
# The shipped benchmarks got versioned ids on 2026-12-01 ("classic" became "classic-v1", the
# bare name an alias of the newest version): their fingerprints did not change.
PINNED = {
    "point-nav-v1": "e3df790beb7b",
    "classic-v1": "97d7104b2a28",
    "classic-families-v1": "ab45982e7e5a",
    "classic-full-v1": "dc836a77f703",
    "dmc-lu2023-v1": "a931c542f43d",
    "dmc-lu2023-multitrial-v1": "83f5cd484e20",
    "brax-locomotion-v1": "438e24ab8a14",
}

SMALL = TaskSet(
    envs=("gymnax/Pendulum-v1", "gymnax/Reacher-misc"),
    obs_dim=6,
    action_dim=2,
    num_trials=2,
    normalize=False,
    name="small",
)


def _obs_matrices(bank: TaskBank) -> list[np.ndarray]:
    return [np.asarray(p.inner.obs_matrix) for p in bank.params]  # per group [n, O, E]


def _same(a, b) -> bool:
    """Bitwise equal pytrees (Python scalars compared as the arrays jax makes of them)."""
    leaves = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return all(np.array_equal(jnp.asarray(x), jnp.asarray(y)) for x, y in leaves)


# ------------------------------------------------------------------------------ definitions
def test_shipped_benchmark_fingerprints_are_pinned():
    assert {name: benchmark(name).fingerprint for name in PINNED} == PINNED


def test_benchmarks_lists_every_shipped_benchmark_sorted():
    names = bm.benchmarks()
    assert set(PINNED) <= set(names)
    assert names == sorted(names)


def test_bare_names_are_aliases_of_the_newest_version():
    for benchmark_id in PINNED:
        name, version = bm.split_version(benchmark_id)
        assert version == 1 and bm.benchmark_aliases()[name] == benchmark_id
        assert benchmark(name) is benchmark(benchmark_id)
        assert (benchmark(name).name, benchmark(name).id) == (name, benchmark_id)
        assert name not in bm.benchmarks() and name in bm.benchmarks(aliases=True)


def test_a_new_version_takes_over_the_alias_and_the_old_one_stays():
    old = benchmark("classic-v1")
    try:
        bm.register_benchmark(lambda: dataclasses.replace(old, gamma=0.99), name="classic-v2")
        new = benchmark("classic")
        assert (new.id, new.version, new.gamma) == ("classic-v2", 2, 0.99)
        assert benchmark("classic-v1").fingerprint == old.fingerprint != new.fingerprint
        mine = make_benchmark("classic", SMALL.envs, None, 6, 2, ood_obs_family="orthogonal")
        with pytest.raises(ValueError, match=r"alias of 'classic-v2'.*classic-v3"):
            bm.register_benchmark(mine)
    finally:
        bm._BENCHMARKS.pop("classic-v2", None)
        bm._cached_benchmark.cache_clear()
    assert benchmark("classic") is benchmark("classic-v1")


def test_unknown_benchmark_name_suggests_close_matches():
    with pytest.raises(ValueError, match=r"Unknown benchmark 'clasic'.*'classic'"):
        benchmark("clasic")


def test_dmc_lu2023_is_the_papers_split():
    b = benchmark("dmc-lu2023")
    assert (b.obs_dim, b.action_dim, b.num_trials) == (12, 2, 1)
    assert set(b.train.envs) == {
        "dmc/BallInCup",
        "dmc/CartpoleSwingup",
        "dmc/FingerSpin",
        "dmc/FingerTurnHard",
        "dmc/PointMass",
        "dmc/ReacherEasy",
    }
    assert set(b.ood_test.envs) == {
        "dmc/CartpoleBalance",
        "dmc/FingerTurnEasy",
        "dmc/PendulumSwingup",
        "dmc/PointMassHard",
        "dmc/ReacherHard",
    }
    assert b.id_test.envs == b.train.envs and b.id_test.seed != b.train.seed
    for ts in b.splits.values():
        assert ts.obs_extras == ("reward", "trial_done")
        assert ts.obs_size == 14
        assert all(dict(ts.kwargs_for(e))["max_steps_in_episode"] == 1000 for e in ts.envs)
    multi = benchmark("dmc-lu2023-multitrial")
    assert (multi.train.envs, multi.ood_test.envs) == (b.train.envs, b.ood_test.envs)
    assert multi.num_trials > 1


def test_classic_trains_on_gymnax_and_holds_out_two_envs():
    b = benchmark("classic")
    assert all(e.startswith("gymnax/") for e in b.train.envs)
    assert len(b.ood_test.envs) >= 2 and not set(b.ood_test.envs) & set(b.train.envs)
    # the CPU design: random action projections, unprojected observations, no previous action
    assert (b.train.obs_family, b.train.action_family) == ("identity", "gaussian")
    assert "action" not in b.train.obs_extras and b.gamma == 0.995
    fam = benchmark("classic-families")
    assert fam.ood_test.envs == fam.train.envs == b.train.envs
    assert fam.ood_test.action_family != fam.train.action_family == "gaussian"
    full = benchmark("classic-full")
    assert (full.train.obs_family, full.train.action_family) == ("gaussian", "gaussian")
    assert full.train.envs == b.train.envs and full.ood_test.envs == b.ood_test.envs


def test_point_nav_holds_out_a_goal_region_of_its_one_env():
    b = benchmark("point-nav")
    assert b.train.envs == b.id_test.envs == b.ood_test.envs == (shipped.NAV_ENV,)
    assert (b.train.obs_family, b.train.action_family) == ("identity", "gaussian")
    assert "action" not in b.train.obs_extras and b.gamma == 0.995 and b.num_trials == 4
    train, ood = (
        dict(b.train.kwargs_for(shipped.NAV_ENV)),
        dict(b.ood_test.kwargs_for(shipped.NAV_ENV)),
    )
    assert train["teleport"] is False and "goal_angles" not in train  # gymnax's upper arc
    assert train["observe_last_action"] is False  # no displacement to keep moving along
    assert ood == {**train, "goal_angles": (math.pi, 2 * math.pi)}
    assert dict(b.id_test.kwargs_for(shipped.NAV_ENV)) == train
    # goals: upper semicircle in train and id_test, lower in ood_test, unit distance
    for split, sign in (("train", 1), ("id_test", 1), ("ood_test", -1)):
        bank = b.splits[split].eval_tasks(64)
        goals = np.concatenate([np.asarray(p.inner.inner.goal) for p in bank.params])
        np.testing.assert_allclose(np.linalg.norm(goals, axis=-1), 1.0, rtol=1e-5)
        assert np.all(sign * goals[:, 1] >= 0), split


def test_ood_env_kwargs_hold_out_the_same_env_under_other_kwargs():
    kwargs = {"gymnax/Pendulum-v1": {"max_torque": 1.0}}
    ok = make_benchmark("k", ("gymnax/Pendulum-v1",), None, 4, 1, ood_env_kwargs=kwargs)
    assert dict(ok.ood_test.kwargs_for("gymnax/Pendulum-v1")) == {"max_torque": 1.0}
    assert ok.train.kwargs_for("gymnax/Pendulum-v1") == ()
    with pytest.raises(ValueError, match="ood_test overlaps train"):
        make_benchmark("k", ("gymnax/Pendulum-v1",), None, 4, 1, env_kwargs=kwargs)


def test_brax_locomotion_dims_cover_its_envs():
    b = benchmark("brax-locomotion")
    assert all(e.startswith("brax/") for e in b.train.envs + b.ood_test.envs)
    assert b.obs_dim >= 27 and b.action_dim >= 8  # ant: obs 27, 8 actuators
    assert b.ood_test.envs and not set(b.ood_test.envs) & set(b.train.envs)


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
    assert SMALL.max_task_steps == 2 * 200


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


def test_overlapping_train_and_ood_envs_raise():
    with pytest.raises(ValueError, match=r"ood_test overlaps train.*gymnax/Reacher-misc"):
        make_benchmark("bad", SMALL.envs, ("gymnax/Reacher-misc", "gymnax/Swimmer-misc"), 6, 2)


def test_family_ood_may_reuse_train_envs_but_not_train_families():
    make_benchmark("fam", SMALL.envs, None, 6, 2, ood_obs_family="orthogonal")
    with pytest.raises(ValueError, match="ood_test overlaps train"):
        make_benchmark("fam", SMALL.envs, None, 6, 2)


def test_inconsistent_benchmark_splits_raise():
    good = make_benchmark("ok", SMALL.envs, ("gymnax/Swimmer-misc",), 6, 2)
    with pytest.raises(ValueError, match="dims"):
        dataclasses.replace(good, ood_test=dataclasses.replace(good.ood_test, obs_dim=7))
    with pytest.raises(ValueError, match="train seed"):
        dataclasses.replace(good, id_test=dataclasses.replace(good.id_test, seed=good.train.seed))
    with pytest.raises(ValueError, match="not train envs"):
        dataclasses.replace(good, id_test=dataclasses.replace(good.ood_test, seed=7))
    with pytest.raises(ValueError, match="num_trials"):
        dataclasses.replace(good, num_trials=3)
    with pytest.raises(ValueError, match="obs_size"):
        dataclasses.replace(good, ood_test=dataclasses.replace(good.ood_test, obs_extras=()))


def test_register_benchmark_adds_refuses_duplicates_and_overwrites():
    b = make_benchmark("user-bench", SMALL.envs, ("gymnax/Swimmer-misc",), 6, 2)
    try:
        bm.register_benchmark(b)
        assert "user-bench" in bm.benchmarks() and benchmark("user-bench") is b
        with pytest.raises(ValueError, match="already registered"):
            bm.register_benchmark(b)
        other = make_benchmark("user-bench", SMALL.envs, ("gymnax/Swimmer-misc",), 5, 2)
        bm.register_benchmark(lambda: other, name="user-bench", overwrite=True)
        assert benchmark("user-bench").obs_dim == 5
    finally:
        bm._BENCHMARKS.pop("user-bench", None)
        bm._cached_benchmark.cache_clear()


# ------------------------------------------------------------------------------ scale
def _scale_cases() -> list:
    """One case per distinct (env, obs_dim, obs_family) over every split of every benchmark."""
    seen, cases = set(), []
    for name in sorted(PINNED):
        for split, ts in benchmark(name).splits.items():
            for i, env_id in enumerate(ts.envs):
                tag = (env_id, ts.obs_dim, ts.obs_family, ts.normalize)
                if tag in seen:
                    continue
                seen.add(tag)
                slow = not env_id.startswith("gymnax/")
                marks = [pytest.mark.slow] if slow else []
                cases.append(
                    pytest.param(name, split, i, id=f"{name}-{split}-{env_id}", marks=marks)
                )
    return cases


@pytest.mark.parametrize(("name", "split", "index"), _scale_cases())
def test_projected_observations_are_order_one(name, split, index):
    """A random-policy rollout of 4 tasks: the projected coordinates have RMS in [0.1, 10]."""
    ts: TaskSet = benchmark(name).splits[split]
    env = ts.make_env(index)
    num, steps = 4, 16 if ts.envs[index].startswith("gymnax/") else 8

    def rollout(key):
        k_task, k_reset, k_run = jax.random.split(key, 3)
        tasks = jax.vmap(lambda k: ts.sample_task(index, k))(jax.random.split(k_task, num))
        obs, state = jax.vmap(env.reset)(jax.random.split(k_reset, num), tasks)

        def body(state, k):
            k_act, k_step = jax.random.split(k)
            actions = jax.random.uniform(k_act, (num, ts.action_dim), minval=-1.0)
            obs, state, reward, *_ = jax.vmap(env.step)(
                jax.random.split(k_step, num), state, actions, tasks
            )
            return state, (obs, reward)

        _, (obs_t, reward_t) = jax.lax.scan(body, state, jax.random.split(k_run, steps))
        return jnp.concatenate([obs[None], obs_t]), reward_t

    obs, reward = jax.jit(rollout)(jax.random.key(0))
    assert obs.shape == (steps + 1, num, ts.obs_size)
    projected = np.asarray(obs[..., : ts.obs_dim])
    assert np.all(np.isfinite(projected)) and np.all(np.isfinite(reward))
    rms = float(np.sqrt(np.mean(projected**2)))
    assert 0.1 <= rms <= 10.0, f"{ts.envs[index]}: projected obs RMS {rms:.3g}"
    assert float(np.max(np.abs(projected))) <= 100.0
    assert float(np.sqrt(np.mean(np.asarray(reward) ** 2))) <= 10.0  # rewards are scaled too
