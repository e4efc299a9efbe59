"""In-context RL agents: PPO with a resettable S5 memory, plus GRU/LSTM/memoryless baselines.

Submodules, one job each: :mod:`agents.s5` (resettable S5), :mod:`agents.memory` (GRU, LSTM,
memoryless), :mod:`agents.transformer` (windowed attention with resets), :mod:`agents.networks`
(actor-critic), :mod:`agents.ppo` (PPO as small pure functions), :mod:`agents.evaluation`
(our network as a policy for :func:`projected_envs.evaluate_policy`), :mod:`agents.statistics`
(re-exports :mod:`projected_envs.statistics`), :mod:`agents.checkpoint` (orbax checkpoints).
"""

from agents import checkpoint, evaluation, memory, networks, ppo, s5, statistics, transformer
from agents.evaluation import EvalResult, evaluate
from agents.memory import MEMORY_KINDS, GRUMemory, LSTMMemory, NoMemory, make_memory
from agents.networks import ActorCritic
from agents.ppo import PPOConfig, RunnerState, make_init, make_train, make_update, scan_updates
from agents.s5 import ResettableS5Stack
from agents.transformer import WindowedTransformer

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
