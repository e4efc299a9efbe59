"""The policy protocol of the evaluation: what :func:`~projected_envs.evaluate_policy` runs.

A policy is ``init(batch_size) -> carry`` and ``step(carry, obs [N, O], reset [N], key) ->
(carry, action [N, A])``. Its array leaves (``jax.tree.leaves``) are traced arguments of the
compiled loop and everything else is static (:func:`split_policy`), so a policy that is a pytree
of its parameters evaluates new parameters without recompiling.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import numpy as np

__all__ = ["Carry", "Policy", "PolicyFns"]

Carry = Any


@runtime_checkable
class Policy(Protocol):
    """What :func:`evaluate_policy` evaluates: a batched, possibly recurrent, stochastic policy.

    * ``init(batch_size) -> carry``: the memory of ``batch_size`` fresh tasks (any pytree with a
      leading batch axis ``[N, ...]`` on its leaves, or ``()`` for a memoryless policy);
    * ``step(carry, obs, reset, key) -> (carry, action)``: ``obs`` float32 ``[N, O]``,
      ``reset`` bool ``[N]`` (True: ``obs`` is the first observation of a task, so forget
      that slot's memory before using it), ``key`` one PRNG key for the batch; ``action``
      ``[N, A]``, clipped to ``[-1, 1]`` by the evaluator. The carry keeps its structure,
      shapes and dtypes.

    Both are traced inside ``jax.jit``. A ``NamedTuple`` of two functions (:class:`PolicyFns`)
    is enough; a pytree whose array leaves are the parameters (e.g. a ``flax.struct``
    dataclass with ``init`` and ``step`` methods) compiles once for all parameter values.
    """

    def init(self, batch_size: int) -> Carry: ...

    def step(
        self, carry: Carry, obs: jax.Array, reset: jax.Array, key: jax.Array
    ) -> tuple[Carry, jax.Array]: ...


class PolicyFns(NamedTuple):
    """A :class:`Policy` from two functions (e.g. closures over your parameters)."""

    init: Any  # (batch_size: int) -> carry
    step: Any  # (carry, obs [N, O], reset [N], key) -> (carry, action [N, A])


@dataclasses.dataclass(frozen=True)
class _Static:
    """The non-array part of a policy pytree, hashable (by identity where it must be)."""

    treedef: Any
    leaves: tuple[Any, ...]  # None where the leaf is an array (traced)

    def __hash__(self) -> int:
        return hash((self.treedef, tuple(_hashable(x) for x in self.leaves)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Static) or self.treedef != other.treedef:
            return False
        return all(
            _hashable(a) == _hashable(b) for a, b in zip(self.leaves, other.leaves, strict=True)
        )


def _hashable(x: Any) -> Any:
    try:
        hash(x)
    except TypeError:
        return ("id", id(x))
    return x


def _is_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray | np.generic)


def _split_policy(policy: Policy) -> tuple[_Static, tuple[Any, ...]]:
    if not (callable(getattr(policy, "init", None)) and callable(getattr(policy, "step", None))):
        raise TypeError(
            f"evaluate_policy: policy must have init(batch_size) and step(carry, obs, reset, key) "
            f"methods, got {type(policy).__name__}; wrap two functions as PolicyFns(init, step)."
        )
    leaves, treedef = jax.tree.flatten(policy)
    static = tuple(None if _is_array(x) else x for x in leaves)
    dynamic = tuple(x if _is_array(x) else None for x in leaves)
    return _Static(treedef, static), dynamic


def _join_policy(static: _Static, dynamic: tuple[Any, ...]) -> Policy:
    leaves = [d if s is None else s for s, d in zip(static.leaves, dynamic, strict=True)]
    return jax.tree.unflatten(static.treedef, leaves)
