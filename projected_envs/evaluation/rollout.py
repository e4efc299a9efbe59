"""The evaluation loop: every task of a fixed bank runs once, from a fresh carry, to its end.

Keys: ``key, k_reset = split(PRNGKey(seed))``; the bank VecEnv resets with ``k_reset``; each
step splits ``key, k_act, k_env = split(key, 3)``, the policy acts with ``k_act`` (one key for
the whole batch ``[N]``) and the VecEnv steps with ``k_env``.

Compilation: the loop is jitted once per (env stacks, static part of the policy, bank shape);
the random reference shares the same compiled program.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from projected_envs._deprecation import renamed_function
from projected_envs.evaluation.policy import (
    Carry,
    Policy,
    _join_policy,
    _split_policy,
    _Static,
)
from projected_envs.tasks import TaskBank, TaskSet
from projected_envs.vec import VecEnv

__all__ = ["Rollout", "max_meta_episode_steps", "max_steps_in_episode", "rollout_policy"]

_FALLBACK_EPISODE_STEPS = 10_000


def max_steps_in_episode(task_set: TaskSet, num_trials: int | None = None) -> int:
    """Upper bound on the steps of one task (one meta-episode): ``num_trials`` times the longest
    time limit; the evaluation loop's default ``max_steps``.

    The time limit of each env is its base env's ``default_params.max_steps_in_episode`` (after
    the set's ``env_kwargs``); envs without one count as ``10_000`` steps, so unlike
    :attr:`TaskSet.max_steps_in_episode <projected_envs.tasks.TaskSet.max_steps_in_episode>`
    (None there) this is always a number.

    Args:
        task_set: the evaluated set.
        num_trials: trials per task; default the set's ``num_trials``.
    """
    num_trials = task_set.num_trials if num_trials is None else num_trials
    longest = 1
    for i in range(len(task_set.envs)):
        limit = task_set.max_trial_steps(i)
        longest = max(longest, _FALLBACK_EPISODE_STEPS if limit is None else limit)
    return num_trials * longest


max_meta_episode_steps = renamed_function(
    max_steps_in_episode,
    "projected_envs.evaluation.max_meta_episode_steps",
    "projected_envs.evaluation.max_steps_in_episode",
)


class _Loop(NamedTuple):
    key: jax.Array  # PRNG key of the loop
    env_state: Any  # VecState of the bank VecEnv
    obs: jax.Array  # float32 [T, O]
    reset: jax.Array  # bool [T]: obs starts a new task (fresh memory)
    carry: Carry  # the policy's memory, leaves [T, ...]
    finished: jax.Array  # bool [T]: first meta-episode done
    returns: jax.Array  # float32 [T, K]: trial returns (final once finished)
    raw_returns: jax.Array  # float32 [T, K]: trial returns in base-env units
    length: jax.Array  # int32 [T]: steps of the first meta-episode
    step: jax.Array  # int32 []: loop steps so far


class Rollout(NamedTuple):
    """Per-task results of one evaluation pass (numpy, host)."""

    returns: np.ndarray  # float32 [T, K]: return of each trial of each task
    raw_returns: np.ndarray  # float32 [T, K]: the same in the base env's reward units
    length: np.ndarray  # int32 [T]: steps of each meta-episode
    finished: np.ndarray  # bool [T]: the meta-episode ended within max_steps


def _check_step(
    policy: Policy, carry: Carry, obs: jax.Array, reset: jax.Array, key: jax.Array, n: int, a: int
) -> None:
    """Trace-time checks of the policy's outputs, with messages that name the fix."""
    out = jax.eval_shape(policy.step, carry, obs, reset, key)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError("evaluate_policy: policy.step must return (carry, action).")
    new_carry, action = out
    if tuple(action.shape) != (n, a):
        raise ValueError(
            f"evaluate_policy: policy.step returned actions of shape {tuple(action.shape)}, "
            f"expected ({n}, {a}) = (batch, task_set.action_size)."
        )
    spec = lambda t: jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), t)
    if jax.tree.structure(new_carry) != jax.tree.structure(carry) or spec(new_carry) != spec(carry):
        raise ValueError(
            "evaluate_policy: policy.step changed the carry's structure, shapes or dtypes "
            f"(init: {spec(carry)}, step: {spec(new_carry)}); return a carry like init's."
        )


@functools.partial(jax.jit, static_argnums=(0, 1))
def _run_bank(
    stack: TaskSet,
    static: _Static,
    dynamic: tuple[Any, ...],
    bank: TaskBank,
    key: jax.Array,
    random: jax.Array,
    max_steps: jax.Array,
) -> _Loop:
    """Run every task of ``bank`` until its first meta-episode ends (or ``max_steps``)."""
    policy = _join_policy(static, dynamic)
    venv = VecEnv.from_bank(stack, bank)
    key, k_reset = jax.random.split(key)
    obs, env_state = venv.reset(k_reset)
    num_tasks, num_trials, num_actions = venv.num_envs, stack.num_trials, venv.action_size
    reset = jnp.ones((num_tasks,), bool)
    carry = policy.init(num_tasks)
    _check_step(policy, carry, obs, reset, key, num_tasks, num_actions)
    zeros = jnp.zeros((num_tasks, num_trials), jnp.float32)
    init = _Loop(
        key=key,
        env_state=env_state,
        obs=obs,
        reset=reset,
        carry=carry,
        finished=jnp.zeros((num_tasks,), bool),
        returns=zeros,
        raw_returns=zeros,
        length=jnp.zeros((num_tasks,), jnp.int32),
        step=jnp.zeros((), jnp.int32),
    )

    def act(c: _Loop, k_act: jax.Array) -> tuple[Carry, jax.Array]:
        def uniform(_: None) -> tuple[Carry, jax.Array]:
            shape = (num_tasks, num_actions)
            return c.carry, jax.random.uniform(k_act, shape, minval=-1.0, maxval=1.0)

        def own(_: None) -> tuple[Carry, jax.Array]:
            new, action = policy.step(c.carry, c.obs, c.reset, k_act)
            return new, jnp.asarray(action, jnp.float32)

        new, action = jax.lax.cond(random, uniform, own, None)
        return new, jnp.clip(action, -1.0, 1.0)

    def cond(c: _Loop) -> jax.Array:
        return jnp.logical_and(jnp.logical_not(jnp.all(c.finished)), c.step < max_steps)

    has_raw = []  # set while tracing body: the envs report raw_reward

    def body(c: _Loop) -> _Loop:
        key, k_act, k_env = jax.random.split(c.key, 3)
        carry, action = act(c, k_act)
        obs, env_state, _reward, term, trunc, info = venv.step(k_env, c.env_state, action)
        active = jnp.logical_not(c.finished)
        first = info["first_episode_done"]
        returns = jnp.where(first[:, None], info["trial_returns"], c.returns)
        raw_returns = c.raw_returns
        if "raw_reward" in info:
            has_raw.append(True)
            hit = jax.nn.one_hot(info["trial"], num_trials, dtype=jnp.float32)  # [T, K]
            raw = jnp.where(active, info["raw_reward"].astype(jnp.float32), 0.0)
            raw_returns = raw_returns + hit * raw[:, None]
        return _Loop(
            key=key,
            env_state=env_state,
            obs=obs,
            reset=jnp.logical_or(term, trunc),
            carry=carry,
            finished=jnp.logical_or(c.finished, first),
            returns=returns,
            raw_returns=raw_returns,
            length=c.length + active.astype(jnp.int32),
            step=c.step + 1,
        )

    out = jax.lax.while_loop(cond, body, init)
    if not has_raw:  # no reward scale (normalize=False): returns are in raw units already
        out = out._replace(raw_returns=out.returns)
    return out


def _stack_key(task_set: TaskSet) -> TaskSet:
    """The task set with the fields that do not change its env stacks set to defaults, so e.g.
    a benchmark's train and id_test splits share one compilation."""
    return dataclasses.replace(task_set, seed=0, name="", weights=None)


@functools.lru_cache(maxsize=64)
def _bank(task_set: TaskSet, per_env: int) -> TaskBank:
    bank = task_set.eval_tasks(per_env)
    VecEnv.from_bank(task_set, bank)  # validates the bank against the env stacks
    return bank


def _with_trials(task_set: TaskSet, num_trials: int | None) -> TaskSet:
    if num_trials is not None and num_trials != task_set.num_trials:
        return dataclasses.replace(task_set, num_trials=int(num_trials))
    return task_set


def rollout_policy(
    policy: Policy,
    task_set: TaskSet,
    *,
    per_env: int = 16,
    num_trials: int | None = None,
    seed: int = 0,
    random: bool = False,
    max_steps: int | None = None,
) -> Rollout:
    """One pass over ``task_set.eval_tasks(per_env)`` (the loop of :func:`evaluate_policy`).

    ``random=True`` replaces the policy's actions by uniform ones (same tasks and env keys). No
    check that every task finished: see ``Rollout.finished``.
    """
    task_set = _with_trials(task_set, num_trials)
    bank = _bank(task_set, int(per_env))
    max_steps = max_steps_in_episode(task_set) if max_steps is None else max_steps
    static, dynamic = _split_policy(policy)
    out = _run_bank(
        _stack_key(task_set),
        static,
        dynamic,
        bank,
        jax.random.PRNGKey(seed),
        jnp.asarray(random),
        jnp.asarray(int(max_steps), jnp.int32),
    )
    out = jax.device_get(out)
    return Rollout(
        returns=np.asarray(out.returns),
        raw_returns=np.asarray(out.raw_returns),
        length=np.asarray(out.length),
        finished=np.asarray(out.finished),
    )
