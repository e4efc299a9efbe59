"""pe.to_gymnasium / pe.GymnasiumEnv: Gymnasium's APIs over VecEnv.

Reference: the VecEnv itself, stepped with the same keys and actions.
"""

from __future__ import annotations

import gymnasium
import jax
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers.vector import RecordEpisodeStatistics

import projected_envs as pe

NAV = pe.benchmark("point-nav")
N = 4
T = 200  # steps of one point-nav task (4 trials x 50)


def _actions(t: int) -> np.ndarray:
    grid = np.arange(N * 2, dtype=np.float32).reshape(N, 2)
    return np.sin(0.1 * t + grid).astype(np.float32)


def _reference(steps: int, seed: int = 0):
    """VecEnv with the bridge's key schedule: key(seed) split for reset, then per step."""
    venv = pe.VecEnv(NAV.train, N)
    key = jax.random.key(seed)
    key, k = jax.random.split(key)  # reset(seed=...) takes one split of the stream
    key, k_reset = jax.random.split(k)
    obs, state = jax.jit(venv.reset)(k_reset)
    step = jax.jit(venv.step)
    out = [np.asarray(obs)]
    for t in range(steps):
        key, k_step = jax.random.split(key)
        obs, state, reward, term, _trunc, info = step(k_step, state, _actions(t))
        out.append((np.asarray(obs), np.asarray(reward), np.asarray(term), info))
    return out


def test_spaces_and_metadata():
    env = pe.to_gymnasium(NAV.train, N)
    assert isinstance(env, gymnasium.vector.VectorEnv)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert env.single_observation_space.dtype == np.float32
    assert env.single_observation_space.shape == (NAV.train.obs_size,)
    box = env.single_action_space
    assert box.dtype == np.float32 and box.shape == (2,)
    np.testing.assert_array_equal(box.low, -1.0)
    np.testing.assert_array_equal(box.high, 1.0)
    assert env.action_space.shape == (N, 2)


def test_same_step_observations_equal_vecenvs():
    env = pe.to_gymnasium(NAV.train, N, autoreset_mode=AutoresetMode.SAME_STEP)
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    ref = _reference(T + 2)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, ref[0])
    for t in range(T + 2):
        obs, reward, term, _trunc, info = env.step(_actions(t))
        r_obs, r_reward, r_term, r_info = ref[t + 1]
        np.testing.assert_array_equal(obs, r_obs)
        np.testing.assert_allclose(reward, r_reward)
        np.testing.assert_array_equal(term, r_term)
        np.testing.assert_array_equal(info["trial"], np.asarray(r_info["trial"]))
        np.testing.assert_allclose(info["trial_returns"], np.asarray(r_info["trial_returns"]))
        if term.any():
            np.testing.assert_array_equal(info["_final_obs"], term)
            np.testing.assert_array_equal(
                info["final_obs"][term], np.asarray(r_info["final_observation"])[term]
            )
        assert "episode" not in info


def test_next_step_ends_with_the_last_obs_then_returns_the_next_tasks_first():
    env = pe.to_gymnasium(NAV.train, N)
    ref = _reference(T + 1)
    env.reset(seed=0)
    for t in range(T):
        obs, reward, term, _, _ = env.step(_actions(t))
        np.testing.assert_allclose(reward, ref[t + 1][1])
    assert term.all()  # every point-nav task lasts 200 steps
    np.testing.assert_array_equal(obs, np.asarray(ref[T][3]["final_observation"]))
    # the next step ignores the actions and hands out the next task's first observation
    obs, reward, term, trunc, _info = env.step(np.full((N, 2), 0.7, np.float32))
    np.testing.assert_array_equal(obs, ref[T][0])
    np.testing.assert_array_equal(reward, 0.0)
    assert not term.any() and not trunc.any()
    # and the step after that is the VecEnv's first step of the new task
    obs, reward, *_ = env.step(_actions(T))
    np.testing.assert_array_equal(obs, ref[T + 1][0])


def test_record_episode_statistics_records_whole_tasks():
    env = RecordEpisodeStatistics(pe.to_gymnasium(NAV.train, N))
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    total = np.zeros(N)
    for _ in range(T):
        actions = rng.uniform(-1, 1, (N, 2)).astype(np.float32)
        _, reward, term, _, info = env.step(actions)
        total += reward
    assert term.all()
    np.testing.assert_array_equal(info["episode"]["l"], T)
    np.testing.assert_allclose(info["episode"]["r"], total, rtol=1e-5)
    np.testing.assert_allclose(info["trial_returns"].sum(1), total, rtol=1e-4, atol=1e-5)


def test_one_jitted_step_and_explicit_transfers_only():
    env = pe.to_gymnasium(NAV.train, N)
    env.reset(seed=0)
    env.step(_actions(0))  # compile
    calls = []
    real = jax.device_get

    def counting(x):
        calls.append(x)
        return real(x)

    jax.device_get = counting
    try:
        with jax.transfer_guard("disallow"):  # implicit copies either way raise
            for t in range(3):
                env.step(_actions(t))
    finally:
        jax.device_get = real
    assert len(calls) == 3  # one device-to-host copy per step, of one array
    assert all(isinstance(x, jax.Array) for x in calls)


def test_dlpack_path_gives_the_numpy_paths_arrays():
    a = pe.to_gymnasium(NAV.train, N)
    b = pe.to_gymnasium(NAV.train, N, array=np.from_dlpack)
    np.testing.assert_array_equal(a.reset(seed=3)[0], b.reset(seed=3)[0])
    for t in range(5):
        out_a, out_b = a.step(_actions(t)), b.step(_actions(t))
        for x, y in zip(out_a[:4], out_b[:4]):
            np.testing.assert_array_equal(x, np.asarray(y))
        np.testing.assert_array_equal(out_a[4]["trial"], np.asarray(out_b[4]["trial"]))


def test_reset_with_a_bank_evaluates_its_tasks():
    bank = NAV.id_test.eval_tasks(N)
    env = pe.to_gymnasium(NAV.id_test, N)
    obs, _ = env.reset(seed=0, options={"tasks": bank})
    venv = pe.VecEnv.from_bank(NAV.id_test, bank)
    key = jax.random.key(0)
    key, k = jax.random.split(key)
    _, k_reset = jax.random.split(k)
    want, _ = jax.jit(venv.reset)(k_reset)
    np.testing.assert_array_equal(obs, want)
    with pytest.raises(ValueError, match="num_envs"):
        env.reset(options={"tasks": NAV.id_test.eval_tasks(N + 1)})


@pytest.mark.parametrize(
    ("actions", "match"),
    [
        (np.zeros((N, 3), np.float32), "shape"),
        (np.zeros((N, 2), np.int32), "dtype"),
        (np.full((N, 2), np.nan, np.float32), "NaN"),
    ],
)
def test_bad_actions_get_a_clear_error(actions, match):
    env = pe.to_gymnasium(NAV.train, N)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(actions)


def test_single_env_runs_a_set_task_to_its_end():
    env = pe.GymnasiumEnv(NAV.train)
    tasks = env.sample_tasks(3)
    assert len(tasks) == 3
    env.set_task(tasks[1])
    obs, info = env.reset(seed=0)
    assert obs.shape == (NAV.train.obs_size,) and obs.dtype == np.float32
    stack = NAV.train.make_env(0)
    k_reset = jax.random.split(jax.random.key(0))[1]
    want_obs, _ = jax.jit(stack.reset)(k_reset, tasks[1]["params"])
    np.testing.assert_array_equal(obs, want_obs)
    steps, total = 0, 0.0
    terminated = False
    while not terminated:
        obs, reward, terminated, _truncated, info = env.step(np.zeros(2, np.float32))
        steps += 1
        total += reward
    assert steps == T and info["trial"] == 3
    np.testing.assert_allclose(info["trial_returns"].sum(), total, rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="sample_tasks"):
        env.set_task("task 1")
