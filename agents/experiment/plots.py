"""PNG plots of a run: the learning curve and the in-context (per-trial) learning curve.

Both read plain data (rows of ``metrics.jsonl``, summaries from :mod:`agents.statistics`), so
they work the same on a live run and on files from disk. Figures are built with
``matplotlib.figure.Figure`` directly (no pyplot, no global backend switch); nothing is shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

__all__ = ["SPLIT_COLORS", "plot_in_context_curve", "plot_learning_curve"]

SPLIT_COLORS = {"train": "tab:blue", "id_test": "tab:green", "ood_test": "tab:red"}


def plot_learning_curve(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    splits: Sequence[str] = ("train", "id_test", "ood_test"),
    title: str = "",
) -> Path:
    """Return vs env steps, one line per split (with its 95% CI band where logged).

    Args:
        rows: ``metrics.jsonl`` rows; each has ``"env_steps"`` and, for evaluated chunks,
            ``"eval/<split>/mean"`` (return per trial, averaged over tasks and trials) and
            ``"eval/<split>/mean_ci"`` ``[lo, hi]``; with several seeds
            ``"eval/<split>/mean_per_seed"`` (drawn as thin lines). Rows may also carry
            ``"rollout/return_per_trial"``, the training rollouts' mean return per trial.
        path: PNG file to write.
        splits: which splits to draw.
        title: figure title.

    Returns:
        The path written.
    """
    fig = Figure(figsize=(6.4, 4.0), dpi=120)
    ax = fig.subplots()
    rollout = [
        (r["env_steps"], r["rollout/return_per_trial"])
        for r in rows
        if r.get("rollout/return_per_trial") is not None
    ]
    if rollout:
        xs, ys = zip(*rollout)
        ax.plot(xs, ys, color="0.6", lw=1, label="train rollouts")
    for split in splits:
        points = [r for r in rows if r.get(f"eval/{split}/mean") is not None]
        if not points:
            continue
        xs = [r["env_steps"] for r in points]
        ys = [r[f"eval/{split}/mean"] for r in points]
        color = SPLIT_COLORS.get(split)
        ax.plot(xs, ys, marker="o", ms=3, color=color, label=split)
        _plot_seeds(ax, xs, [r.get(f"eval/{split}/mean_per_seed") for r in points], color)
        cis = [r.get(f"eval/{split}/mean_ci") for r in points]
        if all(ci is not None for ci in cis):
            ax.fill_between(xs, [c[0] for c in cis], [c[1] for c in cis], color=color, alpha=0.2)
    ax.set_xlabel("env steps")
    ax.set_ylabel("return per trial")
    ax.set_title(title or "learning curve")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_in_context_curve(
    summaries: Mapping[str, Mapping[str, Any]],
    path: str | Path,
    *,
    random_summaries: Mapping[str, Mapping[str, Any]] | None = None,
    train_trials: int | None = None,
    title: str = "",
    seed_curves: Mapping[str, Sequence[Sequence[float]]] | None = None,
) -> Path:
    """Return per trial index with 95% CIs, one line per split: the in-context learning curve.

    Args:
        summaries: split name -> :func:`agents.statistics.summarize` output of the agent.
        path: PNG file to write.
        random_summaries: split name -> the same for a random policy on the same tasks, drawn
            dashed in the split's colour.
        train_trials: trials per task seen in training; a vertical line marks it when the
            evaluation runs longer (extrapolation).
        title: figure title.
        seed_curves: split name -> per-trial mean of each seed (``[S][K]``), drawn as thin
            lines in the split's colour: the seed spread.

    Returns:
        The path written.
    """
    fig = Figure(figsize=(6.4, 4.0), dpi=120)
    ax = fig.subplots()
    num_trials = 1
    for split, summary in summaries.items():
        curve = summary["overall"]["per_trial"]
        trials = list(range(1, len(curve["mean"]) + 1))
        num_trials = max(num_trials, len(trials))
        color = SPLIT_COLORS.get(split)
        ax.plot(trials, curve["mean"], marker="o", ms=3, color=color, label=split)
        lo, hi = curve["mean_ci"]
        ax.fill_between(trials, lo, hi, color=color, alpha=0.2)
        for curve_of_seed in (seed_curves or {}).get(split, ()):
            ax.plot(trials, curve_of_seed, lw=0.8, alpha=0.5, color=color)
        if random_summaries and split in random_summaries:
            rand = random_summaries[split]["overall"]["per_trial"]["mean"]
            ax.plot(trials, rand, ls="--", lw=1, color=color, label=f"{split} (random policy)")
    if train_trials is not None and num_trials > train_trials:
        ax.axvline(train_trials + 0.5, color="0.5", ls=":", lw=1, label="training horizon")
    ax.set_xlabel("trial")
    ax.set_ylabel("return (mean over tasks, 95% CI)")
    ax.set_title(title or "in-context learning: return per trial")
    if num_trials <= 20:
        ax.set_xticks(range(1, num_trials + 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _plot_seeds(ax: Any, xs: Sequence[float], per_seed: Sequence[Any], color: Any) -> None:
    """Thin lines, one per seed, where every row logged ``per_seed`` values (lists)."""
    if not per_seed or any(v is None for v in per_seed):
        return
    for seed_values in zip(*per_seed):
        if None not in seed_values:
            ax.plot(xs, seed_values, lw=0.8, alpha=0.5, color=color)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    return path
