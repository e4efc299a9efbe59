"""Normalize: given and shipped statistics applied to observations and rewards, errors that name
the fix."""

from __future__ import annotations

import importlib.util

import jax
import numpy as np
import pytest

import projected_envs as pe
from projected_envs.wrappers import (
    NormalizationStats,
    Normalize,
    ProjectObservation,
    normalization_stats,
)
from tests.helpers import FAKE, NORM, STATS, dyadic_actions, fake_params, rollout


def test_normalize_applies_the_given_stats_to_obs_and_reward():
    actions = dyadic_actions(seed=3, steps=30)
    key, params = jax.random.key(9), fake_params(goal=1.5, max_steps=6)
    raw = rollout(FAKE, params, key, actions)
    norm = rollout(NORM, params, key, actions)
    mean, std = np.asarray(STATS["obs_mean"]), np.asarray(STATS["obs_std"])

    def expected(o):
        return np.clip((np.asarray(o) - mean) / std, -3.0, 3.0).astype(np.float32)

    np.testing.assert_allclose(norm[0], expected(raw[0]), rtol=1e-6)
    np.testing.assert_allclose(norm[1], expected(raw[1]), rtol=1e-6)
    assert np.abs(norm[1]).max() == 3.0  # the clip was exercised
    np.testing.assert_allclose(norm[2], 0.1 * np.asarray(raw[2]), rtol=1e-6)
    np.testing.assert_array_equal(norm[5]["raw_reward"], raw[2])
    np.testing.assert_array_equal(norm[3], raw[3])
    np.testing.assert_array_equal(norm[4], raw[4])


def test_normalize_errors_name_the_fix():
    with pytest.raises(ValueError, match=r"env_id=.*stats="):
        Normalize(FAKE)  # FakeEnv is not registered
    with pytest.raises(KeyError, match=r"compute_normalization\.py.*stats="):
        Normalize(FAKE, env_id="fake/Nope")
    with pytest.raises(ValueError, match=r"shape \(2,\).*\(3,\)"):
        Normalize(FAKE, stats={"obs_mean": [0, 0], "obs_std": [1, 1], "reward_scale": 1})
    with pytest.raises(ValueError, match="obs_std > 0"):
        Normalize(FAKE, stats={"obs_mean": [0, 0, 0], "obs_std": [1, 0, 1], "reward_scale": 1})
    with pytest.raises(ValueError, match="under the projections"):
        Normalize(ProjectObservation(FAKE, dim=3), stats=STATS)


@pytest.mark.skipif(
    importlib.util.find_spec("projected_envs.registry") is None, reason="registry not available"
)
def test_normalize_finds_the_shipped_stats_of_a_registered_env():
    from projected_envs.registry import make

    env, _ = make("gymnax/Pendulum-v1")
    norm = Normalize(env)
    shipped = normalization_stats("gymnax/Pendulum-v1")
    assert isinstance(shipped, NormalizationStats)
    assert norm.env_id == "gymnax/Pendulum-v1"
    np.testing.assert_array_equal(norm.stats.obs_std, shipped.obs_std)
    assert shipped.obs_mean.shape == (3,) and 0 < shipped.reward_scale < 1  # rewards ~ -6/step
    obs, _ = env.reset(jax.random.key(0))
    obs_n, _ = norm.reset(jax.random.key(0))
    np.testing.assert_allclose(obs_n, (obs - shipped.obs_mean) / shipped.obs_std, rtol=1e-6)


def test_every_shipped_entry_is_valid_and_matches_its_cheap_env():
    import json
    from importlib import resources

    text = (resources.files("projected_envs") / "data" / "normalization.json").read_text()
    assert len(text) < 200_000  # small enough to commit and read
    entries = json.loads(text)["envs"]
    assert "gymnax/Pendulum-v1" in entries
    for env_id in entries:
        stats = normalization_stats(env_id)  # validates shapes, std > 0, scale > 0
        assert 0 < stats.reward_scale <= 1  # 1 / max(1, rms): never amplifies
        if env_id.startswith(("gymnax/", "probe/")):  # cheap to build: check the sizes
            from projected_envs.registry import make

            assert stats.obs_mean.shape == (make(env_id)[0].obs_size,), env_id


def test_normalize_refuses_another_envs_id():
    env, _ = pe.make("gymnax/Pendulum-v1")
    with pytest.raises(ValueError, match="another env"):
        Normalize(env, env_id="gymnax/Reacher-misc")
    assert Normalize(env, env_id="gymnax/Pendulum-v1").env_id == "gymnax/Pendulum-v1"
