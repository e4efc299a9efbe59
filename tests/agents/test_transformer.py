"""The windowed Transformer memory: attention against a naive loop, parallel form == step form,
resets isolate episodes (exactly zero gradient), chunking, and the PPO / evaluation / checkpoint
paths with memory="transformer"."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.checkpoint import CheckpointStore, tree_equal
from agents.evaluation import evaluate
from agents.memory import MEMORY_KINDS, make_memory
from agents.ppo import PPOConfig, make_init, make_network, make_update, rollout, scan_updates
from agents.transformer import (
    TransformerCarry,
    WindowedTransformer,
    alibi_slopes,
    windowed_attention,
)
from projected_envs.tasks import TaskSet
from projected_envs.vec import VecEnv

# One small memory serves every module-level test (few compiles): width 8, 2 layers, 2 heads,
# a window of 3 earlier steps, over T = 10 steps of 2 sequences.
H, W, T, B = 8, 3, 10, 2
MEMORY = WindowedTransformer(hidden_size=H, num_layers=2, num_heads=2, window=W)
APPLY = jax.jit(MEMORY.apply)  # one compile per sequence length


def _resets() -> jnp.ndarray:
    """bool [T, B]: sequence 0 restarts at t = 6, sequence 1 at t = 4 (and carries in at 0)."""
    r = np.zeros((T, B), bool)
    r[6, 0] = True
    r[4, 1] = True
    return jnp.asarray(r)


@pytest.fixture(scope="module")
def setup():
    """Params, inputs [T, B, H], and a non-empty carry (after 5 steps of other inputs)."""
    x = jax.random.normal(jax.random.key(0), (T, B, H))
    params = jax.jit(MEMORY.init)(jax.random.key(1), MEMORY.initialize_carry(B), x, _resets())
    warmup = jax.random.normal(jax.random.key(2), (5, B, H))
    start = jnp.zeros((5, B), bool).at[0].set(True)
    carry, _ = APPLY(params, MEMORY.initialize_carry(B), warmup, start)
    return params, x, carry


# ------------------------------------------------------------------------------- attention
def _naive_attention(q, k, v, key_episode, key_valid, query_episode, slopes, window):
    """Loop reference: query t attends to the allowed keys m (time m - W) one by one."""
    num_steps, batch, heads, _ = q.shape
    out = np.zeros_like(q)
    for t in range(num_steps):
        for b in range(batch):
            for h in range(heads):
                ms = [
                    m
                    for m in range(window + num_steps)
                    if key_valid[m, b]
                    and key_episode[m, b] == query_episode[t, b]
                    and 0 <= t - (m - window) <= window
                ]
                s = np.array(
                    [
                        q[t, b, h] @ k[m, b, h] / np.sqrt(q.shape[-1])
                        - slopes[h] * (t - (m - window))
                        for m in ms
                    ]
                )
                p = np.exp(s - s.max())
                out[t, b, h] = (p / p.sum()) @ v[ms, b, h]
    return out


@pytest.mark.parametrize("num_steps", [1, 3, 7])  # one step; T == W; T > W, not a multiple
def test_windowed_attention_matches_a_naive_loop(num_steps):
    rng = np.random.default_rng(num_steps)
    window, batch, heads, d = 3, 2, 2, 4
    q = rng.normal(size=(num_steps, batch, heads, d)).astype(np.float32)
    k = rng.normal(size=(window + num_steps, batch, heads, d)).astype(np.float32)
    v = rng.normal(size=(window + num_steps, batch, heads, d)).astype(np.float32)
    resets = rng.random((num_steps, batch)) < 0.3
    query_episode = np.cumsum(resets, axis=0).astype(np.int32)
    key_episode = np.concatenate([np.zeros((window, batch), np.int32), query_episode])
    key_valid = np.ones((window + num_steps, batch), bool)
    key_valid[0] = False  # one empty carry slot
    slopes = alibi_slopes(heads)
    got = windowed_attention(
        *map(jnp.asarray, (q, k, v, key_episode, key_valid, query_episode, slopes)), window
    )
    want = _naive_attention(q, k, v, key_episode, key_valid, query_episode, slopes, window)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- the memory
def test_parallel_form_equals_step_by_step_with_the_carry(setup):
    params, x, carry = setup
    resets = _resets()
    hidden, y = APPLY(params, carry, x, resets)
    h, steps = carry, []
    for t in range(T):
        h, y_t = APPLY(params, h, x[t : t + 1], resets[t : t + 1])
        steps.append(y_t)
    np.testing.assert_allclose(jnp.concatenate(steps), y, rtol=1e-5, atol=1e-5)
    for a, b in zip(jax.tree.leaves(hidden), jax.tree.leaves(h)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # The last W steps of each sequence lie in its final episode: positions 0.. after a reset.
    np.testing.assert_array_equal(hidden.positions, [[1, 2, 3], [3, 4, 5]])


def test_chunked_equals_unchunked(setup):
    params, x, carry = setup
    resets = _resets()
    hidden, y = APPLY(params, carry, x, resets)
    h, parts = carry, []
    for lo, hi in ((0, 2), (2, 3), (3, 10)):  # chunks shorter than, equal to, longer than W
        h, y_c = APPLY(params, h, x[lo:hi], resets[lo:hi])
        parts.append(y_c)
    np.testing.assert_allclose(jnp.concatenate(parts), y, rtol=1e-5, atol=1e-5)
    for a, b in zip(jax.tree.leaves(hidden), jax.tree.leaves(h)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_nothing_before_a_reset_reaches_outputs_after_it(setup):
    params, x, carry = setup
    resets = _resets()
    weights = jax.random.normal(jax.random.key(3), (T, B, H))

    @jax.jit
    def grads(x, keys, values):  # d(weighted outputs of sequence 0 from t on) / d(inputs)
        def loss(x, keys, values, lo, hi):
            _, y = MEMORY.apply(params, carry._replace(keys=keys, values=values), x, resets)
            return jnp.sum((weights * y)[lo:hi, 0])

        after = jax.grad(loss, argnums=(0, 1, 2))(x, keys, values, 6, T)  # from the reset on
        before = jax.grad(loss, argnums=(0, 1, 2))(x, keys, values, 2, 4)  # control
        return after, before

    (gx, gk, gv), (cx, ck, _) = grads(x, carry.keys, carry.values)
    assert np.all(np.asarray(gx[:6, 0]) == 0.0)  # exactly zero, not merely small
    assert np.all(np.asarray(gk[0]) == 0.0) and np.all(np.asarray(gv[0]) == 0.0)
    assert np.abs(gx[6:, 0]).max() > 1e-3  # the episode's own inputs do matter
    assert np.all(np.asarray(gx[:, 1]) == 0.0)  # another sequence does not
    # Control: before the reset, earlier inputs and the carry do reach the outputs.
    assert np.abs(cx[:2, 0]).max() > 1e-3 and np.abs(ck[0]).max() > 1e-3


def test_each_step_sees_exactly_the_last_window_steps(setup):
    params, x, _ = setup
    fresh = jnp.zeros((T, B), bool).at[0].set(True)

    @jax.jit
    @jax.grad
    def last_output(x):
        _, y = MEMORY.apply(params, MEMORY.initialize_carry(B), x, fresh)
        return jnp.sum(y[-1, 0] * jnp.arange(H))

    g = np.abs(last_output(x)[:, 0]).max(axis=-1)  # [T]
    # Two layers, each reaching W = 3 steps back: 2 * W earlier steps, and no further.
    assert np.all(g[: T - 1 - 2 * W] == 0.0)
    assert np.all(g[T - 1 - 2 * W :] > 0.0)


def test_bad_sizes_and_hidden_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=re.escape("num_heads=3 must divide hidden_size=8")):
        WindowedTransformer(hidden_size=8, num_heads=3)
    with pytest.raises(ValueError, match="window must be a positive int"):
        WindowedTransformer(window=0)
    x, resets = jnp.zeros((2, 3, H)), jnp.zeros((2, 3), bool)
    with pytest.raises(ValueError, match="use initialize_carry"):
        MEMORY.init(jax.random.key(0), MEMORY.initialize_carry(2), x, resets)
    assert "transformer" in MEMORY_KINDS
    built = make_memory("transformer", hidden_size=H, num_heads=2, window=W, num_layers=2)
    assert built == MEMORY and isinstance(built.initialize_carry(1), TransformerCarry)


# -------------------------------------------------- PPO, evaluation and checkpoint paths
TASKS = TaskSet(  # CueRecall(delay=1): 3-step trials, 2 per task: a reset every 6 steps
    envs=("probe/CueRecall",),
    obs_dim=2,
    action_dim=1,
    num_trials=2,
    normalize=False,
    obs_family="identity",
    action_family="identity",
    obs_extras=("trial_done", "task_start"),
    env_kwargs=(("probe/CueRecall", (("delay", 1),)),),
)
CONFIG = PPOConfig(
    encoder_sizes=(8, 8),
    head_sizes=(8,),
    memory="transformer",
    memory_kwargs=(("num_layers", 1), ("num_heads", 2), ("window", 4)),
    num_envs=4,
    num_steps=7,
    total_timesteps=28,
    num_minibatches=2,
    update_epochs=1,
)


def test_ppo_evaluation_and_checkpoint_run_with_the_transformer(tmp_path):
    venv = VecEnv(TASKS, CONFIG.num_envs)
    network = make_network(CONFIG, venv.action_size, venv.obs_size)
    init, update = jax.jit(make_init(CONFIG, TASKS)), make_update(CONFIG, TASKS)
    chunk = jax.jit(scan_updates, static_argnums=(0, 2))
    state0 = init(jax.random.key(0))
    state1, metrics = chunk(update, state0, 1)
    assert np.all(np.isfinite(metrics["loss"]))
    assert not tree_equal(state1.train_state.params, state0.train_state.params)

    # The rollout steps the memory one observation at a time; the update re-runs it over the
    # stored sequence from the stored carry. Both must give the same values.
    params = state1.train_state.params
    state2, tr, _ = jax.jit(lambda s: rollout(network, venv, params, s, CONFIG.num_steps))(state1)
    _, _, _, value = network.apply(params, state1.hidden, tr.obs, tr.reset)
    np.testing.assert_allclose(value, tr.value, rtol=1e-4, atol=1e-5)
    assert np.asarray(tr.reset[1:]).any()  # a task boundary inside the sequence
    assert int(np.asarray(state2.hidden.positions).max()) >= 0

    # Checkpoint round trip (NamedTuple carry included), and training resumes bitwise.
    with CheckpointStore(tmp_path / "ckpt") as store:
        store.save(1, state1, {"config": {"memory": "transformer"}})
        store.wait()
        restored, _ = store.restore(state0)
    assert tree_equal(restored, state1)
    assert isinstance(restored.hidden, TransformerCarry)
    assert tree_equal(chunk(update, restored, 1)[0], chunk(update, state1, 1)[0])

    result = evaluate(params, CONFIG, TASKS, per_env=2, seed=1, num_resamples=10)
    assert result.returns.shape == (2, 2) and np.all(np.isfinite(result.returns))


@pytest.mark.slow
def test_main_job_smoke_preset_runs_with_the_transformer(tmp_path):
    """`examples/meta_train.py --memory transformer` end to end: train, checkpoint, evaluate."""
    from agents.experiment import train as meta_train

    out = tmp_path / "run"
    argv = ["--preset", "smoke", "--no-progress", "--memory", "transformer", "--out-dir", str(out)]
    result = meta_train.main(argv)
    assert result.finished and set(result.evals) == {"train", "id_test", "ood_test"}
    assert isinstance(result.runner_state.hidden, TransformerCarry)
    for evals in result.evals.values():
        assert np.all(np.isfinite(evals.returns))
