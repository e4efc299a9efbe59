"""pe.record: per-trial trajectories of a policy on a task bank; paths, frames and GIFs.

Reference: pe.evaluate_policy on the same bank (per-trial returns) and the env stack itself.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import projected_envs as pe
from projected_envs.record import plot_paths, render_frames, save_gif

NAV = pe.benchmark("point-nav")


def _toward_the_origin(carry, obs, reset, key):
    # a deterministic policy: action = -first two obs coordinates (clipped by the env)
    return carry, -obs[:, :2]


POLICY = pe.PolicyFns(lambda n: (), _toward_the_origin)


@pytest.fixture(scope="module")
def trajectory() -> pe.Trajectory:
    (traj,) = pe.record(POLICY, NAV.id_test, jax.random.key(0), per_env=3)
    return traj


def test_trial_returns_equal_evaluate_policys_on_the_same_tasks(trajectory):
    result = pe.evaluate_policy(POLICY, NAV.id_test, per_env=3, with_random=False)
    np.testing.assert_allclose(trajectory.trial_returns(), result.returns, rtol=1e-5, atol=1e-6)


def test_steps_are_laid_out_per_trial_with_base_states(trajectory):
    assert trajectory.obs.shape == (3, 200, NAV.id_test.obs_size)
    assert trajectory.actions.shape == (3, 200, 2)
    assert trajectory.valid.all()  # 4 trials of 50 steps: every scanned step is in the task
    np.testing.assert_array_equal(trajectory.trial[0], np.repeat(np.arange(4), 50))
    # the base env's state (PointRobot: pos, goal) under every wrapper; the goal is the task's
    goals = np.asarray(trajectory.states.goal)[:, 0]
    np.testing.assert_array_equal(goals, np.asarray(trajectory.tasks.inner.inner.goal))
    # each trial starts from the base env's start (point-nav: the origin)
    starts = np.asarray(trajectory.states.pos)[:, ::50]
    np.testing.assert_allclose(starts, 0.0, atol=1e-6)


def test_bank_needs_its_task_set():
    with pytest.raises(ValueError, match="task_set"):
        pe.record(POLICY, NAV.id_test.eval_tasks(2), jax.random.key(0))


def test_paths_figure_and_a_gif_of_gymnaxs_visualiser(trajectory, tmp_path):
    fig = plot_paths(trajectory, (0, 1))
    assert len(fig.axes) == 2
    fig.savefig(tmp_path / "paths.png")
    frames = render_frames(trajectory, task=0, trial=0)
    assert len(frames) == 50 and frames[0].dtype == np.uint8 and frames[0].shape[2] == 3
    path = save_gif(frames[:5], tmp_path / "task0.gif")
    from PIL import Image

    with Image.open(path) as gif:
        assert gif.n_frames == 5


def test_envs_no_renderer_draws_get_a_clear_error():
    swimmer = pe.TaskSet(envs=("gymnax/Swimmer-misc",), obs_dim=8, action_dim=2)
    (traj,) = pe.record(POLICY, swimmer, jax.random.key(0), per_env=1, max_steps=3)
    with pytest.raises(NotImplementedError, match="visualiser"):
        render_frames(traj)
