"""PPO speed per memory: compile time and env steps/s of a full update (rollout + all epochs).

For each memory (S5, GRU, LSTM by default) at the paper's network sizes (encoder [128, 256],
S5 4 layers x state 256, heads [128, 128]), build ``agents.ppo.make_update`` on one projected
env, then time

* **compile**: ``jax.jit(update).lower(state).compile()`` (tracing + XLA compile), in wall
  seconds and in CPU seconds of the process (steadier than wall time on a shared machine);
* **update**: one jitted update = rollout of ``num_envs x num_steps`` env steps + GAE +
  ``update_epochs x num_minibatches`` gradient steps; median of ``--repeats`` runs, and the
  throughput ``num_envs * num_steps / update seconds`` in env steps per second; also the
  CPU seconds of the process per update (all threads), a measure of work that a shared
  machine's load disturbs less than wall time.

The paper's setting is 64 envs x 1024 steps, 30 epochs, 8 minibatches (the defaults); shrink
it on a CPU with ``--num-envs``, ``--num-steps`` and ``--update-epochs``.

The last printed line is one JSON object with, besides the per-memory numbers,

* ``s5_vs_gru_compile``: S5 compile CPU seconds / GRU compile CPU seconds (goal <= 2 on
  CPU; ``s5_vs_gru_compile_wall`` is the same ratio of wall seconds);
* ``s5_vs_gru_update_time``: S5 update seconds / GRU update seconds (``_update_cpu``: the
  same with CPU seconds);
* ``s5_vs_gru_throughput``: S5 env steps/s / GRU env steps/s (> 1: S5 is faster).

A memory may name S5's scan schedule, ``s5:sequential``, ``s5:doubling``, ``s5:associative``
(plain ``s5`` runs ``scan="auto"``, the schedule chosen for the backend). The timed updates of
all memories are interleaved (repeat 1 of every memory, then repeat 2, ...), so a change of the
machine's load hits them alike; ``s5_vs_gru_throughput_per_repeat`` lists the ratio of each
repeat and ``s5_vs_gru_throughput_min`` is its lower bound over the repeats.

``--preset cpu`` takes the PPO shapes, the agent and the benchmark (its ``train`` split) from
the main job's preset instead of the paper's sizes (the flags for sizes then are ignored).

Usage::

    python speed/agent_speed.py                       # paper sizes (use a GPU)
    python speed/agent_speed.py --num-envs 16 --num-steps 128 --update-epochs 2
    python speed/agent_speed.py --preset cpu --memories s5,gru,s5:doubling --repeats 5
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
from host import describe

from agents.ppo import PPOConfig, make_init, make_update
from agents.s5 import resolve_scan
from projected_envs.benchmark_registry import benchmark
from projected_envs.tasks import TaskSet


def parse_args() -> argparse.Namespace:
    """Command-line flags (sizes of the PPO update and what to compare)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--memories", default="s5,gru,lstm", help="comma-separated memory kinds")
    p.add_argument("--num-envs", type=int, default=64, help="parallel envs (paper: 64)")
    p.add_argument("--num-steps", type=int, default=1024, help="rollout length (paper: 1024)")
    p.add_argument("--update-epochs", type=int, default=30, help="epochs per update (paper: 30)")
    p.add_argument("--num-minibatches", type=int, default=8, help="minibatches (paper: 8)")
    p.add_argument("--repeats", type=int, default=3, help="timed updates per memory (median)")
    p.add_argument("--env", default="gymnax/Pendulum-v1", help="registered env id")
    p.add_argument("--obs-dim", type=int, default=12, help="projected observation size O")
    p.add_argument("--action-dim", type=int, default=2, help="projected action size A")
    p.add_argument("--preset", default=None, help="take sizes, agent and env from this preset")
    return p.parse_args()


def base_config(args: argparse.Namespace) -> tuple[PPOConfig, TaskSet]:
    """The PPO config every memory shares, and the task set it trains on."""
    if args.preset is not None:
        from agents.experiment.configs import PRESETS  # the main job's presets

        train = PRESETS[args.preset]
        return train.ppo, benchmark(train.benchmark).train
    config = PPOConfig(
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        total_timesteps=args.num_envs * args.num_steps,
        update_epochs=args.update_epochs,
        num_minibatches=args.num_minibatches,
    )
    task_set = TaskSet(
        envs=(args.env,),
        obs_dim=args.obs_dim,
        action_dim=args.action_dim,
        normalize=False,
        name="agent_speed",
    )
    return config, task_set


def compile_memory(
    spec: str, base: PPOConfig, task_set: TaskSet
) -> tuple[Callable, Any, dict[str, float]]:
    """One memory's compiled update, its initial state and its compile times.

    ``spec`` is a memory kind, or ``s5:<scan>`` for S5 with a named scan schedule.
    """
    memory, _, scan = spec.partition(":")
    config = dataclasses.replace(base, memory=memory, s5_scan=scan or base.s5_scan)
    state = jax.jit(make_init(config, task_set))(jax.random.key(0))
    jax.block_until_ready(state)
    wall, cpu = time.perf_counter(), time.process_time()
    update = jax.jit(make_update(config, task_set)).lower(state).compile()
    times = {"compile_s": time.perf_counter() - wall, "compile_cpu_s": time.process_time() - cpu}
    return update, state, times


def time_update(update: Callable, state: Any) -> tuple[Any, float, float]:
    """Run one update; (new state, wall seconds, CPU seconds of the process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    state, metrics = update(state)
    jax.block_until_ready((state, metrics))
    return state, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    args = parse_args()
    specs = [m.strip() for m in args.memories.split(",") if m.strip()]
    base, task_set = base_config(args)
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    print(
        f"{base.num_envs} envs x {base.num_steps} steps, {base.update_epochs} epochs x "
        f"{base.num_minibatches} minibatches, {task_set.name}"
        + (f" (preset {args.preset})" if args.preset else "")
    )
    compiled = {spec: compile_memory(spec, base, task_set) for spec in specs}
    states = {spec: c[1] for spec, c in compiled.items()}
    walls: dict[str, list[float]] = {spec: [] for spec in specs}
    cpus: dict[str, list[float]] = {spec: [] for spec in specs}
    for spec in specs:  # one untimed update each: the first call may still allocate
        states[spec] = time_update(compiled[spec][0], states[spec])[0]
    for _ in range(args.repeats):  # interleaved: repeat r of every memory, then r + 1
        for spec in specs:
            states[spec], wall, cpu = time_update(compiled[spec][0], states[spec])
            walls[spec].append(wall)
            cpus[spec].append(cpu)
    results = {}
    header = ("compile s", "compile CPU s", "update s", "update CPU s", "env steps/s")
    print(f"{'memory':16s}" + "".join(f" {h:>13s}" for h in header))
    for spec in specs:
        update_s = statistics.median(walls[spec])
        r = {
            **compiled[spec][2],
            "update_s": update_s,
            "update_cpu_s": statistics.median(cpus[spec]),
            "steps_per_s": base.steps_per_update / update_s,
        }
        results[spec] = r
        row = (r["compile_s"], r["compile_cpu_s"], r["update_s"], r["update_cpu_s"])
        cells = "".join(f" {v:13.2f}" for v in row) + f" {r['steps_per_s']:13.0f}"
        print(f"{spec:16s}{cells}", flush=True)
    summary: dict[str, object] = {
        "machine": describe(),
        "load_average": os.getloadavg()[0],
        "preset": args.preset,
        "num_envs": base.num_envs,
        "num_steps": base.num_steps,
        "update_epochs": base.update_epochs,
        "num_minibatches": base.num_minibatches,
        "env": task_set.name,
        "repeats": args.repeats,
        **{f"{m}_{k}": round(v, 4) for m, r in results.items() for k, v in r.items()},
    }
    if "s5" in results and "gru" in results:
        s5, gru = results["s5"], results["gru"]
        per_repeat = [g / s for s, g in zip(walls["s5"], walls["gru"])]
        summary["s5_scan"] = resolve_scan(base.s5_scan)
        summary["s5_vs_gru_compile"] = round(s5["compile_cpu_s"] / gru["compile_cpu_s"], 3)
        summary["s5_vs_gru_compile_wall"] = round(s5["compile_s"] / gru["compile_s"], 3)
        summary["s5_vs_gru_update_time"] = round(s5["update_s"] / gru["update_s"], 3)
        summary["s5_vs_gru_update_cpu"] = round(s5["update_cpu_s"] / gru["update_cpu_s"], 3)
        summary["s5_vs_gru_throughput"] = round(s5["steps_per_s"] / gru["steps_per_s"], 3)
        summary["s5_vs_gru_throughput_per_repeat"] = [round(x, 3) for x in per_repeat]
        summary["s5_vs_gru_throughput_min"] = round(min(per_repeat), 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
