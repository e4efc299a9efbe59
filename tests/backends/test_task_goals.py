"""Goals, targets and actuation directions of brax / dmc envs live in the task.

With ``goal_sampling="task"`` (the default) ``sample_task`` draws the goal and every trial of
the task runs with it; ``goal_sampling="episode"`` redraws it at every reset, as the original
env. References: the raw brax / Playground env (its reset's goal law, its reset itself).

Each env here costs one or two brax / MJX compiles (10-60 s on a 2-core CPU), so the default
run checks two cheap ones (:data:`FAST`, tiny batches and rollouts); ``-m slow`` runs the rest.
"""

from __future__ import annotations

import functools
import importlib.util
import pathlib

import jax
import numpy as np
import pytest
from scipy import stats

import projected_envs.registry as registry
from projected_envs.backends.brax import BRAX_GOALS, EpisodeParams, GoalParams
from projected_envs.wrappers import MetaEpisode

HAS_PLAYGROUND = importlib.util.find_spec("mujoco_playground") is not None

#: Every registered env with a task-level random quantity (the audit in
#: docs/reference/environments.md).
GOAL_ENVS = (
    "brax/reacher",
    "dmc/FingerTurnEasy",
    "dmc/FingerTurnHard",
    "dmc/FishSwim",
    "dmc/PointMassHard",
    "dmc/ReacherEasy",
    "dmc/ReacherHard",
    "dmc/SwimmerSwimmer6",
)
FAST = frozenset({"dmc/ReacherEasy", "dmc/PointMassHard"})  # compiled in the default run
NUM_TRIALS = 3  # K
LIMIT = 2  # steps per trial
NUM_TASKS = 2
NUM_LAW = 512  # goals drawn to compare the law of sample_task with the original's


def _param(env_id: str):
    marks = [] if env_id in FAST else [pytest.mark.slow]
    if env_id.startswith("dmc/"):
        marks.append(pytest.mark.skipif(not HAS_PLAYGROUND, reason="needs the dmc extra"))
    return pytest.param(env_id, marks=marks, id=env_id)


GOAL_PARAMS = [_param(e) for e in GOAL_ENVS]


# ------------------------------------------------------------------------------ no compile
def test_goal_envs_are_those_of_the_audit():
    """The backends' goal tables and the docs' audit table list the same envs."""
    ids = {f"brax/{n}" for n in BRAX_GOALS}
    if HAS_PLAYGROUND:
        from projected_envs.backends.dmc import DMC_GOALS

        ids |= {f"dmc/{n}" for n in DMC_GOALS}
        assert ids == set(GOAL_ENVS)
    docs = pathlib.Path(__file__).parents[2] / "docs" / "reference" / "environments.md"
    section = docs.read_text().split("## Task-level randomness", 1)[1].split("\n## ", 1)[0]
    for env_id in GOAL_ENVS:
        assert f"`{env_id}`" in section, f"{env_id} missing from the audit table"


@pytest.mark.skipif(not HAS_PLAYGROUND, reason="needs the dmc extra")
def test_goal_sampling_is_validated_and_tells_the_modes():
    with pytest.raises(ValueError, match=r"goal_sampling must be 'task'.*'episode'"):
        registry.make("dmc/ReacherEasy", goal_sampling="trial")
    env, params = registry.make("dmc/ReacherEasy")
    assert env.samples_task and isinstance(params, GoalParams)
    np.testing.assert_allclose(params.goal, [0.1, 0.1, 0.01], atol=1e-7)  # documented default
    env, params = registry.make("dmc/ReacherEasy", goal_sampling="episode")
    assert not env.samples_task and type(params) is EpisodeParams
    assert env.sample_task(jax.random.key(0)) is params
    env, _ = registry.make("dmc/CartpoleBalance", goal_sampling="episode")  # no goal: no-op
    assert not env.samples_task and env.task_goal is None


@pytest.mark.skipif(not HAS_PLAYGROUND, reason="needs the dmc extra")
def test_reset_without_a_goal_in_task_mode_fails_at_trace_time():
    env, params = registry.make("dmc/PointMassHard")
    bare = EpisodeParams(max_steps_in_episode=params.max_steps_in_episode)
    with pytest.raises(ValueError, match=r"sample_task\(key\).*goal_sampling=\"episode\""):
        jax.eval_shape(env.reset, jax.random.key(0), bare)


# ------------------------------------------------------------------------- compiled checks
@functools.partial(jax.jit, static_argnums=0)
def _meta_rollout(meta: MetaEpisode, task_key: jax.Array, key: jax.Array):
    """NUM_TASKS tasks of ``meta``, each run for all its trials with random actions.

    Returns the tasks and, per step ``[T, NUM_TASKS, ...]``: the goal in the inner state the
    action is taken in, the trial index, the inner obs and ``terminated``.
    """
    env = meta.env
    tasks = jax.vmap(meta.sample_task)(jax.random.split(task_key, NUM_TASKS))

    def run(task, key):
        key_reset, key_steps = jax.random.split(key)
        obs, state = meta.reset(key_reset, task)

        def body(carry, k):
            obs, state = carry
            key_action, key_step = jax.random.split(k)
            action = jax.random.uniform(key_action, (env.action_size,), minval=-1, maxval=1)
            seen = (env.goal_of(state.inner), state.trial, obs[: env.obs_size])
            obs, state, _, terminated, _, _ = meta.step(key_step, state, action, task)
            return (obs, state), (*seen, terminated)

        steps = jax.random.split(key_steps, NUM_TRIALS * LIMIT)
        return jax.lax.scan(body, (obs, state), steps)[1]

    return tasks, jax.vmap(run, in_axes=(0, 0), out_axes=1)(tasks, jax.random.split(key, NUM_TASKS))


@pytest.mark.parametrize("env_id", GOAL_PARAMS)
def test_goal_is_held_across_the_trials_of_a_task_and_differs_across_tasks(env_id):
    env, _ = registry.make(env_id, max_steps_in_episode=LIMIT)
    assert env.samples_task
    meta = MetaEpisode(env, num_trials=NUM_TRIALS)
    tasks, (goals, trials, inner_obs, terminated) = jax.device_get(
        _meta_rollout(meta, jax.random.key(0), jax.random.key(1))
    )
    # Each trial is LIMIT steps: the recorded states at t = i * LIMIT are trial starts.
    expected_trial = np.repeat(np.arange(NUM_TRIALS), LIMIT)
    np.testing.assert_array_equal(trials, np.broadcast_to(expected_trial[:, None], trials.shape))
    assert terminated[-1].all() and not terminated[:-1].any()
    # Every step of every trial runs with its task's goal ...
    np.testing.assert_array_equal(goals, np.broadcast_to(tasks.goal, goals.shape))
    # ... the tasks' goals differ, and only the initial state is redrawn per trial.
    assert not np.allclose(tasks.goal[0], tasks.goal[1])
    starts = inner_obs[::LIMIT]  # [NUM_TRIALS, NUM_TASKS, O]
    for i in range(NUM_TRIALS):
        for j in range(i):
            assert not np.allclose(starts[i], starts[j]), "trials restarted from one state"
    # A task is a pure function of its key.
    again, _ = jax.device_get(_meta_rollout(meta, jax.random.key(0), jax.random.key(2)))
    np.testing.assert_array_equal(again.goal, tasks.goal)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _against_raw(task_env, episode_env, key: jax.Array):
    """The task env, the episode env and the raw env's reset on the same keys."""
    raw, goal = task_env.raw_env, task_env.task_goal
    keys = jax.random.split(key, NUM_LAW)
    raw_goals = jax.vmap(lambda k: goal.read(raw.reset(k)))(keys)
    task_goals = jax.vmap(task_env.sample_task)(keys).goal
    episode_params = episode_env.default_params

    def episode_goal(k):
        return episode_env.goal_of(episode_env.reset(k, episode_params)[1])

    episode_goals = jax.vmap(episode_goal)(keys[:4])
    # The task env's reset with the goal the raw env drew for keys[0]: the raw reset itself.
    raw_state = raw.reset(keys[0])
    task_params = task_env.default_params.replace(goal=goal.read(raw_state))
    _, state = task_env.reset(keys[0], task_params)
    return raw_goals, task_goals, episode_goals, raw_state, state.inner


@pytest.mark.parametrize("env_id", GOAL_PARAMS)
def test_goal_law_and_reset_match_the_original(env_id):
    task_env, _ = registry.make(env_id)
    episode_env, _ = registry.make(env_id, goal_sampling="episode")
    raw_goals, task_goals, episode_goals, raw_state, state = jax.device_get(
        _against_raw(task_env, episode_env, jax.random.key(3))
    )
    shape = np.shape(task_env.default_params.goal)
    assert raw_goals.shape == task_goals.shape == (NUM_LAW, *shape)
    # sample_task draws the goal with the original reset's law (two-sample KS per coordinate).
    raw_flat, task_flat = raw_goals.reshape(NUM_LAW, -1), task_goals.reshape(NUM_LAW, -1)
    for c in range(raw_flat.shape[1]):
        p = stats.ks_2samp(raw_flat[:, c], task_flat[:, c]).pvalue
        assert p > 1e-3, f"coordinate {c}: sample_task's law differs from the original (p={p})"
    assert not np.allclose(task_flat[0], task_flat[1])
    # goal_sampling="episode" is the original: a fresh goal at every reset, the raw env's.
    np.testing.assert_allclose(episode_goals, raw_goals[:4], rtol=1e-6, atol=1e-7)
    for i in range(4):
        for j in range(i):
            assert not np.allclose(episode_goals[i], episode_goals[j]), "goal not redrawn"
    # A reset with the task's goal is the original reset with that goal.
    for ours, ref in zip(jax.tree.leaves(state), jax.tree.leaves(raw_state), strict=True):
        if jax.dtypes.issubdtype(ref.dtype, jax.dtypes.extended):  # PRNG keys
            np.testing.assert_array_equal(jax.random.key_data(ours), jax.random.key_data(ref))
            continue
        np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-7)
