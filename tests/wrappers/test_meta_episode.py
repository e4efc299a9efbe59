"""MetaEpisode against a plain Python loop over trials, vmap against each env alone, and the
observation extras it appends."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from projected_envs.wrappers import META_EPISODE_EXTRAS, MetaEpisode
from tests.helpers import FAKE, META, STACK, K, dyadic_actions, fake_params, rollout


def meta_episode_reference(actions: np.ndarray, goal: float, max_steps: int, num_trials: int):
    """A plain Python loop: what MetaEpisode(FakeEnv) must produce, step by step."""
    out = {k: [] for k in ("acc", "time", "trial", "trial_done", "terminated", "returns")}
    acc, time, trial, returns = np.float32(0), 0, 0, np.zeros(num_trials, np.float32)
    for a in actions:
        a0, a1 = np.float32(a[0]), np.float32(a[1])
        acc, time = np.float32(acc + a0), time + 1
        returns[trial] += np.float32(a0 + np.float32(0.5) * a1)
        trial_done = bool(acc >= goal) or time >= max_steps
        out["trial"].append(trial)
        out["trial_done"].append(trial_done)
        out["returns"].append(returns.copy())
        if trial_done:  # the next trial (or task) starts from a fresh inner reset
            acc, time, trial = np.float32(0), 0, trial + 1
        task_done = trial == num_trials
        out["terminated"].append(task_done)
        if task_done:
            trial, returns = 0, np.zeros(num_trials, np.float32)
        out["acc"].append(acc)
        out["time"].append(time)
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize(
    ("goal", "max_steps"),
    [(1.5, 100), (1e9, 4), (2.0, 4)],
    ids=["terminating", "truncating", "both"],
)
def test_meta_episode_counts_trials_like_a_python_loop(goal, max_steps):
    actions = dyadic_actions(seed=int(max_steps), steps=120)
    obs0, obs, reward, terminated, truncated, info = rollout(
        META, fake_params(goal, max_steps), jax.random.key(5), actions
    )
    ref = meta_episode_reference(np.asarray(actions), goal, max_steps, K)
    lay = META.obs_layout
    assert META.obs_extras == META_EPISODE_EXTRAS
    assert lay["obs"] == slice(0, 3) and lay["action"] == slice(3, 5)
    assert (lay["reward"], lay["trial_done"], lay["task_start"]) == (
        slice(5, 6),
        slice(6, 7),
        slice(7, 8),
    )

    np.testing.assert_array_equal(terminated, ref["terminated"])
    assert not np.any(truncated)  # inner ends never leak out as outer done
    assert ref["terminated"].sum() >= 3  # several whole tasks were run
    np.testing.assert_array_equal(info["trial"], ref["trial"])
    np.testing.assert_array_equal(info["trial_done"], ref["trial_done"])
    np.testing.assert_array_equal(info["trial_returns"], ref["returns"])
    trial_idx = np.asarray(info["trial"])
    np.testing.assert_array_equal(
        info["trial_return"], ref["returns"][np.arange(len(trial_idx)), trial_idx]
    )
    # Exactly K trial ends per task, the last of which is the outer termination.
    ends = np.flatnonzero(ref["terminated"])
    counts = np.diff(np.concatenate([[0], np.cumsum(ref["trial_done"])[ends]]))
    np.testing.assert_array_equal(counts, K)

    # Observation layout: inner obs, previous action, previous reward, flags.
    obs = np.asarray(obs)
    np.testing.assert_array_equal(obs[:, 1], ref["acc"])
    np.testing.assert_array_equal(obs[:, 2], ref["time"])
    np.testing.assert_array_equal(
        obs[:, lay["action"]], np.where(ref["terminated"][:, None], 0, actions)
    )
    np.testing.assert_array_equal(obs[:, 5], np.where(ref["terminated"], 0, reward))
    np.testing.assert_array_equal(obs[:, 6], ref["trial_done"] & ~ref["terminated"])
    np.testing.assert_array_equal(obs[:, 7], ref["terminated"])
    np.testing.assert_array_equal(obs0[3:], [0, 0, 0, 0, 1])  # task start: no action/reward yet
    # The observation that ended a task has the trial-done flag and the final inner state.
    final = np.asarray(info["final_observation"])[ends]
    np.testing.assert_array_equal(final[:, 6], 1.0)
    np.testing.assert_array_equal(final[:, 7], 0.0)
    # Every trial starts from a fresh reset: no two trials share their initial obs[0].
    starts = np.concatenate([[obs0[0]], obs[ref["trial_done"], 0]])
    assert len(np.unique(starts)) == len(starts)


def test_meta_episode_batched_with_vmap_matches_each_env_alone():
    """Under vmap the inner resets only run when some env needs one (core.reset_where)."""
    actions = dyadic_actions(seed=6, steps=40)
    params, keys = fake_params(2.0, 4), jax.random.split(jax.random.key(8), 3)
    batched = jax.jit(jax.vmap(lambda k: rollout(META, params, k, actions)))(keys)
    for i, key in enumerate(keys):
        alone = rollout(META, params, key, actions)
        for got, want in zip(jax.tree.leaves(batched), jax.tree.leaves(alone)):
            np.testing.assert_array_equal(got[i], want)


def test_meta_episode_dmc_variant_appends_reward_and_done_only():
    env = MetaEpisode(FAKE, num_trials=2, obs_extras=("trial_done", "reward"))
    assert env.obs_extras == ("reward", "trial_done")  # canonical order
    assert env.obs_size == 5
    obs, state = env.reset(jax.random.key(0), fake_params(goal=0.5))
    raw, _ = FAKE.reset(jax.random.key(0), fake_params(goal=0.5))
    np.testing.assert_array_equal(obs, np.concatenate([raw, [0.0, 0.0]]))
    obs, state, reward, terminated, _, info = env.transition(
        jax.random.key(1), state, jnp.array([0.5, 1.0]), fake_params(goal=0.5)
    )
    assert float(reward) == 1.0 and bool(info["trial_done"]) and not bool(terminated)
    np.testing.assert_array_equal(obs[3:], [1.0, 1.0])  # previous reward, trial done
    np.testing.assert_array_equal(obs[1:3], [0.0, 0.0])  # the next trial's first observation


def test_meta_episode_rejects_bad_arguments():
    for num_trials in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="num_trials must be a positive int"):
            MetaEpisode(FAKE, num_trials=num_trials)
    with pytest.raises(ValueError, match="obs_extras must be distinct names from"):
        MetaEpisode(FAKE, num_trials=2, obs_extras=("reward", "done"))
    with pytest.raises(ValueError, match="obs_extras must be distinct names from"):
        MetaEpisode(FAKE, num_trials=2, obs_extras=("reward", "reward"))
    _, state = META.reset(jax.random.key(0))
    with pytest.raises(ValueError, match=r"expected \(2,\)"):
        META.transition(jax.random.key(0), state, jnp.zeros(3), FAKE.default_params)


def test_full_stack_reports_nonfinite_actions():
    # MetaEpisode sanitises before ProjectAction sees the action, so it must count them itself.
    task = STACK.sample_task(jax.random.key(0))
    _, state = STACK.reset(jax.random.key(1), task)
    action = jnp.array([jnp.nan, -jnp.inf, 0.5])
    *_, info = STACK.step(jax.random.key(2), state, action, task)
    assert int(info["action_nonfinite"]) == 2


def test_meta_episode_echoes_the_action_the_env_used():
    meta = MetaEpisode(FAKE, num_trials=2)
    _, state = meta.reset(jax.random.key(0))
    obs, *_ = meta.step(jax.random.key(1), state, jnp.array([jnp.nan, 1e6]))
    np.testing.assert_array_equal(obs[meta.obs_layout["action"]], [0.0, 1.0])
