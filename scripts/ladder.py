"""The difficulty ladder: what S5, GRU and memoryless agents meta-learn as tasks get harder.

One **cell** = a task distribution (envs, projection families, which of observation / action
is projected, observation extras) x a memory. For each cell the script meta-trains
``--seeds`` agents (one compile, one call per seed), evaluates every seed
on the train envs' unseen projections (an ``id_test`` set, its deterministic evaluation bank)
and prints one JSON line per cell with, over seeds x tasks (stratified bootstrap, strata =
envs): mean return per trial with 95% CI, in-context gain (last trial minus first) with CI,
and the uniform-random policy's return on the same tasks. ``--out`` appends the lines to a
file; ``--table`` turns such a file into the Markdown table of
docs/notebook/2026-11-28-difficulty-ladder.md.

    python scripts/ladder.py --memory s5 none --families identity gaussian --out ladder.jsonl
    python scripts/ladder.py --table ladder.jsonl

Reward scales are the gamma-aware return scales (:mod:`projected_envs.return_scale`),
computed once per task distribution for ``--gamma``. Numbers depend on the CPU type: name
the machine when you report them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from agents.evaluation import evaluate  # noqa: E402
from agents.ppo import PPOConfig, make_train  # noqa: E402
from agents.statistics import summarize_scores  # noqa: E402
from projected_envs.return_scale import return_scales  # noqa: E402
from projected_envs.tasks import TaskSet  # noqa: E402

DEFAULT_ENVS = (
    "gymnax/Pendulum-v1",
    "gymnax/MountainCarContinuous-v0",
    "gymnax/Reacher-misc",
    "gymnax/PointRobot-misc",
)
FAMILIES = ("identity", "signed_permutation", "sparse", "orthogonal", "gaussian")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One rung of the ladder: a task distribution (train + unseen projections) and a memory."""

    family: str  # projection family of the projected side(s)
    projected: str  # "action" (observations unprojected, identity) or "both"
    extras: tuple[str, ...]  # MetaEpisode observation extras
    memory: str  # "s5", "gru", "lstm" or "none"

    @property
    def label(self) -> str:
        prev = "prev-action" if "action" in self.extras else "no prev-action"
        return f"{self.family} / {self.projected} / {prev} / {self.memory}"


def task_sets(cell: Cell, args: argparse.Namespace) -> tuple[TaskSet, TaskSet]:
    """``(train, id_test)`` of a cell, with the return scales of the train distribution."""
    obs_family = cell.family if cell.projected == "both" else "identity"
    kwargs = {e: {"max_steps_in_episode": args.trial_steps} for e in args.envs}
    if "gymnax/MountainCarContinuous-v0" in kwargs:
        kwargs["gymnax/MountainCarContinuous-v0"] = {"max_steps_in_episode": args.mc_steps}
    for env, extra in json.loads(args.env_kwargs).items():
        kwargs[env] = {**kwargs[env], **extra}
    train = TaskSet(
        envs=tuple(args.envs),
        obs_dim=args.obs_dim,
        action_dim=args.action_dim,
        num_trials=args.trials,
        obs_family=obs_family,
        action_family=cell.family,
        obs_extras=cell.extras,
        env_kwargs=kwargs,
        seed=0,
        name="ladder/train",
    )
    scales = return_scales(train, args.gamma, num_tasks=32)
    train = dataclasses.replace(train, return_scales=tuple(scales.items()))
    return train, dataclasses.replace(train, seed=1, name="ladder/id_test")


def ppo_config(cell: Cell, args: argparse.Namespace) -> PPOConfig:
    """The agent and PPO settings the cpu preset had on ``classic`` (one memory shared by the
    policy and value heads), at the ladder's budget and gamma."""
    steps = args.num_envs * args.num_steps
    return PPOConfig(
        learning_rate=args.lr,
        anneal_lr=True,
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        total_timesteps=max(steps, int(args.steps) // steps * steps),
        update_epochs=4,
        num_minibatches=4,
        gamma=args.gamma,
        gae_lambda=args.gae_lambda,
        clip_value=False,
        vf_coef=0.5,
        max_grad_norm=0.5,
        init_log_std=-0.5,
        memory=cell.memory,
        encoder_sizes=(64, 64),
        head_sizes=(64,),
        s5_state_size=32,
        s5_num_layers=2,
    )


def run_cell(cell: Cell, args: argparse.Namespace) -> dict[str, Any]:
    """Train ``args.seeds`` agents on a cell (one vmapped jit), evaluate each on id_test."""
    start = time.perf_counter()
    train_set, test_set = task_sets(cell, args)
    config = ppo_config(cell, args)
    # One compile, then one call per seed. (jax.vmap over seeds would batch them in one call,
    # but with the S5 memory that call hangs in XLA:CPU on jax 0.10; see docs/guides/train.md.)
    train = jax.jit(make_train(config, train_set))
    keys = jax.random.split(jax.random.key(args.seed), args.seeds)
    states, metrics = [], []
    for key in keys:
        state, m = jax.block_until_ready(train(key))
        states.append(state)
        metrics.append(m)
    metrics = jax.tree.map(lambda *xs: np.stack(xs), *metrics)
    train_s = time.perf_counter() - start
    returns, random_returns, strata = [], [], []
    for s in range(args.seeds):
        params = states[s].params
        result = evaluate(params, config, test_set, per_env=args.per_env, seed=s)
        returns.append(result.returns)
        random_returns.append(result.random_returns)
        strata.append(result.env_index)
    returns = np.concatenate(returns)  # [seeds * tasks, K]
    random_returns = np.concatenate(random_returns)
    strata = np.concatenate(strata)
    per_seed = [float(r.mean()) for r in np.split(returns, args.seeds)]
    per_trial = summarize_scores(returns, strata)
    task_mean = summarize_scores(returns.mean(axis=1), strata)
    gain = summarize_scores(returns[:, -1] - returns[:, 0], strata)
    rand = summarize_scores(random_returns.mean(axis=1), strata)
    return {
        "cell": dataclasses.asdict(cell),
        "label": cell.label,
        "envs": list(args.envs),
        "env_steps": config.num_updates * config.steps_per_update,
        "seeds": args.seeds,
        "gamma": args.gamma,
        "trials": args.trials,
        "return": task_mean["mean"],
        "return_ci": task_mean["mean_ci"],
        "per_trial": per_trial["mean"],
        "gain": gain["mean"],
        "gain_ci": gain["mean_ci"],
        "random": rand["mean"],
        "random_ci": rand["mean_ci"],
        "per_seed": per_seed,
        "per_env": {
            env: float(returns[strata == i].mean()) for i, env in enumerate(train_set.envs)
        },
        "per_env_gain": {
            env: float((returns[strata == i, -1] - returns[strata == i, 0]).mean())
            for i, env in enumerate(train_set.envs)
        },
        "per_env_random": {
            env: float(random_returns[strata == i].mean()) for i, env in enumerate(train_set.envs)
        },
        "train_return_last": float(np.nanmean(np.asarray(metrics["task_return"])[:, -20:])),
        "train_s": round(train_s, 1),
        "total_s": round(time.perf_counter() - start, 1),
    }


def table(path: Path) -> str:
    """Markdown table of a results file (one JSON object per line)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out = [
        "| family | projected | prev. action | memory | return [95% CI] | random | "
        "gain (last - first) [95% CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c = r["cell"]
        prev = "yes" if "action" in c["extras"] else "no"
        ret = f"{r['return']:.2f} [{r['return_ci'][0]:.2f}, {r['return_ci'][1]:.2f}]"
        gain = f"{r['gain']:.2f} [{r['gain_ci'][0]:.2f}, {r['gain_ci'][1]:.2f}]"
        out.append(
            f"| {c['family']} | {c['projected']} | {prev} | {c['memory']} | {ret} | "
            f"{r['random']:.2f} | {gain} |"
        )
    return "\n".join(out)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", type=Path, help="print the Markdown table of a results file")
    p.add_argument("--envs", nargs="+", default=list(DEFAULT_ENVS))
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--projected", nargs="+", default=["both"], choices=("action", "both"))
    p.add_argument("--prev-action", nargs="+", default=["no"], choices=("yes", "no"))
    p.add_argument("--memory", nargs="+", default=["s5", "gru", "none"])
    p.add_argument(
        "--env-kwargs",
        default="{}",
        help="JSON {env id: {keyword: value}} merged into the envs' keywords, e.g. "
        '\'{"gymnax/PointRobot-misc": {"teleport": false}}\'',
    )
    p.add_argument("--obs-dim", type=int, default=16)
    p.add_argument("--action-dim", type=int, default=2)
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--trial-steps", type=int, default=100)
    p.add_argument("--mc-steps", type=int, default=200, help="MountainCar's trial length")
    p.add_argument("--gamma", type=float, default=0.995)
    p.add_argument("--gae-lambda", type=float, default=0.95)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--num-envs", type=int, default=32)
    p.add_argument("--num-steps", type=int, default=128)
    p.add_argument("--steps", type=float, default=5e6, help="env steps per seed")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-env", type=int, default=16, help="evaluation tasks per env and seed")
    p.add_argument("--out", type=Path, help="append one JSON line per cell to this file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.table:
        print(table(args.table))
        return
    base = ("reward", "trial_done", "task_start")
    for family in args.families:
        for projected in args.projected:
            for prev in args.prev_action:
                extras = ("action", *base) if prev == "yes" else base
                for memory in args.memory:
                    row = run_cell(Cell(family, projected, extras, memory), args)
                    line = json.dumps(row)
                    print(line, flush=True)
                    if args.out:
                        with args.out.open("a") as f:
                            f.write(line + "\n")


if __name__ == "__main__":
    main()
