"""The run folder of the main job: its layout, config file, checkpoints and evaluation reports.

Layout (``runs/<time>-<benchmark>-<memory>/`` by default)::

    config.json            {"config": TrainConfig as JSON, "preset", "benchmark_fingerprint",
                            "obs_size", "action_size", "versions"}
    metrics.jsonl          one JSON object per chunk of updates (agents.experiment.train)
    checkpoints/<update>/  orbax checkpoints of the full runner state (+ JSON sidecar); with
                           --num-seeds every leaf has a leading seed axis, all seeds in one tree
    eval.json              final evaluation of every split (agents.evaluation.EvalResult)
    eval_table.txt         the printed table
    learning_curve.png     return vs env steps, per split (thin lines: each seed)
    in_context.png         return per trial index with 95% CIs, per split (thin: each seed)
    tensorboard/           only with --tensorboard

Shared by :mod:`agents.experiment.train` (``examples/meta_train.py``: writes it),
:mod:`agents.experiment.evaluate` (``examples/evaluate.py``: reads it) and
:mod:`agents.experiment.combine` (``examples/combine_runs.py``: merges runs).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import jax
import numpy as np

from agents.checkpoint import CheckpointStore, config_diff
from agents.evaluation import EvalResult, format_table
from agents.experiment.configs import TrainConfig, config_from_dict, config_to_dict
from agents.experiment.plots import plot_in_context_curve, plot_learning_curve
from agents.ppo import RunnerState, make_init
from projected_envs.benchmark_registry import benchmark

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
SPLITS = ("train", "id_test", "ood_test")


def _versions() -> dict[str, str]:
    out = {}
    for name in ("projected-envs", "jax", "flax", "optax", "orbax-checkpoint"):
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def write_config(run_dir: Path, config: TrainConfig, preset: str) -> None:
    """Write ``config.json`` for a new run."""
    bench = benchmark(config.benchmark)
    record = {
        "config": config_to_dict(config),
        "preset": preset,
        "benchmark_fingerprint": bench.fingerprint,
        "obs_size": bench.train.obs_size,
        "action_size": bench.train.action_size,
        "versions": _versions(),
    }
    (run_dir / CONFIG_FILE).write_text(json.dumps(record, indent=2) + "\n")


def read_config(run_dir: str | Path) -> tuple[TrainConfig, dict[str, Any]]:
    """``(TrainConfig, the whole config.json record)`` of a run folder.

    Raises:
        FileNotFoundError: not a run folder (no ``config.json``).
    """
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{run_dir} is not a run folder of meta_train.py: it has no {CONFIG_FILE}."
        )
    record = json.loads(path.read_text())
    return config_from_dict(record["config"]), record


def check_same_config(run_dir: Path, config: TrainConfig) -> None:
    """Refuse to continue ``run_dir`` with another config, naming every differing field.

    Raises:
        ValueError: the configs differ (lists ``field: run=..., now=...``).
    """
    _, record = read_config(run_dir)
    diff = config_diff(record["config"], config_to_dict(config))
    if diff:
        lines = "\n  ".join(line.replace("checkpoint=", "run=") for line in diff)
        raise ValueError(
            f"cannot resume {run_dir} with a different configuration; differing fields:\n  "
            f"{lines}\nDrop those flags to continue the run as it was configured, or start "
            "a new run (without --resume)."
        )


def checkpoint_metadata(config: TrainConfig) -> dict[str, Any]:
    """What a checkpoint must match to be restored into a run of ``config``."""
    return {
        "config": config_to_dict(config),
        "fingerprint": benchmark(config.benchmark).fingerprint,
    }


@functools.lru_cache(maxsize=8)
def abstract_runner_state(config: TrainConfig) -> RunnerState:
    """Shapes and dtypes of the runner state of ``config`` (nothing is computed); with
    ``num_seeds > 1`` every leaf has a leading seed axis ``[S, ...]``."""
    init = make_init(config.ppo, benchmark(config.benchmark).train)
    if config.num_seeds == 1:
        return jax.eval_shape(init, jax.random.PRNGKey(config.seed))
    keys = jax.ShapeDtypeStruct((config.num_seeds, 2), jax.numpy.uint32)
    return jax.eval_shape(jax.vmap(init), keys)


def load_checkpoint(run_dir: str | Path, step: int | None = None) -> tuple[TrainConfig, Any, int]:
    """``(config, runner_state, update)`` of a run's newest (or given) checkpoint.

    Raises:
        FileNotFoundError: no config.json or no finished checkpoint.
        agents.checkpoint.ConfigMismatchError: the checkpoint does not belong to config.json.
    """
    config, _ = read_config(run_dir)
    with CheckpointStore(Path(run_dir) / CHECKPOINT_DIR) as store:
        state, meta = store.restore(
            abstract_runner_state(config), step=step, expect=checkpoint_metadata(config)
        )
    return config, state, int(meta["update"])


# ------------------------------------------------------------------------------- metrics
def jsonable(value: Any) -> Any:
    """Floats and lists for JSON: NaN and inf become None, arrays become lists."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` (empty when missing)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def truncate_metrics(run_dir: Path, update: int) -> None:
    """Drop rows logged after ``update`` (a resumed run rewrites them)."""
    rows = [r for r in read_metrics(run_dir) if r["update"] <= update]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (run_dir / METRICS_FILE).write_text(text)


# ------------------------------------------------------------------------------- reports
def write_eval_report(
    out_dir: Path,
    results: Mapping[str, EvalResult],
    *,
    header: Mapping[str, Any],
    train_trials: int,
    prefix: str = "",
) -> dict[str, Path]:
    """Write ``<prefix>eval.json``, ``<prefix>eval_table.txt`` and ``<prefix>in_context.png``.

    Args:
        out_dir: folder to write into.
        results: split name -> evaluation result.
        header: extra top-level entries of the JSON (config, checkpoint, ...).
        train_trials: trials per task in training (marked in the plot when exceeded).
        prefix: file name prefix (e.g. ``"ood_test_k8_"`` for evaluate.py).

    Returns:
        ``{"json", "table", "in_context"}`` -> path written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / f"{prefix}eval.json",
        "table": out_dir / f"{prefix}eval_table.txt",
        "in_context": out_dir / f"{prefix}in_context.png",
    }
    record = {**header, "splits": {name: r.to_json() for name, r in results.items()}}
    seed_curves = {name: per_seed_curves(r) for name, r in results.items()}
    paths["json"].write_text(json.dumps(jsonable(record)) + "\n")
    paths["table"].write_text(format_table(results) + "\n")
    plot_in_context_curve(
        {name: r.summary for name, r in results.items()},
        paths["in_context"],
        random_summaries={
            name: r.random_summary for name, r in results.items() if r.random_summary
        },
        train_trials=train_trials,
        title=f"in-context learning ({header.get('benchmark', '')})",
        seed_curves={name: c for name, c in seed_curves.items() if len(c) > 1},
    )
    return paths


#: Rollout entries of a metrics row that multi-seed rows also keep per seed (``<name>_per_seed``).
PER_SEED_KEYS = ("rollout/task_return", "rollout/return_per_trial")


def merge_seed_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One metrics.jsonl row of several seeds from one row per seed (same update).

    Every entry is the mean over seeds (seeds without a value left out; lists averaged
    element-wise); ``update`` and ``env_steps`` are per seed, as in each row. The rollout
    returns of :data:`PER_SEED_KEYS` are also kept per seed as ``<name>_per_seed`` lists.
    """
    out: dict[str, Any] = {}
    for name, first in rows[0].items():
        values = [r.get(name) for r in rows]
        if name in ("update", "env_steps"):
            out[name] = first
        elif isinstance(first, list) or any(isinstance(v, list) for v in values):
            kept = [v for v in values if v is not None and None not in v]
            out[name] = np.mean(kept, axis=0).tolist() if kept else None
        elif all(isinstance(v, int | float | None) for v in values):
            kept = [v for v in values if v is not None]
            out[name] = float(np.mean(kept)) if kept else None
    for name in PER_SEED_KEYS:
        if name in rows[0]:
            out[f"{name}_per_seed"] = [r.get(name) for r in rows]
    return jsonable(out)


def per_seed_summary(
    seeds: Sequence[int], per_seed: Sequence[Mapping[str, EvalResult]]
) -> dict[str, list[dict[str, Any]]]:
    """Per split, each seed's overall mean and gain with CIs and its random reference."""
    out: dict[str, list[dict[str, Any]]] = {}
    for split in per_seed[0]:
        out[split] = []
        for seed, results in zip(seeds, per_seed, strict=True):
            overall, rand = results[split].summary["overall"], results[split].random_summary
            out[split].append(
                {
                    "seed": seed,
                    "mean": overall["return"]["mean"],
                    "mean_ci": overall["return"]["mean_ci"],
                    "gain": overall["gain"]["mean"],
                    "gain_ci": overall["gain"]["mean_ci"],
                    "random_mean": None if rand is None else rand["overall"]["return"]["mean"],
                }
            )
    return out


def format_seed_table(summary: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """Plain-text lines of :func:`per_seed_summary`: one per split and seed."""
    lines = [
        f"{'split':<9} {'seed':>5} {'return [95% CI]':>28} {'gain [95% CI]':>28} {'random':>8}"
    ]
    for split, rows in summary.items():
        for r in rows:
            ret = f"{r['mean']:8.2f} [{r['mean_ci'][0]:7.2f}, {r['mean_ci'][1]:7.2f}]"
            gain = f"{r['gain']:8.2f} [{r['gain_ci'][0]:7.2f}, {r['gain_ci'][1]:7.2f}]"
            rand = "n/a" if r["random_mean"] is None else f"{r['random_mean']:.2f}"
            lines.append(f"{split:<9} {r['seed']:>5} {ret:>28} {gain:>28} {rand:>8}")
    return "\n".join(lines)


def per_seed_curves(result: EvalResult) -> list[list[float]]:
    """Mean return per trial of each seed's rows (``meta["row_seed"]``; one curve if absent)."""
    returns = np.asarray(result.returns, dtype=np.float64)
    row_seed = result.meta.get("row_seed")
    if row_seed is None:
        return [returns.mean(axis=0).tolist()]
    row_seed = np.asarray(row_seed)
    return [returns[row_seed == s].mean(axis=0).tolist() for s in dict.fromkeys(row_seed.tolist())]


def write_learning_curve(run_dir: Path, title: str = "") -> Path:
    """Plot ``metrics.jsonl`` to ``learning_curve.png``."""
    return plot_learning_curve(read_metrics(run_dir), run_dir / "learning_curve.png", title=title)
