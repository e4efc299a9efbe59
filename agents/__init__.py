"""In-context RL agents: PPO with a resettable S5 memory, plus GRU/LSTM/memoryless baselines.

Submodules, one job each: :mod:`agents.s5` (resettable S5), :mod:`agents.memory` (GRU, LSTM,
memoryless), :mod:`agents.transformer` (windowed attention with resets), :mod:`agents.networks`
(actor-critic), :mod:`agents.ppo` (PPO as small pure functions), :mod:`agents.evaluation`
(our network as a policy for :func:`projected_envs.evaluate_policy`), :mod:`agents.statistics`
(re-exports :mod:`projected_envs.statistics`), :mod:`agents.checkpoint` (orbax checkpoints),
:mod:`agents.experiment` (the main job's application: configs and presets, run folder, seed
combination, plots, the train / evaluate loop behind ``examples/``).

The names below are imported on first use (PEP 562), so that ``import agents.experiment.multihost``
can join a multi-process JAX job before anything (gymnax, at import) computes with JAX.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from agents import checkpoint, evaluation, memory, networks, ppo, s5, statistics, transformer
    from agents.evaluation import EvalResult, evaluate
    from agents.memory import MEMORY_KINDS, GRUMemory, LSTMMemory, NoMemory, make_memory
    from agents.networks import ActorCritic
    from agents.ppo import PPOConfig, RunnerState, make_init, make_train, make_update, scan_updates
    from agents.s5 import ResettableS5Stack
    from agents.transformer import WindowedTransformer

_SUBMODULES = (
    "checkpoint",
    "evaluation",
    "experiment",
    "memory",
    "networks",
    "ppo",
    "s5",
    "statistics",
    "transformer",
)
_NAMES = {  # public name -> the module that defines it
    "EvalResult": "agents.evaluation",
    "evaluate": "agents.evaluation",
    "MEMORY_KINDS": "agents.memory",
    "GRUMemory": "agents.memory",
    "LSTMMemory": "agents.memory",
    "NoMemory": "agents.memory",
    "make_memory": "agents.memory",
    "ActorCritic": "agents.networks",
    "PPOConfig": "agents.ppo",
    "RunnerState": "agents.ppo",
    "make_init": "agents.ppo",
    "make_train": "agents.ppo",
    "make_update": "agents.ppo",
    "scan_updates": "agents.ppo",
    "ResettableS5Stack": "agents.s5",
    "WindowedTransformer": "agents.transformer",
}

__all__ = [
    "MEMORY_KINDS",
    "ActorCritic",
    "EvalResult",
    "GRUMemory",
    "LSTMMemory",
    "NoMemory",
    "PPOConfig",
    "ResettableS5Stack",
    "RunnerState",
    "WindowedTransformer",
    "checkpoint",
    "evaluate",
    "evaluation",
    "make_init",
    "make_memory",
    "make_train",
    "make_update",
    "memory",
    "networks",
    "ppo",
    "s5",
    "scan_updates",
    "statistics",
    "transformer",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"agents.{name}")
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'agents' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBMODULES, *_NAMES})
