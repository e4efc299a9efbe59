"""Regenerate ``projected_envs/data/return_scales.json``: the gamma-aware reward scale per env
of every shipped benchmark.

Method (:mod:`projected_envs.return_scale`, docs/concepts/scaling.md): for each env of a
benchmark, the uniform-random policy runs ``--num-tasks`` training tasks (full task stack,
raw rewards, all K trials of each task); the discounted return-to-go ``G_t`` (the benchmark's
``gamma``, inside the task) is taken at every step and ``scale = 1 / std(G_t)``. An env is
measured on the first split it appears in (train, then ood_test); id_test shares the train
envs' scales. Changing a scale changes the benchmark's fingerprint (tests pin it).

Usage::

    python scripts/compute_return_scales.py                 # every shipped benchmark
    python scripts/compute_return_scales.py classic         # some benchmarks
    python scripts/compute_return_scales.py classic --gamma 0.995

Entries of benchmarks not recomputed are kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from projected_envs.benchmark_registry import benchmark  # noqa: E402
from projected_envs.return_scale import scales_and_rules  # noqa: E402
from projected_envs.shipped_benchmarks import SHIPPED_GAMMA  # noqa: E402

DEFAULT_OUTPUT = ROOT / "projected_envs" / "data" / "return_scales.json"


def compute(
    name: str, gamma: float, num_tasks: int, seed: int
) -> tuple[dict[str, float], list[str]]:
    """Scales of every env of benchmark ``name`` (train envs from train, the rest from ood),
    and the envs scaled by their reward bound (constant random-policy returns)."""
    bench = benchmark(name)
    scales: dict[str, float] = {}
    bound_rule: list[str] = []
    for split in (bench.train, bench.ood_test):
        for env_id in (e for e in split.envs if e not in scales):
            start = time.perf_counter()
            one = dataclasses.replace(
                split,
                envs=(env_id,),
                weights=None,
                env_kwargs=tuple(kv for kv in split.env_kwargs if kv[0] == env_id),
                return_scales=(),
            )
            bounds = {}
            if env_id.startswith("dmc/"):  # DM Control: reward in [0, 1] per physics step
                bounds[env_id] = float(getattr(one.make_env(0).unwrapped, "action_repeat", 1))
            found = scales_and_rules(
                one, gamma, num_tasks=num_tasks, seed=seed, reward_bounds=bounds
            )
            scales[env_id], rule = found[env_id]
            if rule == "reward-bound":
                bound_rule.append(env_id)
            took = time.perf_counter() - start
            print(f"{name}: {env_id} scale {scales[env_id]:.4g} ({took:.0f} s)", flush=True)
    return scales, bound_rule


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks (default: every shipped one)")
    parser.add_argument("--gamma", type=float, help="override the benchmark's design gamma")
    parser.add_argument("--num-tasks", type=int, default=64, help="random-policy tasks per env")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    data = {"benchmarks": {}}
    if args.output.is_file():
        data = json.loads(args.output.read_text())
    data["method"] = {
        "policy": "uniform random actions in [-1, 1]^A (the agent's action space)",
        "return": "discounted return-to-go G_t inside a task (all K trials), raw rewards",
        "scale": "1 / std(G_t) over every step of num_tasks training tasks",
        "scaled_by_reward_bound": "constant random returns: (1 - gamma) / max reward per step",
        "script": "scripts/compute_return_scales.py",
    }
    for name in args.names or sorted(SHIPPED_GAMMA):
        name = benchmark(name).id  # a bare name ("classic") stands for its newest version
        gamma = args.gamma if args.gamma is not None else SHIPPED_GAMMA[name]
        scales, bound_rule = compute(name, gamma, args.num_tasks, args.seed)
        data["benchmarks"][name] = {
            "gamma": gamma,
            "scaled_by_reward_bound": bound_rule,
            "num_tasks": args.num_tasks,
            "seed": args.seed,
            "scales": dict(sorted(scales.items())),
        }
        args.output.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
