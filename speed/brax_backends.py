"""The measurement behind ``projected_envs.backends.brax.DEFAULT_BACKEND``: brax pipelines on CPU.

For each env and each brax physics pipeline (``generalized``, ``positional``, ``spring``,
``mjx``), through ``projected_envs.make(env_id, backend=...)``: a batch of ``--batch`` envs runs
one jitted ``lax.scan`` of ``--steps`` steps with uniform random actions (auto-reset on). It
reports

* ``compile_s``: wall time of the first call (trace + compile + one run);
* ``steps_per_s``: env steps per second, median of ``--repeats`` timed calls;
* ``nonfinite``: fraction of steps whose observation or reward is not finite (a physics
  blow-up), which a default must keep at 0;
* ``ratio``: steps/s over the ``spring`` pipeline's, measured in this process.

Usage::

    python speed/brax_backends.py                      # hopper, ant, inverted_pendulum
    python speed/brax_backends.py --envs brax/walker2d --backends spring,generalized

The last printed line is one JSON object with every row.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
from env_throughput import random_action_rollout

from projected_envs.registry import make

BACKENDS = ("generalized", "positional", "spring", "mjx")
DEFAULT_ENVS = ("brax/inverted_pendulum", "brax/hopper", "brax/ant")


def rollout(env_id: str, backend: str, batch: int, steps: int):
    """Jitted ``key -> (number of non-finite steps, reward sum)`` of one env and pipeline."""
    env, params = make(env_id, backend=backend)

    def summarize(obs: jax.Array, reward: jax.Array) -> tuple[jax.Array, jax.Array]:
        finite = jnp.isfinite(obs).all(-1) & jnp.isfinite(reward)
        return jnp.sum(~finite), jnp.sum(jnp.where(finite, reward, 0.0))

    init = (jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float32))
    return random_action_rollout(env, params, batch, steps, summarize, init)


def measure(env_id: str, backend: str, batch: int, steps: int, repeats: int) -> dict:
    fn = rollout(env_id, backend, batch, steps)
    start = time.perf_counter()
    bad, _ = jax.block_until_ready(fn(jax.random.key(0)))
    compile_s = time.perf_counter() - start
    times, bads = [], [int(bad)]
    for r in range(repeats):
        start = time.perf_counter()
        bad, _ = jax.block_until_ready(fn(jax.random.key(r + 1)))
        times.append(time.perf_counter() - start)
        bads.append(int(bad))
    return {
        "env": env_id,
        "backend": backend,
        "compile_s": compile_s,
        "steps_per_s": batch * steps / statistics.median(times),
        "nonfinite": sum(bads) / (batch * steps * (repeats + 1)),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", default=",".join(DEFAULT_ENVS), help="comma-separated ids")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated")
    parser.add_argument("--batch", type=int, default=64, help="envs per batch (vmap)")
    parser.add_argument("--steps", type=int, default=200, help="steps per scan")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls")
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    device = f"{jax.devices()[0].platform}, {os.cpu_count()} CPU cores"
    print(f"batch {args.batch} x {args.steps}-step scan, median of {args.repeats}; {device}")
    header = (
        f"| {'env':<24} | {'backend':<11} | {'compile s':>9} | {'steps/s':>9} "
        f"| {'vs spring':>9} | {'non-finite':>10} |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    rows = []
    for env_id in args.envs.split(","):
        env_rows = [measure(env_id, b, args.batch, args.steps, args.repeats) for b in backends]
        ref = {r["backend"]: r["steps_per_s"] for r in env_rows}.get("spring")
        for r in env_rows:
            r["ratio"] = r["steps_per_s"] / ref if ref else float("nan")
            print(
                f"| {env_id:<24} | {r['backend']:<11} | {r['compile_s']:>9.1f} "
                f"| {r['steps_per_s']:>9,.0f} | {r['ratio']:>9.2f} | {r['nonfinite']:>10.4f} |",
                flush=True,
            )
        rows += env_rows
    print(json.dumps({"brax_backends": rows, "device": device}))
    return rows


if __name__ == "__main__":
    main()
