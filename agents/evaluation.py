"""Our network as a policy for :func:`projected_envs.evaluate_policy` (a thin adapter).

The protocol (fixed evaluation bank, fresh memory per task, K or more trials, random reference,
normalised scores, statistics) is :mod:`projected_envs.evaluation`'s; this module only turns
``(policy_params, PPOConfig)`` into a :class:`~projected_envs.evaluation.Policy`:

* :class:`NetworkPolicy`: a ``flax.struct`` pytree whose leaves are the network params, so one
  compiled evaluation serves every parameter value (evaluating every few training updates does
  not recompile); the config, sizes and ``deterministic`` are static.
* Actions are sampled from the Gaussian policy as in training (``deterministic=False``, the
  default, since exploring across trials is part of in-context learning), or the mean action
  (``deterministic=True``); the evaluator clips them to ``[-1, 1]``.

:class:`EvalResult`, :func:`format_table` and :func:`max_steps_in_episode` are re-exported
from :mod:`projected_envs.evaluation` (and ``max_meta_episode_steps``, its deprecated old name).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from agents.networks import Hidden
from agents.ppo import PPOConfig, make_network
from projected_envs.evaluation import (
    EvalResult,
    Rollout,
    evaluate_policy,
    format_table,
    max_meta_episode_steps,
    max_steps_in_episode,
    rollout_policy,
)
from projected_envs.statistics import DEFAULT_NUM_RESAMPLES, summarize
from projected_envs.tasks import TaskSet

__all__ = [
    "EvalResult",
    "Evaluator",
    "NetworkPolicy",
    "Rollout",
    "combine_seeds",
    "evaluate",
    "format_table",
    "get_evaluator",
    "max_meta_episode_steps",
    "max_steps_in_episode",
]


@struct.dataclass
class NetworkPolicy:
    """The actor of :func:`agents.ppo.make_network` as a :class:`projected_envs.Policy`."""

    params: Any  # network params (TrainState.params): the traced leaves
    config: PPOConfig = struct.field(pytree_node=False)  # network shape
    action_size: int = struct.field(pytree_node=False)  # A
    obs_size: int = struct.field(pytree_node=False)  # O (outer observation size)
    deterministic: bool = struct.field(pytree_node=False, default=False)  # mean actions

    @property
    def network(self):
        """The :class:`~agents.networks.ActorCritic` of ``config``."""
        return make_network(self.config, self.action_size, self.obs_size)

    def init(self, batch_size: int) -> Hidden:
        """Fresh memory of ``batch_size`` tasks."""
        return self.network.initialize_carry(batch_size)

    def step(
        self, carry: Hidden, obs: jax.Array, reset: jax.Array, key: jax.Array
    ) -> tuple[Hidden, jax.Array]:
        """One step of the memory; actions ``[N, A]``: mean + std * normal(key, [N, A])."""
        hidden, mean, log_std, _value = self.network.apply(
            self.params, carry, obs[None], reset[None]
        )
        mean = mean[0]
        if self.deterministic:
            return hidden, mean
        return hidden, mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)


class Evaluator:
    """Evaluation of one (config, task set, K, bank size, deterministic) combination.

    Args:
        config: the agent's :class:`~agents.ppo.PPOConfig` (network shape; hyperparameters
            unused).
        task_set: the tasks; its ``eval_tasks(per_env)`` bank is evaluated.
        num_trials: trials per task K; default ``task_set.num_trials``.
        per_env: tasks per env in the bank.
        deterministic: use the mean action instead of sampling.

    Compilation is cached by :func:`projected_envs.evaluate_policy` itself (one per env stacks,
    network and bank shape), so this class only keeps the arguments together.
    """

    def __init__(
        self,
        config: PPOConfig,
        task_set: TaskSet,
        num_trials: int | None = None,
        per_env: int = 16,
        deterministic: bool = False,
    ):
        if num_trials is not None and num_trials != task_set.num_trials:
            task_set = dataclasses.replace(task_set, num_trials=int(num_trials))
        self.config = config
        self.task_set = task_set
        self.num_trials = task_set.num_trials
        self.per_env = int(per_env)
        self.deterministic = bool(deterministic)
        self.max_steps = max_steps_in_episode(task_set, self.num_trials)

    def policy(self, params: Any) -> NetworkPolicy:
        """``params`` as a :class:`NetworkPolicy`."""
        ts = self.task_set
        return NetworkPolicy(params, self.config, ts.action_size, ts.obs_size, self.deterministic)

    def rollout(
        self, params: Any, seed: int = 0, random: bool = False, max_steps: int | None = None
    ) -> Rollout:
        """Run every task of the bank once; ``random=True`` uses uniform actions instead."""
        return rollout_policy(
            self.policy(params),
            self.task_set,
            per_env=self.per_env,
            seed=seed,
            random=random,
            max_steps=self.max_steps if max_steps is None else max_steps,
        )

    def evaluate(
        self,
        params: Any,
        *,
        seed: int = 0,
        with_random: bool = True,
        max_steps: int | None = None,
        num_resamples: int = DEFAULT_NUM_RESAMPLES,
    ) -> EvalResult:
        """Evaluate ``params`` (and a random policy) and summarise (:func:`evaluate`)."""
        return evaluate_policy(
            self.policy(params),
            self.task_set,
            per_env=self.per_env,
            seed=seed,
            with_random=with_random,
            max_steps=max_steps,
            num_resamples=num_resamples,
            meta={"deterministic": self.deterministic},
        )


@functools.lru_cache(maxsize=32)
def get_evaluator(
    config: PPOConfig,
    task_set: TaskSet,
    num_trials: int | None = None,
    per_env: int = 16,
    deterministic: bool = False,
) -> Evaluator:
    """The :class:`Evaluator` of these arguments (cached)."""
    return Evaluator(config, task_set, num_trials, per_env, deterministic)


def evaluate(
    policy_params: Any,
    config: PPOConfig,
    task_set: TaskSet,
    num_trials: int | None = None,
    per_env: int = 16,
    *,
    seed: int = 0,
    deterministic: bool = False,
    with_random: bool = True,
    max_steps: int | None = None,
    num_resamples: int = DEFAULT_NUM_RESAMPLES,
) -> EvalResult:
    """Evaluate our network on ``task_set.eval_tasks(per_env)`` with fresh memory per task.

    :func:`projected_envs.evaluate_policy` of :class:`NetworkPolicy`; see it for the protocol.

    Args:
        policy_params: the network params (``TrainState.params``).
        config: the :class:`~agents.ppo.PPOConfig` the params belong to.
        task_set: a benchmark split, e.g. ``pe.benchmark("classic").ood_test``.
        num_trials: trials per task K (default: the set's; may exceed the training horizon).
        per_env: tasks per env in the evaluation bank.
        seed: seed of the env and action noise (the tasks themselves are fixed by the bank).
        deterministic: mean action instead of sampling.
        with_random: also evaluate a uniform-random policy on the same tasks.
        max_steps: cap on loop steps; default K times the longest time limit.
        num_resamples: bootstrap resamples of the CIs.

    Returns:
        An :class:`EvalResult`: ``returns [T, K]``, per-env and overall mean / IQM with 95%
        CIs, per-trial curve, in-context gain, the random reference, normalised scores.
    """
    evaluator = get_evaluator(config, task_set, num_trials, per_env, deterministic)
    return evaluator.evaluate(
        policy_params,
        seed=seed,
        with_random=with_random,
        max_steps=max_steps,
        num_resamples=num_resamples,
    )


# ------------------------------------------------------------------------------------ seeds
def combine_seeds(results: Sequence[EvalResult]) -> EvalResult:
    """One result over seeds x tasks: the seeds' evaluations stacked along the task axis.

    Each result is one seed's evaluation of the same task bank (same task set, trials and
    ``per_env``). Rows are stacked in the given order; ``meta["row_seed"]`` (``[S * T]``)
    records the seed of each row (``meta["seed"]`` of its result) and ``meta["seeds"]`` the
    seeds. The statistics are recomputed over all rows with the envs as strata, so the
    bootstrap resamples seed-task pairs within each env (tasks of one env are exchangeable
    across seeds).

    Raises:
        ValueError: no results, or results of different task sets, envs or trial counts.
    """
    results = list(results)
    if not results:
        raise ValueError("combine_seeds: no results to combine.")
    first = results[0]
    for r in results[1:]:
        if (r.name, r.env_names, r.num_trials) != (first.name, first.env_names, first.num_trials):
            raise ValueError(
                "combine_seeds: results differ in task set, envs or trials: "
                f"{(first.name, first.num_trials)} vs {(r.name, r.num_trials)}; combine only "
                "evaluations of the same split with the same protocol."
            )
    seeds = [r.meta.get("seed") for r in results]
    env_index = np.concatenate([r.env_index for r in results])
    stats = {
        "num_resamples": first.summary.get("num_resamples", DEFAULT_NUM_RESAMPLES),
        "seed": first.meta.get("seed", 0),
    }

    def stack(name: str) -> np.ndarray:
        return np.concatenate([getattr(r, name) for r in results])

    random_returns, random_summary = None, None
    if all(r.random_returns is not None for r in results):
        random_returns = stack("random_returns")
        random_summary = summarize(random_returns, env_index, first.env_names, **stats)
    returns = stack("returns")
    normalized, normalized_summary = None, None
    if all(r.normalized is not None for r in results):  # per seed: its own random mean
        normalized = stack("normalized")
        normalized_summary = summarize(normalized, env_index, first.env_names, **stats)
    random_raw = None
    if all(r.random_raw_returns is not None for r in results):
        random_raw = stack("random_raw_returns")
    row_seed = [s for r, s in zip(results, seeds) for _ in range(len(r.env_index))]
    return EvalResult(
        name=first.name,
        env_names=first.env_names,
        env_index=env_index,
        num_trials=first.num_trials,
        returns=returns,
        raw_returns=stack("raw_returns"),
        length=stack("length"),
        summary=summarize(returns, env_index, first.env_names, **stats),
        random_returns=random_returns,
        random_summary=random_summary,
        meta={
            **first.meta,
            "num_tasks": len(env_index),
            "num_seeds": len(results),
            "seeds": seeds,
            "row_seed": row_seed,
        },
        random_raw_returns=random_raw,
        normalized=normalized,
        normalized_summary=normalized_summary,
        references=first.references,
    )
