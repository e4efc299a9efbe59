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

Usage::

    python speed/agent_speed.py                       # paper sizes (use a GPU)
    python speed/agent_speed.py --num-envs 16 --num-steps 128 --update-epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import jax
from host import describe

from agents.ppo import PPOConfig, make_init, make_update
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
    return p.parse_args()


def time_memory(memory: str, args: argparse.Namespace, task_set: TaskSet) -> dict[str, float]:
    """Compile seconds, median update seconds and env steps/s of one memory's PPO update."""
    config = PPOConfig(
        memory=memory,
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        total_timesteps=args.num_envs * args.num_steps,
        update_epochs=args.update_epochs,
        num_minibatches=args.num_minibatches,
    )
    state = jax.jit(make_init(config, task_set))(jax.random.key(0))
    jax.block_until_ready(state)
    wall, cpu = time.perf_counter(), time.process_time()
    update = jax.jit(make_update(config, task_set)).lower(state).compile()
    compile_s, compile_cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    times, cpu_times = [], []
    for _ in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        state, metrics = update(state)
        jax.block_until_ready((state, metrics))
        times.append(time.perf_counter() - wall)
        cpu_times.append(time.process_time() - cpu)
    update_s = statistics.median(times)
    return {
        "compile_s": compile_s,
        "compile_cpu_s": compile_cpu_s,
        "update_s": update_s,
        "update_cpu_s": statistics.median(cpu_times),
        "steps_per_s": config.steps_per_update / update_s,
    }


def main() -> None:
    args = parse_args()
    memories = [m.strip() for m in args.memories.split(",") if m.strip()]
    task_set = TaskSet(
        envs=(args.env,),
        obs_dim=args.obs_dim,
        action_dim=args.action_dim,
        normalize=False,
        name="agent_speed",
    )
    results = {}
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    print(
        f"{args.num_envs} envs x {args.num_steps} steps, {args.update_epochs} epochs x "
        f"{args.num_minibatches} minibatches, env {args.env}"
    )
    header = ("compile s", "compile CPU s", "update s", "update CPU s", "env steps/s")
    print(f"{'memory':8s}" + "".join(f" {h:>13s}" for h in header))
    for memory in memories:
        r = time_memory(memory, args, task_set)
        results[memory] = r
        row = (r["compile_s"], r["compile_cpu_s"], r["update_s"], r["update_cpu_s"])
        cells = "".join(f" {v:13.2f}" for v in row) + f" {r['steps_per_s']:13.0f}"
        print(f"{memory:8s}{cells}", flush=True)
    summary: dict[str, object] = {
        "machine": describe(),
        "load_average": os.getloadavg()[0],
        "num_envs": args.num_envs,
        "num_steps": args.num_steps,
        "update_epochs": args.update_epochs,
        "num_minibatches": args.num_minibatches,
        "env": args.env,
        **{f"{m}_{k}": round(v, 4) for m, r in results.items() for k, v in r.items()},
    }
    if "s5" in results and "gru" in results:
        s5, gru = results["s5"], results["gru"]
        summary["s5_vs_gru_compile"] = round(s5["compile_cpu_s"] / gru["compile_cpu_s"], 3)
        summary["s5_vs_gru_compile_wall"] = round(s5["compile_s"] / gru["compile_s"], 3)
        summary["s5_vs_gru_update_time"] = round(s5["update_s"] / gru["update_s"], 3)
        summary["s5_vs_gru_update_cpu"] = round(s5["update_cpu_s"] / gru["update_cpu_s"], 3)
        summary["s5_vs_gru_throughput"] = round(s5["steps_per_s"] / gru["steps_per_s"], 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
