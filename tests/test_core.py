"""core.reset_where against the plain compute-then-select reference, under every transform."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from projected_envs.core import reset_chunk_size, reset_where

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
