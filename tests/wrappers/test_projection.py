"""ProjectObservation and ProjectAction against the raw env, the identity matmul and hand-computed
values; a task is a pure function of its key."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import projected_envs as pe
from projected_envs.wrappers import (
    ProjectAction,
    ProjectActionParams,
    ProjectObservation,
    ProjectObservationParams,
)
from tests.helpers import FAKE, fake_params, full_stack, leaves_equal, rollout


def test_identity_projections_reproduce_the_raw_env_bitwise():
    stack = ProjectAction(ProjectObservation(FAKE, dim=3), dim=2)
    actions = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (40, 2)), jnp.float32)
    key = jax.random.key(0)
    raw = rollout(FAKE, FAKE.default_params, key, actions)
    projected = rollout(stack, stack.default_params, key, actions)
    obs0, obs, reward, terminated, truncated, info = projected
    for got, want in zip((obs0, obs, reward, terminated, truncated), raw[:5]):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(info["final_observation"], raw[5]["final_observation"])
    np.testing.assert_array_equal(info["action_clip"], 0.0)  # actions in [-1, 1]: no clipping
    assert np.any(terminated) and np.any(truncated)  # both episode ends were exercised


def test_identity_default_params_pad_and_truncate():
    obs_env = ProjectObservation(FAKE, dim=5, family="orthogonal")
    np.testing.assert_array_equal(obs_env.default_params.obs_matrix, np.eye(5, 3))
    obs, _ = obs_env.reset(jax.random.key(1), obs_env.default_params)  # explicit: it samples
    raw, _ = FAKE.reset(jax.random.key(1))
    np.testing.assert_array_equal(obs, np.concatenate([raw, np.zeros(2, np.float32)]))
    act_env = ProjectAction(FAKE, dim=4)
    np.testing.assert_array_equal(act_env.default_params.action_matrix, np.eye(2, 4))
    assert obs_env.obs_size == 5 and act_env.action_size == 4
    assert obs_env.action_size == 2 and act_env.obs_size == 3


@pytest.mark.parametrize("obs_dim, action_dim", [(5, 4), (2, 1)])  # pad / truncate
def test_identity_family_has_no_matrix_and_equals_the_identity_matmul(obs_dim, action_dim):
    # Reference: a random-family stack given the dense identity matrices (default_params).
    dense = ProjectAction(ProjectObservation(FAKE, obs_dim, "gaussian"), action_dim, "gaussian")
    free = ProjectAction(ProjectObservation(FAKE, obs_dim, "identity"), action_dim, "identity")
    task = free.sample_task(jax.random.key(2))
    assert task.action_matrix is None and task.inner.obs_matrix is None
    assert jax.tree.structure(task) == jax.tree.structure(free.default_params)
    assert not free.samples_task  # nothing is random: params=None runs the one task
    actions = jnp.asarray(np.random.default_rng(4).uniform(-1.5, 1.5, (40, action_dim)))
    key = jax.random.key(5)
    dense_task = ProjectActionParams(  # the same inner task, dense identity matrices
        inner=ProjectObservationParams(inner=task.inner.inner, obs_matrix=np.eye(obs_dim, 3)),
        action_matrix=np.eye(2, action_dim),
    )
    want = rollout(dense, dense_task, key, actions)
    got = rollout(free, task, key, actions)
    for g, w in zip(got[:5], want[:5]):
        np.testing.assert_array_equal(g, w)
    for name in ("final_observation", "action_clip", "action_nonfinite"):
        np.testing.assert_array_equal(got[5][name], want[5][name])
    # A matrix given to an identity-family wrapper would be ignored: refused instead.
    with pytest.raises(ValueError, match="task structure"):
        free.reset(key, dense.default_params)


def test_identity_family_keeps_the_inner_envs_sampling():
    goals = ProjectObservation(ProjectObservation(FAKE, 3, "gaussian"), 4, "identity")
    assert goals.samples_task  # the inner projection is still drawn per task
    with pytest.raises(ValueError, match="sample_task"):
        goals.reset(jax.random.key(0))


@pytest.mark.skipif(
    importlib.util.find_spec("projected_envs.registry") is None, reason="registry not available"
)
def test_identity_projections_reproduce_gymnax_pendulum_bitwise():
    from projected_envs.registry import make

    env, params = make("gymnax/Pendulum-v1")
    stack = ProjectAction(ProjectObservation(env, dim=env.obs_size), dim=env.action_size)
    actions = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (250, 1)), jnp.float32)
    key = jax.random.key(3)
    raw = rollout(env, params, key, actions)
    projected = rollout(stack, stack.default_params, key, actions)
    for got, want in zip(projected[:5], raw[:5]):
        np.testing.assert_array_equal(got, want)
    assert np.any(raw[4])  # crossed a time-limit reset (200 steps)


def test_project_action_multiplies_clips_and_reports_the_clip():
    env = ProjectAction(FAKE, dim=2)
    params = ProjectActionParams(
        inner=fake_params(goal=100.0), action_matrix=jnp.array([[2.0, 0.0], [0.0, 0.5]])
    )
    _, state = env.reset(jax.random.key(0), params)
    action = jnp.array([0.75, -0.5])  # M a = [1.5, -0.25] -> clip [1.0, -0.25]
    _, state, reward, _, _, info = env.transition(jax.random.key(1), state, action, params)
    assert float(info["action_clip"]) == pytest.approx(0.5)  # |1.5 - 1.0|
    assert float(info["acc"]) == 1.0  # the inner env saw the clipped action
    assert float(reward) == pytest.approx(1.0 + 0.5 * -0.25)


def test_project_action_rejects_wrong_action_shapes_at_trace_time():
    env = ProjectAction(FAKE, dim=4)
    params = env.default_params
    _, state = env.reset(jax.random.key(0), params)
    with pytest.raises(ValueError, match=r"expected \(4,\)"):
        env.transition(jax.random.key(0), state, jnp.zeros(2), params)
    with pytest.raises(ValueError, match=r"expected \(4,\)"):
        jax.jit(env.step).lower(jax.random.key(0), state, jnp.zeros((8, 4)), params)


def test_params_of_another_env_are_rejected_naming_the_fix():
    env = ProjectObservation(FAKE, dim=4)
    wrong = ProjectObservationParams(inner=fake_params(), obs_matrix=jnp.zeros((4, 7)))
    with pytest.raises(ValueError, match=r"expected \(4, 3\).*sample_task"):
        env.reset(jax.random.key(0), wrong)


@pytest.mark.parametrize("wrapper", [ProjectObservation, ProjectAction])
def test_projection_wrappers_reject_bad_dims_and_families(wrapper):
    for dim in (0, -2, 1.5):
        with pytest.raises(ValueError, match="dim must be a positive int"):
            wrapper(FAKE, dim=dim)
    with pytest.raises(ValueError, match="valid families: gaussian, orthogonal, sparse"):
        wrapper(FAKE, dim=2, family="gausian")


@pytest.mark.parametrize("family", ["gaussian", "signed_permutation"])
def test_same_key_gives_the_same_task_bitwise(family):
    stack = full_stack(family)
    sample = jax.jit(stack.sample_task)
    task, other = sample(jax.random.key(11)), sample(jax.random.key(12))
    again = jax.jit(full_stack(family).sample_task)(jax.random.key(11))  # a fresh stack
    assert leaves_equal(task, again)
    # MetaEpisode and Normalize sample nothing: the task is ProjectAction's params.
    assert isinstance(task, ProjectActionParams)
    assert isinstance(task.inner, ProjectObservationParams)
    assert not np.array_equal(task.action_matrix, other.action_matrix)
    assert not np.array_equal(task.inner.obs_matrix, other.inner.obs_matrix)
    assert task.inner.obs_matrix.shape == (12, 3)  # [O, E_o]
    assert task.action_matrix.shape == (2, 4)  # [E_a, A]
    # Each sampling wrapper splits its key: the inner task comes from split(key)[0].
    key_inner = jax.random.split(jax.random.split(jax.random.key(11))[0])[0]
    assert leaves_equal(task.inner.inner, jax.jit(FAKE.sample_task)(key_inner))


def test_project_action_clips_to_the_agent_box_before_projecting():
    env = ProjectAction(FAKE, dim=3)
    matrix = jnp.array([[0.5, -0.25, 1.0], [0.125, 0.5, -0.5]], jnp.float32)
    params = ProjectActionParams(inner=FAKE.default_params, action_matrix=matrix)
    _, state = env.reset(jax.random.key(0), params)
    action = jnp.array([4.0, jnp.nan, -0.5])
    _, new_state, reward, *_, info = env.transition(jax.random.key(1), state, action, params)
    used = np.array([1.0, 0.0, -0.5])  # clip(4) = 1, NaN -> 0
    env_action = np.clip(np.asarray(matrix, np.float64) @ used, -1, 1)  # [0, 0.375]
    assert float(new_state.acc) == pytest.approx(env_action[0])
    assert float(reward) == pytest.approx(env_action[0] + 0.5 * env_action[1])
    assert int(info["action_nonfinite"]) == 1
    assert float(info["action_clip"]) == pytest.approx(0.0)


def test_numpy_int_dims_work_everywhere():
    matrix = pe.sample_projection(jax.random.key(0), "gaussian", np.int64(3), np.int32(2))
    assert matrix.shape == (3, 2)
    assert ProjectObservation(FAKE, dim=np.int64(3)).sample_task(
        jax.random.key(0)
    ).obs_matrix.shape == (3, 3)


@pytest.mark.parametrize("dim", [5, 2])  # pad / cut
def test_info_reports_the_unprojected_observation_of_each_step(dim):
    # info["unprojected_obs"] is the inner env's observation of the step (before the episode's
    # auto-reset), padded or cut to dim; the returned observation is M_o times it.
    env = ProjectObservation(FAKE, dim=dim, family="gaussian")
    params = env.sample_task(jax.random.key(3))
    actions = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (30, 2)), jnp.float32)
    key = jax.random.key(4)
    _, _, _, terminated, truncated, info = rollout(env, params, key, actions)
    _, _, _, _, _, raw_info = rollout(FAKE, params.inner, key, actions)
    raw = np.asarray(raw_info["final_observation"])  # [T, 3]: the step's obs, before a reset
    unprojected = np.asarray(info["unprojected_obs"])
    assert unprojected.shape == (30, dim)
    width = min(dim, 3)
    np.testing.assert_array_equal(unprojected[:, :width], raw[:, :width])
    np.testing.assert_array_equal(unprojected[:, width:], 0.0)
    projected = raw @ np.asarray(params.obs_matrix).T  # M_o obs, from the inner obs alone
    np.testing.assert_allclose(info["final_observation"], projected, rtol=1e-5, atol=1e-6)
    assert np.any(terminated) or np.any(truncated)  # a reset happened inside the rollout
