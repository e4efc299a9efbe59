"""projected-envs: projected continuous-control task distributions for meta-RL in JAX."""

from projected_envs.core import Environment, Wrapper

__all__ = ["Environment", "Wrapper"]
