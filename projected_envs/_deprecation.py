"""Deprecated names: one warning text and one way to keep an old name working."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Emit the ``DeprecationWarning`` of a renamed name: ``old`` still works, use ``new``."""
    warnings.warn(
        f"{old} is deprecated and will be removed; use {new} (same meaning).",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def renamed_function(fn: F, old: str, new: str) -> F:
    """``fn`` under its old name ``old``: the same call, with a ``DeprecationWarning``."""

    @functools.wraps(fn)
    def alias(*args: Any, **kwargs: Any) -> Any:
        warn_renamed(old, new)
        return fn(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old.rsplit(".", 1)[-1]
    alias.__doc__ = f"Deprecated alias of :func:`{new}`."
    return alias  # type: ignore[return-value]
