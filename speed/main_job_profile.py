"""Where the main job's wall time goes: a profile of one preset, piece by piece.

At a preset's shapes (default ``cpu``: point-nav, 16 envs x 256 steps, 2 epochs x 4
minibatches, the small S5 agent with its own critic memory) it times, each compiled once and
then run ``--repeats`` times (median, wall clock):

* **env**: the rollout's env steps alone (the VecEnv of the train split, random actions drawn
  inside a ``lax.scan`` of ``num_steps`` steps);
* **rollout**: the rollout of one update (policy and value forward + env steps; minus env =
  the policy forward);
* **update**: one whole PPO update (rollout + GAE + all epochs; minus rollout = the epochs);
* **chunk**: a jitted chunk of ``updates_per_chunk`` updates with the host copy of its metrics
  (minus ``updates_per_chunk`` x update = the per-chunk overhead: host syncs, dispatch);
* **evaluation (train)**: one evaluation of every split as the main job runs it during
  training (``eval_per_env`` tasks per env, no random reference), warm;
* **evaluation (final)**: the final evaluation (``final_eval_per_env``, random reference,
  2000 bootstrap resamples) and the extrapolation evaluation (``extrapolation_trials``), warm;
* **compile**: of the chunk, the update, the evaluators (first call minus a warm call).

It then adds them up as the whole run spends them (``num_updates`` updates in chunks,
an evaluation every ``eval_every`` chunks and one before training, the final evaluations) and
prints the table with each piece's share of the estimated total; the last line is one JSON
object. Compare the estimate with a real run's wall time (``wall_time`` of the last row of
its ``metrics.jsonl`` plus the final evaluation) to see what the pieces miss (logging,
checkpoints, plots).

Usage::

    python speed/main_job_profile.py                 # the cpu preset
    python speed/main_job_profile.py --preset smoke --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
from host import describe
from vec_env import vec_rollout

from agents.evaluation import evaluate
from agents.experiment.configs import PRESETS, with_resolved_scan
from agents.ppo import make_init, make_network, make_update, rollout, scan_updates
from projected_envs.benchmark_registry import benchmark
from projected_envs.vec import VecEnv


def parse_args() -> argparse.Namespace:
    """Command-line flags: the preset and the repeats."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    p.add_argument("--repeats", type=int, default=5, help="timed runs of each piece (median)")
    return p.parse_args()


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(seconds of the first call, median seconds of ``repeats`` later calls)."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def main() -> None:
    args = parse_args()
    config = with_resolved_scan(PRESETS[args.preset])
    ppo, bench = config.ppo, benchmark(config.benchmark)
    task_set = bench.train
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    print(
        f"preset {args.preset}: {config.benchmark}, {ppo.num_envs} envs x {ppo.num_steps} steps, "
        f"{ppo.update_epochs} epochs x {ppo.num_minibatches} minibatches, memory {ppo.memory} "
        f"(scan {ppo.s5_scan}), {config.num_updates} updates",
        flush=True,
    )
    pieces: dict[str, float] = {}
    compile_s: dict[str, float] = {}

    # env steps alone
    venv = VecEnv(task_set, ppo.num_envs)
    env_fn = vec_rollout(venv, ppo.num_steps)
    keys = iter(jax.random.split(jax.random.key(1), 1000))
    compile_s["env"], pieces["env"] = timed(lambda: env_fn(next(keys)), args.repeats)

    # one rollout (policy + env) and one update, from the same initial state
    state = jax.jit(make_init(ppo, task_set))(jax.random.key(0))
    network = make_network(ppo, venv.action_size, venv.obs_size)
    params = state.train_state.params
    roll = jax.jit(lambda s: rollout(network, venv, params, s, ppo.num_steps)[1])
    compile_s["rollout"], pieces["rollout"] = timed(lambda: roll(state), args.repeats)
    update_fn = make_update(ppo, task_set)
    update = jax.jit(update_fn)
    compile_s["update"], pieces["update"] = timed(lambda: update(state), args.repeats)

    n = config.updates_per_chunk
    chunk = jax.jit(lambda s: scan_updates(update_fn, s, n))
    compile_s["chunk"], pieces["chunk"] = timed(
        lambda: jax.device_get(chunk(state)[1]), max(1, args.repeats // 2)
    )

    # evaluations as the main job runs them (the first call compiles)
    def evaluate_splits(per_env: int, **kwargs: Any) -> None:
        for split in bench.splits.values():
            evaluate(params, ppo, split, per_env=per_env, seed=0, **kwargs)

    train_eval = lambda: evaluate_splits(config.eval_per_env, with_random=False)
    compile_s["evaluation (train)"], pieces["evaluation (train)"] = timed(train_eval, 1)
    final = lambda: evaluate_splits(config.final_eval_per_env, num_resamples=2000)
    compile_s["evaluation (final)"], pieces["evaluation (final)"] = timed(final, 1)
    if config.extrapolation_trials:
        extra = lambda: evaluate_splits(
            config.final_eval_per_env, num_trials=config.extrapolation_trials, num_resamples=2000
        )
        compile_s["evaluation (extrapolation)"], pieces["evaluation (extrapolation)"] = timed(
            extra, 1
        )

    # the whole run, as the main job spends it
    chunks = -(-config.num_updates // n)
    evaluations = (chunks // config.eval_every + 1) if config.eval_every else 0
    total = {
        "env steps": config.num_updates * pieces["env"],
        "policy forward (rollout - env)": config.num_updates * (pieces["rollout"] - pieces["env"]),
        "PPO epochs + GAE (update - rollout)": config.num_updates
        * (pieces["update"] - pieces["rollout"]),
        "chunk overhead (chunk - n x update)": chunks * (pieces["chunk"] - n * pieces["update"]),
        f"evaluations during training ({evaluations})": evaluations * pieces["evaluation (train)"],
        "final evaluation": pieces["evaluation (final)"],
        "extrapolation evaluation": pieces.get("evaluation (extrapolation)", 0.0),
        "compilation (chunk + evaluators)": compile_s["chunk"]
        - pieces["chunk"]
        + sum(compile_s[k] - pieces[k] for k in pieces if k.startswith("evaluation")),
    }
    estimate = sum(total.values())
    print(f"\n{'piece':44s} {'seconds':>9s} {'share':>7s}")
    for name, seconds in total.items():
        print(f"{name:44s} {seconds:9.1f} {seconds / estimate:7.1%}")
    print(f"{'estimated total':44s} {estimate:9.1f}")
    print(
        "per piece (s): "
        + ", ".join(f"{k} {v:.4f}" for k, v in pieces.items())
        + "; compile + first call (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in compile_s.items())
    )
    print(
        json.dumps(
            {
                "machine": describe(),
                "load_average": os.getloadavg()[0],
                "preset": args.preset,
                "pieces_s": pieces,
                "first_call_s": compile_s,
                "run_estimate_s": total,
                "run_estimate_total_s": estimate,
            }
        )
    )


if __name__ == "__main__":
    main()
