"""The shipped benchmarks: pinned definitions, versioned ids, the design of each, and the O(1) scale
of projected observations for every env of every shipped benchmark.

The scale tests roll out each env once (one jit per env); brax and dmc envs compile for a minute
or more each on CPU, so theirs are marked slow.
"""

from __future__ import annotations

import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from projected_envs.benchmark_registry import benchmark
from projected_envs.tasks import TaskSet

bm = importlib.import_module("projected_envs.benchmark_registry")


shipped = importlib.import_module("projected_envs.shipped_benchmarks")


# Changing a shipped benchmark must be deliberate: update the pin *and* say why in the change.
# Pins changed on 2026-11-28 on purpose: every shipped benchmark got the gamma-aware return
# scales (TaskSet.return_scales, then named reward_scales) and a design gamma; classic was
# redesigned (gaussian action projections only, no previous-action extra); classic-full is new.
# See docs/reference/benchmarks.md.
# dmc-lu2023 and dmc-lu2023-multitrial changed again later that day, on purpose: their return
# scales were recomputed on the final envs (goals per task), and rare-reward envs (the random
# policy rewarded in fewer than half of the tasks: every dmc env but the cartpoles) are now
# scaled by their reward bound (RARE_REWARD_FRACTION in return_scale.py; docs/concepts/scaling.md).
# point-nav is new on 2026-11-28 (third session): the main job's cpu benchmark, in-context
# navigation (docs/concepts/point_nav.md).
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


def test_brax_locomotion_dims_cover_its_envs():
    b = benchmark("brax-locomotion")
    assert all(e.startswith("brax/") for e in b.train.envs + b.ood_test.envs)
    assert b.obs_dim >= 27 and b.action_dim >= 8  # ant: obs 27, 8 actuators
    assert b.ood_test.envs and not set(b.ood_test.envs) & set(b.train.envs)


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
