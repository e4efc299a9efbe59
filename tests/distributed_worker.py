"""Run the main job's training loop in this process and save the final state (for tests).

    python tests/distributed_worker.py OUT.npz [meta_train flags...]

The device count (``XLA_FLAGS=--xla_force_host_platform_device_count=N``) and the process
flags (``--coordinator-address`` ...) come from the caller; a test process cannot change them
once JAX has started. Writes the host copy of the final runner state's params (and the update
count) to ``OUT.npz``, one file per process (``OUT.<process id>.npz`` in multi-process jobs),
and skips the final evaluation (only training is compared).
"""

from __future__ import annotations

import sys
from pathlib import Path

from agents.experiment.multihost import join_from_argv

# Join the job of the command line before anything computes with JAX (gymnax does at import),
# as examples/meta_train.py does through examples/multihost.py.
join_from_argv(sys.argv[2:])

import jax  # noqa: E402
import numpy as np  # noqa: E402

from agents.experiment import train as meta_train  # noqa: E402
from agents.sharding import host_copy  # noqa: E402


def main(argv: list[str]) -> None:
    out, flags = Path(argv[0]), argv[1:]
    args = meta_train.parse_args(flags)
    run_dir = meta_train.prepare_run_dir(args)
    state, finished = meta_train.train_loop(args, run_dir)
    leaves = jax.tree.leaves(host_copy(state.train_state.params))
    if jax.process_count() > 1:
        out = out.with_suffix(f".{jax.process_index()}.npz")
    arrays = {f"leaf{i}": np.asarray(x) for i, x in enumerate(leaves)}
    obs_devices = len(state.obs.sharding.device_set)  # devices holding the env slots
    update = np.asarray(host_copy(state.update))
    np.savez(out, update=update, finished=finished, obs_devices=obs_devices, **arrays)
    print(f"devices={jax.device_count()} processes={jax.process_count()} wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
