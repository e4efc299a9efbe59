"""ActorCritic: shapes, paper defaults, step-by-step == sequence, resets cut history, errors."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.networks import ActorCritic

SMALL = dict(encoder_sizes=(8, 16), head_sizes=(8,))
S5_SMALL = (("state_size", 8), ("num_layers", 2))


def _small(memory: str, **kwargs) -> ActorCritic:
    extra = S5_SMALL if memory == "s5" else ()
    return ActorCritic(action_dim=2, memory=memory, memory_kwargs=extra, **SMALL, **kwargs)


def _init(net: ActorCritic, batch: int, obs_size: int = 5):
    hidden = net.initialize_carry(batch)
    obs, resets = jnp.zeros((1, batch, obs_size)), jnp.zeros((1, batch), bool)
    return jax.jit(net.init)(jax.random.key(0), hidden, obs, resets), hidden


def test_defaults_are_the_papers_ppo_s5_sizes():
    net = ActorCritic(action_dim=2)
    hidden = net.initialize_carry(3)
    assert hidden.shape == (3, 4, 128)  # 4 S5 layers, 256 / 2 conjugate-symmetric modes
    obs, resets = jnp.zeros((1, 3, 12)), jnp.zeros((1, 3), bool)
    shapes = jax.eval_shape(net.init, jax.random.key(0), hidden, obs, resets)["params"]
    assert shapes["encoder"]["dense_0"]["kernel"].shape == (12, 128)
    assert shapes["encoder"]["dense_1"]["kernel"].shape == (128, 256)
    for head in ("actor", "critic"):
        assert shapes[head]["dense_0"]["kernel"].shape == (256, 128)
        assert shapes[head]["dense_1"]["kernel"].shape == (128, 128)
    assert shapes["mean"]["kernel"].shape == (128, 2)
    assert shapes["value"]["kernel"].shape == (128, 1)
    assert shapes["log_std"].shape == (2,)
    memory_leaves = jax.tree.leaves(shapes["memory"])
    assert all(leaf.shape[0] == 4 for leaf in memory_leaves)  # layers stacked on axis 0


@pytest.mark.parametrize("memory", ["s5", "gru", "lstm", "none"])
def test_output_shapes_for_every_memory(memory):
    net = _small(memory)
    params, hidden = _init(net, batch=3)
    obs, resets = jnp.ones((4, 3, 5)), jnp.zeros((4, 3), bool)
    out = jax.jit(net.apply)(params, hidden, obs, resets)
    new_hidden, mean, log_std, value = out
    assert jax.tree.map(jnp.shape, new_hidden) == jax.tree.map(jnp.shape, hidden)
    assert mean.shape == (4, 3, 2) and log_std.shape == (2,) and value.shape == (4, 3)
    np.testing.assert_array_equal(log_std, 0.0)  # init_log_std, the same for every state
    assert all(leaf.shape[0] == 3 for leaf in jax.tree.leaves(hidden))  # batch axis first


@pytest.mark.parametrize("memory", ["s5", "gru"])
def test_step_by_step_equals_one_sequence_call_and_resets_cut_history(memory):
    net = _small(memory)
    params, hidden0 = _init(net, batch=2)
    obs = jax.random.normal(jax.random.key(1), (6, 2, 5))
    resets = jnp.array([[1, 0], [0, 0], [0, 1], [1, 0], [0, 0], [0, 1]], bool)

    @jax.jit
    def both(params, obs):
        _, mean, _, value = net.apply(params, hidden0, obs, resets)

        def step(hidden, x):
            hidden, m, _, v = net.apply(params, hidden, x[0][None], x[1][None])
            return hidden, (m[0], v[0])

        _, (mean_steps, value_steps) = jax.lax.scan(step, hidden0, (obs, resets))
        return mean, value, mean_steps, value_steps

    mean, value, mean_steps, value_steps = both(params, obs)
    np.testing.assert_allclose(mean, mean_steps, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(value, value_steps, rtol=1e-4, atol=1e-5)

    # Env 0 resets at t=3: nothing before t=3 influences outputs from t=3 on (exact zeros).
    def late_value(obs):
        return jnp.sum(net.apply(params, hidden0, obs, resets)[3][3:, 0])

    grad = jax.jit(jax.grad(late_value))(obs)
    np.testing.assert_array_equal(grad[:3, 0], 0.0)
    assert float(jnp.abs(grad[3:, 0]).sum()) > 0


def test_bad_inputs_fail_with_messages_naming_the_values():
    net = _small("gru", obs_size=5)
    params, hidden = _init(net, batch=3)
    with pytest.raises(ValueError, match=re.escape("time-major [T, B, O], got shape (3, 5)")):
        net.apply(params, hidden, jnp.zeros((3, 5)), jnp.zeros((1, 3), bool))
    with pytest.raises(ValueError, match=re.escape("resets must have shape [T, B] = (4, 3)")):
        net.apply(params, hidden, jnp.zeros((4, 3, 5)), jnp.zeros((4, 2), bool))
    with pytest.raises(ValueError, match=r"obs width 7 .* obs_size=5"):
        net.apply(params, hidden, jnp.zeros((4, 3, 7)), jnp.zeros((4, 3), bool))
    with pytest.raises(ValueError, match="memory_kwargs sets d_model"):
        ActorCritic(action_dim=2, memory_kwargs=(("d_model", 64),))
    with pytest.raises(ValueError, match="unknown memory 'rnn'"):
        ActorCritic(action_dim=2, memory="rnn")
    with pytest.raises(ValueError, match="action_dim must be a positive int, got 0"):
        ActorCritic(action_dim=0)
    with pytest.raises(ValueError, match=re.escape("head_sizes must be positive ints")):
        ActorCritic(action_dim=2, head_sizes=(8, -1))


@pytest.mark.parametrize("memory", ["s5", "gru"])
def test_separate_critic_is_two_shared_networks_one_per_head(memory):
    """Reference: a shared network run twice, once with the actor's encoder and memory, once
    with the critic's; the separate network's mean comes from the first, its value from the
    second, and the value's gradient never reaches the actor's encoder or memory."""
    net, shared = _small(memory, separate_critic=True), _small(memory)
    params, (actor_h, critic_h) = _init(net, batch=2)
    p = params["params"]
    assert jax.tree.map(jnp.shape, actor_h) == jax.tree.map(jnp.shape, critic_h)
    obs = jax.random.normal(jax.random.key(1), (6, 2, 5))
    resets = jnp.array([[1, 0], [0, 0], [0, 1], [1, 0], [0, 0], [0, 1]], bool)
    # Different critic weights, so that a mix-up of the two paths would show.
    p = {**p, "critic_encoder": jax.tree.map(lambda x: 1.5 * x, p["critic_encoder"])}
    heads = {k: p[k] for k in ("actor", "mean", "log_std", "critic", "value")}
    as_actor = {"params": {**heads, "encoder": p["encoder"], "memory": p["memory"]}}
    as_critic = {"params": {**heads, "encoder": p["critic_encoder"], "memory": p["critic_memory"]}}

    (new_a, new_c), mean, _, value = net.apply({"params": p}, (actor_h, critic_h), obs, resets)
    ref_a, ref_mean, _, _ = shared.apply(as_actor, actor_h, obs, resets)
    ref_c, _, _, ref_value = shared.apply(as_critic, critic_h, obs, resets)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(value, ref_value, rtol=1e-5, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), new_a, ref_a)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), new_c, ref_c)

    def total_value(q):
        return net.apply({"params": q}, (actor_h, critic_h), obs, resets)[3].sum()

    grads = jax.grad(total_value)(p)
    for name in ("encoder", "memory", "actor", "mean"):
        assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(grads[name])), name
    for name in ("critic_encoder", "critic_memory"):
        assert any(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads[name])), name


def test_in_context_normalize_matches_a_python_loop_over_each_task():
    from agents.networks import InContextNormalize

    rng = np.random.default_rng(0)
    steps, batch, size = 7, 3, 4
    x = (rng.normal(size=(steps, batch, size)) * 3 + 1).astype(np.float32)
    resets = np.zeros((steps, batch), bool)
    resets[0], resets[3, 1], resets[5, 2] = True, True, True
    carry = InContextNormalize.initialize_carry(batch, size)
    _, y = InContextNormalize().apply({}, carry, jnp.asarray(x), jnp.asarray(resets))
    expected = np.zeros_like(x)
    for b in range(batch):
        seen: list[np.ndarray] = []
        for t in range(steps):
            seen = [] if resets[t, b] else seen
            seen.append(x[t, b])
            task = np.stack(seen)
            expected[t, b] = (x[t, b] - task.mean(0)) / np.sqrt(task.var(0) + 1e-2)
    np.testing.assert_array_equal(np.asarray(y[..., :size]), x)  # the raw half
    np.testing.assert_allclose(np.asarray(y[..., size:]), expected, atol=1e-5)


@pytest.mark.parametrize("input_norm", ["in_context", "layernorm"])
def test_input_norm_step_by_step_equals_one_sequence_call(input_norm):
    net = _small("s5", obs_size=5, input_norm=input_norm, separate_critic=True)
    params, hidden = _init(net, batch=2)
    obs = jax.random.normal(jax.random.key(1), (6, 2, 5)) * 2 + 1
    resets = jnp.zeros((6, 2), bool).at[0].set(True).at[3, 1].set(True)
    _, mean, _, value = net.apply(params, hidden, obs, resets)
    means, values = [], []
    for t in range(6):
        hidden, m, _, v = net.apply(params, hidden, obs[t : t + 1], resets[t : t + 1])
        means.append(m)
        values.append(v)
    np.testing.assert_allclose(np.concatenate(means), mean, atol=1e-5)
    np.testing.assert_allclose(np.concatenate(values), value, atol=1e-5)


def test_input_norm_errors_name_the_fix():
    with pytest.raises(ValueError, match="unknown input_norm 'batch'"):
        _small("none", input_norm="batch")
    with pytest.raises(ValueError, match="set obs_size"):
        _small("none", input_norm="in_context")
