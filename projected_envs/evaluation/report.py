"""The entry point :func:`evaluate_policy` (agent, random reference, normalised scores,
statistics) and :func:`format_table`, the plain-text report of its results.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from projected_envs.evaluation.policy import Policy
from projected_envs.evaluation.references import Reference, normalized_scores
from projected_envs.evaluation.result import EvalResult
from projected_envs.evaluation.rollout import (
    Rollout,
    _bank,
    _with_trials,
    max_steps_in_episode,
    rollout_policy,
)
from projected_envs.statistics import DEFAULT_NUM_RESAMPLES, summarize
from projected_envs.tasks import TaskSet

__all__ = ["evaluate_policy", "format_table"]


def evaluate_policy(
    policy: Policy,
    task_set: TaskSet,
    *,
    per_env: int = 16,
    num_trials: int | None = None,
    seed: int = 0,
    with_random: bool = True,
    max_steps: int | None = None,
    num_resamples: int = DEFAULT_NUM_RESAMPLES,
    references: Sequence[Reference] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> EvalResult:
    """Evaluate any policy on ``task_set.eval_tasks(per_env)`` (module docstring: the protocol).

    Args:
        policy: a :class:`Policy` (``init`` and ``step``; e.g. :class:`PolicyFns`).
        task_set: a benchmark split, e.g. ``pe.benchmark("classic").ood_test``.
        per_env: tasks per env in the evaluation bank.
        num_trials: trials per task K (default: the set's; may exceed the training horizon).
        seed: seed of the env and action noise (the tasks themselves are fixed by the bank).
        with_random: also run a uniform-random policy on the same tasks (needed for
            normalised scores).
        max_steps: cap on loop steps; default K times the longest time limit.
        num_resamples: bootstrap resamples of the CIs.
        references: reference table for normalised scores (default: the shipped one).
        meta: extra entries for ``EvalResult.meta`` (e.g. the training step).

    Returns:
        An :class:`EvalResult`: ``returns [T, K]``, raw returns, per-env and overall mean / IQM
        with 95% CIs, per-trial curve, in-context gain, the random reference and normalised
        scores.

    Raises:
        RuntimeError: some meta-episode did not finish within ``max_steps``.
        TypeError, ValueError: a policy without ``init`` / ``step``, or whose actions or carry
            have the wrong shapes (at trace time).
    """
    task_set = _with_trials(task_set, num_trials)
    steps = max_steps_in_episode(task_set) if max_steps is None else max_steps
    run = functools.partial(
        rollout_policy, policy, task_set, per_env=per_env, seed=seed, max_steps=steps
    )
    agent = run()
    _check_finished(agent, task_set, steps)
    env_index = np.asarray(_bank(task_set, int(per_env)).env_index)
    names = tuple(task_set.envs)
    stats = {"num_resamples": num_resamples, "seed": seed}
    rand = None
    if with_random:
        rand = run(random=True)
        _check_finished(rand, task_set, steps)
    normalized, table = normalized_scores(
        agent.raw_returns,
        None if rand is None else rand.raw_returns,
        env_index,
        task_set,
        references,
    )
    return EvalResult(
        name=task_set.name,
        env_names=names,
        env_index=env_index,
        num_trials=task_set.num_trials,
        returns=agent.returns,
        raw_returns=agent.raw_returns,
        length=agent.length,
        summary=summarize(agent.returns, env_index, names, **stats),
        random_returns=None if rand is None else rand.returns,
        random_summary=None if rand is None else summarize(rand.returns, env_index, names, **stats),
        meta={
            "per_env": int(per_env),
            "num_tasks": len(env_index),
            "seed": seed,
            "max_steps": int(steps),
            "task_set_fingerprint": task_set.fingerprint,
            **dict(meta or {}),
        },
        random_raw_returns=None if rand is None else rand.raw_returns,
        normalized=normalized,
        normalized_summary=summarize(normalized, env_index, names, **stats),
        references=table,
    )


def _check_finished(out: Rollout, task_set: TaskSet, max_steps: int) -> None:
    if not out.finished.all():
        missing = np.flatnonzero(~out.finished)
        raise RuntimeError(
            f"evaluate: {len(missing)} tasks of {task_set.name or task_set.envs} "
            f"did not finish {task_set.num_trials} trials within max_steps={max_steps} "
            f"(tasks {missing[:8].tolist()}...); pass a larger max_steps."
        )


def _ci(stat: Mapping[str, Any], name: str = "mean") -> str:
    lo, hi = stat[f"{name}_ci"]
    return f"{stat[name]:8.2f} [{lo:7.2f}, {hi:7.2f}]"


def format_table(results: Mapping[str, EvalResult], per_env: bool = True) -> str:
    """A plain-text table of evaluation results, one block per split.

    Columns: return per trial (mean [95% CI]), IQM, first and last trial means, in-context
    gain (mean [95% CI]), the random policy's mean return and gain on the same tasks, and, when
    any result has normalised scores, their IQM [95% CI] (``nan``: no reference).
    Rows: ``all`` and, with ``per_env``, each env.
    """
    with_norm = any(r.normalized_summary is not None for r in results.values())
    header = (
        f"{'split':<9} {'env':<32} {'return (mean [95% CI])':>28} {'IQM':>8} "
        f"{'trial 1':>8} {'trial K':>8} {'gain (last-first) [95% CI]':>28} "
        f"{'random':>8} {'rnd gain':>8}"
    )
    if with_norm:
        header += f" {'normalised IQM [95% CI]':>28}"
    lines = [header, "-" * len(header)]
    for split, result in results.items():
        rand_summary, norm_summary = result.random_summary, result.normalized_summary
        groups = [
            (
                "all",
                result.summary["overall"],
                rand_summary and rand_summary["overall"],
                norm_summary and norm_summary["overall"],
            )
        ]
        if per_env:
            for env, summary in result.summary["per_env"].items():
                rand = rand_summary and rand_summary["per_env"][env]
                norm = norm_summary and norm_summary["per_env"][env]
                groups.append((env, summary, rand, norm))
        for label, summary, random_group, norm_group in groups:
            curve = summary["per_trial"]["mean"]
            rand = f"{'n/a':>8} {'n/a':>8}"
            if random_group is not None:
                rand = f"{random_group['return']['mean']:8.2f} {random_group['gain']['mean']:8.2f}"
            line = (
                f"{split:<9} {label[-32:]:<32} {_ci(summary['return']):>28} "
                f"{summary['return']['iqm']:8.2f} {curve[0]:8.2f} {curve[-1]:8.2f} "
                f"{_ci(summary['gain']):>28} {rand}"
            )
            if with_norm:
                norm = (
                    f"{'n/a':>28}"
                    if norm_group is None
                    else f"{_ci(norm_group['return'], 'iqm'):>28}"
                )
                line += f" {norm}"
            lines.append(line)
    return "\n".join(lines)
