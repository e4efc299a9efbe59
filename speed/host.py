"""Where a benchmark ran, named the same way by every script here."""

from __future__ import annotations

import os
import platform

import jax


def cpu_model() -> str:
    """The CPU's model name: ``/proc/cpuinfo`` on Linux, where ``platform.processor()`` is
    empty; elsewhere ``platform.processor()``, else the architecture."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    """A one-line description of where this ran: the JAX device and the host's CPU."""
    device = jax.devices()[0]
    return f"{device.platform}:{device.device_kind}; {os.cpu_count()} CPU cores ({cpu_model()})"
