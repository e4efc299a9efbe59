"""PPO pieces against hand-computed fixtures and independent (sequence-mode) references."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from agents.ppo import (
    Batch,
    PPOConfig,
    RunnerState,
    Transition,
    gae,
    gaussian_entropy,
    gaussian_log_prob,
    make_init,
    make_network,
    make_train,
    make_update,
    ppo_loss,
    rollout,
    scan_updates,
    split_minibatches,
)
from projected_envs.backends.probes import CueRecall
from projected_envs.tasks import TaskSet
from projected_envs.vec import VecEnv

TINY = dict(
    encoder_sizes=(8, 8),
    head_sizes=(8,),
    memory="gru",
    num_envs=4,
    num_steps=7,
    total_timesteps=28,
    num_minibatches=2,
    update_epochs=1,
)


def _transitions(**fields: Any) -> Transition:
    """A Transition [T, B] whose unspecified fields are zeros shaped like ``reward``."""
    shape = np.shape(fields["reward"])
    base = {name: np.zeros(shape, np.float32) for name in Transition._fields}
    base.update(obs=np.zeros((*shape, 1), np.float32), action=np.zeros((*shape, 1), np.float32))
    base.update(terminated=np.zeros(shape, bool), truncated=np.zeros(shape, bool))
    base.update(reset=np.zeros(shape, bool))
    base.update(fields)
    return Transition(**{k: jnp.asarray(v) for k, v in base.items()})


# ----------------------------------------------------------------------------------------- GAE
def test_gae_matches_hand_computed_fixture_with_termination_and_truncation():
    # gamma = 0.5, lambda = 0.5, so gamma * lambda = 0.25. Two envs, T = 4.
    # env 0: terminated at t=1 (no bootstrap), truncated at t=2 (bootstrap final_value = 4).
    #   next = [V1 = 1.0, 0 (terminated; final_value 100 ignored), 4.0 (final), last = 8.0]
    #   delta = r + 0.5 next - V
    #         = [1 + 0.5 - 0.5, 2 + 0 - 1.0, 3 + 2.0 - 1.5, 4 + 4.0 - 2.0] = [1.0, 1.0, 3.5, 6.0]
    #   A3 = 6.0; A2 = 3.5 (done at 2); A1 = 1.0 (done at 1); A0 = 1.0 + 0.25 * 1.0 = 1.25
    # env 1: no episode end, V = 0, last value 4.
    #   delta = [1, 1, 1, 1 + 0.5 * 4] = [1, 1, 1, 3]
    #   A3 = 3; A2 = 1 + 0.25 * 3 = 1.75; A1 = 1 + 0.25 * 1.75 = 1.4375;
    #   A0 = 1 + 0.25 * 1.4375 = 1.359375
    tr = _transitions(
        reward=np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0]], np.float32),
        value=np.array([[0.5, 0.0], [1.0, 0.0], [1.5, 0.0], [2.0, 0.0]], np.float32),
        terminated=np.array([[0, 0], [1, 0], [0, 0], [0, 0]], bool),
        truncated=np.array([[0, 0], [0, 0], [1, 0], [0, 0]], bool),
        final_value=np.array([[0.0, 0.0], [100.0, 0.0], [4.0, 0.0], [0.0, 0.0]], np.float32),
    )
    advantages, targets = gae(tr, jnp.array([8.0, 4.0]), gamma=0.5, gae_lambda=0.5)
    expected = np.array([[1.25, 1.359375], [1.0, 1.4375], [3.5, 1.75], [6.0, 3.0]])
    np.testing.assert_allclose(advantages, expected, rtol=1e-6)
    np.testing.assert_allclose(targets, expected + np.asarray(tr.value), rtol=1e-6)


def test_gae_with_lambda_one_is_discounted_return_plus_bootstrap():
    # lambda = 1, no episode end: A_t + V_t = sum_k gamma^k r_{t+k} + gamma^(T-t) V_T.
    rng = np.random.default_rng(0)
    reward = rng.standard_normal((6, 3)).astype(np.float32)
    value = rng.standard_normal((6, 3)).astype(np.float32)
    last = rng.standard_normal(3).astype(np.float32)
    _, targets = gae(_transitions(reward=reward, value=value), jnp.asarray(last), 0.9, 1.0)
    expected = np.zeros((6, 3))
    for t in range(6):
        expected[t] = sum(0.9**k * reward[t + k] for k in range(6 - t)) + 0.9 ** (6 - t) * last
    np.testing.assert_allclose(targets, expected, rtol=1e-5)


# ---------------------------------------------------------------------------------------- loss
class _FixedNetwork:
    """Stands in for ActorCritic: returns fixed outputs, whatever the params and inputs."""

    def __init__(self, mean: jax.Array, log_std: jax.Array, value: jax.Array):
        self.outputs = (mean, log_std, value)

    def apply(self, params, hidden, obs, resets):
        return (hidden, *self.outputs)


def test_ppo_loss_pieces_match_hand_computation():
    # One env, T = 3, A = 1. The new policy is N(0, 1) and actions are 0, so the new log-prob
    # is -0.5 log(2 pi); old log-probs are set so that the ratios are r = [1.5, 0.5, 1.1].
    ratios = np.array([1.5, 0.5, 1.1])
    new_log_prob = -0.5 * math.log(2 * math.pi)
    tr = _transitions(
        reward=np.zeros((3, 1), np.float32),
        log_prob=(new_log_prob - np.log(ratios))[:, None].astype(np.float32),
        value=np.array([[0.5], [2.5], [3.0]], np.float32),  # V_old
    )
    batch = Batch(
        tr,
        advantages=jnp.array([[1.0], [-1.0], [2.0]]),
        targets=jnp.array([[2.0], [2.0], [3.0]]),
        hidden=jnp.zeros((1, 1)),
    )
    network = _FixedNetwork(
        mean=jnp.zeros((3, 1, 1)), log_std=jnp.zeros(1), value=jnp.array([[1.0], [2.0], [3.0]])
    )
    config = PPOConfig(clip_eps=0.2, vf_coef=1.0, ent_coef=0.01, normalize_advantages=False)
    loss, aux = ppo_loss(None, network, batch, config)
    # policy: min(r A, clip(r, 0.8, 1.2) A) = [min(1.5, 1.2), min(-0.5, -0.8), min(2.2, 2.2)]
    #       = [1.2, -0.8, 2.2]; policy_loss = -(1.2 - 0.8 + 2.2) / 3 = -2.6 / 3
    assert float(aux["policy_loss"]) == pytest.approx(-2.6 / 3, rel=1e-6)
    # value: V = [1, 2, 3], V_old = [0.5, 2.5, 3], targets = [2, 2, 3]
    #   unclipped (V - tgt)^2 = [1, 0, 0]; V_clipped = V_old + clip(V - V_old, +-0.2)
    #   = [0.7, 2.3, 3.0], (V_clipped - tgt)^2 = [1.69, 0.09, 0]; max = [1.69, 0.09, 0]
    #   value_loss = 0.5 * (1.69 + 0.09 + 0) / 3 = 0.89 / 3
    assert float(aux["value_loss"]) == pytest.approx(0.89 / 3, rel=1e-6)
    # entropy of N(0, 1): 0.5 log(2 pi e) = 1.4189385
    assert float(aux["entropy"]) == pytest.approx(0.5 * math.log(2 * math.pi * math.e), rel=1e-6)
    # loss = policy + 1.0 * value - 0.01 * entropy
    expected_loss = -2.6 / 3 + 0.89 / 3 - 0.01 * 0.5 * math.log(2 * math.pi * math.e)
    assert float(loss) == pytest.approx(expected_loss, rel=1e-6)
    # approx_kl = mean((r - 1) - log r); clip_fraction = mean(|r - 1| > 0.2) = 2/3
    expected_kl = np.mean((ratios - 1) - np.log(ratios))
    assert float(aux["approx_kl"]) == pytest.approx(expected_kl, rel=1e-5)
    assert float(aux["clip_fraction"]) == pytest.approx(2 / 3, rel=1e-6)


def test_ppo_loss_without_value_clip_is_plain_squared_error():
    tr = _transitions(reward=np.zeros((2, 1), np.float32), value=np.array([[0.0], [5.0]]))
    batch = Batch(tr, jnp.zeros((2, 1)), jnp.array([[1.0], [2.0]]), jnp.zeros((1, 1)))
    network = _FixedNetwork(jnp.zeros((2, 1, 1)), jnp.zeros(1), jnp.array([[3.0], [3.0]]))
    config = PPOConfig(clip_value=False, normalize_advantages=False)
    _, aux = ppo_loss(None, network, batch, config)
    assert float(aux["value_loss"]) == pytest.approx(0.5 * (4.0 + 1.0) / 2)  # 0.5 mean(2^2, 1^2)


def test_gaussian_log_prob_and_entropy_match_scipy_formulas():
    from jax.scipy.stats import norm

    mean, log_std = jnp.array([[0.3, -1.0]]), jnp.array([0.2, -0.5])
    action = jnp.array([[1.0, 0.5]])
    expected = norm.logpdf(action, mean, jnp.exp(log_std)).sum(-1)
    np.testing.assert_allclose(gaussian_log_prob(action, mean, log_std), expected, rtol=1e-6)
    expected_entropy = np.sum(0.5 * np.log(2 * np.pi * np.e) + np.asarray(log_std))
    assert float(gaussian_entropy(log_std)) == pytest.approx(expected_entropy, rel=1e-6)


# ---------------------------------------------------------------------------------- minibatches
def test_minibatch_split_keeps_whole_sequences_with_their_hidden_state():
    num_steps, num_envs, num_minibatches = 3, 8, 4
    env_id = np.arange(num_envs, dtype=np.float32)
    obs = 100.0 * env_id[None, :, None] + np.arange(num_steps, dtype=np.float32)[:, None, None]
    tr = _transitions(reward=np.zeros((num_steps, num_envs), np.float32), obs=obs)
    adv = np.broadcast_to(env_id, (num_steps, num_envs))
    batch = Batch(tr, jnp.asarray(adv), jnp.asarray(-adv), hidden=jnp.asarray(env_id)[:, None])
    mbs = split_minibatches(jax.random.key(3), batch, num_minibatches)
    assert mbs.transitions.obs.shape == (num_minibatches, num_steps, 2, 1)
    assert mbs.hidden.shape == (num_minibatches, 2, 1)
    seen = []
    for m in range(num_minibatches):
        for j in range(2):
            env = int(mbs.hidden[m, j, 0])  # the hidden state says which env this column is
            seen.append(env)
            np.testing.assert_array_equal(mbs.transitions.obs[m, :, j, 0], obs[:, env, 0])
            np.testing.assert_array_equal(mbs.advantages[m, :, j], env)
            np.testing.assert_array_equal(mbs.targets[m, :, j], -env)
    assert sorted(seen) == list(range(num_envs))  # every env exactly once


# ------------------------------------------------------------------------------------- rollout
def _sequence_outputs(network, params, hidden0, tr: Transition):
    """Reference: the network over the whole stored sequence from the stored hidden state."""
    _, mean, log_std, value = network.apply(params, hidden0, tr.obs, tr.reset)
    return gaussian_log_prob(tr.action, mean, log_std), value


@pytest.mark.parametrize("separate_critic", [False, True])
def test_rollout_resets_memory_at_task_boundaries_not_trial_boundaries(separate_critic):
    # CueRecall(delay=1): 3-step trials; 2 trials per task, so tasks end at t = 5, 11, ...
    task_set = TaskSet(
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
    config = PPOConfig(**TINY, separate_critic=separate_critic)
    venv = VecEnv(task_set, config.num_envs)
    network = make_network(config, venv.action_size, venv.obs_size)
    state = jax.jit(make_init(config, task_set))(jax.random.key(0))
    params = state.train_state.params
    # With a separate critic the hidden state is the pair (actor's, critic's).
    assert isinstance(state.hidden, tuple) == separate_critic

    @jax.jit
    def two_rollouts(state: RunnerState):
        first = rollout(network, venv, params, state, config.num_steps)
        second = rollout(network, venv, params, first[0], config.num_steps)
        return state.hidden, first, first[0].hidden, second

    hidden0, (_, tr1, stats1), hidden1, (state2, tr2, _) = two_rollouts(state)
    resets = np.concatenate([tr1.reset, tr2.reset])  # [14, B]
    ended = np.concatenate([tr1.terminated | tr1.truncated, tr2.terminated | tr2.truncated])
    # Stored resets are the done flags shifted by one step (True at init).
    np.testing.assert_array_equal(resets[0], True)
    np.testing.assert_array_equal(resets[1:], ended[:-1])
    np.testing.assert_array_equal(np.asarray(state2.done), ended[-1])
    # Tasks are 6 steps: resets exactly at task starts t = 0, 6, 12, not at the trial start t = 3.
    expected = np.zeros(14, bool)
    expected[[0, 6, 12]] = True
    np.testing.assert_array_equal(resets, np.broadcast_to(expected[:, None], resets.shape))
    trial_done = np.concatenate([tr1.obs[..., 2], tr2.obs[..., 2]])  # the obs's trial flag
    assert trial_done[3].all() and not resets[3].any()
    assert float(stats1["tasks_ended"]) == config.num_envs  # the task ending at t = 5
    # The stored hidden state at each rollout start reproduces, in one sequence call, what the
    # rollout computed step by step (the second rollout starts mid-task, with a nonzero state).
    reference = jax.jit(functools.partial(_sequence_outputs, network, params))
    for hidden, tr in ((hidden0, tr1), (hidden1, tr2)):
        log_prob, value = reference(hidden, tr)
        np.testing.assert_allclose(log_prob, tr.log_prob, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(value, tr.value, rtol=1e-4, atol=1e-5)
    assert all(float(jnp.abs(h).sum()) > 0 for h in jax.tree.leaves(hidden1))


class _TruncatingVecEnv:
    """A minimal VecEnv over CueRecall with a 3-step time limit: truncates before the query."""

    num_envs, obs_size, action_size = 3, 2, 1

    def __init__(self):
        self.env = CueRecall(delay=4, max_steps_in_episode=3)

    def reset(self, key):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.reset)(keys)

    def step(self, key, state, actions):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.step)(keys, state, actions)


def test_rollout_bootstraps_truncation_with_value_of_final_observation():
    venv = _TruncatingVecEnv()
    config = PPOConfig(**{**TINY, "num_envs": 3, "num_minibatches": 1, "total_timesteps": 21})
    network = make_network(config, venv.action_size, venv.obs_size)
    obs, env_state = venv.reset(jax.random.key(1))
    hidden = network.initialize_carry(3)
    done = jnp.ones(3, bool)
    params = jax.jit(network.init)(jax.random.key(2), hidden, obs[None], done[None])
    state = RunnerState(None, env_state, obs, done, hidden, jnp.zeros(3), jax.random.key(3), 0)

    @jax.jit
    def run(state):
        return rollout(network, venv, params, state, config.num_steps)

    _, tr, _ = run(state)
    truncated = np.asarray(tr.truncated)
    assert truncated[2].all() and truncated[5].all() and truncated.sum() == 6
    assert not np.asarray(tr.terminated).any()
    np.testing.assert_array_equal(np.asarray(tr.final_value)[~truncated], 0.0)
    # Reference: each truncated episode covers steps t-2 .. t and starts with a reset, so run
    # the network in sequence mode over those steps followed by the final observation, which
    # continues the episode (no reset). The final observation of a 3-step CueRecall(delay=4)
    # episode is [0, 0] (no cue, not yet the query).
    ts, bs = np.nonzero(truncated)
    windows = np.stack([ts - 2, ts - 1, ts])  # [3, n]
    assert np.asarray(tr.reset)[ts - 2, bs].all()
    seq_obs = jnp.concatenate([tr.obs[windows, bs], jnp.zeros((1, len(ts), 2))])  # [4, n, 2]
    seq_resets = jnp.concatenate([tr.reset[windows, bs], jnp.zeros((1, len(ts)), bool)])
    hidden_any = network.initialize_carry(len(ts)) + 5.0  # discarded by the reset at t-2
    _, _, _, value = jax.jit(network.apply)(params, hidden_any, seq_obs, seq_resets)
    np.testing.assert_allclose(tr.final_value[ts, bs], value[-1], rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------ config
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_envs=60, num_minibatches=8), "num_minibatches=8 does not divide num_envs=60"),
        (
            dict(num_envs=4, num_steps=8, total_timesteps=16, num_minibatches=1),
            "total_timesteps=16",
        ),
        (dict(memory="mamba"), "unknown memory 'mamba'"),
        (dict(gamma=1.5), "gamma must be in (0, 1]"),
        (dict(gae_lambda=-0.1), "gae_lambda must be in [0, 1]"),
        (dict(learning_rate=0.0), "learning_rate must be > 0"),
        (dict(update_epochs=0), "update_epochs must be a positive int"),
        (dict(num_envs=2.5), "num_envs must be a positive int"),
        (dict(encoder_sizes=()), "encoder_sizes must have at least one width"),
        (dict(memory_kwargs=(("d_model", 32),)), "memory_kwargs sets d_model"),
        (dict(aux_loss="next_obs"), "unknown aux_loss 'next_obs'"),
        (dict(aux_coef=-1.0), "aux_coef must be >= 0"),
    ],
)
def test_config_rejects_bad_values_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        PPOConfig(**kwargs)


def test_config_defaults_are_the_papers_ppo_s5():
    c = PPOConfig()
    assert (c.learning_rate, c.num_envs, c.num_steps, c.update_epochs, c.num_minibatches) == (
        5e-5,
        64,
        1024,
        30,
        8,
    )
    assert (c.gamma, c.gae_lambda, c.clip_eps, c.ent_coef, c.vf_coef, c.max_grad_norm) == (
        0.99,
        1.0,
        0.2,
        0.0,
        1.0,
        0.5,
    )
    assert (c.memory, c.s5_state_size, c.s5_num_layers) == ("s5", 256, 4)
    assert (c.encoder_sizes, c.head_sizes) == ((128, 256), (128, 128))
    assert c.envs_per_minibatch == 8 and c.num_updates == c.total_timesteps // (64 * 1024)
    hash(c)  # usable as a static jit argument


# ---------------------------------------------------------------------- init / update / train
def test_chunked_updates_equal_make_train():
    task_set = TaskSet(
        envs=("probe/TargetMatch",),
        obs_dim=1,
        action_dim=1,
        normalize=False,
        obs_family="identity",
        action_family="identity",
        obs_extras=(),
    )
    config = PPOConfig(**{**TINY, "memory": "none", "num_steps": 3, "total_timesteps": 24})
    assert config.num_updates == 2
    train_state, metrics = jax.jit(make_train(config, task_set))(jax.random.key(7))
    init = make_init(config, task_set)
    # The update traces once: the second chunk (the first one's state in) reuses its trace.
    update = chex.assert_max_traces(make_update(config, task_set), n=1)
    chunk = jax.jit(scan_updates, static_argnums=(0, 2))
    state = jax.jit(init)(jax.random.key(7))
    state, m1 = chunk(update, state, 1)
    state, m2 = chunk(update, state, 1)
    for a, b in zip(jax.tree.leaves(train_state.params), jax.tree.leaves(state.train_state.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    loss = np.concatenate([m1["loss"], m2["loss"]])
    np.testing.assert_allclose(metrics["loss"], loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(metrics["update"], [1, 2])
    np.testing.assert_array_equal(metrics["env_steps"], [12, 24])
    assert int(state.update) == 2 and int(state.train_state.step) == 2 * 2  # 2 minibatches
    # TargetMatch ends a task every step: 4 tasks per step, 12 per update, returns in [-4, 0].
    np.testing.assert_array_equal(metrics["tasks_ended"], 12)
    assert np.all(metrics["task_return"] <= 0) and np.all(metrics["task_return"] >= -4)
    np.testing.assert_allclose(metrics["trial_returns"][:, 0], metrics["task_return"], rtol=1e-6)


def test_ppo_metrics_count_nonfinite_events():
    from agents.ppo import _task_metrics, _task_stats

    info = {"nonfinite": jnp.array([True, False, True])}
    done = jnp.array([True, False, True])
    stats = _task_stats(done, jnp.array([1.0, 2.0, 3.0]), info)
    assert float(stats["nonfinite"]) == 2.0
    assert float(_task_metrics(stats)["nonfinite"]) == 2.0
    assert "nonfinite" not in _task_stats(done, jnp.zeros(3), {})  # envs without the guard


# ----------------------------------------------------------------------------- auxiliary loss
def _aux_task_set(obs_dim: int) -> TaskSet:
    # CueRecall (obs [cue, query]) under a fresh gaussian M_o per task, 2 trials of 3 steps.
    return TaskSet(
        envs=("probe/CueRecall",),
        obs_dim=obs_dim,
        action_dim=1,
        num_trials=2,
        normalize=False,
        obs_family="gaussian",
        action_family="identity",
        obs_extras=("trial_done",),
        env_kwargs=(("probe/CueRecall", (("delay", 1),)),),
    )


def test_aux_loss_trains_a_head_on_the_unprojected_next_observation():
    task_set = _aux_task_set(obs_dim=3)
    config = PPOConfig(**TINY, aux_loss="unprojected_next_obs", aux_coef=0.5)
    venv = VecEnv(task_set, config.num_envs)
    network = make_network(config, venv.action_size, venv.obs_size, aux_dim=3)
    state = jax.jit(make_init(config, task_set))(jax.random.key(0))
    params = state.train_state.params
    assert "aux_head" in params["params"] and "aux" not in params  # no sown values kept
    state2, tr, _ = jax.jit(lambda s: rollout(network, venv, params, s, config.num_steps))(state)
    # The target of step t is the CueRecall observation it produced, padded to O = 3: where no
    # trial ended at t, the next stored observation is M_o times it (M_o is the task's, found
    # by least squares over that task's steps: CueRecall's obs spans 2 dims, so solve per slot).
    target, next_obs = np.asarray(tr.aux_target), np.asarray(tr.obs[1:, :, :3])
    assert target.shape == (config.num_steps, config.num_envs, 3)
    np.testing.assert_array_equal(target[..., 2], 0.0)  # the padding
    trial_flag = np.asarray(tr.obs[1:, :, 3])  # the next obs starts a new trial
    keep = (trial_flag == 0) & ~np.asarray(tr.reset[1:])
    for b in range(config.num_envs):
        t = np.flatnonzero(keep[:, b])
        m_o, *_ = np.linalg.lstsq(target[t, b, :2], next_obs[t, b], rcond=None)  # [2, 3]
        np.testing.assert_allclose(target[t, b, :2] @ m_o, next_obs[t, b], atol=1e-5)
    # ppo_loss = the plain loss (from the same params) + aux_coef * MSE of the sown prediction.
    batch = Batch(tr, jnp.ones(tr.reward.shape), jnp.zeros(tr.reward.shape), state.hidden)
    loss, metrics = ppo_loss(params, network, batch, config)
    plain, _ = ppo_loss(params, network, batch, dataclasses.replace(config, aux_loss="none"))
    _, sown = network.apply(
        params, state.hidden, tr.obs, tr.reset, jnp.clip(tr.action, -1, 1), mutable=["aux"]
    )
    mse = np.mean((np.asarray(sown["aux"]["prediction"][0]) - target) ** 2)
    assert float(metrics["aux_loss"]) == pytest.approx(mse, rel=1e-5)
    assert float(loss) == pytest.approx(float(plain) + 0.5 * mse, rel=1e-5)
    # The auxiliary gradient reaches the memory (what the loss is for), not the policy head.
    grads = jax.grad(
        lambda p: (
            ppo_loss(p, network, batch, config)[0]
            - ppo_loss(p, network, batch, dataclasses.replace(config, aux_loss="none"))[0]
        )
    )(params)
    assert float(optax.global_norm(grads["params"]["memory"])) > 0
    assert float(optax.global_norm(grads["params"]["mean"])) == 0
    # One update runs with the head and logs the loss.
    _, update_metrics = jax.jit(make_update(config, task_set))(state2)
    assert np.isfinite(float(update_metrics["aux_loss"]))


def test_aux_loss_refuses_a_task_set_whose_observation_does_not_fit_naming_the_fix():
    config = PPOConfig(**TINY, aux_loss="unprojected_next_obs")
    with pytest.raises(ValueError, match="observation has 2 entries, more than the task set's"):
        make_init(config, _aux_task_set(obs_dim=1))


def test_aux_action_without_an_aux_head_raises_naming_the_fix():
    network = make_network(PPOConfig(**TINY), action_size=1, obs_size=2)
    obs, resets = jnp.zeros((2, 3, 2)), jnp.zeros((2, 3), bool)
    hidden = network.initialize_carry(3)
    params = network.init(jax.random.key(0), hidden, obs, resets)
    with pytest.raises(ValueError, match="build it with aux_dim > 0"):
        network.apply(params, hidden, obs, resets, jnp.zeros((2, 3, 1)))
