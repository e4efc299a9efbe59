"""Markdown table of the observation-projection probe runs, from their run folders.

    python scripts/probe_table.py /work/runs31/*-s5-s* /work/runs31/*-none-s*
    python scripts/probe_table.py /work/runs31 --combine     # also merge seeds per variant

A run folder is one ``examples/meta_train.py`` run (``config.json``, ``metrics.jsonl``, and
``eval.json`` once it finished). A directory that holds run folders is expanded. For every run:
benchmark, memory, seed, finished (and the last update reached if not), and from ``eval.json``
per split (id_test, ood_test): the mean return per trial with its 95% CI, the return at each
trial, the in-context gain (last trial - first) with its CI, and the random policy's mean on
the same tasks. ``--combine`` merges the finished seeds of each (benchmark, memory) with
``examples/combine_runs.py`` into ``<combined-dir>/<benchmark>-<memory>-seeds<ids>`` (>= 2 seeds;
default ``<runs' parent>/combined``) and adds their rows (seed ``"0,1,2"``: bootstrap over seeds
x tasks, as combine_runs.py does).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

SPLITS = ("id_test", "ood_test")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _ci(stats: dict[str, Any], index: int | None = None) -> str:
    """``mean [lo, hi]`` of a summarize_scores entry (or its trial ``index``)."""
    mean, (lo, hi) = stats["mean"], stats["mean_ci"]
    if index is not None:
        mean, lo, hi = mean[index], lo[index], hi[index]
    return f"{mean:.2f} [{lo:.2f}, {hi:.2f}]"


def run_folders(paths: Iterable[Path]) -> list[Path]:
    """The run folders among ``paths`` (a ``config.json``, or a combination's ``sources.json``),
    directories expanded one level."""
    out: list[Path] = []
    for path in paths:
        if (path / "config.json").is_file() or (path / "sources.json").is_file():
            out.append(path)
        elif path.is_dir():
            out.extend(p.parent for p in sorted(path.glob("*/config.json")))
    return sorted(set(out))


def run_info(run: Path) -> dict[str, Any]:
    """Benchmark, memory, seed(s), finished flag and last update of one run folder."""
    sources = run / "sources.json"  # a combine_runs.py folder: config and seeds of its runs
    combined = json.loads(sources.read_text()) if sources.is_file() else None
    config = combined if combined else json.loads((run / "config.json").read_text())
    cfg = config.get("config", config)
    ppo = cfg.get("ppo", {})
    last_update = None
    metrics = run / "metrics.jsonl"
    if metrics.is_file():
        lines = [ln for ln in metrics.read_text().splitlines() if ln.strip()]
        if lines:
            last_update = json.loads(lines[-1]).get("update")
    total = ppo.get("total_timesteps")
    per_update = ppo.get("num_envs", 0) * ppo.get("num_steps", 0)
    seeds = combined["seeds"] if combined else [cfg.get("seed")]
    return {
        "run": run,
        "benchmark": cfg.get("benchmark"),
        "memory": ppo.get("memory"),
        "seed": ",".join(str(s) for s in seeds),
        "finished": (run / "eval.json").is_file(),
        "last_update": last_update,
        "updates": total // per_update if total and per_update else None,
    }


def rows(runs: Sequence[Path]) -> list[str]:
    """One markdown row per run and split."""
    out = [
        "| benchmark | memory | seed | finished | split | return per trial [95% CI] | "
        "per trial 1..K | gain K-1 [95% CI] | random |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        info = run_info(run)
        head = f"| {info['benchmark']} | {info['memory']} | {info['seed']} |"
        if not info["finished"]:
            reached = f"no (update {info['last_update']} of {info['updates']})"
            out.append(f"{head} {reached} | | | | | |")
            continue
        record = json.loads((run / "eval.json").read_text())
        for split in SPLITS:
            overall = record["splits"][split]["summary"]["overall"]
            per_trial = overall["per_trial"]["mean"]
            random = record["splits"][split].get("random_summary")
            ref = f"{random['overall']['return']['mean']:.2f}" if random else "n/a"
            out.append(
                f"{head} yes | {split} | {_ci(overall['return'])} | "
                f"{', '.join(f'{v:.2f}' for v in per_trial)} | {_ci(overall['gain'])} | {ref} |"
            )
    return out


def combine(runs: Sequence[Path], root: Path) -> list[Path]:
    """Merge the finished seeds of each (benchmark, memory) with examples/combine_runs.py into
    ``root/<benchmark>-<memory>`` (made once; an existing combination is kept)."""
    groups: dict[tuple[str, str], list[Path]] = {}
    for run in runs:
        info = run_info(run)
        if info["finished"] and "," not in info["seed"]:
            groups.setdefault((info["benchmark"], info["memory"]), []).append(run)
    made = []
    for (bench, memory), members in sorted(groups.items()):
        if len(members) < 2:
            continue
        out = root / f"{bench}-{memory}-seeds{''.join(run_info(m)['seed'] for m in members)}"
        if not (out / "eval.json").is_file():
            cmd = [sys.executable, str(EXAMPLES / "combine_runs.py"), *map(str, members)]
            subprocess.run([*cmd, "--out-dir", str(out)], check=True)
        made.append(out)
    return made


def main(argv: Sequence[str] | None = None) -> None:
    """Print the markdown table of the given run folders (and their seed combinations)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="run folders or folders of them")
    parser.add_argument("--combine", action="store_true", help="merge seeds per variant")
    parser.add_argument(
        "--combined-dir",
        type=Path,
        help="where --combine writes (default: <runs' parent>/combined)",
    )
    args = parser.parse_args(argv)
    runs = [r for r in run_folders(args.paths) if not (r / "sources.json").is_file()]
    if args.combine and runs:
        root = args.combined_dir or runs[0].parent / "combined"
        runs += combine(runs, root)
    print("\n".join(rows(runs)))


if __name__ == "__main__":
    main()
