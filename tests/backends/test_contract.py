"""The env contract, checked for every registered env with ONE jit compile per env.

One jitted function resets a batch of envs and scans ``step`` with random actions; it is
called three times (default task, same key again, a short time limit) and must trace once
(``chex.assert_max_traces``). gymnax and probe envs also jit their own ``reset`` and ``step``,
which must not retrace for another key, another task or their own output state.
Every check below reads its outputs, so a brax or Playground env costs one compile.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces

import projected_envs.registry as registry

BATCH = 2  # envs per rollout
STEPS = 40  # steps per rollout
STEPS_TERMINATING = 320  # for TERMINATES envs: spring hopper / walker2d fall after 20-300 steps
SHORT_LIMIT = 3  # max_steps_in_episode of the short-limit rollout

#: brax / dmc envs whose full (compiled) contract runs by default: a terminating brax env with
#: an exact health reference (hopper), a brax env that rescales actions itself, a dmc env and
#: our PointMassHard. Compiling one brax / dmc contract costs 10-30 CPU s on a 2-core machine
#: (docs/notebook/2026-11-21-contract-test-compile-time.md), so the other brax / dmc envs are
#: marked ``slow`` (``-m slow`` runs them) and covered by default by tracing their whole
#: contract rollout (:func:`test_env_contract_traces`). gymnax and probe envs always compile
#: (about 3 s each).
COMPILED_BY_DEFAULT = frozenset(
    {
        "brax/hopper",
        "brax/inverted_pendulum",
        "dmc/CartpoleBalance",
        "dmc/PointMassHard",
    }
)

#: Envs whose episodes end with terminated=True under random actions within STEPS_TERMINATING.
TERMINATES = frozenset(
    {
        "brax/hopper",
        "brax/walker2d",
        "brax/humanoid",
        "brax/inverted_pendulum",
        "brax/inverted_double_pendulum",
    }
)

#: Suites whose envs have continuous random dynamics or resets: other keys, other trajectories.
CONTINUOUS_RESET_SUITES = ("gymnax", "brax", "dmc")


class Trajectory(NamedTuple):
    """Outputs of one contract rollout; leaves are ``[STEPS, BATCH, ...]`` unless noted."""

    first_obs: jax.Array  # [BATCH, O] obs of reset
    obs: jax.Array  # [T, B, O] obs the action was taken in
    action: jax.Array  # [T, B, A]
    next_obs: jax.Array  # [T, B, O] obs returned by step (after auto-reset)
    reward: jax.Array  # [T, B]
    terminated: jax.Array  # [T, B]
    truncated: jax.Array  # [T, B]
    info: dict[str, Any]  # [T, B, ...] each
    reset_obs: jax.Array  # [T, B, O] reset(second half of the step key) = expected auto-reset


def _rollout(env, params, key: jax.Array, steps: int = STEPS) -> Trajectory:
    """Reset BATCH envs, then ``steps`` steps of ``env.step`` with uniform random actions."""
    action_size = env.action_space(params).shape[0]
    key_reset, key_steps = jax.random.split(key)
    first_obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(key_reset, BATCH), params)

    def body(carry, k):
        obs, state = carry
        key_action, key_env = jax.random.split(k)
        action = jax.random.uniform(key_action, (BATCH, action_size), minval=-1.0, maxval=1.0)
        env_keys = jax.random.split(key_env, BATCH)
        next_obs, state, reward, term, trunc, info = jax.vmap(env.step, (0, 0, 0, None))(
            env_keys, state, action, params
        )
        # core.step resets from the second half of its key: the fresh initial state expected.
        reset_obs = jax.vmap(lambda k: env.reset(jax.random.split(k)[1], params)[0])(env_keys)
        out = (obs, action, next_obs, reward, term, trunc, info, reset_obs)
        return (next_obs, state), out

    _, outs = jax.lax.scan(body, (first_obs, state), jax.random.split(key_steps, steps))
    return Trajectory(first_obs, *outs)


def _with_limit(params: Any, limit: int) -> Any | None:
    if dataclasses.is_dataclass(params) and "max_steps_in_episode" in {
        f.name for f in dataclasses.fields(params)
    }:
        return params.replace(max_steps_in_episode=limit)
    return None


# ----------------------------------------------------------------------------- checks
def _check_spaces(env, params, traj: Trajectory) -> None:
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    assert isinstance(act_space, spaces.Box), "actions must be a Box"
    assert act_space.shape == (env.action_size,)
    np.testing.assert_array_equal(np.broadcast_to(act_space.low, act_space.shape), -1.0)
    np.testing.assert_array_equal(np.broadcast_to(act_space.high, act_space.shape), 1.0)
    assert len(obs_space.shape) == 1, "observations must be flat vectors"
    size = obs_space.shape[0]
    assert traj.first_obs.shape == (BATCH, size)
    steps = traj.obs.shape[0]
    for name in ("obs", "next_obs", "reset_obs"):
        leaf = getattr(traj, name)
        assert leaf.shape == (steps, BATCH, size), name
        assert leaf.dtype == jnp.float32, f"{name} must be float32, got {leaf.dtype}"
    assert traj.info["final_observation"].shape == (steps, BATCH, size)
    assert traj.reward.shape == (steps, BATCH) and traj.reward.dtype == jnp.float32
    for flag in (traj.terminated, traj.truncated):
        assert flag.shape == (steps, BATCH) and flag.dtype == jnp.bool_


def _check_finite(traj: Trajectory) -> None:
    for name, leaf in [("first_obs", traj.first_obs), ("next_obs", traj.next_obs)]:
        assert np.isfinite(leaf).all(), f"non-finite {name}"
    assert np.isfinite(traj.reward).all(), "non-finite reward"
    for key, leaf in traj.info.items():
        assert np.isfinite(np.asarray(leaf, np.float64)).all(), f"non-finite info[{key!r}]"


def _check_flags(traj: Trajectory, limit: int | None) -> None:
    term, trunc = np.asarray(traj.terminated), np.asarray(traj.truncated)
    assert not (term & trunc).any(), "terminated and truncated must never both be True"
    if limit is None:
        return
    # Walk the episodes: truncated exactly when an episode reaches `limit` steps unterminated.
    length = np.zeros(BATCH, int)
    for t in range(term.shape[0]):
        length += 1
        at_limit = length >= limit
        np.testing.assert_array_equal(
            trunc[t], at_limit & ~term[t], err_msg=f"truncation at step {t} (limit {limit})"
        )
        length[term[t] | trunc[t]] = 0


def _check_auto_reset(env_id: str, traj: Trajectory) -> None:
    done = np.asarray(traj.terminated | traj.truncated)
    final, nxt = np.asarray(traj.info["final_observation"]), np.asarray(traj.next_obs)
    np.testing.assert_array_equal(final[~done], nxt[~done], "final_observation == obs mid-episode")
    # A finished episode restarts from a fresh reset drawn from the step's key.
    # (reset inside step's lax.cond vs. a separate reset: XLA may round differently)
    np.testing.assert_allclose(nxt[done], np.asarray(traj.reset_obs)[done], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(traj.obs)[1:], nxt[:-1])
    np.testing.assert_array_equal(np.asarray(traj.obs)[0], np.asarray(traj.first_obs))
    first = np.asarray(traj.first_obs)
    random_reset = not np.allclose(first[0], first[1])  # Playground's BallInCup, Humanoid*: fixed
    if env_id.split("/")[0] in CONTINUOUS_RESET_SUITES and random_reset and done.any():
        restarts = nxt[done]
        assert not np.isclose(restarts[:, None, :], first[None], atol=1e-7).all(-1).any(), (
            "auto-reset reused a cached initial state"
        )


def _check_hopper_health(traj: Trajectory) -> None:
    """brax hopper: terminated iff unhealthy (z <= 0.7 or |angle| >= 0.2), from the obs."""
    final = np.asarray(traj.info["final_observation"])
    z, angle = final[..., 0], final[..., 1]
    unhealthy = (z <= 0.7) | (np.abs(angle) >= 0.2)
    np.testing.assert_array_equal(np.asarray(traj.terminated), unhealthy)


def _check_inverted_pendulum(traj: Trajectory) -> None:
    """brax inverted_pendulum: terminated iff |pole angle| > 0.2 (obs[1])."""
    final = np.asarray(traj.info["final_observation"])
    np.testing.assert_array_equal(np.asarray(traj.terminated), np.abs(final[..., 1]) > 0.2)


_ENV_CHECKS = {
    "brax/hopper": _check_hopper_health,
    "brax/inverted_pendulum": _check_inverted_pendulum,
}


class _TypeRecorder:
    """A shallow copy of ``env`` whose ``reset`` / ``transition`` record their output types.

    Types are recorded while the contract rollout traces, so checking them costs no extra
    trace of the (expensive) physics.
    """

    def __init__(self, env):
        self.types: dict[str, Any] = {}
        self.env = copy.copy(env)
        reset, transition = env.reset, env.transition

        def recording_reset(key, params=None):
            out = reset(key, params)
            self.types.setdefault("reset", jax.tree.map(jax.typeof, out))
            return out

        def recording_transition(key, state, action, params):
            out = transition(key, state, action, params)
            self.types.setdefault("transition", jax.tree.map(jax.typeof, out))
            return out

        self.env.reset = recording_reset
        self.env.transition = recording_transition


def _check_state_types_stable(types: dict[str, Any], traj: Trajectory) -> None:
    """reset and transition give states of one structure, shapes and (weak) dtypes."""
    state, stepped = types["reset"][1], types["transition"][1]
    assert jax.tree.structure(stepped) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(stepped), strict=True):
        assert (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type), (a, b)
    assert set(traj.info) == {
        *types["transition"][5],
        "final_observation",
        "terminated",
        "truncated",
    }


def _check_bad_action_fails_at_trace(env, params, types: dict[str, Any]) -> None:
    state = jax.tree.map(lambda t: jax.ShapeDtypeStruct(t.shape, t.dtype), types["reset"][1])
    key = jax.random.key(0)
    bad = jnp.zeros((env.action_size + 1,), jnp.float32)
    with pytest.raises(ValueError, match=rf"\({env.action_size},\)"):
        jax.eval_shape(env.step, key, state, bad, params)


# ----------------------------------------------------------------------------- the test
def _compiled_by_default(env_id: str) -> bool:
    return env_id.split("/")[0] not in ("brax", "dmc") or env_id in COMPILED_BY_DEFAULT


def _param(env_id: str):
    marks = [] if _compiled_by_default(env_id) else [pytest.mark.slow]
    return pytest.param(env_id, marks=marks, id=env_id)


@pytest.mark.parametrize("env_id", [_param(e) for e in registry.registered_envs()])
def test_env_follows_contract(env_id: str) -> None:
    """jit+vmap of reset/step: spaces, finiteness, flags, auto-reset, determinism, one trace."""
    env, params = registry.make(env_id)
    recorder = _TypeRecorder(env)
    steps = STEPS_TERMINATING if env_id in TERMINATES else STEPS

    def rollout(params, key):
        return _rollout(recorder.env, params, key, steps)

    run = jax.jit(chex.assert_max_traces(rollout, n=1))  # 4 calls below, one trace
    start, start_cpu = time.perf_counter(), time.process_time()
    traj = jax.device_get(run(params, jax.random.key(0)))
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print(f"\n{env_id}: first call (compile + run) {wall:.1f}s wall, {cpu:.1f}s CPU")
    again = jax.device_get(run(params, jax.random.key(0)))
    other = jax.device_get(run(params, jax.random.key(1)))

    _check_state_types_stable(recorder.types, traj)
    _check_bad_action_fails_at_trace(env, params, recorder.types)
    _check_spaces(env, params, traj)
    _check_finite(traj)
    _check_flags(traj, None)
    _check_auto_reset(env_id, traj)
    for a, b in zip(jax.tree.leaves(traj), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(a, b, "same key must give the same trajectory")
    if env_id.split("/")[0] in CONTINUOUS_RESET_SUITES:
        assert not np.array_equal(traj.next_obs, other.next_obs), "other key, same trajectory"
    if env_id in TERMINATES:
        assert traj.terminated.any(), f"{env_id} never terminated in {steps} random steps"
    if env_id in _ENV_CHECKS:
        _ENV_CHECKS[env_id](traj)

    short = _with_limit(params, SHORT_LIMIT)
    if short is not None:
        traj_short = jax.device_get(run(short, jax.random.key(2)))
        _check_flags(traj_short, SHORT_LIMIT)
        _check_auto_reset(env_id, traj_short)
        if env_id.split("/")[0] in CONTINUOUS_RESET_SUITES:
            assert traj_short.truncated.any(), f"no truncation with a {SHORT_LIMIT}-step limit"
        if params.max_steps_in_episode > steps:
            assert not traj.truncated.any(), "truncated before the default time limit"


@pytest.mark.parametrize(
    "env_id", [e for e in registry.registered_envs() if e.split("/")[0] in ("gymnax", "probe")]
)
def test_jitted_reset_and_step_trace_once(env_id: str) -> None:
    """jit(reset) and jit(step) trace once: another key, another task, and a state that step
    returned (not only reset's) all reuse the first trace. Compiles each env's reset and step on
    their own, so only the cheap (gymnax, probe) envs run it; the contract rollout above checks
    reset's and step's state types of every env."""
    env, params = registry.make(env_id)
    reset = jax.jit(chex.assert_max_traces(env.reset, n=1))
    step = jax.jit(chex.assert_max_traces(env.step, n=1))
    task = env.sample_task(jax.random.key(1))
    _, state = reset(jax.random.key(0), params)
    _, state = reset(jax.random.key(1), task)
    action = jnp.full((env.action_size,), 0.5, jnp.float32)
    for i in range(3):
        _, state, *_ = step(jax.random.key(10 + i), state, action, task)


@pytest.mark.parametrize(
    "env_id", [e for e in registry.registered_envs() if not _compiled_by_default(e)]
)
def test_env_contract_traces(env_id: str) -> None:
    """Envs not compiled by default are covered by tracing their whole contract rollout."""
    env, params = registry.make(env_id)
    recorder = _TypeRecorder(env)
    traj = jax.eval_shape(functools.partial(_rollout, recorder.env), params, jax.random.key(0))
    _check_state_types_stable(recorder.types, traj)
    _check_bad_action_fails_at_trace(env, params, recorder.types)
    _check_spaces(env, params, traj)
