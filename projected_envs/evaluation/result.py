"""The result of an evaluation (:class:`EvalResult`) and its exports: rliable score matrices,
marl-eval style dicts, and JSON (with NaN as null) that :meth:`EvalResult.from_json` reads back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["EvalResult"]


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """What :func:`evaluate_policy` returns: raw per-task results and their statistics.

    Arrays are numpy; ``T`` is the number of tasks (``per_env * len(env_names)``), ``K`` the
    number of trials. Fields after ``meta`` are optional (None when not computed).
    """

    name: str  # the task set's name, e.g. "classic/ood_test"
    env_names: tuple[str, ...]  # env of each env index
    env_index: np.ndarray  # int32 [T]: env index of each task
    num_trials: int  # K
    returns: np.ndarray  # float32 [T, K]: agent's return per task and trial
    raw_returns: np.ndarray  # float32 [T, K]: the same in the base env's reward units
    length: np.ndarray  # int32 [T]: steps of each meta-episode
    summary: dict[str, Any]  # statistics.summarize(returns, ...)
    random_returns: np.ndarray | None  # float32 [T, K]: uniform-random policy, same tasks
    random_summary: dict[str, Any] | None  # summarize(random_returns, ...)
    meta: dict[str, Any]  # protocol: per_env, seed, max_steps, fingerprint, ...
    random_raw_returns: np.ndarray | None = None  # float32 [T, K]: random, base-env units
    normalized: np.ndarray | None = None  # float64 [T, K]: normalised scores (NaN: no reference)
    normalized_summary: dict[str, Any] | None = None  # summarize(normalized, ...)
    references: dict[str, dict[str, Any]] | None = None  # per env: reference, random, status

    @property
    def split(self) -> str:
        """The split part of ``name`` (``"ood_test"`` of ``"classic/ood_test"``)."""
        return self.name.rsplit("/", 1)[-1] if self.name else "tasks"

    @property
    def mean(self) -> float:
        """Overall mean return per trial (mean over tasks of the per-task mean over trials)."""
        return float(self.summary["overall"]["return"]["mean"])

    @property
    def gain(self) -> float:
        """Overall mean in-context gain: last trial minus first."""
        return float(self.summary["overall"]["gain"]["mean"])

    @property
    def normalized_iqm(self) -> float:
        """The headline aggregate: IQM over tasks of the normalised score per trial (NaN if any
        env lacks a reference)."""
        if self.normalized_summary is None:
            return float("nan")
        return float(self.normalized_summary["overall"]["return"]["iqm"])

    def score_matrix(self, score: str = "normalized", trial: int | None = None) -> np.ndarray:
        """``[runs, envs]`` scores, column ``j`` = env ``env_names[j]``, rows = its bank tasks.

        Args:
            score: ``"normalized"``, ``"return"`` (training units) or ``"raw"`` (base env units).
            trial: a trial index (e.g. ``-1``: the last); None: the mean over trials.

        Raises:
            ValueError: unknown ``score``, normalised scores not computed, or envs with
                different numbers of tasks.
        """
        values = {"normalized": self.normalized, "return": self.returns, "raw": self.raw_returns}
        if score not in values:
            raise ValueError(f"score must be one of {tuple(values)}, got {score!r}.")
        table = values[score]
        if table is None:
            raise ValueError("no normalised scores: evaluate with with_random=True.")
        per_task = np.mean(table, axis=1) if trial is None else table[:, trial]
        columns = [per_task[self.env_index == i] for i in range(len(self.env_names))]
        if len({len(c) for c in columns}) != 1:
            raise ValueError(f"envs have different numbers of tasks {[len(c) for c in columns]}.")
        return np.stack(columns, axis=1).astype(np.float64)

    def to_rliable(
        self, score: str = "normalized", trial: int | None = None
    ) -> dict[str, np.ndarray]:
        """``{split: scores [runs, tasks]}`` as ``rliable.library.get_interval_estimates`` takes.

        rliable's *tasks* are our base envs (columns, in ``env_names`` order) and its *runs* are
        the bank's tasks of each env (rows): rliable's stratified bootstrap then resamples the
        projected tasks within each env, as :mod:`projected_envs.statistics` does. See
        :meth:`score_matrix` for ``score`` and ``trial``.
        """
        return {self.split: self.score_matrix(score, trial)}

    def to_marl_eval(
        self, algorithm: str = "agent", run: str = "run_0", step_count: int = 0
    ) -> dict[str, Any]:
        """A marl-eval style nested dict: ``{env: {task: {algorithm: {run: {...}}}}}``.

        ``env`` is the split's name, ``task`` each base env; the run holds ``"step_0"`` (with
        ``step_count``) and ``"absolute_metrics"``, each with per-bank-task lists of
        ``"return"``, ``"raw_return"`` and ``"normalized_score"`` (mean over trials) and
        ``"gain"`` (last trial minus first).
        """
        out: dict[str, Any] = {}
        for i, env in enumerate(self.env_names):
            mask = self.env_index == i
            metrics = {
                "return": self.returns[mask].mean(axis=1).tolist(),
                "raw_return": self.raw_returns[mask].mean(axis=1).tolist(),
                "gain": (self.returns[mask, -1] - self.returns[mask, 0]).tolist(),
            }
            if self.normalized is not None:
                metrics["normalized_score"] = _nan_to_none(self.normalized[mask].mean(axis=1))
            out[env] = {
                algorithm: {
                    run: {
                        "step_0": {"step_count": int(step_count), **metrics},
                        "absolute_metrics": metrics,
                    }
                }
            }
        return {self.name or "tasks": out}

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable dict of everything (arrays as nested lists; NaN as null)."""
        arr = lambda x: None if x is None else _nan_to_none(np.asarray(x))
        return {
            "name": self.name,
            "env_names": list(self.env_names),
            "num_trials": self.num_trials,
            "meta": self.meta,
            "summary": self.summary,
            "random_summary": self.random_summary,
            "normalized_summary": _nan_to_none(self.normalized_summary),
            "references": self.references,
            "env_index": self.env_index.tolist(),
            "returns": self.returns.tolist(),
            "raw_returns": self.raw_returns.tolist(),
            "length": self.length.tolist(),
            "random_returns": arr(self.random_returns),
            "random_raw_returns": arr(self.random_raw_returns),
            "normalized": arr(self.normalized),
            "rliable": {
                "tasks": list(self.env_names),
                "scores": _nan_to_none(self.score_matrix("normalized"))
                if self.normalized is not None
                else None,
            },
        }

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> EvalResult:
        """The result that :meth:`to_json` wrote (null read back as NaN in the arrays).

        Raises:
            ValueError: ``record`` lacks a field of :meth:`to_json`'s output.
        """
        missing = {"name", "env_names", "num_trials", "returns", "summary"} - set(record)
        if missing:
            raise ValueError(
                f"EvalResult.from_json: the record has no {sorted(missing)}; pass one entry "
                "of an eval.json's 'splits' (what EvalResult.to_json wrote)."
            )

        def arr(name: str, dtype: Any) -> np.ndarray | None:
            value = record.get(name)
            if value is None:
                return None
            if np.issubdtype(dtype, np.floating):
                value = _none_to_nan(value)
            return np.asarray(value, dtype=dtype)

        normalized_summary = record.get("normalized_summary")
        return cls(
            name=record["name"],
            env_names=tuple(record["env_names"]),
            env_index=arr("env_index", np.int32),
            num_trials=int(record["num_trials"]),
            returns=arr("returns", np.float32),
            raw_returns=arr("raw_returns", np.float32),
            length=arr("length", np.int32),
            summary=record["summary"],
            random_returns=arr("random_returns", np.float32),
            random_summary=record.get("random_summary"),
            meta=dict(record.get("meta") or {}),
            random_raw_returns=arr("random_raw_returns", np.float32),
            normalized=arr("normalized", np.float64),
            normalized_summary=None
            if normalized_summary is None
            else _none_to_nan(normalized_summary),
            references=record.get("references"),
        )


def _none_to_nan(x: Any) -> Any:
    """The inverse of :func:`_nan_to_none` for numbers: None in nested lists / dicts -> NaN."""
    if x is None:
        return float("nan")
    if isinstance(x, list | tuple):
        return [_none_to_nan(v) for v in x]
    if isinstance(x, dict):
        return {k: _none_to_nan(v) for k, v in x.items()}
    return x


def _nan_to_none(x: Any) -> Any:
    """Nested lists / dicts with NaN replaced by None (strict JSON has no NaN)."""
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, float):
        return None if np.isnan(x) else x
    if isinstance(x, list | tuple):
        return [_nan_to_none(v) for v in x]
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    return x
