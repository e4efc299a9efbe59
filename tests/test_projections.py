"""Projection families: shapes, exact structure, the common scaling convention, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projected_envs.projections import (
    PROJECTION_FAMILIES,
    projection,
    sample_projection,
)

RANDOM_FAMILIES = ("gaussian", "orthogonal", "sparse", "signed_permutation")
# A few sizes (the package's real ones: 1-3 action dims, 2-12 obs dims, 17+ for brax) keep the
# number of distinct compiled shapes, hence the test time, small.
dims = st.sampled_from((1, 2, 3, 12, 17))
seeds = st.integers(min_value=0, max_value=2**31 - 1)
# One compiled sampler per (family, shape), shared by all tests of this module.
_sample = jax.jit(sample_projection, static_argnums=(1, 2, 3))
_sample_many = jax.jit(
    lambda keys, family, out_dim, in_dim: jax.vmap(
        lambda k: sample_projection(k, family, out_dim, in_dim)
    )(keys),
    static_argnums=(1, 2, 3),
)


def test_families_are_the_documented_ones():
    assert PROJECTION_FAMILIES == (
        "gaussian",
        "orthogonal",
        "sparse",
        "signed_permutation",
        "identity",
        "fixed_orthogonal",
    )


def _check_structure(family: str, m: np.ndarray, out_dim: int, in_dim: int) -> None:
    """The exact, family-specific structure of one sampled matrix."""
    m64 = m.astype(np.float64)
    if family in ("orthogonal", "fixed_orthogonal"):
        if out_dim <= in_dim:  # orthonormal rows
            np.testing.assert_allclose(m64 @ m64.T, np.eye(out_dim), atol=1e-5)
        else:  # orthogonal columns of squared norm out/in, so ||Mx||^2/out == ||x||^2/in
            np.testing.assert_allclose(m64.T @ m64, np.eye(in_dim) * out_dim / in_dim, atol=1e-4)
    elif family == "signed_permutation":
        assert set(np.unique(m)) <= {-1.0, 0.0, 1.0}
        nonzero = m != 0
        assert nonzero.sum(axis=1).max() <= 1  # each output copies at most one input
        assert nonzero.sum(axis=0).max() <= 1  # each input is copied at most once
        assert nonzero.sum() == min(out_dim, in_dim)  # pad (zero rows) or truncate
    elif family == "sparse":
        scale = np.float32(np.sqrt(3.0 / in_dim))
        np.testing.assert_array_equal(np.isin(m, [-scale, 0.0, scale]), True)
    elif family == "identity":
        np.testing.assert_array_equal(m, np.eye(out_dim, in_dim, dtype=np.float32))
        x = np.arange(1, in_dim + 1, dtype=np.float32)
        k = min(out_dim, in_dim)
        np.testing.assert_array_equal((m @ x)[:k], x[:k])  # copied unchanged
        np.testing.assert_array_equal((m @ x)[k:], 0.0)  # padding


@settings(max_examples=30, deadline=None)
@given(family=st.sampled_from(PROJECTION_FAMILIES), out_dim=dims, in_dim=dims, seed=seeds)
def test_every_family_returns_float32_of_the_requested_shape_and_structure(
    family, out_dim, in_dim, seed
):
    m = _sample(jax.random.key(seed), family, out_dim, in_dim)
    assert m.shape == (out_dim, in_dim)
    assert m.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(m)))
    _check_structure(family, np.asarray(m), out_dim, in_dim)


@settings(max_examples=8, deadline=None)
@given(family=st.sampled_from(RANDOM_FAMILIES), out_dim=dims, in_dim=dims, seed=seeds)
def test_projected_coordinates_have_the_mean_squared_input_as_second_moment(
    family, out_dim, in_dim, seed
):
    """Convention: E_M[(Mx)_i^2] = ||x||^2 / in_dim for every non-padding output i."""
    num_draws = 2048
    key_x, key_m = jax.random.split(jax.random.key(seed))
    x = 1.0 + 0.5 * jax.random.normal(key_x, (in_dim,))  # coordinates of similar size
    keys = jax.random.split(key_m, num_draws)
    ms = _sample_many(keys, family, out_dim, in_dim)  # [num_draws, out_dim, in_dim]
    y = np.asarray(jnp.einsum("koi,i->ko", ms, x, precision="highest"), np.float64)
    live = np.ones(y.shape, bool)
    if family == "signed_permutation":  # padding rows are structural zeros
        live = np.asarray(jnp.any(ms != 0, axis=2))
        assert np.all(live.sum(axis=1) == min(out_dim, in_dim))
    second_moment = (y**2)[live].mean()
    target = float(jnp.sum(x**2)) / in_dim
    # >= 2048 samples; relative standard error below 0.04 for these inputs: allow 5 sigma.
    assert second_moment == pytest.approx(target, rel=0.2)


@pytest.mark.parametrize("family", RANDOM_FAMILIES)
def test_same_key_same_matrix_other_key_other_matrix(family):
    a = _sample(jax.random.key(7), family, 12, 3)
    b = _sample(jax.random.key(7), family, 12, 3)
    c = _sample(jax.random.key(8), family, 12, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Eager and jitted programs may round differently in the last bit (XLA fusion), never more.
    eager = sample_projection(jax.random.key(7), family, 12, 3)
    np.testing.assert_allclose(eager, a, rtol=1e-6, atol=1e-7)


def test_unknown_family_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid families: gaussian, orthogonal, sparse"):
        projection("gausian")
    with pytest.raises(ValueError, match="signed_permutation, identity"):
        sample_projection(jax.random.key(0), "hadamard", 2, 2)


@pytest.mark.parametrize("family", PROJECTION_FAMILIES)
@pytest.mark.parametrize(("out_dim", "in_dim"), [(0, 3), (3, 0), (-1, 2), (2.0, 2), (True, 2)])
def test_non_positive_or_non_int_dims_raise(family, out_dim, in_dim):
    with pytest.raises(ValueError, match="must be a positive int"):
        sample_projection(jax.random.key(0), family, out_dim, in_dim)
