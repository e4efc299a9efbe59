"""One summary JSON over the run folders of ``scripts/gpu_learning.sh``.

    python scripts/learning_summary.py OUT_DIR          # reads OUT_DIR/<memory>/, writes
                                                           # OUT_DIR/summary.json
    python scripts/learning_summary.py --size ...       # see size_total_timesteps

Per memory (one run folder each, ``--num-seeds`` seeds) and split: the mean return per trial
with its 95% CI and the in-context gain (last trial minus first) with its CI, both over seeds x
tasks (stratified bootstrap, envs as strata: the run's eval.json), the random policy's mean and
gain on the same tasks, each seed's mean, and the extrapolation evaluation's per-trial curve
and gain (``extrapolation_eval.json``, 2x the training trials) where present; per run, the env
steps trained (per seed), the number of seeds, and the training steps/s (all seeds together,
median over the metrics rows, compilation excluded) and wall time.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any


def split_summary(split: dict[str, Any]) -> dict[str, Any]:
    """Headline numbers of one split of an eval.json."""
    overall = split["summary"]["overall"]
    rand = split.get("random_summary") or {}
    out = {
        "mean": overall["return"]["mean"],
        "mean_ci": overall["return"]["mean_ci"],
        "gain": overall["gain"]["mean"],
        "gain_ci": overall["gain"]["mean_ci"],
        "per_trial": overall["per_trial"]["mean"],
        "num_rows": split["summary"]["num_tasks"],
        "random_mean": rand.get("overall", {}).get("return", {}).get("mean"),
        "random_gain": rand.get("overall", {}).get("gain", {}).get("mean"),
    }
    return out


def run_summary(run_dir: Path) -> dict[str, Any]:
    """The summary of one run folder (eval.json, metrics.jsonl, extrapolation_eval.json)."""
    report = json.loads((run_dir / "eval.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    timed = [r["steps_per_second"] for r in rows if r.get("steps_per_second")]
    out: dict[str, Any] = {
        "env_steps_per_seed": report["env_steps"],
        "seeds": report.get("seeds", [0]),
        "steps_per_s": statistics.median(timed) if timed else None,
        "wall_time_s": rows[-1].get("wall_time") if rows else None,
        "splits": {name: split_summary(s) for name, s in report["splits"].items()},
    }
    for name, seeds in report.get("per_seed", {}).items():
        out["splits"][name]["mean_per_seed"] = [s["mean"] for s in seeds]
        out["splits"][name]["gain_per_seed"] = [s["gain"] for s in seeds]
    extra = run_dir / "extrapolation_eval.json"
    if extra.is_file():
        report = json.loads(extra.read_text())
        out["extrapolation"] = {
            "num_trials": report.get("num_trials"),
            "train_num_trials": report.get("train_num_trials"),
            "splits": {name: split_summary(s) for name, s in report["splits"].items()},
        }
    return out


def summarize_runs(out_dir: Path) -> dict[str, Any]:
    """``{"runs": {memory: run_summary}}`` over every run folder under ``out_dir``."""
    runs = {}
    for run_dir in sorted(p for p in out_dir.iterdir() if (p / "eval.json").is_file()):
        runs[run_dir.name] = run_summary(run_dir)
    return {"runs": runs}


def size_total_timesteps(
    steps_per_s: float, seconds: float, steps_per_update: int, num_seeds: int, minimum: int = 2
) -> int:
    """``total_timesteps`` (per seed) that trains ``seconds`` at ``steps_per_s`` (all seeds
    together): whole updates, at least ``minimum``."""
    updates = int(steps_per_s * seconds / (steps_per_update * num_seeds))
    return max(minimum, updates) * steps_per_update


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out_dir", nargs="?", type=Path)
    p.add_argument(
        "--size",
        nargs=4,
        type=float,
        metavar=("STEPS_PER_S", "SECONDS", "STEPS_PER_UPDATE", "SEEDS"),
        help="print total_timesteps for this budget instead",
    )
    p.add_argument("--steps-per-s-of", type=Path, help="print the median steps/s of a run")
    p.add_argument("--train-seconds-of", type=Path, help="print a run's seconds in chunks")
    args = p.parse_args(argv)
    if args.size:
        sps, seconds, per_update, seeds = args.size
        print(size_total_timesteps(sps, seconds, int(per_update), int(seeds)))
        return
    if args.train_seconds_of:
        path = args.train_seconds_of / "metrics.jsonl"
        lines = path.read_text().splitlines() if path.is_file() else []
        rows = [json.loads(line) for line in lines]
        print(round(sum(r.get("chunk_seconds", 0.0) for r in rows)))
        return
    if args.steps_per_s_of:
        print(run_summary(args.steps_per_s_of)["steps_per_s"] or 0)
        return
    summary = summarize_runs(args.out_dir)
    (args.out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary)[:3000])


if __name__ == "__main__":
    main()
