"""Gamma-aware reward scales: make the discounted return of every env O(1).

A per-step reward scale (``Normalize``'s shipped ``reward_scale``) bounds rewards but not
returns: with 100-step trials and ``gamma = 0.99`` a per-step reward of size 1 gives value
targets of size 60 (Pendulum's were about -67, std 26). What the critic has to fit is the
discounted return-to-go ``G_t = sum_k gamma^k r_{t+k}`` inside one task (a meta-episode of
K trials), so that is what we scale.

Rule (docs/concepts/scaling.md): run the uniform-random policy on tasks of a task set with
the raw (unscaled) rewards, compute ``G_t`` at every step of every task, and set

    scale(env) = 1 / std(G_t)  over all steps of all tasks of that env.

Then under the random policy the scaled return has standard deviation 1 by construction
(on the sample used; a test checks [0.3, 3] on fresh tasks and seeds) and its mean is a few
units at most. The scale depends on the env, its trial length, the number of trials and
gamma, which is why it is part of a benchmark's definition (``TaskSet.return_scales``) and
not of the per-env normalisation data. A learned policy can earn more than the random one
(sparse goals): its returns then grow past O(1) in proportion, which is the signal, not a
scale problem.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from projected_envs.tasks import TaskSet

__all__ = [
    "DEGENERATE_STD",
    "RARE_REWARD_FRACTION",
    "discounted_returns",
    "random_policy_returns",
    "return_scales",
    "scales_and_rules",
]

DEGENERATE_STD = 1e-6  # random-policy returns with a smaller std are treated as constant
# An env whose random policy earns a reward in fewer than this share of its tasks has rare
# rewards: the std of its returns rests on a handful of tasks (dm_control's finger-spin,
# reacher-hard), so another sample of tasks gives another scale, and 1/std blows up the return
# of an agent that does earn the reward.
RARE_REWARD_FRACTION = 0.5


def discounted_returns(reward: jax.Array, task_done: jax.Array, gamma: float) -> jax.Array:
    """Return-to-go inside each task: ``G_t = r_t + gamma * G_{t+1} * (1 - done_t)``.

    Args:
        reward: float32 ``[T, N]`` rewards.
        task_done: bool ``[T, N]``, True where the step ended a task (meta-episode).
        gamma: discount per step.

    Returns:
        float32 ``[T, N]``; the return of the last (unfinished) task is cut at ``T``.
    """

    def back(g_next, x):
        r, done = x
        g = r + gamma * g_next * (1.0 - done.astype(jnp.float32))
        return g, g

    _, g = jax.lax.scan(back, jnp.zeros_like(reward[0]), (reward, task_done), reverse=True)
    return g


def random_policy_returns(
    task_set: TaskSet,
    index: int,
    gamma: float,
    *,
    num_tasks: int = 64,
    seed: int = 0,
) -> np.ndarray:
    """Discounted returns-to-go ``G_t`` of the uniform-random policy on one env of a set.

    Runs ``num_tasks`` training tasks of ``task_set.envs[index]`` (its full stack, rewards as
    the set scales them) for exactly one task each (``num_trials`` trials) and returns ``G_t``
    at every step of every task: float64 ``[steps]``. Tasks end at different steps when trials
    terminate early; steps after a task's end are dropped.
    """
    g, valid = _random_policy_rollout(task_set, index, gamma, num_tasks, seed)
    return g[valid]


def _random_policy_rollout(
    task_set: TaskSet, index: int, gamma: float, num_tasks: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(G_t, valid)``, float64 and bool ``[horizon, num_tasks]``: see
    :func:`random_policy_returns` (``valid`` marks the steps before each task's end)."""
    env = task_set.make_env(index)
    limit = task_set.max_trial_steps(index)
    if limit is None:
        raise ValueError(
            f"{task_set.envs[index]} has no max_steps_in_episode: cannot bound a task."
        )
    horizon = task_set.num_trials * limit

    @jax.jit
    def run(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        k_task, k_reset, k_run = jax.random.split(key, 3)
        tasks = jax.vmap(lambda k: task_set.sample_task(index, k))(
            jax.random.split(k_task, num_tasks)
        )
        _, state = jax.vmap(env.reset)(jax.random.split(k_reset, num_tasks), tasks)

        def body(carry, key):
            state, alive = carry
            k_act, k_step = jax.random.split(key)
            action = jax.random.uniform(k_act, (num_tasks, env.action_size), minval=-1, maxval=1)
            _, state, reward, terminated, truncated, _ = jax.vmap(env.transition)(
                jax.random.split(k_step, num_tasks), state, action, tasks
            )
            done = jnp.logical_or(terminated, truncated)
            return (state, alive & ~done), (reward, done, alive)

        alive = jnp.ones((num_tasks,), bool)
        _, (reward, done, valid) = jax.lax.scan(
            body, (state, alive), jax.random.split(k_run, horizon)
        )
        return discounted_returns(reward, done, gamma), valid, done

    g, valid, _ = jax.device_get(run(jax.random.key(seed)))
    return np.asarray(g, np.float64), np.asarray(valid)


def return_scales(
    task_set: TaskSet,
    gamma: float,
    *,
    num_tasks: int = 64,
    seed: int = 0,
    reward_bounds: dict[str, float] | None = None,
) -> dict[str, float]:
    """``{env_id: 1 / std(G_t)}`` under the uniform-random policy with raw rewards.

    ``task_set``'s own ``return_scales`` are ignored: every env is measured with scale 1 (the
    raw reward), so the result can be put in ``TaskSet.return_scales`` directly.

    An env whose random-policy returns are constant (std below ``1e-6``: the random policy
    never earns anything, e.g. DM Control's ball-in-cup catch) has no spread to scale by; with
    a per-step reward bound ``r_max`` in ``reward_bounds`` it gets ``(1 - gamma) / r_max``
    instead (the largest possible discounted return becomes 1), else it raises. So does an
    env with a bound in which the random policy earns a reward in fewer than
    ``RARE_REWARD_FRACTION`` of the tasks (rare rewards: their std is not a reliable scale).
    """
    found = scales_and_rules(
        task_set, gamma, num_tasks=num_tasks, seed=seed, reward_bounds=reward_bounds
    )
    return {env_id: scale for env_id, (scale, _) in found.items()}


def scales_and_rules(
    task_set: TaskSet,
    gamma: float,
    *,
    num_tasks: int = 64,
    seed: int = 0,
    reward_bounds: dict[str, float] | None = None,
) -> dict[str, tuple[float, str]]:
    """:func:`return_scales` with the rule behind each scale: ``{env_id: (scale, rule)}``,
    ``rule`` ``"random-std"`` (``1 / std(G_t)``) or ``"reward-bound"`` (``(1 - gamma) / r_max``).
    """
    if not 0 < gamma <= 1:
        raise ValueError(f"return_scales: gamma must be in (0, 1], got {gamma}.")
    raw = dataclasses.replace(task_set, return_scales=tuple((e, 1.0) for e in task_set.envs))
    found: dict[str, tuple[float, str]] = {}
    for i, env_id in enumerate(raw.envs):
        per_step, valid = _random_policy_rollout(raw, i, gamma, num_tasks, seed)
        g = per_step[valid]
        std = float(np.std(g))
        if not np.isfinite(std):
            raise ValueError(f"{env_id}: random-policy returns are not finite ({std}).")
        bound = (reward_bounds or {}).get(env_id)
        rewarded = np.any((np.abs(per_step) > 0) & valid, axis=0)  # [num_tasks]
        rare = float(np.mean(rewarded)) < RARE_REWARD_FRACTION
        if std < DEGENERATE_STD or (rare and bound is not None):
            if bound is None:
                raise ValueError(
                    f"{env_id}: the random policy's returns are constant (std {std:.3g}); pass "
                    "reward_bounds={env_id: max reward per step} to scale by the bound."
                )
            found[env_id] = (float(f"{(1.0 - gamma) / bound:.4g}"), "reward-bound")
        else:
            found[env_id] = (float(f"{1.0 / std:.4g}"), "random-std")
    return found
