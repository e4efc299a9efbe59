"""Tests of the GRU / LSTM / memoryless baselines and the memory factory."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.memory import MEMORY_KINDS, GRUMemory, LSTMMemory, NoMemory, make_memory
from agents.s5 import ResettableS5Stack

H_IN, H, T, B = 5, 6, 12, 3  # input width, hidden size, steps, batch


def _resets(pattern: str = "mixed") -> np.ndarray:
    """[T, B] reset patterns: none, all, or mixed (t=0 resets, consecutive resets, random)."""
    if pattern in ("none", "all"):
        return np.full((T, B), pattern == "all")
    r = np.random.default_rng(0).random((T, B)) < 0.3
    r[0, 0] = True  # reset at t=0
    r[0, 1:] = False
    r[3:6, 1] = True  # consecutive resets
    return r


@functools.cache
def _rnn(kind: str):
    model = {"gru": GRUMemory, "lstm": LSTMMemory}[kind](hidden_size=H)
    args = (model.initialize_carry(B), jnp.zeros((T, B, H_IN)), jnp.zeros((T, B), bool))
    params = jax.jit(model.init)(jax.random.key(0), *args)
    return model, params, jax.jit(model.apply)


def _random_hidden(model, seed=1):
    leaves, tree = jax.tree.flatten(model.initialize_carry(B))
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(tree, [jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])


def _x(seed=2):
    return jax.random.normal(jax.random.key(seed), (T, B, H_IN))


def _reference_loop(kind, params, hidden, x, resets):
    """Step a flax cell by hand, replacing the carry by zeros wherever resets[t] is True."""
    cell = nn.GRUCell(H) if kind == "gru" else nn.OptimizedLSTMCell(H)
    cell_params = {"params": params["params"]["rnn"]["cell"]}
    step = jax.jit(cell.apply)
    carry, ys = hidden, []
    for t in range(T):
        mask = resets[t][:, None]
        carry = jax.tree.map(lambda c, m=mask: np.where(m, 0.0, c), carry)
        carry, y = step(cell_params, carry, x[t])
        ys.append(y)
    return carry, jnp.stack(ys)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_rnn_scan_matches_hand_stepped_cell_with_resets(kind):
    model, params, apply = _rnn(kind)
    hidden, x = _random_hidden(model), _x()
    for pattern in ("none", "all", "mixed"):
        r = _resets(pattern)
        h_got, y_got = apply(params, hidden, x, jnp.asarray(r))
        h_ref, y_ref = _reference_loop(kind, params, hidden, x, r)
        np.testing.assert_allclose(y_got, y_ref, atol=1e-5, err_msg=pattern)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), h_got, h_ref)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_rnn_chunked_run_with_carried_hidden_equals_unchunked(kind):
    model, params, apply = _rnn(kind)
    hidden, x, r = _random_hidden(model, 4), _x(5), jnp.asarray(_resets())
    h_full, y_full = apply(params, hidden, x, r)
    h, ys = hidden, []
    for start in range(0, T, 4):
        h, y = apply(params, h, x[start : start + 4], r[start : start + 4])
        ys.append(y)
    np.testing.assert_allclose(y_full, jnp.concatenate(ys), atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), h_full, h)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_rnn_nothing_before_a_reset_reaches_outputs_after_it(kind):
    model, params, apply = _rnn(kind)
    hidden, x = _random_hidden(model, 6), _x(7)
    reset_at = np.array([0, 5, 6])
    r = np.zeros((T, B), bool)
    r[reset_at, np.arange(B)] = True
    after = np.arange(T)[:, None] >= reset_at[None, :]
    cotangent = jax.random.normal(jax.random.key(8), (T, B, H)) * after[..., None]

    def outputs_after_reset(h, x):
        return jnp.sum(apply(params, h, x, jnp.asarray(r))[1] * cotangent)

    g_h, g_x = jax.grad(outputs_after_reset, argnums=(0, 1))(hidden, x)
    g_x = np.asarray(g_x)
    for b in range(B):
        assert np.all(g_x[: reset_at[b], b] == 0.0), f"batch {b} leaks across its reset"
        assert np.abs(g_x[reset_at[b] :, b]).sum() > 0
    assert all(np.all(np.asarray(g) == 0.0) for g in jax.tree.leaves(g_h))


def test_no_memory_ignores_hidden_and_resets_and_is_a_per_step_mlp():
    model = NoMemory(hidden_size=H, num_layers=2)
    x = _x(9)
    hidden = model.initialize_carry(B)
    params = jax.jit(model.init)(jax.random.key(0), hidden, x, jnp.zeros((T, B), bool))
    apply = jax.jit(model.apply)
    h_out, y = apply(params, hidden, x, jnp.zeros((T, B), bool))
    h_other, y_other = apply(params, hidden + 7.0, x, jnp.asarray(_resets()))
    np.testing.assert_array_equal(y, y_other)
    np.testing.assert_array_equal(h_out, hidden)
    np.testing.assert_array_equal(h_other, hidden + 7.0)
    p = params["params"]
    ref = np.asarray(x)
    for name in ("Dense_0", "Dense_1"):
        z = ref @ np.asarray(p[name]["kernel"]) + np.asarray(p[name]["bias"])
        ref = np.where(z > 0, z, 0.01 * z)
    np.testing.assert_allclose(y, ref, atol=1e-5)


def _make(kind):
    if kind == "s5":
        return make_memory("s5", d_model=H_IN, state_size=4, num_layers=2)
    if kind == "transformer":  # like S5, its input width is its width
        return make_memory("transformer", hidden_size=H_IN, num_heads=1, window=2)
    return make_memory(kind, hidden_size=H)


@pytest.mark.parametrize("kind", MEMORY_KINDS)
def test_every_memory_kind_has_the_same_interface_with_batch_first_hidden(kind):
    model = _make(kind)
    hidden = model.initialize_carry(B)
    assert all(leaf.shape[0] == B for leaf in jax.tree.leaves(hidden))
    x, r = jnp.zeros((T, B, H_IN)), jnp.zeros((T, B), bool)
    params = jax.eval_shape(model.init, jax.random.key(0), hidden, x, r)
    h_out, y = jax.eval_shape(model.apply, params, hidden, x, r)
    assert jax.tree.map(lambda a: (a.shape, a.dtype), h_out) == jax.tree.map(
        lambda a: (a.shape, a.dtype), hidden
    )
    assert y.shape == (T, B, H_IN if kind in ("s5", "transformer") else H)


def test_make_memory_builds_the_named_class():
    assert isinstance(_make("s5"), ResettableS5Stack)
    assert isinstance(_make("gru"), GRUMemory)
    assert isinstance(_make("lstm"), LSTMMemory)
    assert isinstance(_make("none"), NoMemory)


def test_unknown_memory_kind_lists_valid_kinds():
    with pytest.raises(ValueError, match=r"'mamba'.*'s5', 'gru', 'lstm', 'none', 'transformer'"):
        make_memory("mamba")


@pytest.mark.parametrize("cls", [GRUMemory, LSTMMemory, NoMemory])
def test_non_positive_sizes_fail_at_construction(cls):
    with pytest.raises(ValueError, match="hidden_size=0"):
        cls(hidden_size=0)
    with pytest.raises(ValueError, match="batch_size=-1"):
        cls(hidden_size=H).initialize_carry(-1)


@pytest.mark.parametrize("kind", ["gru", "lstm", "none"])
def test_bad_shapes_fail_at_trace_time_naming_the_shapes(kind):
    model = _make(kind)
    hidden = model.initialize_carry(B)
    x, r = jnp.zeros((T, B, H_IN)), jnp.zeros((T, B), bool)
    with pytest.raises(ValueError, match=r"resets must have shape \[T, B\] = \(12, 3\).*\(3, 12\)"):
        jax.eval_shape(model.init, jax.random.key(0), hidden, x, r.T)
    with pytest.raises(ValueError, match=r"time-major"):
        jax.eval_shape(model.init, jax.random.key(0), hidden, x[0], r)
    if kind != "none":
        with pytest.raises(ValueError, match=r"hidden leaves must have shape.*\(2, 6\).*\(3, 6\)"):
            jax.eval_shape(model.init, jax.random.key(0), hidden, x[:, :2], r[:, :2])
