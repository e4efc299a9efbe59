"""Argument checks shared by the wrappers."""

from __future__ import annotations

from typing import Any

import numpy as np


def positive_int(value: Any, where: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}.")
    return int(value)
