"""Projection families: pure functions ``(key, out_dim, in_dim) -> matrix [out_dim, in_dim]``.

A task of this package maps the env observation ``o`` (length ``E_o``) to ``M_o o`` (length
``O``) and the agent action ``a`` (length ``A``) to ``M_a a`` (length ``E_a``). The matrices are
drawn from one of the families below; every family returns float32 and is jittable for static
dims (``out_dim`` and ``in_dim`` are Python ints).

**Scaling convention** (the same for every family).
Every row of ``M`` either is a structural zero (the padding rows of ``signed_permutation`` and
``identity`` when ``out_dim > in_dim``) or has expected squared norm 1, and every random family
is isotropic, so for any fixed input ``x``

    E_M[(M x)_i^2] = ||x||^2 / in_dim     for every non-padding output coordinate i,

i.e. each projected coordinate has the second moment of an average input coordinate. With
inputs standardised by :class:`projected_envs.Normalize` (coordinates of unit variance), every
projected coordinate therefore has unit variance: projected features stay O(1) whatever the
sizes. For the dense families (``gaussian``, ``orthogonal``, ``sparse``) this is equivalently
``E||M x||^2 / out_dim = ||x||^2 / in_dim``. ``identity`` is not random: it copies (pads with
zeros / truncates) the coordinates unchanged, which keeps their scale exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

# (key, out_dim, in_dim) -> float32 [out_dim, in_dim]
ProjectionFn = Callable[[jax.Array, int, int], jax.Array]


def _check_dims(out_dim: int, in_dim: int, where: str) -> None:
    for name, value in (("out_dim", out_dim), ("in_dim", in_dim)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{where}: {name} must be a positive int, got {value!r}.")


def gaussian(key: jax.Array, out_dim: int, in_dim: int) -> jax.Array:
    """Dense Gaussian projection, entries i.i.d. ``N(0, 1 / in_dim)``.

    Scaling: each row has expected squared norm 1, so ``E[(M x)_i^2] = ||x||^2 / in_dim``
    and ``E||M x||^2 / out_dim = ||x||^2 / in_dim``.

    Args:
        key: PRNG key.
        out_dim: number of rows (output size), a positive int.
        in_dim: number of columns (input size), a positive int.

    Returns:
        float32 array ``[out_dim, in_dim]``.
    """
    _check_dims(out_dim, in_dim, "gaussian")
    scale = 1.0 / jnp.sqrt(jnp.float32(in_dim))
    return scale * jax.random.normal(key, (out_dim, in_dim), dtype=jnp.float32)


def orthogonal(key: jax.Array, out_dim: int, in_dim: int) -> jax.Array:
    """Random semi-orthogonal projection (Haar-distributed), rescaled to the common convention.

    ``out_dim <= in_dim``: the rows are orthonormal (``M M^T = I``), so each output is the
    component of ``x`` along a uniformly random unit direction: ``E[(M x)_i^2] = ||x||^2 / in_dim``.
    ``out_dim > in_dim``: the columns are orthogonal with squared norm ``out_dim / in_dim``
    (``M^T M = (out_dim / in_dim) I``), so ``||M x||^2 / out_dim = ||x||^2 / in_dim`` exactly.
    In both cases ``M = sqrt(max(out_dim, in_dim) / in_dim) * Q`` with ``Q`` semi-orthogonal.

    Args:
        key: PRNG key.
        out_dim: number of rows (output size), a positive int.
        in_dim: number of columns (input size), a positive int.

    Returns:
        float32 array ``[out_dim, in_dim]``.
    """
    _check_dims(out_dim, in_dim, "orthogonal")
    big, small = max(out_dim, in_dim), min(out_dim, in_dim)
    g = jax.random.normal(key, (big, small), dtype=jnp.float32)
    q, r = jnp.linalg.qr(g)  # q: [big, small], orthonormal columns
    # Sign correction makes q Haar-distributed (QR alone is biased by its sign convention).
    q = q * jnp.where(jnp.diagonal(r) < 0, -1.0, 1.0)[None, :]
    m = q if out_dim >= in_dim else q.T  # [out_dim, in_dim]
    return (jnp.sqrt(jnp.float32(big / in_dim)) * m).astype(jnp.float32)


def sparse(key: jax.Array, out_dim: int, in_dim: int) -> jax.Array:
    """Sparse Achlioptas (2003) projection: entries ``sqrt(3 / in_dim) * {+1, 0, -1}``.

    The three values have probabilities ``1/6, 2/3, 1/6``, so each entry has mean 0 and
    variance ``1 / in_dim``: ``E[(M x)_i^2] = ||x||^2 / in_dim``, the same scaling as
    ``gaussian`` with two thirds of the entries zero. For small ``in_dim`` a row can be all
    zero (probability ``(2/3)^in_dim``): that output coordinate is then constant 0.

    Args:
        key: PRNG key.
        out_dim: number of rows (output size), a positive int.
        in_dim: number of columns (input size), a positive int.

    Returns:
        float32 array ``[out_dim, in_dim]``.
    """
    _check_dims(out_dim, in_dim, "sparse")
    u = jax.random.uniform(key, (out_dim, in_dim), dtype=jnp.float32)
    signs = (u < 1 / 6).astype(jnp.float32) - (u >= 5 / 6).astype(jnp.float32)
    return (jnp.sqrt(jnp.float32(3.0 / in_dim)) * signs).astype(jnp.float32)


def signed_permutation(key: jax.Array, out_dim: int, in_dim: int) -> jax.Array:
    """Random signed (partial) permutation: each output copies one input with a random sign.

    ``out_dim <= in_dim``: ``out_dim`` distinct input coordinates, chosen uniformly at random,
    are copied (truncation). ``out_dim > in_dim``: every input coordinate is copied to one of
    ``in_dim`` randomly chosen outputs, the other ``out_dim - in_dim`` rows are zero (padding).
    Entries are in ``{-1, 0, +1}``, at most one non-zero per row and per column.

    Scaling: non-padding rows have unit norm and pick a uniformly random coordinate, so
    ``E[(M x)_i^2] = ||x||^2 / in_dim`` for every non-padding output; padding outputs are 0.

    Args:
        key: PRNG key.
        out_dim: number of rows (output size), a positive int.
        in_dim: number of columns (input size), a positive int.

    Returns:
        float32 array ``[out_dim, in_dim]``.
    """
    _check_dims(out_dim, in_dim, "signed_permutation")
    key_perm, key_sign = jax.random.split(key)
    big = max(out_dim, in_dim)
    perm = jax.random.permutation(key_perm, big)
    # Permute the rows of the padded/truncated identity: row i copies input perm[i] (if any).
    m = jnp.eye(big, dtype=jnp.float32)[perm][:out_dim, :in_dim]
    signs = jax.random.rademacher(key_sign, (out_dim, 1), dtype=jnp.float32)
    return (m * signs).astype(jnp.float32)


def identity(key: jax.Array, out_dim: int, in_dim: int) -> jax.Array:
    """Identity, padded with zero rows (``out_dim > in_dim``) or truncated (``out_dim < in_dim``).

    Deterministic (``key`` is ignored): ``M = eye(out_dim, in_dim)``. Output ``i`` is input
    ``i`` unchanged for ``i < min(out_dim, in_dim)`` and 0 beyond, so the scale of each copied
    coordinate is kept exactly. With equal dims, ``M x == x`` bitwise.

    Args:
        key: unused; kept for the common signature.
        out_dim: number of rows (output size), a positive int.
        in_dim: number of columns (input size), a positive int.

    Returns:
        float32 array ``[out_dim, in_dim]``.
    """
    del key
    _check_dims(out_dim, in_dim, "identity")
    return jnp.eye(out_dim, in_dim, dtype=jnp.float32)


FIXED_PROJECTION_SEED = 0
"""Seed of the key that :func:`fixed_orthogonal` draws its one matrix (per shape) from."""


def fixed_orthogonal(key: jax.Array, out_dim: int, in_dim: int) -> jax.Array:
    """One random orthogonal matrix per shape, shared by every task (``key`` is ignored).

    ``orthogonal(jax.random.key(FIXED_PROJECTION_SEED), out_dim, in_dim)``: a random rotation
    that does not change from task to task, for diagnosis (is a random ``M_o`` as such hard to
    learn, or inferring a new one in context? ``docs/notebook/2026-12-04-obs-probe.md``). Same
    structure and scaling as :func:`orthogonal`.

    Args:
        key: unused; kept for the common signature.
        out_dim: number of rows (output size), a positive int.
        in_dim: number of columns (input size), a positive int.

    Returns:
        float32 array ``[out_dim, in_dim]``.
    """
    del key
    _check_dims(out_dim, in_dim, "fixed_orthogonal")
    return orthogonal(jax.random.key(FIXED_PROJECTION_SEED), out_dim, in_dim)


def embed(x: jax.Array, out_dim: int) -> jax.Array:
    """``identity(None, out_dim, len(x)) @ x`` without the matmul: ``x`` zero-padded or truncated.

    The matrix-free form that :class:`projected_envs.ProjectObservation` and
    :class:`projected_envs.ProjectAction` use for the ``identity`` family. Equal to the matmul
    bitwise for finite ``x`` (a non-finite entry stays in its own coordinate instead of
    spreading through ``0 * inf``).

    Args:
        x: float ``[in_dim]``.
        out_dim: output size, a positive int.

    Returns:
        ``x``'s dtype, ``[out_dim]``.
    """
    in_dim = x.shape[0]
    _check_dims(out_dim, in_dim, "embed")
    if out_dim <= in_dim:
        return x[:out_dim]
    return jnp.concatenate([x, jnp.zeros((out_dim - in_dim,), x.dtype)])


_FAMILIES: dict[str, ProjectionFn] = {
    "gaussian": gaussian,
    "orthogonal": orthogonal,
    "sparse": sparse,
    "signed_permutation": signed_permutation,
    "identity": identity,
    "fixed_orthogonal": fixed_orthogonal,  # diagnosis: one M for every task
}

PROJECTION_FAMILIES: tuple[str, ...] = tuple(_FAMILIES)
"""Names of the projection families, for :func:`projection` and the projection wrappers."""


def projection(family: str) -> ProjectionFn:
    """Look up a projection family by name.

    Args:
        family: one of :data:`PROJECTION_FAMILIES`.

    Returns:
        The family's function ``(key, out_dim, in_dim) -> float32 [out_dim, in_dim]``.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    if not isinstance(family, str) or family not in _FAMILIES:
        raise ValueError(
            f"Unknown projection family {family!r}; valid families: "
            f"{', '.join(PROJECTION_FAMILIES)}."
        )
    return _FAMILIES[family]


def sample_projection(key: jax.Array, family: str, out_dim: int, in_dim: int) -> jax.Array:
    """Sample one projection matrix ``[out_dim, in_dim]`` (float32) from a named family.

    Raises:
        ValueError: for an unknown family (listing the valid ones) or non-positive dims.
    """
    return projection(family)(key, out_dim, in_dim)
