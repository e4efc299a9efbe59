"""Gamma-aware reward scales: value targets are O(1) for every env of every shipped benchmark."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import projected_envs as pe
from projected_envs.return_scale import discounted_returns
from projected_envs.shipped_benchmarks import (
    SHIPPED_GAMMA,
    _shipped_return_scales,
    shipped_return_scales,
)

# Benchmarks whose envs all compile in about a second (gymnax): in the default run.
FAST = ("classic-v1", "classic-families-v1")


def test_discounted_returns_match_a_hand_computed_fixture():
    # one env, 5 steps, a task ends after step 1: G restarts there
    reward = jnp.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
    done = jnp.array([[False], [True], [False], [False], [False]])
    g = np.asarray(discounted_returns(reward, done, 0.5))[:, 0]
    # G_4 = 5; G_3 = 4 + 2.5; G_2 = 3 + 3.25; G_1 = 2 (task end); G_0 = 1 + 1
    np.testing.assert_allclose(g, [2.0, 2.0, 6.25, 6.5, 5.0])


def _random_policy_return_std(task_set: pe.TaskSet, index: int, gamma: float) -> float:
    """Std of G_t under the uniform-random policy on the *evaluation* bank of one env.

    Independent of the script that made the scales: other tasks (the eval bank, not training
    tasks), other keys, and G computed by a plain numpy loop over the recorded rewards.
    """
    env = task_set.make_env(index)
    bank = task_set.eval_tasks(per_env=32)
    tasks = bank.params[index]
    n = bank.sizes[index]
    horizon = task_set.max_steps_in_episode

    @jax.jit
    def run(key):
        k_reset, k_run = jax.random.split(key)
        _, state = jax.vmap(env.reset)(jax.random.split(k_reset, n), tasks)

        def body(state, key):
            k_act, k_step = jax.random.split(key)
            action = jax.random.uniform(k_act, (n, env.action_size), minval=-1, maxval=1)
            _, state, reward, terminated, _, _ = jax.vmap(env.transition)(
                jax.random.split(k_step, n), state, action, tasks
            )
            return state, (reward, terminated)

        return jax.lax.scan(body, state, jax.random.split(k_run, horizon))[1]

    reward, ended = map(np.asarray, run(jax.random.key(20261128)))
    returns = []
    for b in range(n):  # each task's steps up to and including its end
        stop = int(np.argmax(ended[:, b])) + 1 if ended[:, b].any() else horizon
        g, gs = 0.0, []
        for r in reward[:stop, b][::-1]:
            g = float(r) + gamma * g
            gs.append(g)
        returns.extend(gs)
    return float(np.std(returns))


def _check_benchmark(name: str) -> None:
    bench = pe.benchmark(name)
    assert bench.gamma == SHIPPED_GAMMA[name]
    # Envs whose random policy earns exactly nothing (DM Control's catch) have no return spread
    # to scale by; they are scaled by their reward bound instead, listed in the data.
    by_bound = set(_shipped_return_scales()[name].get("scaled_by_reward_bound", []))
    seen = set()
    for split in (bench.train, bench.ood_test):
        for i, env_id in enumerate(split.envs):
            if env_id in seen:
                continue
            seen.add(env_id)
            std = _random_policy_return_std(split, i, bench.gamma)
            print(f"{name}: {env_id} random-policy return std {std:.3f}")
            if env_id in by_bound:
                assert std < 0.3, (env_id, std)  # still degenerate: the bound rule applies
                continue
            assert 0.3 <= std <= 3.0, (env_id, std)


@pytest.mark.parametrize("name", FAST)
def test_random_policy_returns_are_order_one(name):
    _check_benchmark(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(SHIPPED_GAMMA) - set(FAST)))
def test_random_policy_returns_are_order_one_slow(name):
    _check_benchmark(name)


def test_every_split_uses_the_shipped_scales_and_they_enter_the_fingerprint():
    for name in SHIPPED_GAMMA:
        bench = pe.benchmark(name)
        shipped = shipped_return_scales(name)
        for split in bench.splits.values():
            assert dict(split.return_scales) == {e: shipped[e] for e in split.envs}
    train = pe.benchmark("classic").train
    env_id, scale = train.return_scales[0]
    other = dataclasses.replace(
        train, return_scales=((env_id, 2 * scale), *train.return_scales[1:])
    )
    assert other.fingerprint != train.fingerprint


def test_normalize_applies_the_task_set_scale():
    train = pe.benchmark("classic").train
    i = train.envs.index("gymnax/MountainCarContinuous-v0")
    normalize = train.make_env(i).env.env.env  # MetaEpisode > ProjectAction > ProjectObs > Norm
    assert isinstance(normalize, pe.Normalize)
    assert normalize.stats.reward_scale == dict(train.return_scales)[train.envs[i]]


def test_bad_return_scales_are_refused():
    train = pe.benchmark("classic").train
    with pytest.raises(ValueError, match="not in"):
        dataclasses.replace(train, return_scales=(("gymnax/Acrobot", 1.0),))
    with pytest.raises(ValueError, match="> 0"):
        dataclasses.replace(train, return_scales=((train.envs[0], -1.0),))
    with pytest.raises(ValueError, match="normalize"):
        dataclasses.replace(train, normalize=False)


def test_rules_for_constant_rare_and_common_rewards(monkeypatch):
    # Synthetic returns-to-go [steps, tasks] stand in for the rollouts; the rule is tested.
    from projected_envs import return_scale

    gamma = 0.99
    valid = np.ones((100, 10), bool)
    common = np.tile([[1.0], [-1.0]], (50, 10))  # std 1, every task rewarded
    rare = np.zeros((100, 10))
    rare[:, :4] = 5.0  # rewards in 4 of 10 tasks (< RARE_REWARD_FRACTION)
    constant = np.zeros((100, 10))
    fake = {0: common, 1: rare, 2: rare, 3: constant}
    monkeypatch.setattr(
        return_scale, "_random_policy_rollout", lambda ts, i, g, n, s: (fake[i], valid)
    )
    train = pe.benchmark("classic").train
    four = dataclasses.replace(train, return_scales=())
    bounds = {four.envs[1]: 1.0, four.envs[3]: 2.0}  # env 2 is rare but has no bound
    found = return_scale.scales_and_rules(four, gamma, reward_bounds=bounds)
    assert found[four.envs[0]] == (1.0, "random-std")
    assert found[four.envs[1]] == (0.01, "reward-bound")  # rare, bounded: (1 - gamma) / r_max
    assert found[four.envs[2]] == (float(f"{1 / rare.std():.4g}"), "random-std")
    assert found[four.envs[3]] == (0.005, "reward-bound")  # constant: its bound 2
    with pytest.raises(ValueError, match="reward_bounds"):
        return_scale.scales_and_rules(four, gamma, reward_bounds={four.envs[1]: 1.0})
