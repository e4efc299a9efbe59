"""Cost of each memory against sequence length: S5, GRU, LSTM and the windowed Transformer.

At equal width H, for T = min-len, 2 * min-len, ..., max-len, time

* **fwd+bwd**: the gradient (w.r.t. the parameters) of a loss on the outputs of one
  ``[T, B, H]`` sequence, the training form (S5: parallel scan; GRU, LSTM: sequential scan;
  Transformer: blocked windowed attention);
* **step**: running the same T steps one at a time, carrying the hidden state (``lax.scan``
  over single-step calls), the inference form of a rollout; reported per step.

Each time is the best of ``--repeats`` runs of a compiled program (a shared machine's load only
ever adds time), in wall seconds, or with ``--clock cpu`` in CPU seconds of the process (all
threads), which other jobs on a shared CPU disturb less; use wall time on an accelerator.

Memories: ``s5`` (``--layers`` layers, state size H, the scan schedule chosen for the backend;
``s5_sequential``, ``s5_doubling``, ``s5_associative`` name one), ``gru`` and ``lstm``
(one layer each, as shipped), ``transformer`` (``--layers`` blocks, ``--heads`` heads,
window ``--window``) and ``transformer_full`` (the same with a window as long as the sequence:
full causal attention, O(T^2); only up to ``--full-max-len``).

It prints a table, the fitted exponent p of time ~ T^p per memory (least squares in log-log
over the upper half of the lengths, where fixed overheads matter least; per-step time should
have p ~ 0 for S5, RNNs and the windowed Transformer, p ~ 1 for full attention), draws a
log-log plot to ``--plot``, and prints as its last line one JSON object with the ratios to S5 at
the largest T (``fwd_bwd_ratio_to_s5``, ``step_ratio_to_s5``: > 1 means slower than S5), also
written to ``--json``.

Usage::

    python speed/memory_scaling.py --max-len 4096 --json scaling.json --plot scaling.png
    python speed/memory_scaling.py --max-len 1024 --batch 2 --width 64   # a small CPU run
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from host import describe

from agents.memory import make_memory

MEMORIES = ("s5", "gru", "lstm", "transformer", "transformer_full")
S5_SCHEDULES = ("s5_sequential", "s5_doubling", "s5_associative")  # S5 with a named scan


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line flags: lengths, sizes, memories, outputs."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--min-len", type=int, default=64, help="shortest sequence T")
    p.add_argument("--max-len", type=int, default=4096, help="longest sequence T (doubling)")
    p.add_argument("--batch", type=int, default=8, help="sequences per call B")
    p.add_argument("--width", type=int, default=128, help="width H of every memory")
    p.add_argument("--layers", type=int, default=2, help="S5 layers and Transformer blocks")
    p.add_argument("--heads", type=int, default=4, help="Transformer heads")
    p.add_argument("--window", type=int, default=128, help="Transformer window W")
    p.add_argument("--full-max-len", type=int, default=0, help="longest T for transformer_full")
    p.add_argument("--memories", default=",".join(MEMORIES), help="comma-separated, of MEMORIES")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (best)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="what time counts")
    p.add_argument("--plot", default=None, help="write the log-log plot (PNG) here")
    p.add_argument("--json", default=None, help="write the final JSON object here too")
    args = p.parse_args(argv)
    if not 0 < args.min_len <= args.max_len:
        p.error(f"need 0 < --min-len <= --max-len, got {args.min_len}, {args.max_len}")
    unknown = set(args.memories.split(",")) - set(MEMORIES + S5_SCHEDULES)
    if unknown:
        p.error(f"unknown memories {sorted(unknown)}; choose from {MEMORIES + S5_SCHEDULES}")
    return args


def lengths(min_len: int, max_len: int) -> list[int]:
    """min_len, 2 * min_len, ... up to max_len."""
    out = [min_len]
    while out[-1] * 2 <= max_len:
        out.append(out[-1] * 2)
    return out


def build_memory(name: str, args: argparse.Namespace, seq_len: int) -> Any:
    """The memory module ``name`` at width ``args.width``; ``transformer_full`` sees all T."""
    if name == "s5" or name in S5_SCHEDULES:
        scan = name.partition("_")[2] or "auto"
        return make_memory(
            "s5", d_model=args.width, state_size=args.width, num_layers=args.layers, scan=scan
        )
    if name in ("gru", "lstm"):
        return make_memory(name, hidden_size=args.width)
    window = seq_len if name == "transformer_full" else args.window
    return make_memory(
        "transformer",
        hidden_size=args.width,
        num_layers=args.layers,
        num_heads=args.heads,
        window=window,
    )


def best_time(fn: Callable[..., Any], *inputs: Any, repeats: int, clock: str = "wall") -> float:
    """Best seconds of ``repeats`` runs of a compiled ``fn(*inputs)``: wall or process CPU."""
    now = time.perf_counter if clock == "wall" else time.process_time
    times = []
    for _ in range(repeats):
        start = now()
        jax.block_until_ready(fn(*inputs))
        times.append(now() - start)
    return min(times)


def time_memory(name: str, args: argparse.Namespace, seq_len: int) -> tuple[float, float]:
    """(fwd+bwd seconds of one [T, B] sequence, inference seconds per step) of one memory."""
    memory = build_memory(name, args, seq_len)
    batch, width = args.batch, args.width
    x = jax.random.normal(jax.random.key(0), (seq_len, batch, width))
    resets = jnp.zeros((seq_len, batch), bool).at[0].set(True)
    hidden = memory.initialize_carry(batch)
    params = jax.jit(memory.init)(jax.random.key(1), hidden, x[:1], resets[:1])

    def loss(params: Any, x: jax.Array) -> jax.Array:
        return jnp.mean(memory.apply(params, hidden, x, resets)[1] ** 2)

    def stepped(params: Any, x: jax.Array) -> jax.Array:
        def step(h: Any, inputs: tuple[jax.Array, jax.Array]) -> tuple[Any, jax.Array]:
            h, y = memory.apply(params, h, inputs[0][None], inputs[1][None])
            return h, y[0]

        return jax.lax.scan(step, hidden, (x, resets))[1]

    fwd_bwd = jax.jit(jax.grad(loss)).lower(params, x).compile()
    step = jax.jit(stepped).lower(params, x).compile()
    t_train = best_time(fwd_bwd, params, x, repeats=args.repeats, clock=args.clock)
    t_step = best_time(step, params, x, repeats=args.repeats, clock=args.clock) / seq_len
    return t_train, t_step


def fit_exponent(ts: Sequence[int], times: Sequence[float]) -> float:
    """Slope p of log(time) = p log(T) + c over the upper half of the lengths (>= 2 points)."""
    ts, times = np.asarray(ts, float), np.asarray(times, float)
    keep = np.isfinite(times)
    ts, times = ts[keep], times[keep]
    if len(ts) < 2:
        return float("nan")
    upper = slice(max(0, min(len(ts) // 2, len(ts) - 3)), None)  # at least 3 points if there
    return float(np.polyfit(np.log(ts[upper]), np.log(times[upper]), 1)[0])


def _sig(value: float) -> float:
    """``value`` to 4 significant digits (NaN stays NaN)."""
    return float(f"{value:.4g}")


def plot(path: str, ts: list[int], results: dict[str, dict[str, list[float]]]) -> None:
    """Log-log plot: fwd+bwd seconds and per-step seconds against T, one line per memory."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in (
        (axes[0], "fwd_bwd_s", "fwd+bwd of one [T, B] sequence"),
        (axes[1], "step_s", "inference, per step"),
    ):
        for name, r in results.items():
            ax.loglog(ts, r[key], marker="o", label=name)
        ax.set_xscale("log", base=2)
        ax.set(xlabel="sequence length T", ylabel="seconds", title=title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; return (and print as the last line) the summary JSON object."""
    args = parse_args(argv)
    names = [m for m in args.memories.split(",") if m]
    ts = lengths(args.min_len, args.max_len)
    full_max = args.full_max_len or args.max_len
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    print(
        f"B={args.batch}, H={args.width}, layers={args.layers} (S5, transformer), "
        f"heads={args.heads}, window={args.window}; best of {args.repeats}, {args.clock} time"
    )
    print(f"{'memory':17s} {'T':>6s} {'fwd+bwd ms':>12s} {'step us':>10s}", flush=True)
    results: dict[str, dict[str, list[float]]] = {}
    for name in names:
        r = {"fwd_bwd_s": [], "step_s": []}
        for seq_len in ts:
            if name == "transformer_full" and seq_len > full_max:
                t_train = t_step = float("nan")
            else:
                t_train, t_step = time_memory(name, args, seq_len)
            r["fwd_bwd_s"].append(t_train)
            r["step_s"].append(t_step)
            print(f"{name:17s} {seq_len:6d} {t_train * 1e3:12.2f} {t_step * 1e6:10.1f}", flush=True)
        results[name] = r
    exponents = {
        key: {name: round(fit_exponent(ts, r[key]), 2) for name, r in results.items()}
        for key in ("fwd_bwd_s", "step_s")
    }
    print(f"{'fitted exponent p (time ~ T^p)':32s} {'fwd+bwd':>8s} {'step':>8s}")
    for name in results:
        print(f"{name:32s} {exponents['fwd_bwd_s'][name]:8.2f} {exponents['step_s'][name]:8.2f}")
    if args.plot:
        plot(args.plot, ts, results)
        print(f"plot: {args.plot}")

    def ratios(key: str) -> dict[str, float]:
        if "s5" not in results:
            return {}
        base = results["s5"][key][-1]
        out = {n: r[key][-1] / base for n, r in results.items() if n != "s5"}
        return {n: round(v, 3) for n, v in out.items() if np.isfinite(v)}

    summary = {
        "benchmark": "memory_scaling",
        "machine": describe(),
        "load_average": round(os.getloadavg()[0], 2),
        "batch": args.batch,
        "width": args.width,
        "layers": args.layers,
        "heads": args.heads,
        "window": args.window,
        "clock": args.clock,
        "lengths": ts,
        "max_len": ts[-1],
        "fwd_bwd_s": {n: [_sig(v) for v in r["fwd_bwd_s"]] for n, r in results.items()},
        "step_s": {n: [_sig(v) for v in r["step_s"]] for n, r in results.items()},
        "exponent_fwd_bwd": exponents["fwd_bwd_s"],
        "exponent_step": exponents["step_s"],
        "fwd_bwd_ratio_to_s5": ratios("fwd_bwd_s"),
        "step_ratio_to_s5": ratios("step_s"),
    }
    line = json.dumps(summary).replace("NaN", "null")
    if args.json:
        with open(args.json, "w") as f:
            f.write(line + "\n")
    print(line)
    return summary


if __name__ == "__main__":
    main()
