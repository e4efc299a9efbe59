"""Checkpoints of the full training state with orbax, plus a JSON sidecar that names the run.

A checkpoint folder holds one sub-folder per saved step (``checkpoints/<step>/``), each with

* ``state/``: the training-state pytree (params, optimizer state, env state, PRNG keys, ...),
  written by orbax's ``StandardSave``;
* ``meta/``: a JSON sidecar, by default ``{"config": {...}, "fingerprint": "...", ...}``.

Both parts are written into a temporary folder that orbax renames to its final name only when
every file is on disk (``AtomicRenameTemporaryPath``), so a crash mid-save leaves either the
previous checkpoints or a ``*.orbax-checkpoint-tmp-*`` folder that is ignored when listing steps
and removed on the next open. Only the newest ``max_to_keep`` steps are kept.

``restore`` checks the sidecar against the caller's expected metadata and refuses a checkpoint
written by another configuration (or benchmark) with a :class:`ConfigMismatchError` that names
each differing field.

Typed PRNG keys (``jax.random.key``) are stored as their raw ``uint32`` key data and rewrapped
on restore, so any JAX pytree of arrays round-trips bitwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

__all__ = [
    "CheckpointStore",
    "ConfigMismatchError",
    "config_diff",
    "flatten_dict",
    "tree_equal",
]


class ConfigMismatchError(ValueError):
    """A checkpoint was written by a different configuration than the one restoring it."""


def flatten_dict(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into ``{"a.b.c": leaf}``; tuples are kept as JSON lists."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_dict(value, prefix=f"{name}."))
        elif isinstance(value, tuple):
            out[name] = list(value)
        else:
            out[name] = value
    return out


_MISSING = "<missing>"


def config_diff(
    saved: Mapping[str, Any], current: Mapping[str, Any], ignore: Iterable[str] = ()
) -> list[str]:
    """Fields that differ between two (nested) JSON-like configs, as readable lines.

    Args:
        saved: the configuration stored with a checkpoint.
        current: the configuration of the run that wants to restore it.
        ignore: dotted field names (or prefixes ending in ``.``) left out of the comparison.

    Returns:
        One line per differing field, ``"name: checkpoint=<saved>, now=<current>"``, sorted by
        name; empty when the configs agree.
    """
    ignore = tuple(ignore)
    flat_saved, flat_current = flatten_dict(saved), flatten_dict(current)
    lines = []
    for name in sorted(set(flat_saved) | set(flat_current)):
        if any(name == i or (i.endswith(".") and name.startswith(i)) for i in ignore):
            continue
        a, b = flat_saved.get(name, _MISSING), flat_current.get(name, _MISSING)
        if a != b:
            lines.append(f"{name}: checkpoint={a!r}, now={b!r}")
    return lines


def _is_typed_key(leaf: Any) -> bool:
    return hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _to_storable(tree: Any) -> Any:
    """Replace typed PRNG keys by their ``uint32`` key data; everything else unchanged."""
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_typed_key(x) else x, tree)


def _abstract_storable(like: Any) -> Any:
    """Shape/dtype structs of ``_to_storable(like)``, the restore target orbax needs."""

    def one(x):
        if _is_typed_key(x):
            x = jax.eval_shape(jax.random.key_data, x)
        return ocp.utils.to_shape_dtype_struct(x)

    return jax.tree.map(one, like)


def _from_storable(restored: Any, like: Any) -> Any:
    """Rewrap key data as typed keys where ``like`` holds typed keys."""

    def one(x, ref):
        if _is_typed_key(ref):
            return jax.random.wrap_key_data(x, impl=jax.random.key_impl(ref))
        return x

    return jax.tree.map(one, restored, like)


class CheckpointStore:
    """Atomic, rotating checkpoints of one run in ``directory`` (see module docstring).

    Example::

        store = CheckpointStore(run_dir / "checkpoints", max_to_keep=3)
        store.save(step, runner_state, {"config": cfg_dict, "fingerprint": bench.fingerprint})
        ...
        state, meta = store.restore(like=runner_state, expect={"config": cfg_dict, ...})
        store.close()

    Args:
        directory: folder of the checkpoints; created if missing.
        max_to_keep: number of newest steps kept; older ones are deleted after each save.
        asynchronous: write in a background thread (call :meth:`wait` or :meth:`close` before
            reading the files or exiting).
    """

    def __init__(self, directory: str | Path, *, max_to_keep: int = 3, asynchronous: bool = True):
        if max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1, got {max_to_keep}.")
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            create=True,
            cleanup_tmp_directories=True,
            enable_async_checkpointing=asynchronous,
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    # ------------------------------------------------------------------ queries
    def steps(self) -> list[int]:
        """Finished (fully written) checkpoint steps, oldest first."""
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        """The newest finished step, or None when the folder holds no checkpoint."""
        return self._manager.latest_step()

    def read_metadata(self, step: int | None = None) -> dict[str, Any]:
        """The JSON sidecar of ``step`` (default: the newest step)."""
        step = self._require_step(step)
        restored = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        return dict(restored["meta"])

    # ------------------------------------------------------------------ save / restore
    def save(self, step: int, state: Any, metadata: Mapping[str, Any]) -> None:
        """Save ``state`` (a pytree of arrays) and the JSON-serialisable ``metadata`` at ``step``.

        Overwrites nothing: saving a step that exists raises orbax's ``StepAlreadyExistsError``.
        """
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(_to_storable(state)),
            meta=ocp.args.JsonSave(dict(metadata)),
        )
        self._manager.save(int(step), args=args)

    def restore(
        self,
        like: Any,
        *,
        step: int | None = None,
        expect: Mapping[str, Any] | None = None,
        ignore: Iterable[str] = (),
    ) -> tuple[Any, dict[str, Any]]:
        """Restore the state saved at ``step`` (default: newest) into the structure of ``like``.

        Args:
            like: a pytree with the same structure, shapes and dtypes as the saved state (e.g.
                the freshly initialised state; only shapes/dtypes/shardings are used).
            step: the step to restore; default the newest.
            expect: metadata the checkpoint must match (e.g. ``{"config": ..., "fingerprint":
                ...}``); its top-level keys are compared field by field (nested dicts flattened
                to dotted names); other keys of the sidecar (e.g. progress counters) are not.
            ignore: dotted names (or prefixes ending in ``.``) not compared.

        Returns:
            ``(state, metadata)``.

        Raises:
            FileNotFoundError: no checkpoint in the folder (or no such step).
            ConfigMismatchError: the sidecar differs from ``expect``; names every field.
        """
        step = self._require_step(step)
        metadata = self.read_metadata(step)
        if expect is not None:
            saved = {k: metadata.get(k, _MISSING) for k in expect}
            diff = config_diff(saved, expect, ignore=ignore)
            if diff:
                raise ConfigMismatchError(
                    f"checkpoint {self.directory / str(step)} was written by another "
                    f"configuration; differing fields:\n  " + "\n  ".join(diff) + "\n"
                    "Run with the checkpoint's configuration, or start a new run folder."
                )
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(_abstract_storable(like))),
        )
        return _from_storable(restored["state"], like), metadata

    # ------------------------------------------------------------------ lifecycle
    def wait(self) -> None:
        """Block until a background save has finished."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Finish pending saves and release the manager."""
        self._manager.wait_until_finished()
        self._manager.close()

    def __enter__(self) -> CheckpointStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_step(self, step: int | None) -> int:
        self._manager.reload()
        steps = self.steps()
        if not steps:
            raise FileNotFoundError(f"no finished checkpoint in {self.directory}.")
        if step is None:
            return steps[-1]
        if step not in steps:
            raise FileNotFoundError(
                f"no checkpoint for step {step} in {self.directory}; available steps: {steps}."
            )
        return int(step)


def tree_equal(a: Any, b: Any) -> bool:
    """True when two pytrees have the same structure and bitwise-equal leaves (host check)."""
    la, ta = jax.tree.flatten(_to_storable(a))
    lb, tb = jax.tree.flatten(_to_storable(b))
    if ta != tb:
        return False
    for x, y in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
            return False
    return True
