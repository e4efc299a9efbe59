"""The observation-projection diagnosis: the fixed_orthogonal family and the
point-nav-obs8-* variants, against independent references."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

import projected_envs as pe
from projected_envs.probes_obs import OBS_PROBE_FAMILIES, obs_probe
from projected_envs.projections import FIXED_PROJECTION_SEED, sample_projection


def _numpy_orthogonal(out_dim: int, in_dim: int) -> np.ndarray:
    """Reference: QR in numpy (float64) of the same gaussian draw, Haar sign fix, rescaled."""
    big, small = max(out_dim, in_dim), min(out_dim, in_dim)
    g = np.asarray(jax.random.normal(jax.random.key(FIXED_PROJECTION_SEED), (big, small)))
    q, r = np.linalg.qr(g.astype(np.float64))
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)[None, :]
    m = q if out_dim >= in_dim else q.T
    return np.sqrt(big / in_dim) * m


@pytest.mark.parametrize(("out_dim", "in_dim"), [(8, 6), (2, 5), (3, 3)])
def test_fixed_orthogonal_is_one_matrix_whatever_the_key_and_matches_numpy(out_dim, in_dim):
    a = np.asarray(sample_projection(jax.random.key(1), "fixed_orthogonal", out_dim, in_dim))
    b = np.asarray(sample_projection(jax.random.key(2), "fixed_orthogonal", out_dim, in_dim))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, _numpy_orthogonal(out_dim, in_dim), atol=1e-5)
    # not the identity: a genuine random rotation
    assert not np.allclose(a, np.eye(out_dim, in_dim) * np.sqrt(max(out_dim, in_dim) / in_dim))


@pytest.mark.parametrize(("out_dim", "in_dim"), [(0, 3), (3, -1), (2.0, 2)])
def test_fixed_orthogonal_refuses_bad_dims(out_dim, in_dim):
    with pytest.raises(ValueError, match=r"fixed_orthogonal: .* must be a positive int"):
        sample_projection(jax.random.key(0), "fixed_orthogonal", out_dim, in_dim)


def test_probe_variants_change_only_the_observation_family():
    base = pe.benchmark("point-nav")
    for name, family in OBS_PROBE_FAMILIES.items():
        bench = pe.benchmark(name)
        assert bench.name == name and bench.obs_dim == 8
        for split, ts in bench.splits.items():
            assert ts.obs_family == family
            assert dataclasses.replace(ts, obs_family="identity") == base.splits[split]
    prints = {pe.benchmark(n).fingerprint for n in OBS_PROBE_FAMILIES}
    assert len(prints) == len(OBS_PROBE_FAMILIES)


def test_unknown_probe_variant_lists_the_valid_ones():
    with pytest.raises(ValueError, match="point-nav-obs8-fixed"):
        obs_probe("point-nav-obs8-fixd")


def _first_obs(name: str, task_key: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    env = pe.benchmark(name).train.make_env(0)
    task = env.sample_task(task_key)
    obs, state = env.reset(jax.random.key(5), task)
    action = np.array([0.7, -0.3], np.float32)
    obs2, *_ = env.step(jax.random.key(6), state, action, task)
    return np.asarray(obs), np.asarray(obs2)


@pytest.mark.parametrize("task_seed", [0, 1])
def test_fixed_variant_observes_one_rotation_of_the_identity_observation(task_seed):
    """Same task key and step keys: the fixed variant's projected obs == M @ identity obs."""
    m = _numpy_orthogonal(8, 6)
    key = jax.random.key(task_seed)
    for ident, fixed in zip(
        _first_obs("point-nav-obs8-identity", key), _first_obs("point-nav-obs8-fixed", key)
    ):
        np.testing.assert_array_equal(ident[6:8], 0.0)  # identity pads 6 -> 8
        np.testing.assert_allclose(fixed[:8], m @ ident[:6], atol=1e-5)
        np.testing.assert_array_equal(fixed[8:], ident[8:])  # extras unchanged


def test_per_task_variants_draw_a_new_matrix_per_task_and_fixed_does_not():
    def matrices(name: str) -> np.ndarray:
        bank = pe.benchmark(name).id_test.eval_tasks(per_env=3)
        return np.asarray(bank.params[0].inner.obs_matrix)  # [3, 8, 6]

    fixed = matrices("point-nav-obs8-fixed")
    np.testing.assert_array_equal(fixed[0], fixed[1])
    np.testing.assert_array_equal(fixed[0], fixed[2])
    for name in ("point-nav-obs8-pertask-orth", "point-nav-obs8-pertask-gauss"):
        ms = matrices(name)
        assert not np.array_equal(ms[0], ms[1]) and not np.array_equal(ms[1], ms[2])
