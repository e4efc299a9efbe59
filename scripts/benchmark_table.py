"""The shipped benchmarks as markdown tables, generated from ``pe.benchmarks()``.

The benchmarks reference page (docs/reference/benchmarks.md) and the README hold these tables
between ``<!-- benchmarks:begin -->`` and ``<!-- benchmarks:end -->``; ``tests/test_docs.py``
fails when they drift from the definitions. After changing or adding a benchmark::

    python scripts/benchmark_table.py --write     # rewrite both tables
    python scripts/benchmark_table.py             # print them
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import projected_envs as pe
from projected_envs.benchmark_registry import benchmark_aliases
from projected_envs.shipped_benchmarks import SHIPPED_GAMMA  # keyed by id, one per version

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reference" / "benchmarks.md"
README = ROOT / "README.md"
BEGIN, END = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"


def shipped(newest_only: bool = False) -> list[str]:
    """Ids of the shipped benchmarks in ``pe.benchmarks()`` (not ones registered at runtime)."""
    newest = set(benchmark_aliases().values())
    return [b for b in pe.benchmarks() if b in SHIPPED_GAMMA and (b in newest or not newest_only)]


def _short(env_id: str) -> str:
    return env_id.split("/", 1)[1]


def _value(v: object) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(_value(x) for x in v) + ")"
    if isinstance(v, float):
        for name, x in (("π", math.pi), ("2π", 2 * math.pi)):
            if math.isclose(v, x):
                return name
        return f"{v:g}"
    return str(v)


def held_out(bench: pe.Benchmark) -> str:
    """What ``ood_test`` holds out from ``train``: envs, projection families, env options."""
    train, ood = bench.train, bench.ood_test
    parts = []
    new_envs = [e for e in ood.envs if e not in train.envs]
    if new_envs:
        parts.append("envs " + ", ".join(f"`{e}`" for e in new_envs))
    for what, a, b in (("obs", train.obs_family, ood.obs_family),
                       ("action", train.action_family, ood.action_family)):  # fmt: skip
        if a != b:
            parts.append(f"{what} family `{b}`")
    train_kwargs = {e: dict(kw) for e, kw in train.env_kwargs}
    for env, kw in ood.env_kwargs:
        if env in train.envs:
            changed = {k: v for k, v in kw if train_kwargs.get(env, {}).get(k) != v}
            if changed:
                opts = ", ".join(f"`{k}={_value(v)}`" for k, v in changed.items())
                parts.append(f"`{_short(env)}` with {opts}")
    return "; ".join(parts)


def reference_table() -> str:
    """Every shipped benchmark with its sizes, trials and held-out part."""
    rows = [
        "| id | train envs | `ood_test` holds out | O | A | obs size | K | steps per task "
        "| projections (obs / action) | \N{GREEK SMALL LETTER GAMMA} |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for name in shipped():
        b = pe.benchmark(name)
        t = b.train
        rows.append(
            f"| `{b.id}` | {', '.join(f'`{e}`' for e in t.envs)} | {held_out(b)} | {t.obs_dim} "
            f"| {t.action_dim} | {t.obs_size} | {t.num_trials} | {t.max_steps_in_episode} "
            f"| {t.obs_family} / {t.action_family} | {b.gamma} |"
        )
    return "\n".join(rows)


def readme_table() -> str:
    """Name, envs and what ``ood_test`` holds out, in lines of at most 100 characters."""
    rows = ["| benchmark | train envs | `ood_test` holds out |", "| --- | --- | --- |"]
    for name in shipped(newest_only=True):
        b = pe.benchmark(name)
        envs = b.train.envs
        suites = sorted({e.split("/")[0] for e in envs})
        train = (
            ", ".join(_short(e) for e in envs)
            if len(envs) <= 2
            else f"{len(envs)} {'/'.join(suites)} envs"
        )
        new_envs = [e for e in b.ood_test.envs if e not in envs]
        if len(new_envs) > 2:
            suites = "/".join(sorted({e.split("/")[0] for e in new_envs}))
            out = f"{len(new_envs)} other {suites} envs"
        else:
            out = held_out(b)
        rows.append(f"| `{b.name}` | {train} | {out} |")
    return "\n".join(rows)


def replace_block(text: str, block: str) -> str:
    """``text`` with the part between the benchmark markers replaced by ``block``."""
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), flags=re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no {BEGIN} ... {END} block")
    return pattern.sub(lambda _: f"{BEGIN}\n{block}\n{END}", text, count=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the page and the README")
    args = parser.parse_args()
    if not args.write:
        print(reference_table(), readme_table(), sep="\n\n")
        return
    for path, table in ((PAGE, reference_table()), (README, readme_table())):
        path.write_text(replace_block(path.read_text(), table))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
