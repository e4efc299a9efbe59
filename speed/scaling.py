"""Env steps/s of a full PPO update vs number of devices (data parallel, ``jax.sharding``).

For each device count ``n`` (``--devices``, default 1, 2, 4 where present), the PPO update of
:mod:`agents.ppo` runs on a mesh of the first ``n`` devices with the env slots split over them
and params replicated (:mod:`agents.sharding`, the layout of the main job), at
``--envs-per-device`` slots per device (weak scaling: each device keeps the same work, so
linear scaling means ``n`` times the 1-device steps/s). Each update (rollout + GAE + all
epochs) is compiled once (not timed) and timed ``--repeats`` times; the median is kept.
Printed per ``n``: compile s, update s, env steps/s, and ``vs_linear`` = steps/s(n) /
(n * steps/s(1)), 1.0 being perfect scaling.

On a CPU-only machine ``--cpu-devices N`` forces ``N`` host devices (it must be set before
JAX starts, so this script sets ``XLA_FLAGS`` itself); they share the machine's cores, so
expect ``vs_linear`` far below 1 there: the CPU run checks the code path, a GPU host measures.

Usage::

    python speed/scaling.py                                  # the devices present
    python speed/scaling.py --cpu-devices 4 --envs-per-device 8 --num-steps 32 \\
        --update-epochs 1 --memory gru                            # a quick CPU check

The last printed line is one JSON object ``{"scaling": [{"devices": n, ...}, ...], ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags: device counts and the PPO sizes."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--devices", default="1,2,4", help="device counts (those present are run)")
    p.add_argument("--cpu-devices", type=int, default=0, help="force N host CPU devices")
    p.add_argument("--benchmark", default="classic", help="benchmark whose train split runs")
    p.add_argument("--memory", default="s5", help="s5, gru, lstm or none")
    p.add_argument("--envs-per-device", type=int, default=64, help="env slots per device")
    p.add_argument("--num-steps", type=int, default=256, help="rollout length T")
    p.add_argument("--update-epochs", type=int, default=4, help="epochs per update")
    p.add_argument("--num-minibatches", type=int, default=4, help="minibatches per epoch")
    p.add_argument("--repeats", type=int, default=3, help="timed updates per device count")
    p.add_argument("--json", default=None, help="also write the JSON summary to this file")
    return p.parse_args(argv)


def time_devices(n: int, args: argparse.Namespace) -> dict[str, float]:
    """Compile seconds, median update seconds and env steps/s on the first ``n`` devices."""
    import jax

    from agents.ppo import PPOConfig, make_init, make_update
    from agents.sharding import check_env_split, env_mesh, place, runner_shardings
    from projected_envs.benchmark_registry import benchmark

    num_envs = args.envs_per_device * n
    task_set = benchmark(args.benchmark).train
    check_env_split(task_set, num_envs, n)
    config = PPOConfig(
        memory=args.memory,
        num_envs=num_envs,
        num_steps=args.num_steps,
        total_timesteps=num_envs * args.num_steps,
        update_epochs=args.update_epochs,
        num_minibatches=args.num_minibatches,
    )
    mesh = env_mesh(jax.devices()[:n])
    state = jax.jit(make_init(config, task_set))(jax.random.PRNGKey(0))
    shardings = runner_shardings(state, mesh)
    state = place(state, shardings)
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    t0 = time.perf_counter()
    update = jax.jit(
        make_update(config, task_set),
        in_shardings=(shardings,),
        out_shardings=(shardings, replicated),
    )
    update = update.lower(state).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        state, metrics = update(state)
        jax.block_until_ready((state, metrics))
        times.append(time.perf_counter() - t0)
    update_s = statistics.median(times)
    return {
        "devices": n,
        "num_envs": num_envs,
        "compile_s": round(compile_s, 3),
        "update_s": round(update_s, 4),
        "steps_per_s": round(config.steps_per_update / update_s, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark; returns (and prints as the last line) the JSON summary."""
    args = parse_args(argv)
    if args.cpu_devices:
        os.environ["JAX_PLATFORMS"] = "cpu"
        flag = f"--xla_force_host_platform_device_count={args.cpu_devices}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
        if "jax" in sys.modules:
            print("warning: JAX already imported; --cpu-devices may not take effect")
    import jax

    present = jax.device_count()
    counts = [int(c) for c in args.devices.split(",") if c.strip()]
    counts = [c for c in counts if c <= present] or [1]
    device = jax.devices()[0]
    print(
        f"{present} devices ({device.platform}: {device.device_kind}); {args.benchmark} train, "
        f"memory {args.memory}, {args.envs_per_device} envs/device x {args.num_steps} steps, "
        f"{args.update_epochs} epochs x {args.num_minibatches} minibatches"
    )
    print(f"{'devices':>7} {'envs':>6} {'compile s':>10} {'update s':>9} {'steps/s':>11} vs_linear")
    rows = []
    for n in counts:
        row = time_devices(n, args)
        base = rows[0]["steps_per_s"] / rows[0]["devices"] if rows else row["steps_per_s"] / n
        row["vs_linear"] = round(row["steps_per_s"] / (n * base), 3)
        rows.append(row)
        print(
            f"{n:>7} {row['num_envs']:>6} {row['compile_s']:>10.1f} {row['update_s']:>9.3f} "
            f"{row['steps_per_s']:>11.0f} {row['vs_linear']:>9.3f}",
            flush=True,
        )
    summary: dict[str, object] = {
        "scaling": rows,
        "platform": device.platform,
        "device_kind": device.device_kind,
        "benchmark": args.benchmark,
        "memory": args.memory,
        "envs_per_device": args.envs_per_device,
        "num_steps": args.num_steps,
        "update_epochs": args.update_epochs,
        "num_minibatches": args.num_minibatches,
        "load_average": os.getloadavg()[0],
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
