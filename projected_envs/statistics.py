"""Aggregate statistics of evaluation returns: mean, IQM, stratified bootstrap CIs, gain.

Plain numpy on the host; deterministic given ``seed``. The conventions follow rliable
(Agarwal et al., "Deep RL at the Edge of the Statistical Precipice", NeurIPS 2021):

* **IQM** (interquartile mean) is the mean of the middle 50% of the scores: sort, drop
  ``floor(0.25 n)`` scores at each end, average the rest (``scipy.stats.trim_mean(x, 0.25)``).
* **Stratified bootstrap**: a resample draws, *within each stratum* (here: each base env), as
  many tasks as the stratum holds, uniformly with replacement; strata are never mixed, so every
  resample keeps the env composition of the evaluation bank. The CI is the percentile interval
  of the statistic over ``num_resamples`` resamples (95% by default).

The unit of observation is a **task** (one base env + one sampled projection, run as one
meta-episode of K trials). Scores are returns in the env's reward units (after the benchmark's
reward normalisation, if any), or normalised scores (:mod:`projected_envs.evaluation`).

(Moved here from ``agents.statistics``, which re-exports these names.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_NUM_RESAMPLES",
    "iqm",
    "stratified_bootstrap",
    "summarize",
    "summarize_scores",
]

DEFAULT_NUM_RESAMPLES = 2000
_BLOCK_ELEMENTS = 1 << 22

Statistic = Callable[[np.ndarray], np.ndarray]  # reduces axis 0: [N, ...] -> [...]


def iqm(scores: np.ndarray, axis: int = 0) -> np.ndarray:
    """Interquartile mean along ``axis``: the 25%-trimmed mean (``scipy.stats.trim_mean``).

    Drops ``floor(0.25 n)`` of the sorted scores from each end and averages the rest. A column
    with a NaN score has IQM NaN (as its mean would), never a trimmed finite value.
    """
    scores = np.moveaxis(np.asarray(scores, dtype=np.float64), axis, 0)
    n = scores.shape[0]
    if n == 0:
        raise ValueError("iqm of an empty set of scores.")
    cut = int(0.25 * n)
    trimmed = np.sort(scores, axis=0)[cut : n - cut].mean(axis=0)
    # np.sort moves NaNs to the end, where trimming could drop them and return a finite number:
    # a column with any NaN has no IQM.
    return np.where(np.isnan(scores).any(axis=0), np.nan, trimmed)


def _mean(scores: np.ndarray) -> np.ndarray:
    return np.asarray(scores, dtype=np.float64).mean(axis=0)


STATISTICS: dict[str, Statistic] = {"mean": _mean, "iqm": iqm}


def stratified_bootstrap(
    scores: np.ndarray,
    strata: np.ndarray,
    statistic: Statistic,
    *,
    num_resamples: int = DEFAULT_NUM_RESAMPLES,
    seed: int = 0,
) -> np.ndarray:
    """Bootstrap distribution of ``statistic`` with resampling inside each stratum.

    Args:
        scores: ``[N, ...]`` one row per task (trailing axes, e.g. trials, are kept together).
        strata: ``[N]`` integer stratum of each task (the base-env index).
        statistic: reduces axis 0, ``[N, ...] -> [...]``.
        num_resamples: number of bootstrap resamples.
        seed: seed of the numpy generator; same seed, same numbers.

    Returns:
        ``[num_resamples, ...]`` the statistic of each resample.
    """
    scores = np.asarray(scores, dtype=np.float64)
    strata = np.asarray(strata)
    if strata.shape != scores.shape[:1]:
        raise ValueError(f"strata has shape {strata.shape}, expected ({scores.shape[0]},).")
    rng = np.random.default_rng(seed)
    picks = []
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        picks.append(members[rng.integers(0, len(members), size=(num_resamples, len(members)))])
    index = np.concatenate(picks, axis=1)  # [R, N]
    # Evaluate in blocks of resamples so memory stays ~_BLOCK_ELEMENTS floats.
    block = max(1, _BLOCK_ELEMENTS // max(1, scores.size))
    out = [
        statistic(np.moveaxis(scores[index[start : start + block]], 0, 1))  # [N, r, ...]
        for start in range(0, num_resamples, block)
    ]
    return np.concatenate(out, axis=0)


def _percentile_ci(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = 100.0 * (1.0 - confidence) / 2.0
    return np.percentile(samples, alpha, axis=0), np.percentile(samples, 100.0 - alpha, axis=0)


def _to_json(x: np.ndarray) -> Any:
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else x.tolist()


def summarize_scores(
    scores: np.ndarray,
    strata: np.ndarray | None = None,
    *,
    num_resamples: int = DEFAULT_NUM_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean and IQM of ``scores`` over tasks, each with a stratified bootstrap CI.

    Args:
        scores: ``[N]`` or ``[N, K]`` (K: e.g. trial index, summarised per column).
        strata: ``[N]`` stratum per task; default one stratum (a plain bootstrap).
        num_resamples: bootstrap resamples.
        confidence: coverage of the percentile interval (0.95: a 95% CI).
        seed: seed of the bootstrap's numpy generator.

    Returns:
        ``{"mean", "mean_ci": [lo, hi], "iqm", "iqm_ci": [lo, hi], "n"}``; with ``[N, K]``
        scores each value (and each CI bound) is a list of K numbers.
    """
    scores = np.asarray(scores, dtype=np.float64)
    strata = np.zeros(scores.shape[0], np.int64) if strata is None else np.asarray(strata)
    out: dict[str, Any] = {"n": int(scores.shape[0])}
    for offset, (name, statistic) in enumerate(STATISTICS.items()):
        samples = stratified_bootstrap(
            scores, strata, statistic, num_resamples=num_resamples, seed=seed + offset
        )
        lo, hi = _percentile_ci(samples, confidence)
        out[name] = _to_json(statistic(scores))
        out[f"{name}_ci"] = [_to_json(lo), _to_json(hi)]
    return out


def summarize(
    returns: np.ndarray,
    env_index: np.ndarray,
    env_names: Sequence[str],
    *,
    num_resamples: int = DEFAULT_NUM_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """All aggregates of a ``[num_tasks, num_trials]`` return table, per env and overall.

    Per group (``"overall"``, and each env name under ``"per_env"``):

    * ``"return"``: statistics of the per-task mean return over trials;
    * ``"per_trial"``: statistics of the return at each trial index (lists of K numbers): the
      in-context learning curve;
    * ``"gain"``: statistics of the in-context gain, last trial minus first, per task (0 when
      K = 1).

    Overall CIs resample tasks within each env (stratified); per-env CIs resample that env's
    tasks. Each statistic uses its own derived seed, so results are reproducible.

    Args:
        returns: ``[T, K]`` return of each trial of each task.
        env_index: ``[T]`` index into ``env_names`` of each task's base env.
        env_names: name of each base env.
    """
    returns = np.asarray(returns, dtype=np.float64)
    env_index = np.asarray(env_index)
    if returns.ndim != 2 or env_index.shape != returns.shape[:1]:
        raise ValueError(
            f"returns must be [tasks, trials] and env_index [tasks]; got {returns.shape} "
            f"and {env_index.shape}."
        )
    options = {"num_resamples": num_resamples, "confidence": confidence}

    def group(rows: np.ndarray, strata: np.ndarray, seed_: int) -> dict[str, Any]:
        return {
            "return": summarize_scores(rows.mean(axis=1), strata, seed=seed_, **options),
            "per_trial": summarize_scores(rows, strata, seed=seed_ + 10, **options),
            "gain": summarize_scores(rows[:, -1] - rows[:, 0], strata, seed=seed_ + 20, **options),
        }

    per_env = {}
    for i, name in enumerate(env_names):
        mask = env_index == i
        if mask.any():
            per_env[name] = group(returns[mask], env_index[mask], seed + 100 * (i + 1))
    return {
        "num_tasks": int(returns.shape[0]),
        "num_trials": int(returns.shape[1]),
        "confidence": confidence,
        "num_resamples": num_resamples,
        "overall": group(returns, env_index, seed),
        "per_env": per_env,
    }
