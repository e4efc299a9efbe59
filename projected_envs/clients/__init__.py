"""The edges to other people's code.

* :class:`TaskDistribution`: a task distribution as one gymnax env whose ``reset`` draws the
  task, for trainers that ``vmap`` one shared params over their batch (rejax, purejaxrl,
  gymnax's ``RolloutWrapper``);
* :func:`to_gymnasium` / :class:`GymnasiumVectorEnv` / :class:`GymnasiumEnv`: Gymnasium's
  vector and single-env APIs over :class:`~projected_envs.VecEnv`, numpy or torch arrays.
"""

from projected_envs.clients.gymnasium import GymnasiumEnv, GymnasiumVectorEnv, to_gymnasium
from projected_envs.clients.task_distribution import (
    TaskDistribution,
    TaskDistributionParams,
    TaskDistributionState,
)

__all__ = [
    "GymnasiumEnv",
    "GymnasiumVectorEnv",
    "TaskDistribution",
    "TaskDistributionParams",
    "TaskDistributionState",
    "to_gymnasium",
]
