"""Speed of TaskDistribution against VecEnv on the same tasks, measured in the same run.

``pe.TaskDistribution`` is what rejax / purejaxrl-style trainers step: ``jax.vmap(env.step,
in_axes=(0, 0, 0, None))`` with one shared params, the task held in each member's state and a
new one drawn only where a task ended (``core.reset_where``: under ``vmap`` nothing runs on a
step where no member ended, only the finished members when a few did). The baseline is
``pe.VecEnv`` over the same one-env task set (a ``lax.cond`` per group draws the next tasks
where some slot ended). Goal: ratio >= 0.8.

Both are one jitted ``lax.scan`` of ``--steps`` steps with uniform random actions drawn inside,
after a reset; compiled first, then timed in ``--repeats`` interleaved rounds (best time each,
process CPU time by default: robust on a shared machine). Printed: steps per second of each
and ``ratio`` = TaskDistribution / VecEnv; the last line is one JSON object.

Usage: ``python speed/task_distribution_speed.py --benchmark point-nav --num-envs 256``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from host import describe
from vec_env import vec_rollout  # the VecEnv baseline, the same loop as the VecEnv benchmark

import projected_envs as pe

CLOCK = {"cpu": time.process_time, "wall": time.perf_counter}


def distribution_rollout(
    env: pe.TaskDistribution, num_envs: int, steps: int
) -> Callable[[jax.Array], jax.Array]:
    """The same loop as a gymnax trainer runs it: vmap over members, one shared params."""
    params = env.default_params
    action_size = env.action_space(params).shape[0]
    reset = jax.vmap(env.reset, in_axes=(0, None))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def run(key: jax.Array) -> jax.Array:
        key, k_reset = jax.random.split(key)
        _, state = reset(jax.random.split(k_reset, num_envs), params)

        def body(carry, k):
            state, total = carry
            k_act, k_step = jax.random.split(k)
            actions = jax.random.uniform(k_act, (num_envs, action_size), minval=-1)
            keys = jax.random.split(k_step, num_envs)
            obs, state, reward, *_ = step(keys, state, actions, params)
            return (state, total + reward.sum() + obs.sum()), None

        (_, total), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))
        return total

    return jax.jit(run)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", default="point-nav")
    parser.add_argument("--split", default="train")
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clock", choices=sorted(CLOCK), default="cpu")
    args = parser.parse_args(argv)
    clock = CLOCK[args.clock]
    task_set = getattr(pe.benchmark(args.benchmark), args.split)
    fns = {
        "vec_env": vec_rollout(pe.VecEnv(task_set, args.num_envs), args.steps),
        "task_distribution": distribution_rollout(
            pe.TaskDistribution(task_set), args.num_envs, args.steps
        ),
    }
    for fn in fns.values():
        jax.block_until_ready(fn(jax.random.key(0)))
    best = dict.fromkeys(fns, float("inf"))
    rounds = []  # per round: TaskDistribution time / VecEnv time (both timed in that round)
    for r in range(args.repeats):
        times = {}
        for name, fn in fns.items():
            start = clock()
            jax.block_until_ready(fn(jax.random.key(r + 1)))
            times[name] = clock() - start
            best[name] = min(best[name], times[name])
        rounds.append(times["vec_env"] / times["task_distribution"])
    rate = {name: args.num_envs * args.steps / t for name, t in best.items()}
    result = {
        "benchmark": f"{args.benchmark}/{args.split}",
        "num_envs": args.num_envs,
        "steps": args.steps,
        "clock": args.clock,
        "steps_per_second": rate,
        "ratio": rate["task_distribution"] / rate["vec_env"],
        "round_ratios": sorted(rounds),
        "median_round_ratio": float(np.median(rounds)),
        "device": describe(),
    }
    print(f"{result['benchmark']}, {args.num_envs} envs x {args.steps} steps on {describe()}")
    for name, r in rate.items():
        print(f"  {name:18s} {r:12.0f} steps/s")
    print(f"  ratio task_distribution / vec_env: {result['ratio']:.3f} (goal >= 0.8)")
    print(f"  median of per-round ratios: {result['median_round_ratio']:.3f}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    jnp.zeros(())  # initialise the backend before timing
    main()
