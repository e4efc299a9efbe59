"""evaluate(): equals an independent per-task loop over the env, extrapolates in K, summarises."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.evaluation import evaluate, format_table, get_evaluator, max_steps_in_episode
from agents.ppo import PPOConfig, make_network
from projected_envs.tasks import TaskSet

# Two cheap envs with different episode lengths: CueRecall terminates after delay + 2 = 4
# steps, Pendulum is truncated after 7; two trials per task.
TASKS = TaskSet(
    envs=("probe/CueRecall", "gymnax/Pendulum-v1"),
    obs_dim=3,
    action_dim=2,
    num_trials=2,
    normalize=False,
    env_kwargs=(
        ("probe/CueRecall", (("delay", 2),)),
        ("gymnax/Pendulum-v1", (("max_steps_in_episode", 7),)),
    ),
    seed=3,
    name="tiny",
)
CONFIG = PPOConfig(
    num_envs=2,
    num_steps=4,
    total_timesteps=8,
    num_minibatches=1,
    update_epochs=1,
    memory="s5",
    s5_state_size=4,
    s5_num_layers=1,
    encoder_sizes=(8,),
    head_sizes=(8,),
)
PER_ENV = 3
# One process runs every test of this module (pytest -n 2 --dist loadgroup): they share the
# module fixture and the compiled programs, which are most of their cost.
pytestmark = pytest.mark.xdist_group("evaluation")


@pytest.fixture(scope="module")
def params():
    """Random network params, perturbed so that actions are far from zero and varied."""
    network = make_network(CONFIG, TASKS.action_size, TASKS.obs_size)
    hidden = network.initialize_carry(1)
    obs, resets = jnp.zeros((1, 1, TASKS.obs_size)), jnp.ones((1, 1), bool)
    p = jax.jit(network.init)(jax.random.PRNGKey(0), hidden, obs, resets)
    leaves, tree = jax.tree.flatten(p)
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    noisy = [x + 0.5 * jax.random.normal(k, x.shape, x.dtype) for x, k in zip(leaves, keys)]
    return jax.tree.unflatten(tree, noisy)


def direct_rollout(params, seed: int, random: bool, num_trials: int) -> np.ndarray:
    """Trial returns [T, K] from a plain Python loop, one task at a time, over each env stack.

    Keys follow the documented protocols: the evaluation loop splits its key into ``(k,
    k_reset)`` and each step into ``(k, k_act, k_env)``; slot ``i`` of a bank VecEnv resets with
    ``split(fold_in(k_reset, i))[1]`` and steps with ``fold_in(split(k_env)[0], i)``
    (``projected_envs.vec`` module docstring).
    """
    import dataclasses

    task_set = dataclasses.replace(TASKS, num_trials=num_trials)
    bank = task_set.eval_tasks(PER_ENV)
    network = make_network(CONFIG, task_set.action_size, task_set.obs_size)
    apply = jax.jit(network.apply)
    num_tasks = len(bank)
    envs = [task_set.make_env(i) for i in range(len(task_set.envs))]
    transitions = [jax.jit(env.transition) for env in envs]
    resets = [jax.jit(env.reset) for env in envs]
    out = np.zeros((num_tasks, num_trials), np.float32)
    for t in range(num_tasks):
        group, j = divmod(t, PER_ENV)
        transition, env_reset = transitions[group], resets[group]
        task = jax.tree.map(lambda x: x[j], bank.params[group])  # noqa: B023
        key, k_reset = jax.random.split(jax.random.PRNGKey(seed))
        _, k_r = jax.random.split(jax.random.fold_in(k_reset, t))
        obs, state = env_reset(k_r, task)
        hidden, reset = network.initialize_carry(1), jnp.ones((1, 1), bool)
        terminated = False
        while not terminated:
            key, k_act, k_env = jax.random.split(key, 3)
            if random:
                action = jax.random.uniform(k_act, (num_tasks, 2), minval=-1.0, maxval=1.0)[t]
            else:
                hidden, mean, log_std, _ = apply(params, hidden, obs[None, None], reset)
                noise = jax.random.normal(k_act, (num_tasks, 2))[t]
                action = mean[0, 0] + jnp.exp(log_std) * noise
            k_step = jax.random.fold_in(jax.random.split(k_env)[0], t)
            obs, state, _, terminated, truncated, info = transition(
                k_step, state, jnp.clip(action, -1.0, 1.0), task
            )
            reset = jnp.zeros((1, 1), bool)
            assert not truncated
        out[t] = np.asarray(info["trial_returns"])
    return out


def test_evaluate_equals_direct_rollout_of_the_same_tasks(params):
    result = evaluate(params, CONFIG, TASKS, per_env=PER_ENV, seed=4, num_resamples=100)
    assert result.returns.shape == (2 * PER_ENV, 2)
    np.testing.assert_allclose(result.returns, direct_rollout(params, 4, False, 2), rtol=1e-5)
    np.testing.assert_allclose(result.random_returns, direct_rollout(params, 4, True, 2), rtol=1e-5)
    # Meta-episode lengths: CueRecall 2 x 4 steps, Pendulum 2 x 7 steps.
    np.testing.assert_array_equal(result.length, [8] * PER_ENV + [14] * PER_ENV)
    np.testing.assert_array_equal(result.env_index, [0] * PER_ENV + [1] * PER_ENV)
    # The agent and the random policy act differently on the same tasks.
    assert not np.allclose(result.returns, result.random_returns)


def test_evaluate_is_deterministic_and_summaries_match_returns(params):
    a = evaluate(params, CONFIG, TASKS, per_env=PER_ENV, seed=4, num_resamples=100)
    b = evaluate(params, CONFIG, TASKS, per_env=PER_ENV, seed=4, num_resamples=100)
    np.testing.assert_array_equal(a.returns, b.returns)
    assert a.summary == b.summary
    overall = a.summary["overall"]
    assert overall["return"]["mean"] == pytest.approx(a.returns.mean(), rel=1e-6)
    gain = a.returns[:, -1] - a.returns[:, 0]
    assert overall["gain"]["mean"] == pytest.approx(gain.mean(), rel=1e-6, abs=1e-9)
    per_env = a.summary["per_env"]["gymnax/Pendulum-v1"]["per_trial"]["mean"]
    np.testing.assert_allclose(per_env, a.returns[PER_ENV:].mean(axis=0), rtol=1e-6)
    table = format_table({"train": a})
    assert "gymnax/Pendulum-v1" in table and "probe/CueRecall" in table and "all" in table


def test_more_trials_than_training_horizon_extends_the_same_meta_episodes(params):
    """K=3 runs the same tasks and keys: its first two trials are the K=2 evaluation."""
    short = get_evaluator(CONFIG, TASKS, per_env=PER_ENV).rollout(params, seed=4)
    long = get_evaluator(CONFIG, TASKS, num_trials=3, per_env=PER_ENV).rollout(params, seed=4)
    assert long.returns.shape == (2 * PER_ENV, 3)
    np.testing.assert_array_equal(long.returns[:, :2], short.returns)
    np.testing.assert_array_equal(long.length, [12] * PER_ENV + [21] * PER_ENV)


def test_max_steps_bound_and_unfinished_tasks_raise(params):
    assert max_steps_in_episode(TASKS, 2) == 14  # 2 trials x Pendulum's 7 steps
    with pytest.raises(RuntimeError, match="did not finish 2 trials within max_steps=5"):
        evaluate(params, CONFIG, TASKS, per_env=PER_ENV, max_steps=5, num_resamples=10)
