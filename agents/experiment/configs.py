"""The main job's configuration: :class:`TrainConfig` and its presets.

A :class:`TrainConfig` is everything that determines the numbers a run produces (benchmark,
seed, agent, PPO, chunking, evaluation protocol). It is saved as ``config.json`` in the run folder
and with every checkpoint; ``--resume`` refuses a checkpoint whose ``TrainConfig`` differs.

Presets (``--preset``):

* ``cpu`` (default): benchmark ``point-nav`` with a small S5 agent whose value head has its
  own memory, 13.1 M env steps (2 epochs per rollout) at the design discount 0.995; 4-5
  minutes on a 2-core CPU including compilation and evaluation (measured numbers in
  docs/results.md). The agent learns in context there: its return rises from the first
  trial of a task to the last.
* ``smoke``: a few tiny updates on ``classic``; every artifact in under 3 minutes (the tests use
  it; also a quick check of an install).
* ``gpu``: ``classic`` at scale on one GPU: the paper's agent sizes, 256 envs.
* ``dmc-lu2023``: the paper's DMC split (O=12, A=2, one 1000-step episode per task) with the
  paper's PPO-S5 settings; needs the ``dmc`` extra and a GPU (compute in docs/guides/train.md).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from agents.ppo import PPOConfig
from agents.s5 import resolve_scan

__all__ = ["PRESETS", "TrainConfig", "config_from_dict", "config_to_dict", "with_resolved_scan"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One meta-training run: benchmark, agent and PPO, chunking, evaluation protocol."""

    benchmark: str = "classic"  # benchmark name, one of projected_envs.benchmarks()
    seed: int = 0  # seed of the run (network init, env and action noise)
    num_seeds: int = 1  # seeds trained together (one program, one compile): seed, seed+1, ...
    # how the seeds share that program: "vmap" (batched), "map" (jax.lax.map: one after the
    # other), "auto" (map on CPU, where vmapped S5 can hang XLA:CPU on jax 0.10; vmap elsewhere)
    seed_batching: str = "auto"
    ppo: PPOConfig = dataclasses.field(default_factory=PPOConfig)  # agent and PPO settings
    updates_per_chunk: int = 10  # PPO updates per jitted chunk (one progress/metrics step)
    checkpoint_every: int = 50  # updates between checkpoints (at chunk ends; also at the end)
    keep_checkpoints: int = 3  # newest checkpoints kept in the run folder
    eval_every: int = 1  # chunks between evaluations of every split (0: only at the end)
    eval_per_env: int = 4  # tasks per env in the evaluations during training
    final_eval_per_env: int = 16  # tasks per env in the final evaluation
    final_eval_trials: int = 0  # trials per task in the final evaluation (0: the benchmark's)
    extrapolation_trials: int = 0  # also evaluate with this many trials at the end (0: no)
    deterministic_eval: bool = False  # evaluate the mean action instead of sampling

    def __post_init__(self) -> None:
        positive = ("num_seeds", "updates_per_chunk", "checkpoint_every", "keep_checkpoints")
        positive += ("eval_per_env", "final_eval_per_env")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig: {name} must be >= 1, got {getattr(self, name)}.")
        if self.seed_batching not in ("auto", "vmap", "map"):
            raise ValueError(
                "TrainConfig: seed_batching must be 'auto', 'vmap' or 'map', got "
                f"{self.seed_batching!r}."
            )
        for name in ("eval_every", "final_eval_trials", "extrapolation_trials", "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig: {name} must be >= 0, got {getattr(self, name)}.")

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seed of each vmapped run: ``(seed, seed + 1, ..., seed + num_seeds - 1)``."""
        return tuple(range(self.seed, self.seed + self.num_seeds))

    @property
    def num_updates(self) -> int:
        """PPO updates of the whole run (``ppo.total_timesteps // ppo.steps_per_update``)."""
        return self.ppo.num_updates

    @property
    def total_env_steps(self) -> int:
        """Env steps of the whole run: ``num_updates * ppo.steps_per_update``."""
        return self.num_updates * self.ppo.steps_per_update


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """JSON form of a config (tuples become lists), the form saved in run folders."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Inverse of :func:`config_to_dict`.

    Raises:
        ValueError: a field that this version of TrainConfig / PPOConfig does not have.
    """
    data = dict(data)
    ppo = dict(data.pop("ppo", {}))
    for cls, fields in ((TrainConfig, data), (PPOConfig, ppo)):
        unknown = set(fields) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(
                f"{cls.__name__} has no fields {sorted(unknown)} (saved by another version)."
            )
    for name in ("encoder_sizes", "head_sizes"):
        if name in ppo:
            ppo[name] = tuple(ppo[name])
    if "memory_kwargs" in ppo:
        ppo["memory_kwargs"] = tuple(tuple(pair) for pair in ppo["memory_kwargs"])
    return TrainConfig(**data, ppo=PPOConfig(**ppo))


def with_resolved_scan(config: TrainConfig, backend: str | None = None) -> TrainConfig:
    """``config`` with ``ppo.s5_scan="auto"`` replaced by the schedule it runs on ``backend``.

    A run records the resolved schedule in its folder, so resuming it on another backend keeps
    the numerics it started with (or is refused, naming the field, when asked to change them).
    """
    if config.ppo.s5_scan != "auto":
        return config
    ppo = dataclasses.replace(config.ppo, s5_scan=resolve_scan("auto", backend))
    return dataclasses.replace(config, ppo=ppo)


# ----------------------------------------------------------------------------------- presets
_SMALL_AGENT = {
    "encoder_sizes": (64, 64),
    "head_sizes": (64,),
    "s5_state_size": 32,
    "s5_num_layers": 2,
}

PRESETS: dict[str, TrainConfig] = {
    "cpu": TrainConfig(
        benchmark="point-nav",
        ppo=PPOConfig(
            learning_rate=5e-4,
            anneal_lr=True,  # without it the policy's KL per update grew to 0.4 late in the run
            # 256-step rollouts hold a whole 200-step task: with 128, S5's return halved
            num_envs=16,
            num_steps=256,
            # 13.1 M env steps, 3200 updates of 2 epochs: the gradient steps of 6.55 M x 4 epochs
            # on twice the data. S5 then beats the memoryless agent on every seed (at 6.55 M x 4
            # it trailed on one); the same 2 epochs at 6.55 M were not measured
            total_timesteps=16 * 256 * 3200,
            update_epochs=2,
            num_minibatches=4,
            gamma=0.995,  # the benchmark's design discount (its return scale is made for it)
            gae_lambda=0.95,
            clip_value=False,  # value targets grow to ~10 as the agent learns
            vf_coef=0.5,
            max_grad_norm=0.5,
            init_log_std=-0.5,
            # a shared S5 fell across the trials of a task (gain -1.60 [-2.05, -1.16] on
            # id_test); with its own memory for the value, S5 gains +1.15 [0.72, 1.59]
            separate_critic=True,
            **_SMALL_AGENT,
        ),
        updates_per_chunk=10,
        checkpoint_every=400,
        eval_every=16,
        eval_per_env=64,
        # one env: 256 tasks per seed for the final evaluation; 95% CIs of a return per trial
        # are then about +-0.7 per seed and +-0.4 over three seeds
        final_eval_per_env=256,
        extrapolation_trials=8,  # does the gain hold past the 4 trials it was trained on?
    ),
    "smoke": TrainConfig(
        benchmark="classic",
        ppo=PPOConfig(
            learning_rate=1e-3,
            num_envs=8,
            num_steps=16,
            total_timesteps=8 * 16 * 4,
            update_epochs=1,
            num_minibatches=2,
            encoder_sizes=(16,),
            head_sizes=(16,),
            s5_state_size=8,
            s5_num_layers=1,
        ),
        updates_per_chunk=2,
        checkpoint_every=2,
        eval_every=1,
        eval_per_env=2,
        final_eval_per_env=2,  # = eval_per_env: the final evaluation reuses the compilation
    ),
    "gpu": TrainConfig(
        benchmark="classic",
        ppo=PPOConfig(
            learning_rate=2.5e-4,
            num_envs=256,
            num_steps=256,
            total_timesteps=256 * 256 * 1500,  # 98 M env steps
            update_epochs=8,
            num_minibatches=8,
            gamma=0.995,  # classic's design discount
            gae_lambda=0.95,
            clip_value=False,
            vf_coef=0.5,
            max_grad_norm=1.0,
            init_log_std=-0.5,
        ),
        updates_per_chunk=25,
        checkpoint_every=250,
        eval_every=2,
        eval_per_env=16,
        final_eval_per_env=64,
    ),
    "dmc-lu2023": TrainConfig(
        benchmark="dmc-lu2023",
        ppo=PPOConfig(  # the paper's PPO-S5 table (defaults of PPOConfig)
            num_envs=64,
            num_steps=1024,
            total_timesteps=64 * 1024 * 1000,
        ),
        updates_per_chunk=10,
        checkpoint_every=100,
        eval_every=5,
        eval_per_env=8,
        final_eval_per_env=64,
    ),
}
"""Named starting points; every field can still be overridden on the command line."""
