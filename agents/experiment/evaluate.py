"""Evaluate a saved agent on any benchmark split: table, JSON and the in-context plot.

    python examples/evaluate.py --checkpoint runs/<run>                       # all splits
    python examples/evaluate.py --checkpoint runs/<run> --split ood_test --num-trials 8
    python examples/evaluate.py --checkpoint runs/<run> --benchmark classic-families

The agent is the newest checkpoint of the run folder (``--step`` picks another). Each task of
the split's fixed evaluation bank runs once with fresh memory for ``--num-trials`` trials (default:
the split's K; more tests extrapolation past the training horizon), next to a uniform-random
policy on the same tasks. A benchmark whose observation or action layout differs from the one
the agent was trained on is refused before anything runs.

Writes ``<out-dir>/<benchmark>_<split>_k<K>_eval.json``, ``..._eval_table.txt``,
``..._in_context.png`` and, with ``--exports``, ``..._rliable.npz`` (one ``[runs, envs]``
normalised-score matrix per split, for ``rliable``; runs are the bank's tasks of each env) and
``..._marl_eval.json`` (the same in marl-eval's nested layout), by default under
``<run>/evaluations/``. The table shows normalised scores (``docs/reference/evaluation.md``) next to
returns.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import tyro

from agents.evaluation import EvalResult, evaluate, format_table
from agents.experiment.configs import TrainConfig
from agents.experiment.run_folder import SPLITS, load_checkpoint, read_config, write_eval_report
from projected_envs.benchmark_registry import benchmark
from projected_envs.tasks import TaskSet


@dataclasses.dataclass(frozen=True)
class EvalArgs:
    """Evaluate a checkpoint of meta_train.py on a benchmark split."""

    checkpoint: Path  # run folder written by meta_train.py
    benchmark: str | None = None  # benchmark to evaluate on (default: the run's own)
    split: Literal["train", "id_test", "ood_test", "all"] = "all"  # split(s) to evaluate
    num_trials: int = 0  # trials per task (0: the split's own K)
    per_env: int = 16  # tasks per env from the split's evaluation bank
    seed: int = 0  # seed of env and action noise (tasks are fixed by the bank)
    deterministic: bool | None = None  # mean actions (default: as the run's config says)
    step: int | None = None  # checkpoint step (update) to load; default the newest
    out_dir: Path | None = None  # where to write; default <checkpoint>/evaluations
    exports: bool = False  # also write ..._rliable.npz and ..._marl_eval.json


def check_compatible(trained_on: TaskSet, target: TaskSet, run: str) -> None:
    """Refuse a task set whose observation / action layout differs from the training one.

    The agent's input is ``obs_dim`` projected features followed by the MetaEpisode extras, and
    its output has ``action_dim`` entries; all three must match.

    Raises:
        ValueError: naming each differing property with both values.
    """
    fields = ("obs_dim", "action_dim", "obs_extras", "obs_size")
    diff = [
        f"{name}: agent={getattr(trained_on, name)!r}, {target.name}={getattr(target, name)!r}"
        for name in fields
        if getattr(trained_on, name) != getattr(target, name)
    ]
    if diff:
        raise ValueError(
            f"the agent of {run} was trained on {trained_on.name}, whose observation/action "
            f"layout differs from {target.name}:\n  " + "\n  ".join(diff) + "\n"
            "Evaluate it on a benchmark with the same obs_dim, action_dim and obs_extras."
        )


def run(args: EvalArgs) -> dict[str, EvalResult]:
    """Load the checkpoint, evaluate the chosen split(s), print and write the report."""
    config, _ = read_config(args.checkpoint)
    trained_on = benchmark(config.benchmark).train
    bench = benchmark(args.benchmark or config.benchmark)
    splits = SPLITS if args.split == "all" else (args.split,)
    for split in splits:
        check_compatible(trained_on, bench.splits[split], str(args.checkpoint))
    config, state, update = load_checkpoint(args.checkpoint, step=args.step)
    results = {
        split: _evaluate_split(args, config, bench.splits[split], state.train_state.params)
        for split in splits
    }
    trials = args.num_trials or bench.num_trials
    out_dir = args.out_dir or Path(args.checkpoint) / "evaluations"
    header = {
        "checkpoint": str(args.checkpoint),
        "update": update,
        "trained_on": config.benchmark,
        "benchmark": bench.name,
        "benchmark_fingerprint": bench.fingerprint,
        "train_num_trials": trained_on.num_trials,
    }
    prefix = f"{bench.name}_{args.split}_k{trials}_"
    paths = write_eval_report(
        out_dir, results, header=header, train_trials=trained_on.num_trials, prefix=prefix
    )
    if args.exports:
        paths.update(write_exports(out_dir / prefix, results, algorithm=str(args.checkpoint)))
    print(format_table(results))
    for path in paths.values():
        print(f"wrote {path}")
    return results


def write_exports(
    prefix: Path, results: Mapping[str, EvalResult], algorithm: str
) -> dict[str, Path]:
    """Write ``<prefix>rliable.npz`` (normalised ``[runs, envs]`` per split, plus the env names
    as ``<split>_tasks``) and ``<prefix>marl_eval.json``; returns their paths."""
    matrices = {}
    for split, result in results.items():
        matrices[split] = result.score_matrix("normalized")
        matrices[f"{split}_tasks"] = np.asarray(result.env_names)
    rliable = Path(f"{prefix}rliable.npz")
    np.savez(rliable, **matrices)
    marl: dict = {}
    for result in results.values():
        marl.update(result.to_marl_eval(algorithm=algorithm, run=f"seed_{result.meta['seed']}"))
    marl_path = Path(f"{prefix}marl_eval.json")
    marl_path.write_text(json.dumps(marl, allow_nan=False))
    return {"rliable": rliable, "marl_eval": marl_path}


def _evaluate_split(args: EvalArgs, config: TrainConfig, task_set: TaskSet, params) -> EvalResult:
    deterministic = config.deterministic_eval if args.deterministic is None else args.deterministic
    return evaluate(
        params,
        config.ppo,
        task_set,
        num_trials=args.num_trials or None,
        per_env=args.per_env,
        seed=args.seed,
        deterministic=deterministic,
    )


def main(argv: Sequence[str] | None = None) -> dict[str, EvalResult]:
    """Entry point: parse ``argv`` (default ``sys.argv[1:]``) and :func:`run`."""
    return run(tyro.cli(EvalArgs, args=argv, description=__doc__))
