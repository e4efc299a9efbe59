"""Env steps/s of a benchmark's full task stack in a VecEnv at large batch sizes.

For each ``--num-envs`` N: a :class:`~projected_envs.vec.VecEnv` of the benchmark's train split
(every env's full stack: Normalize, projections, MetaEpisode; auto-reset and task resampling
included) runs one jitted ``lax.scan`` of ``--steps`` steps with uniform random actions drawn
inside, from a reset. The rollout is compiled once (compile seconds reported), then timed
``--repeats`` times (wall clock, best kept): ``steps_per_s = N * steps / seconds``. The lean
counterpart of ``speed/vec_env.py``, which also times baselines (more compiles), for the
GPU check's short window.

Usage::

    python speed/stack_throughput.py --benchmark classic --num-envs 4096,16384

After each size, one JSON line ``{"benchmark", "device", "results": [...]}`` of the sizes done
so far (the last line is the whole result, or what finished before a time limit).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
from vec_env import vec_rollout  # the same random-action rollout as the VecEnv benchmark

from projected_envs.benchmark_registry import benchmark
from projected_envs.vec import VecEnv


def measure(bench: str, num_envs: int, steps: int, repeats: int) -> dict[str, float]:
    """Compile seconds and best-of-``repeats`` env steps/s of one batch size."""
    venv = VecEnv(benchmark(bench).train, num_envs)
    t0 = time.perf_counter()
    run = vec_rollout(venv, steps).lower(jax.random.PRNGKey(0)).compile()
    compile_s = time.perf_counter() - t0
    best = float("inf")
    for r in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(run(jax.random.PRNGKey(r + 1)))
        best = min(best, time.perf_counter() - t0)
    n = venv.num_envs
    return {"num_envs": n, "steps": steps, "compile_s": compile_s, "steps_per_s": n * steps / best}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--benchmark", default="classic")
    p.add_argument("--num-envs", default="4096,16384", help="comma-separated batch sizes")
    p.add_argument("--steps", type=int, default=200, help="steps per timed rollout")
    p.add_argument("--repeats", type=int, default=3, help="timed rollouts (best kept)")
    args = p.parse_args(argv)
    device = jax.devices()[0]
    results: list[dict[str, float]] = []
    summary = {"benchmark": args.benchmark, "device": device.device_kind, "results": results}
    for n in (int(x) for x in args.num_envs.split(",") if x.strip()):
        r = measure(args.benchmark, n, args.steps, args.repeats)
        results.append(r)
        print(
            f"{args.benchmark} N={r['num_envs']}: compile {r['compile_s']:.1f} s, "
            f"{r['steps_per_s']:,.0f} env steps/s",
            flush=True,
        )
        print(json.dumps(summary), flush=True)  # so far: a time limit keeps what finished


if __name__ == "__main__":
    main()
