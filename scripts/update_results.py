"""Write the published results, docs/results.json, from finished run folders, and render them.

One results file holds the current numbers; the results page (docs/results.md) and the README's
headline sentence are generated from it, between ``<!-- results:begin -->`` and
``<!-- results:end -->`` markers, and ``tests/test_docs.py`` checks that they match it.

Usage (run folders of the main job, one per memory; a combined multi-seed folder of
``examples/combine_runs.py`` or a ``--num-seeds`` run is read the same way)::

    python scripts/update_results.py runs/cpu-s5 runs/cpu-gru runs/cpu-none \\
        --command "python examples/meta_train.py --seed S --memory M ..." \\
        --machine "2-core Intel Xeon (KVM), JAX 0.10.2 CPU backend"
    python scripts/update_results.py --render     # re-render the pages from docs/results.json

Each run folder gives its ``config.json`` (or ``sources.json`` of a combined folder),
``eval.json``, ``extrapolation_eval.json`` if present, and the wall seconds of the run from
``profile.json`` (else the last ``wall_time`` of ``metrics.jsonl``); a combined folder takes them
from each source run. ``--commit`` defaults to ``git rev-parse --short HEAD``, ``--date`` to
today, ``--machine`` to this machine's CPU model and JAX backend. The file is overwritten, never
appended to: history belongs in the lab notebook (docs/notebook/).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results.json"
PAGE = ROOT / "docs" / "results.md"
README = ROOT / "README.md"
SPLITS = ("train", "id_test", "ood_test")
MEMORY_NAMES = {"s5": "S5", "gru": "GRU", "lstm": "LSTM", "none": "memoryless"}
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
MINUS = "\N{MINUS SIGN}"  # typeset negative numbers and differences


# ---------------------------------------------------------------------------------------------
# Reading run folders
# ---------------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def _run_config(run: Path) -> tuple[dict[str, Any], str | None, list[Path]]:
    """(TrainConfig as a dict, preset or None, the single-seed runs behind ``run``)."""
    if (run / "config.json").is_file():
        record = _read_json(run / "config.json")
        return record["config"], record.get("preset"), [run]
    if (run / "sources.json").is_file():  # a folder written by examples/combine_runs.py
        sources = _read_json(run / "sources.json")
        runs = [Path(r) for r in sources["runs"]]
        preset = None
        if runs and (runs[0] / "config.json").is_file():
            preset = _read_json(runs[0] / "config.json").get("preset")
        return sources["config"], preset, runs
    raise FileNotFoundError(f"{run} is not a run folder (no config.json or sources.json)")


def _wall_seconds(run: Path) -> float | None:
    """Wall seconds of one run: profile.json's total, else metrics.jsonl's last wall_time."""
    if (run / "profile.json").is_file():
        return float(_read_json(run / "profile.json")["total"])
    metrics = run / "metrics.jsonl"
    if metrics.is_file():
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        if rows and rows[-1].get("wall_time") is not None:
            return float(rows[-1]["wall_time"])
    return None


def _ci(mean: float, ci: Sequence[float]) -> list[float]:
    return [float(mean), float(ci[0]), float(ci[1])]


def _split_numbers(split: Mapping[str, Any]) -> dict[str, Any]:
    """Return, IQM, per-trial means, gain and the random reference of one split of eval.json."""
    overall = split["summary"]["overall"]
    random = (split.get("random_summary") or {}).get("overall")
    return {
        "return": _ci(overall["return"]["mean"], overall["return"]["mean_ci"]),
        "iqm": float(overall["return"]["iqm"]),
        "per_trial": [float(x) for x in overall["per_trial"]["mean"]],
        "gain": _ci(overall["gain"]["mean"], overall["gain"]["mean_ci"]),
        "random": None if random is None else float(random["return"]["mean"]),
        "random_gain": None if random is None else float(random["gain"]["mean"]),
    }


def read_run(run: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(memory, numbers of this memory, facts shared by all runs)`` of one run folder."""
    run = Path(run)
    config, preset, sources = _run_config(run)
    record = _read_json(run / "eval.json")
    splits = {s: _split_numbers(record["splits"][s]) for s in SPLITS if s in record["splits"]}
    seeds = list(record.get("seeds", [config.get("seed", 0)]))
    per_seed: dict[str, list[dict[str, Any]]] = {}
    for s in splits:
        rows = record.get("per_seed", {}).get(s)
        if rows is None:  # one seed: its numbers are the split's
            rows = [
                {
                    "seed": seeds[0],
                    "mean": splits[s]["return"][0],
                    "mean_ci": splits[s]["return"][1:],
                    "gain": splits[s]["gain"][0],
                    "gain_ci": splits[s]["gain"][1:],
                    "random_mean": splits[s]["random"],
                }
            ]
        per_seed[s] = [
            {
                "seed": r["seed"],
                "return": _ci(r["mean"], r["mean_ci"]),
                "gain": _ci(r["gain"], r["gain_ci"]),
                "random": r["random_mean"],
            }
            for r in rows
        ]
    numbers: dict[str, Any] = {"splits": splits, "per_seed": per_seed}
    extrapolation = run / "extrapolation_eval.json"
    if extrapolation.is_file():
        ext = _read_json(extrapolation)
        numbers["extrapolation"] = {
            "num_trials": ext["splits"]["id_test"]["num_trials"],
            "id_test": {
                k: _split_numbers(ext["splits"]["id_test"])[k] for k in ("per_trial", "gain")
            },
        }
    walls = [_wall_seconds(r) for r in sources]  # one per run folder (a seed, or all its seeds)
    numbers["wall_seconds_per_run"] = None if None in walls else walls
    first = record["splits"]["id_test"]["summary"]
    facts = {
        "benchmark": record["benchmark"],
        "preset": preset,
        "env_steps_per_seed": record["env_steps"],
        "seeds": seeds,
        "eval_tasks_per_seed": first["num_tasks"] // len(seeds),
        "num_trials": first["num_trials"],
    }
    return config["ppo"]["memory"], numbers, facts


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import jax  # only here: rendering needs no JAX

    return f"{os.cpu_count()}-core {cpu}, JAX {jax.__version__} {jax.default_backend()} backend"


def _commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def collect(
    runs: Sequence[Path], command: str, commit: str, machine: str, date: str
) -> dict[str, Any]:
    """The results record of ``runs`` (one per memory, the same benchmark and budget)."""
    memories: dict[str, Any] = {}
    facts: dict[str, Any] | None = None
    for run in runs:
        memory, numbers, run_facts = read_run(run)
        if memory in memories:
            raise ValueError(f"two runs of memory {memory!r}; give one folder per memory")
        if facts is not None and run_facts != facts:
            raise ValueError(f"{run} differs from the first run in {run_facts} vs {facts}")
        facts = run_facts
        memories[memory] = numbers
    if facts is None:
        raise ValueError("no run folders given")
    order = sorted(memories, key=lambda m: list(MEMORY_NAMES).index(m) if m in MEMORY_NAMES else 9)
    return {
        "command": command,
        "commit": commit,
        "machine": machine,
        "date": date,
        **facts,
        "memories": {m: memories[m] for m in order},
    }


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}".replace("-", MINUS)


def _fci(v: Sequence[float]) -> str:
    return f"{_f(v[0])} [{_f(v[1])}, {_f(v[2])}]"


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {round(seconds % 60)} s"


def _name(memory: str) -> str:
    return MEMORY_NAMES.get(memory, memory)


def headline(results: Mapping[str, Any], link: str = "docs/results.md") -> str:
    """The README's one-sentence result: S5's in-context gain on id_test, with a link."""
    mem = results["memories"]
    if "s5" not in mem:
        raise ValueError("the headline is S5's result: pass an S5 run folder")
    s5 = mem["s5"]["splits"]["id_test"]
    others = [
        f"{_f(v['splits']['id_test']['return'][0])} for "
        + ("the memoryless agent" if m == "none" else _name(m))
        for m, v in mem.items()
        if m != "s5"
    ]
    return (
        f"On unseen action projections of `{results['benchmark']}` (`id_test`), the S5 agent's "
        f"return rises from {_f(s5['per_trial'][0])} in a task's first trial to "
        f"{_f(s5['per_trial'][-1])} in its last: an in-context gain of {_fci(s5['gain'])} "
        f"(95% CI, {len(results['seeds'])} seeds), with a return per trial of "
        f"{_fci(s5['return'])} against "
        + "".join(f"{o}, " for o in others)
        + ("and " if others else "")
        + f"{_f(s5['random'])} for a random policy ([results]({link}))."
    )


def _wrap(text: str, width: int = 96) -> str:
    words, lines, line = text.split(" "), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}" if line else w
    return "\n".join([*lines, line])


def page_block(results: Mapping[str, Any]) -> str:
    """The generated part of docs/results.md."""
    r = results
    lines = [
        f"**Benchmark** `{r['benchmark']}`, preset `{r['preset']}`, "
        f"{r['env_steps_per_seed']:,} env steps per seed, seeds {r['seeds']}; final evaluation "
        f"on {r['eval_tasks_per_seed']} unseen tasks per seed and split, {r['num_trials']} "
        "trials per task, sampled actions.",
        "",
        f"**Date** {r['date']} · **commit** `{r['commit']}` · **machine** {r['machine']}",
        "",
        "```bash",
        r["command"],
        "```",
        "",
        "Return per trial in the benchmark's scaled units, mean [95% stratified-bootstrap CI] "
        f"over seeds x tasks; gain = last trial {MINUS} first trial; random = the uniform-random "
        "policy on the same tasks.",
        "",
        "| memory | split | return [95% CI] | IQM | random | per trial | gain [95% CI] |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m, numbers in r["memories"].items():
        for s, v in numbers["splits"].items():
            trials = " / ".join(_f(x) for x in v["per_trial"])
            lines.append(
                f"| {_name(m)} | `{s}` | {_fci(v['return'])} | {_f(v['iqm'])} | "
                f"{_f(v['random'])} | {trials} | {_fci(v['gain'])} |"
            )
    lines += [
        "",
        "Per seed, on `id_test`:",
        "",
        "| memory | seed | return [95% CI] | gain [95% CI] |",
    ]
    lines.append("| --- | --- | --- | --- |")
    for m, numbers in r["memories"].items():
        for row in numbers["per_seed"].get("id_test", []):
            lines.append(
                f"| {_name(m)} | {row['seed']} | {_fci(row['return'])} | {_fci(row['gain'])} |"
            )
    ext = {m: n["extrapolation"] for m, n in r["memories"].items() if "extrapolation" in n}
    if ext:
        k = next(iter(ext.values()))["num_trials"]
        lines += [
            "",
            f"Past the training horizon: {k} trials per task on `id_test` (trained on "
            f"{r['num_trials']}):",
            "",
            f"| memory | per trial, trials 1-{k} | gain, trial {k} {MINUS} trial 1 [95% CI] |",
            "| --- | --- | --- |",
        ]
        for m, e in ext.items():
            trials = " / ".join(_f(x) for x in e["id_test"]["per_trial"])
            lines.append(f"| {_name(m)} | {trials} | {_fci(e['id_test']['gain'])} |")
    walls = {m: n["wall_seconds_per_run"] for m, n in r["memories"].items()}
    if any(walls.values()):
        lines += [
            "",
            "Wall time per run folder, whole command (compilation, training, evaluations; a "
            "`--num-seeds` run counts all its seeds):",
            "",
        ]
        for m, w in walls.items():
            if w:
                lines.append(f"- {_name(m)}: " + ", ".join(_minutes(x) for x in w))
    kept = {m: e["provenance"] for m, e in results["memories"].items() if "provenance" in e}
    if kept:  # rows carried over from an earlier measurement (hand-added to the file)
        lines += ["", "Rows measured at another commit than the one above:", ""]
        for m, p in kept.items():
            lines.append(
                f"- {_name(m)}: commit `{p['commit']}`, {p['date']}, {p['machine']}; {p['note']}."
            )
    return "\n".join(lines)


def replace_block(text: str, block: str, path: Path) -> str:
    """``text`` with the part between the results markers replaced by ``block``."""
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), flags=re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {BEGIN} ... {END} block")
    return pattern.sub(lambda _: f"{BEGIN}\n{block}\n{END}", text, count=1)


def render(results: Mapping[str, Any]) -> dict[Path, str]:
    """The new text of every generated file: the results page and the README."""
    return {
        PAGE: replace_block(PAGE.read_text(), page_block(results), PAGE),
        README: replace_block(README.read_text(), _wrap(headline(results)), README),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, help="finished run folders, one per memory")
    parser.add_argument("--render", action="store_true", help="only re-render docs/results.json")
    parser.add_argument("--command", default="python examples/meta_train.py", help="what ran")
    parser.add_argument("--commit", default=None, help="default: git rev-parse --short HEAD")
    parser.add_argument("--machine", default=None, help="default: this machine")
    parser.add_argument("--date", default=None, help="default: today (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    if args.render == bool(args.runs):
        parser.error("give run folders, or --render alone")
    if args.runs:
        results = collect(
            args.runs,
            command=args.command,
            commit=args.commit or _commit(),
            machine=args.machine or _machine(),
            date=args.date or datetime.date.today().isoformat(),
        )
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {RESULTS}")
    results = _read_json(RESULTS)
    for path, text in render(results).items():
        path.write_text(text)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
