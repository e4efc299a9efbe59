"""Where a task stack's time goes: env steps/s as its wrappers are added one at a time.

For one env of a benchmark's train set, times (in one process, interleaved, best of
``--repeats``) the bare base env and the stack built up layer by layer as
:class:`~projected_envs.TaskSet` builds it: ``FiniteGuard``, ``Normalize``,
``ProjectObservation``, ``ProjectAction``, ``MetaEpisode``; plus ``ProjectObservation``
without ``Normalize`` under it (what a fused standardise-and-project could at best reach).
Every row is :func:`vec_env.env_rollout` (``vmap`` over ``--num-envs`` slots, ``step`` with
auto-reset, random actions of the stack's width for every row) and prints its steps/s and its
ratio to the base env.

Usage::

    export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    taskset -c 0 python speed/stack_layers.py --benchmark classic --env gymnax/Pendulum-v1

The last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import json

import vec_env
from vec_env import CLOCK, env_rollout, time_all

from projected_envs.benchmark_registry import benchmark
from projected_envs.registry import make
from projected_envs.wrappers import (
    FiniteGuard,
    MetaEpisode,
    Normalize,
    ProjectAction,
    ProjectObservation,
)


def layers(bench: str, env_id: str) -> dict[str, object]:
    """The base env and the stack of ``env_id`` in ``bench``'s train set, layer by layer."""
    ts = benchmark(bench).train
    if env_id not in ts.envs:
        raise SystemExit(f"{env_id} is not a train env of {bench}: choose from {ts.envs}.")
    base, _ = make(env_id, **dict(ts.kwargs_for(env_id)))
    guard = FiniteGuard(base)
    norm = Normalize(guard, env_id=env_id, reward_scale=dict(ts.return_scales).get(env_id))
    obs = ProjectObservation(norm, ts.obs_dim, ts.obs_family)
    act = ProjectAction(obs, ts.action_dim, ts.action_family)
    return {
        "base": base,
        "+ FiniteGuard": guard,
        "+ Normalize": norm,
        f"+ ProjectObservation({ts.obs_family})": obs,
        "  (same, without Normalize)": ProjectObservation(guard, ts.obs_dim, ts.obs_family),
        f"+ ProjectAction({ts.action_family})": act,
        "+ MetaEpisode (full stack)": MetaEpisode(act, ts.num_trials, obs_extras=ts.obs_extras),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--benchmark", default="classic")
    p.add_argument("--env", default="gymnax/Pendulum-v1")
    p.add_argument("--num-envs", type=int, default=256)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--clock", choices=sorted(CLOCK), default="wall")
    args = p.parse_args()
    vec_env.set_clock(args.clock)
    envs = layers(args.benchmark, args.env)
    width = max(e.action_size for e in envs.values())
    fns = {
        name: env_rollout(env, args.num_envs, args.steps, env.sample_task, width)
        for name, env in envs.items()
    }
    best = time_all(fns, args.repeats)
    count = args.num_envs * args.steps
    print(f"{args.benchmark} / {args.env}: N={args.num_envs}, {args.steps} steps", end="")
    print(f", best of {args.repeats}")
    for name in envs:
        print(f"{name:<36}{count / best[name]:>14,.0f}  {best['base'] / best[name]:.3f}")
    ratios = {name: best["base"] / best[name] for name in envs}
    print(json.dumps({"benchmark": args.benchmark, "env": args.env, "vs_base": ratios}))


if __name__ == "__main__":
    main()
