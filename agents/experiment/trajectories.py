"""The main job's trajectory figure for hidden-goal benchmarks (point-nav).

Paths of trials 1..K of a few ``id_test`` and ``ood_test`` tasks, goal marked, from
:func:`projected_envs.record` of the trained network (``pe.record`` gives the data,
:func:`projected_envs.record.plot_paths` draws one row per split).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax

import projected_envs as pe
from agents.evaluation import NetworkPolicy
from projected_envs.record import plot_paths


def has_paths(bench: pe.Benchmark) -> bool:
    """True if every split's base env is a point robot (states with a 2-D ``pos``)."""
    return all(
        e == "gymnax/PointRobot-misc" for s in (bench.id_test, bench.ood_test) for e in s.envs
    )


def write_trajectory_figure(
    bench: pe.Benchmark,
    params: Any,
    ppo_config: Any,
    path: str | Path,
    num_tasks: int = 3,
    deterministic: bool = False,
) -> Path:
    """Record the network (``params`` of one seed) on ``num_tasks`` tasks of ``id_test`` and
    ``ood_test`` and save their per-trial paths to ``path`` (one row per split).

    ``deterministic``: the mean action instead of a sampled one; the main job passes its
    evaluation's choice (``TrainConfig.deterministic_eval``), so the figure shows the policy
    that was scored.
    """
    import matplotlib.pyplot as plt

    splits = (bench.id_test, bench.ood_test)
    fig, axes = plt.subplots(len(splits), num_tasks, figsize=(3.0 * num_tasks, 3.0 * len(splits)))
    for row, split in zip(axes, splits):
        policy = NetworkPolicy(params, ppo_config, split.action_size, split.obs_size, deterministic)
        (trajectory,) = pe.record(policy, split, jax.random.key(0), per_env=num_tasks)
        plot_paths(trajectory, range(num_tasks), axes=list(row))
        row[0].set_ylabel(split.name or "tasks", fontsize=8)
    actions = "mean actions" if deterministic else "sampled actions"
    fig.suptitle(f"paths per trial ({actions}; light: trial 1, dark: trial K); star: the goal")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
