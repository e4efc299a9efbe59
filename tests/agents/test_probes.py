"""Probe environments with known optima, and the agents learning them (or provably not)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.ppo import PPOConfig, make_train
from projected_envs.backends.probes import PROBE_ENVS, CueRecall, SignBandit, TargetMatch
from projected_envs.registry import make, registered_envs
from projected_envs.tasks import TaskSet


def test_every_probe_is_registered_and_follows_the_protocol():
    for name in PROBE_ENVS:
        env, params = make(f"probe/{name}")
        obs, state = env.reset(jax.random.key(0), params)
        assert obs.dtype == jnp.float32 and obs.shape == (env.obs_size,)
        action = jnp.zeros((env.action_size,))
        obs2, _, reward, terminated, _, info = env.step(jax.random.key(1), state, action, params)
        assert obs2.shape == obs.shape and reward.shape == () and terminated.dtype == bool
        assert info["final_observation"].shape == obs.shape
        assert f"probe/{name}" in registered_envs()
    with pytest.raises(ValueError, match="delay must be >= 0"):
        CueRecall(delay=-1)


@jax.jit
def _cue_recall_returns(key: jax.Array, answer_scale: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns of two CueRecall(delay=3) episodes per key: the oracle (remembers the cue, answers
    ``answer_scale * cue``) and a memoryless policy that always answers ``answer_scale``."""
    env = CueRecall(delay=3)
    params = env.default_params

    def episode(remember: bool) -> jax.Array:
        obs, state = env.reset(key, params)
        cue = obs[0]

        def step(carry, k):
            state, total, done = carry
            action = answer_scale * (cue if remember else 1.0)
            _, state, reward, terminated, _, _ = env.transition(k, state, action[None], params)
            return (state, total + jnp.where(done, 0.0, reward), done | terminated), None

        (_, total, _), _ = jax.lax.scan(step, (state, 0.0, False), jax.random.split(key, 5))
        return total

    return episode(True), episode(False)


def test_cue_recall_optimum_needs_memory():
    keys = jax.random.split(jax.random.key(0), 64)
    oracle, memoryless = jax.vmap(_cue_recall_returns, (0, None))(keys, jnp.float32(1.0))
    np.testing.assert_allclose(oracle, 1.0)  # the optimum
    # A memoryless policy earns +1 or -1 depending on the cue only: 0 in expectation.
    np.testing.assert_allclose(np.abs(memoryless), 1.0)
    assert abs(float(memoryless.mean())) < 0.3
    # Actions are clipped to [-1, 1]: answering 3 * cue is worth no more than answering cue.
    oracle3, _ = jax.vmap(_cue_recall_returns, (0, None))(keys, jnp.float32(3.0))
    np.testing.assert_allclose(oracle3, 1.0)


def test_cue_recall_shows_the_cue_once_then_queries_after_the_delay():
    env = CueRecall(delay=2)
    params = env.default_params
    obs, state = env.reset(jax.random.key(3), params)
    cue = float(obs[0])
    assert cue in (-1.0, 1.0) and float(obs[1]) == 0.0
    seen, flags = [np.asarray(obs)], []
    for _ in range(4):
        obs, state, reward, terminated, truncated, _ = env.transition(
            None, state, jnp.array([cue]), params
        )
        seen.append(np.asarray(obs))
        flags.append((float(reward), bool(terminated), bool(truncated)))
    np.testing.assert_array_equal(seen[1:4], [[0, 0], [0, 0], [0, 1]])  # blanks then query
    blank = (0.0, False, False)  # (reward, terminated, truncated)
    assert flags == [blank, blank, blank, (1.0, True, False)]  # answered at t = delay + 1
    short = CueRecall(delay=4, max_steps_in_episode=2)
    _, state = short.reset(jax.random.key(0), short.default_params)
    _, state, *_ = short.transition(None, state, jnp.zeros(1), short.default_params)
    _, _, _, terminated, truncated, _ = short.transition(
        None, state, jnp.zeros(1), short.default_params
    )
    assert bool(truncated) and not bool(terminated)


def test_target_match_and_sign_bandit_rewards():
    env = TargetMatch(size=2)
    obs, state = env.reset(jax.random.key(0), env.default_params)
    reward = env.transition(None, state, obs, env.default_params)[2]
    assert float(reward) == 0.0  # acting out the target is optimal
    reward0 = env.transition(None, state, jnp.zeros(2), env.default_params)[2]
    assert float(reward0) == pytest.approx(-float(jnp.mean(obs**2)))
    bandit = SignBandit()
    signs = jax.vmap(bandit.sample_task)(jax.random.split(jax.random.key(0), 64)).sign
    assert set(np.unique(signs)) == {-1.0, 1.0}
    params = bandit.sample_task(jax.random.key(1))
    _, state = bandit.reset(jax.random.key(2), params)
    out = bandit.transition(None, state, jnp.array([0.5]), params)
    assert float(out[2]) == pytest.approx(0.5 * float(params.sign)) and bool(out[3])


# ------------------------------------------------------------------------------- learning
# CueRecall(delay=4): 6-step episodes, the cue at t=0 and the query at t=5. Nothing but the
# raw observation goes in (no previous action: a memoryless agent could carry the cue in it).
CUE_TASKS = TaskSet(
    envs=("probe/CueRecall",),
    obs_dim=2,
    action_dim=1,
    num_trials=1,
    normalize=False,
    obs_family="identity",
    action_family="identity",
    obs_extras=(),
    env_kwargs=(("probe/CueRecall", (("delay", 4),)),),
)
# Tiny networks, short sequences, a large step size: about 40 updates are enough.
PROBE_CONFIG = dict(
    learning_rate=3e-3,
    num_envs=32,
    num_steps=24,
    total_timesteps=32 * 24 * 40,
    update_epochs=4,
    num_minibatches=4,
    gae_lambda=0.95,
    encoder_sizes=(32, 32),
    head_sizes=(32,),
    s5_state_size=16,
    s5_num_layers=1,
    bootstrap_truncated=False,  # the VecEnv never truncates (MetaEpisode terminates)
)


@pytest.mark.parametrize("memory", ["s5", "gru", "none"])
def test_memory_probe_is_learned_by_s5_and_gru_and_not_by_memoryless(memory):
    config = PPOConfig(memory=memory, **PROBE_CONFIG)
    train = jax.jit(jax.vmap(make_train(config, CUE_TASKS)))  # two seeds at once
    _, metrics = train(jax.random.split(jax.random.key(0), 2))
    final = np.asarray(metrics["task_return"])[:, -5:].mean(axis=1)  # per seed, optimum 1
    print(f"CueRecall(delay=4), {memory}: mean return of the last 5 updates per seed {final}")
    if memory == "none":
        assert np.all(np.abs(final) < 0.3), final  # the best memoryless policy earns 0
    else:
        assert final.mean() > 0.8 and np.all(final > 0.6), final


# SignBandit, K=8 one-step trials per task: the paying sign is the task. Only the previous
# reward and the flags go in (no previous action: a memoryless agent could otherwise keep
# repeating a paying action through it), so only a memory can carry what trial 1 revealed.
BANDIT_TASKS = TaskSet(
    envs=("probe/SignBandit",),
    obs_dim=1,
    action_dim=1,
    num_trials=8,
    normalize=False,
    obs_family="identity",
    action_family="identity",
    obs_extras=("reward", "trial_done", "task_start"),
)
BANDIT_CONFIG = {**PROBE_CONFIG, "num_steps": 32, "total_timesteps": 32 * 32 * 60}


@pytest.mark.parametrize("memory", ["s5", "none"])
def test_sign_bandit_is_learned_in_context_by_s5_and_not_by_memoryless(memory):
    """S5 explores in trial 1 and exploits in trials 2-8 (optimum 7 of 7).

    A memoryless policy maps the previous reward to an action. A probe with a small known
    action reveals the sign through the reward's sign, and the next trial can exploit it; but
    an exploit's reward (+1) says nothing about the sign, so the trial after it must probe
    again: at best it alternates, 4 of trials 2-8 (0.57 per trial; the audit saw exactly this).
    """
    config = PPOConfig(memory=memory, gamma=0.99, **BANDIT_CONFIG)
    train = jax.jit(jax.vmap(make_train(config, BANDIT_TASKS)))  # two seeds at once
    _, metrics = train(jax.random.split(jax.random.key(0), 2))
    per_trial = np.asarray(metrics["trial_returns"])[:, -5:].mean(axis=1)  # [seeds, K]
    later = per_trial[:, 1:].mean(axis=1)  # trials 2..8, optimum 1 each
    print(f"SignBandit, {memory}: per-trial returns of the last 5 updates {per_trial.round(2)}")
    if memory == "none":
        assert np.all(later < 0.65), per_trial  # the alternating bound, 4/7
    else:
        assert np.all(later > 0.9), per_trial  # above any memoryless policy
        assert np.all(later > per_trial[:, 0] + 0.5), per_trial  # the gain is in context
