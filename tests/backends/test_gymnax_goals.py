"""gymnax goal envs hold their goal for the whole task; gymnax redraws it at every reset."""

from __future__ import annotations

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import projected_envs as pe
from projected_envs.backends.gymnax import TASK_GOALS, GoalGymnaxEnv, GoalParams

GOAL_ENVS = tuple(f"gymnax/{name}" for name in TASK_GOALS)
TRIAL_STEPS = 4
NUM_TRIALS = 3


def _goal(env: GoalGymnaxEnv, inner_state) -> np.ndarray:
    return np.asarray(getattr(inner_state, env.goal_spec.field))


def _goals_per_step(env_id: str, task_key: int) -> tuple[GoalGymnaxEnv, np.ndarray, np.ndarray]:
    """Goal in the inner state at every step of one K-trial task (random actions)."""
    base, _ = pe.make(env_id, max_steps_in_episode=TRIAL_STEPS)
    env = pe.MetaEpisode(pe.ProjectAction(pe.Normalize(base, env_id=env_id), 2), NUM_TRIALS)
    task = env.sample_task(jax.random.key(task_key))
    _, state = env.reset(jax.random.key(100 + task_key), task)

    def body(state, key):
        k_act, k_step = jax.random.split(key)
        action = jax.random.uniform(k_act, (2,), minval=-1, maxval=1)
        _, state, _, _, _, info = env.transition(k_step, state, action, task)
        return state, (getattr(state.inner, base.goal_spec.field), info["trial"])

    keys = jax.random.split(jax.random.key(7), NUM_TRIALS * TRIAL_STEPS)
    _, (goals, trials) = jax.jit(lambda s: jax.lax.scan(body, s, keys))(state)
    return base, np.asarray(goals), np.asarray(trials)


@pytest.mark.parametrize("env_id", GOAL_ENVS)
def test_goal_is_held_across_trials_and_differs_across_tasks(env_id):
    base, goals_a, trials = _goals_per_step(env_id, task_key=1)
    assert set(trials.tolist()) == set(range(NUM_TRIALS))  # every trial was run
    np.testing.assert_array_equal(goals_a, np.broadcast_to(goals_a[0], goals_a.shape))
    _, goals_b, _ = _goals_per_step(env_id, task_key=2)
    assert not np.allclose(goals_a[0], goals_b[0])
    assert isinstance(base, GoalGymnaxEnv) and base.samples_task


@pytest.mark.parametrize("env_id", GOAL_ENVS)
def test_goal_follows_gymnax_distribution(env_id):
    """The task goal is drawn from gymnax's own reset distribution (same support and moments)."""
    base, _ = pe.make(env_id)
    keys = jax.random.split(jax.random.key(0), 2000)
    ours = np.asarray(jax.vmap(lambda k: base.sample_task(k).goal)(keys))
    raw_env, raw_params = gymnax.make(env_id.split("/")[1])
    field = base.goal_spec.field
    theirs = np.asarray(
        jax.vmap(lambda k: getattr(raw_env.reset_env(k, raw_params)[1], field))(keys)
    )
    np.testing.assert_allclose(ours.mean(0), theirs.mean(0), atol=0.1 * theirs.std(0).max())
    np.testing.assert_allclose(ours.std(0), theirs.std(0), rtol=0.1)
    slack = 0.02 * (theirs.max(0) - theirs.min(0))  # same support, up to sampling extremes
    np.testing.assert_array_less(theirs.min(0) - slack, ours.min(0))
    np.testing.assert_array_less(ours.max(0), theirs.max(0) + slack)


@pytest.mark.parametrize("env_id", GOAL_ENVS)
def test_reset_matches_gymnax_except_for_the_goal(env_id):
    """Same key: our initial state is gymnax's with the task's goal put in."""
    base, _ = pe.make(env_id)
    raw_env, raw_params = gymnax.make(env_id.split("/")[1])
    task = base.sample_task(jax.random.key(3))
    key = jax.random.key(4)
    obs, state = base.reset(key, task)
    _, raw_state = raw_env.reset_env(key, raw_params)
    field = base.goal_spec.field
    raw_state = raw_state.replace(**{field: task.goal, **task.others})
    for name in raw_state.__dataclass_fields__:
        np.testing.assert_allclose(
            np.asarray(getattr(state, name), np.float64),
            np.asarray(getattr(raw_state, name), np.float64),
            err_msg=name,
        )
    np.testing.assert_allclose(obs, jnp.ravel(raw_env.get_obs(raw_state, raw_params)), atol=1e-6)


def test_swimmer_urchins_are_part_of_the_task():
    """Swimmer-misc's urchins enter its reward: held per task like the goal."""
    base, _ = pe.make("gymnax/Swimmer-misc")
    task_a, task_b = base.sample_task(jax.random.key(1)), base.sample_task(jax.random.key(2))
    starts = [base.reset(jax.random.key(k), task_a)[1] for k in (3, 4)]
    for state in starts:
        np.testing.assert_array_equal(state.urchin_xys, task_a.others["urchin_xys"])
    assert not np.allclose(starts[0].xy, starts[1].xy)  # the initial state is redrawn
    assert not np.allclose(task_a.others["urchin_xys"], task_b.others["urchin_xys"])


def test_episode_goal_sampling_keeps_gymnax_behaviour():
    env, params = pe.make("gymnax/PointRobot-misc", goal_sampling="episode")
    assert not isinstance(env, GoalGymnaxEnv) and not isinstance(params, GoalParams)
    goals = jax.vmap(lambda k: env.reset(k, params)[1].goal)(jax.random.split(jax.random.key(0), 8))
    assert len({tuple(np.round(np.asarray(g), 6)) for g in goals}) == 8


def test_goal_params_read_through_and_bad_params_are_refused():
    env, params = pe.make("gymnax/Reacher-misc", max_steps_in_episode=7)
    assert params.max_steps_in_episode == 7
    raw_params = gymnax.make("Reacher-misc")[1]
    with pytest.raises(ValueError, match="sample_task"):
        env.reset(jax.random.key(0), raw_params)
    with pytest.raises(ValueError, match="sample_task"):
        env.reset(jax.random.key(0))  # no task: the goal would silently be the default one
    with pytest.raises(ValueError, match="goal_sampling"):
        pe.make("gymnax/Reacher-misc", goal_sampling="trial")


def _raw_rollout(env, task, actions, key):
    """Reference: gymnax's own step_env, with the robot put back where the raw
    displacement leaves it (pos + clipped env action) after every step."""
    raw_env, _ = gymnax.make("PointRobot-misc")
    gp = task.env
    _, state = env.reset(key, task)
    rewards, positions = [], []
    for t, a in enumerate(actions):
        env_a = 0.5 * (np.asarray(a) + 1.0) * 2 * gp.max_force - gp.max_force  # [-1,1] -> box
        _, nxt, r, _, _ = raw_env.step_env(jax.random.key(t), state, jnp.asarray(env_a), gp)
        nxt = nxt.replace(pos=state.pos + jnp.clip(env_a, -gp.max_force, gp.max_force))
        rewards.append(float(r))
        positions.append(np.asarray(nxt.pos))
        state = nxt
    return np.asarray(rewards), np.asarray(positions)


def test_staying_point_robot_stays_at_the_goal_and_is_gymnax_otherwise():
    env, _ = pe.make(
        "gymnax/PointRobot-misc", teleport=False, center_init=True, max_steps_in_episode=40
    )
    task = env.sample_task(jax.random.key(5))
    key = jax.random.key(6)
    # drive onto the goal in k equal steps (at most max_force per axis), then stand still
    goal = np.asarray(task.goal, np.float64)
    k = int(np.ceil(np.abs(goal).max() / 0.1))
    actions = [goal / (k * 0.1)] * k + [np.array([0.0, 0.0])] * (20 - k)
    ref_rewards, ref_pos = _raw_rollout(env, task, actions, key)
    _, state = env.reset(key, task)
    rewards, positions = [], []
    for t, a in enumerate(actions):
        obs, state, r, term, _, _ = env.transition(
            jax.random.key(t), state, jnp.asarray(a, jnp.float32), task
        )
        rewards.append(float(r))
        positions.append(np.asarray(state.pos))
        assert not bool(term)
        np.testing.assert_allclose(obs[:2], state.pos)  # the observation shows where it is
    np.testing.assert_allclose(rewards, ref_rewards)
    np.testing.assert_allclose(positions, ref_pos, atol=1e-6)
    assert sum(rewards) >= 8  # it reached the goal and stayed there, rewarded at every step
    assert int(state.goals_reached) == int(sum(rewards))
    # gymnax's own env sends the robot back to the start at the first reach
    teleporting, _ = pe.make("gymnax/PointRobot-misc", center_init=True)
    _, s = teleporting.reset(key, task)
    total = 0.0
    for t, a in enumerate(actions):
        _, s, r, *_ = teleporting.transition(jax.random.key(t), s, jnp.asarray(a), task)
        total += float(r)
    assert total < sum(rewards)


def test_hidden_last_action_shows_zeros_and_keeps_the_rest_of_the_observation():
    kwargs = {"teleport": False, "center_init": True}
    seen, _ = pe.make("gymnax/PointRobot-misc", **kwargs)
    hidden, _ = pe.make("gymnax/PointRobot-misc", observe_last_action=False, **kwargs)
    task = seen.sample_task(jax.random.key(1))
    _, s_seen = seen.reset(jax.random.key(2), task)
    _, s_hidden = hidden.reset(jax.random.key(2), task)
    action = jnp.array([0.7, -0.4])
    o_seen, s_seen, r_seen, *_ = seen.transition(jax.random.key(3), s_seen, action, task)
    o_hidden, s_hidden, r_hidden, *_ = hidden.transition(jax.random.key(3), s_hidden, action, task)
    assert np.any(np.asarray(o_seen[3:5]) != 0)  # gymnax shows the displacement
    np.testing.assert_array_equal(o_hidden[3:5], 0.0)
    keep = np.r_[0:3, 5:6]
    np.testing.assert_array_equal(np.asarray(o_hidden)[keep], np.asarray(o_seen)[keep])
    assert float(r_seen) == float(r_hidden)
    np.testing.assert_array_equal(s_hidden.pos, s_seen.pos)
    with pytest.raises(ValueError, match="teleport=False"):
        pe.make("gymnax/PointRobot-misc", observe_last_action=False)


def test_teleport_is_a_point_robot_option_only():
    with pytest.raises(ValueError, match="PointRobot-misc"):
        pe.make("gymnax/Reacher-misc", teleport=False)
    with pytest.raises(ValueError, match="goal_sampling"):
        pe.make("gymnax/PointRobot-misc", teleport=False, goal_sampling="episode")


def test_goal_angles_draw_point_robot_goals_on_the_given_arc():
    env, _ = pe.make("gymnax/PointRobot-misc", goal_angles=(np.pi, 1.5 * np.pi))
    keys = jax.random.split(jax.random.key(0), 500)
    goals = np.asarray(jax.vmap(lambda k: env.sample_task(k).goal)(keys))
    angles = np.arctan2(goals[:, 1], goals[:, 0]) % (2 * np.pi)
    assert np.all((angles >= np.pi - 1e-5) & (angles <= 1.5 * np.pi + 1e-5))
    assert angles.std() > 0.3  # spread over the arc (uniform: 0.45)
    np.testing.assert_allclose(np.linalg.norm(goals, axis=1), 1.0, rtol=1e-5)
    staying, _ = pe.make("gymnax/PointRobot-misc", teleport=False, goal_angles=(0.0, 0.1))
    assert 0 <= float(np.arctan2(*staying.sample_task(keys[0]).goal[::-1])) <= 0.1 + 1e-6


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"goal_angles": (1.0, 1.0)}, "low < high"),
        ({"goal_angles": (0.0, 7.0)}, "low < high"),
        ({"goal_angles": (0.0, 1.0), "goal_sampling": "episode"}, "goal_sampling"),
    ],
)
def test_bad_goal_angles_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pe.make("gymnax/PointRobot-misc", **kwargs)
    with pytest.raises(ValueError, match="PointRobot-misc"):
        pe.make("gymnax/Reacher-misc", goal_angles=(0.0, 1.0))
