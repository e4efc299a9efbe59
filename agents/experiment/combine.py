"""Combine finished single-seed runs of one configuration into one report over their seeds.

    python examples/meta_train.py --seed 0 --out-dir runs/s5-seed0      # one job per seed,
    python examples/meta_train.py --seed 1 --out-dir runs/s5-seed1      # on one machine or many
    python examples/combine_runs.py runs/s5-seed0 runs/s5-seed1 --out-dir runs/s5-seeds

``--num-seeds N`` trains N seeds in one program. On CPU those seeds run one after the other
(``seed_batching="auto"``) and reproduce the single-seed runs exactly, so N separate runs of
the same configuration, one per seed, hold the same numbers: this script merges them into what
``--num-seeds`` would have written. The runs must have finished (each has its ``eval.json``)
and differ only in ``seed``.

Writes into ``--out-dir``:

* ``eval.json``, ``eval_table.txt``, ``in_context.png``: each split aggregated over seeds x
  tasks (:func:`agents.evaluation.combine_seeds`: stratified bootstrap, envs as strata), with
  the per-seed summary (``per_seed``) and its table; the same with the ``extrapolation_``
  prefix where every run has an ``extrapolation_eval.json``;
* ``metrics.jsonl`` and ``learning_curve.png``: the runs' rows merged update by update (means
  over seeds; the rollout returns and each split's evaluation kept per seed, drawn as thin
  lines). A merged evaluation row has no CI (``mean_ci`` is null): the rows do not hold the
  per-task returns a bootstrap over seeds x tasks needs; the final ``eval.json`` does.
* ``sources.json``: the run folders, their seeds and the shared configuration.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import tyro

from agents.checkpoint import config_diff
from agents.evaluation import EvalResult, combine_seeds
from agents.experiment.configs import config_to_dict
from agents.experiment.run_folder import (
    METRICS_FILE,
    SPLITS,
    format_seed_table,
    jsonable,
    merge_seed_rows,
    per_seed_summary,
    read_config,
    read_metrics,
    write_eval_report,
    write_learning_curve,
)

REPORTS = ("", "extrapolation_")  # prefixes of the final reports meta_train.py writes


@dataclasses.dataclass(frozen=True)
class CombineArgs:
    """Merge finished single-seed runs of meta_train.py into one report over their seeds."""

    runs: Annotated[tuple[Path, ...], tyro.conf.Positional]  # the run folders, one seed each
    out_dir: Path  # where the combined report is written (a new or empty folder)


def check_runs(runs: Sequence[Path]) -> tuple[list[Path], list[int], dict[str, Any]]:
    """The run folders sorted by seed, their seeds, and the configuration they share.

    Raises:
        ValueError: fewer than two runs, a run of several seeds, two runs of one seed,
            configurations that differ in anything but ``seed``, or a run without
            ``eval.json`` (unfinished); each message names the run.
    """
    if len(runs) < 2:
        raise ValueError(f"combine_runs: give at least two run folders, got {len(runs)}.")
    by_seed: dict[int, Path] = {}
    configs = {}
    for run in map(Path, runs):
        config, _ = read_config(run)
        if config.num_seeds != 1:
            raise ValueError(
                f"{run} trained {config.num_seeds} seeds in one run; its eval.json already "
                "aggregates them. Combine single-seed runs only."
            )
        if not (run / "eval.json").is_file():
            raise ValueError(
                f"{run} has no eval.json: it has not finished (continue it with "
                f"meta_train.py --resume {run})."
            )
        if config.seed in by_seed:
            raise ValueError(f"{by_seed[config.seed]} and {run} are both seed {config.seed}.")
        by_seed[config.seed], configs[run] = run, config
    seeds = sorted(by_seed)
    first = by_seed[seeds[0]]
    shared = config_to_dict(configs[first])
    for seed in seeds[1:]:
        diff = config_diff(shared, config_to_dict(configs[by_seed[seed]]), ignore=("seed",))
        if diff:
            lines = "\n  ".join(
                d.replace("checkpoint=", f"{first}=").replace("now=", f"{by_seed[seed]}=")
                for d in diff
            )
            raise ValueError(
                f"combine_runs: the runs differ in more than their seed:\n  {lines}\n"
                "Combine only runs of one configuration."
            )
    return [by_seed[s] for s in seeds], seeds, shared


def _read_report(run: Path, prefix: str) -> tuple[dict[str, Any], dict[str, EvalResult]]:
    record = json.loads((run / f"{prefix}eval.json").read_text())
    splits = {name: EvalResult.from_json(r) for name, r in record.pop("splits").items()}
    return record, splits


def combine_reports(runs: Sequence[Path], seeds: Sequence[int], out_dir: Path, prefix: str) -> str:
    """Combine each run's ``<prefix>eval.json``; write the report; return its table."""
    headers, per_seed = zip(*(_read_report(run, prefix) for run in runs), strict=True)
    for run, header in zip(runs[1:], headers[1:], strict=True):
        for key in ("benchmark_fingerprint", "update", "num_trials"):
            if header.get(key) != headers[0].get(key):
                raise ValueError(
                    f"{run}/{prefix}eval.json has {key}={header.get(key)!r}, {runs[0]} has "
                    f"{headers[0].get(key)!r}: not the same evaluation."
                )
    combined = {split: combine_seeds([r[split] for r in per_seed]) for split in per_seed[0]}
    header = {**headers[0], "seeds": list(seeds), "per_seed": per_seed_summary(seeds, per_seed)}
    paths = write_eval_report(
        out_dir,
        combined,
        header=header,
        train_trials=int(headers[0]["train_num_trials"]),
        prefix=prefix,
    )
    with paths["table"].open("a") as f:  # as meta_train.py's --num-seeds report
        f.write("\nper seed\n" + format_seed_table(header["per_seed"]) + "\n")
    return paths["table"].read_text()


def combine_metrics(runs: Sequence[Path]) -> list[dict[str, Any]]:
    """The runs' metrics.jsonl rows merged update by update (see the module docstring)."""
    logs = [read_metrics(run) for run in runs]
    updates = [[row["update"] for row in log] for log in logs]
    if any(u != updates[0] for u in updates[1:]):
        raise ValueError(
            "combine_runs: the runs' metrics.jsonl rows are at different updates "
            f"({[len(u) for u in updates]} rows); were they resumed with other chunk sizes?"
        )
    merged = []
    for rows in zip(*logs, strict=True):
        row = merge_seed_rows(rows)
        for split in SPLITS:
            if rows[0].get(f"eval/{split}/mean") is None:
                continue
            row[f"eval/{split}/mean_ci"] = None
            for name in ("mean", "gain"):
                row[f"eval/{split}/{name}_per_seed"] = [r.get(f"eval/{split}/{name}") for r in rows]
        merged.append(row)
    return merged


def combine(runs: Sequence[Path], out_dir: Path) -> dict[str, str]:
    """Write the combined report of ``runs`` into ``out_dir``; returns ``{prefix: table}``.

    Raises:
        ValueError: see :func:`check_runs`; also an ``out_dir`` that already holds a report.
    """
    runs, seeds, shared = check_runs(runs)
    out_dir = Path(out_dir)
    if (out_dir / "eval.json").exists() or (out_dir / METRICS_FILE).exists():
        raise ValueError(f"{out_dir} already holds a report; choose another --out-dir.")
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = {}
    for prefix in REPORTS:
        if all((run / f"{prefix}eval.json").is_file() for run in runs):
            tables[prefix] = combine_reports(runs, seeds, out_dir, prefix)
    rows = combine_metrics(runs)
    (out_dir / METRICS_FILE).write_text("".join(json.dumps(jsonable(r)) + "\n" for r in rows))
    title = f"{shared['benchmark']}, memory={shared['ppo']['memory']}, seeds {seeds}"
    write_learning_curve(out_dir, title=title)
    sources = {"runs": [str(r) for r in runs], "seeds": seeds, "config": shared}
    (out_dir / "sources.json").write_text(json.dumps(sources, indent=2) + "\n")
    return tables


def main(argv: Sequence[str] | None = None) -> dict[str, str]:
    """Entry point: parse ``argv`` (default ``sys.argv[1:]``), combine, print the tables."""
    args = tyro.cli(CombineArgs, args=argv, description=__doc__)
    tables = combine(args.runs, args.out_dir)
    for prefix, table in tables.items():
        print(f"{prefix or 'final '}evaluation over seeds:\n{table}\n")
    print(f"wrote {args.out_dir}")
    return tables
