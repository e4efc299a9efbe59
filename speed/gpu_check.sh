#!/usr/bin/env bash
# One prepared GPU check (<= 8 minutes on one H100): install, then write OUT_DIR/gpu_check.json.
#
#   bash speed/gpu_check.sh OUT_DIR            # on the GPU host, from the repo root
#   bash speed/gpu_check.sh OUT_DIR --tiny     # the same code path at CPU-sized shapes
#
# Parts (each under its own `timeout`, so one slow part cannot sink the rest; a part that
# fails or times out is recorded as null with its log under OUT_DIR/logs/):
#   1. agent_speed   speed/agent_speed.py at the paper's sizes: 64 envs x 1024 steps,
#                    30 epochs x 8 minibatches, S5 (scan="auto" and each named schedule) / GRU /
#                    LSTM: steps/s and compile s (median of 2 interleaved updates)
#   2. env_throughput speed/stack_throughput.py (the full task stack in a VecEnv, wall
#                    clock, one compile per size) for classic and dmc-lu2023 at 4096 and
#                    16384 envs
#   3. training      examples/meta_train.py --preset gpu for ~TRAIN_SECONDS (default 120 s
#                    after compilation): env steps/s from metrics.jsonl (compile excluded)
#   4. scaling       speed/scaling.py on the devices present
#   5. memory_scaling speed/memory_scaling.py --max-len T, S5's three scan schedules
#                    against GRU and LSTM (MEMORY_FLAGS: other flags)
#
# Sizes come from environment variables (the --tiny flag sets CPU-sized defaults for all):
#   AGENT_FLAGS  extra flags of agent_speed.py     ENV_SIZES  4096,16384   ENV_STEPS  200
#   AGENT_MEMORIES  s5,gru,lstm,s5:sequential,s5:doubling,s5:associative
#   ENV_BENCHMARKS  "classic dmc-lu2023"           PARTS  which parts run, of
#            "agent_speed memory_scaling env training scaling" (default all, in that order)
#   TRAIN_SECONDS  120     TRAIN_FLAGS  extra flags of meta_train.py (after --preset gpu)
#   SCALING_FLAGS  flags of scaling.py            MEMORY_MAX_LEN  4096   MEMORY_FLAGS
#   INSTALL  1: install with the README's command first (pip install -e ".[dmc]"; on an NVIDIA
#            host without a GPU jax, first pip install "jax[cuda12]"), 0: use the environment
#   PYTHON  the interpreter (default python3)
#   DEADLINE  seconds after the start by which every part has ended (default 460, so that the
#            whole script ends inside 8 minutes); a part's limit is cut to the time left, and
#            a part with under 15 s left is skipped (null in the JSON)
#   LIMIT_SCALE  multiplies every part's time limit (default 1; 4 with --tiny: a loaded CPU
#            compiles slowly)
set -uo pipefail

OUT_DIR=${1:?usage: gpu_check.sh OUT_DIR [--tiny]}
TINY=0
[[ "${2:-}" == "--tiny" ]] && TINY=1
PY=${PYTHON:-python3}
cd "$(dirname "$0")/.."
mkdir -p "$OUT_DIR/logs"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
START=$(date +%s)

if [[ $TINY == 1 ]]; then
  : "${AGENT_FLAGS:=--num-envs 4 --num-steps 16 --update-epochs 1 --num-minibatches 2 --repeats 1}"
  : "${ENV_SIZES:=16,32}" "${ENV_STEPS:=10}" "${TRAIN_SECONDS:=20}" "${MEMORY_MAX_LEN:=64}"
  : "${TRAIN_FLAGS:=--num-envs 8 --num-steps 16 --update-epochs 1 --num-minibatches 2 --encoder-sizes 16 --head-sizes 16 --s5-state-size 8 --s5-num-layers 1 --updates-per-chunk 2}"
  : "${SCALING_FLAGS:=--envs-per-device 8 --num-steps 16 --update-epochs 1 --num-minibatches 2 --repeats 1 --memory gru}"
  : "${INSTALL:=0}" "${LIMIT_SCALE:=4}"
fi
: "${AGENT_FLAGS:=}" "${ENV_SIZES:=4096,16384}" "${ENV_STEPS:=200}" "${TRAIN_SECONDS:=120}"
: "${AGENT_MEMORIES:=s5,gru,lstm,s5:sequential,s5:doubling,s5:associative}"
: "${ENV_BENCHMARKS:=classic dmc-lu2023}" "${MEMORY_FLAGS:=}"
: "${PARTS:=agent_speed memory_scaling env training scaling}"
: "${TRAIN_FLAGS:=}" "${SCALING_FLAGS:=}" "${MEMORY_MAX_LEN:=4096}" "${INSTALL:=1}"
: "${LIMIT_SCALE:=1}" "${DEADLINE:=$((460 * LIMIT_SCALE))}"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

log() { echo "[gpu_check $(($(date +%s) - START)) s] $*"; }
wants() { [[ " $PARTS " == *" $1 "* ]]; }

# ------------------------------------------------------------------------------ install
if [[ $INSTALL == 1 ]]; then
  log "installing (README's command)"
  if command -v nvidia-smi >/dev/null && ! $PY -c "import jax; assert jax.default_backend() == 'gpu'" 2>/dev/null; then
    $PY -m pip install -q "jax[cuda12]" >"$OUT_DIR/logs/install.log" 2>&1
  fi
  $PY -m pip install -q -e ".[dmc]" >>"$OUT_DIR/logs/install.log" 2>&1 || log "install failed (see logs/install.log)"
fi
$PY -c "import jax; print('jax', jax.__version__, jax.devices())" | tee "$OUT_DIR/logs/devices.log"

# Run a part: NAME SECONDS CMD...; its stdout's last line (a JSON object) goes to parts/NAME.json.
run_part() {
  local name=$1 seconds=$(($2 * LIMIT_SCALE))
  shift 2
  local left=$((DEADLINE - ($(date +%s) - START)))
  ((seconds > left)) && seconds=$left
  if ((seconds < 15)); then
    log "$name skipped: the ${DEADLINE} s deadline is near"
    return
  fi
  log "$name (limit ${seconds} s): $*"
  mkdir -p "$OUT_DIR/parts"
  timeout --kill-after=10 "$seconds" "$@" >"$OUT_DIR/logs/$name.log" 2>&1
  local rc=$?
  [[ $rc != 0 ]] && log "$name exited with $rc (see logs/$name.log)"
  tail -n 1 "$OUT_DIR/logs/$name.log" >"$OUT_DIR/parts/$name.json"
}

# ---------------------------------------------------------------------------- 1. agent
# shellcheck disable=SC2086
wants agent_speed && run_part agent_speed 150 $PY speed/agent_speed.py \
  --memories "$AGENT_MEMORIES" --repeats 2 $AGENT_FLAGS

# ------------------------------------------------------------------- 5. memory scaling
# (before the envs: it decides which scan schedule scan="auto" runs on this backend)
# shellcheck disable=SC2086
wants memory_scaling && run_part memory_scaling 60 $PY speed/memory_scaling.py \
  --max-len "$MEMORY_MAX_LEN" --memories s5_sequential,s5_doubling,s5_associative,gru,lstm \
  --json "$OUT_DIR/parts/memory_scaling_full.json" $MEMORY_FLAGS

# ----------------------------------------------------------------------------- 2. envs
for bench in $ENV_BENCHMARKS; do
  wants env || break
  run_part "env_${bench}" 75 $PY speed/stack_throughput.py --benchmark "$bench" \
    --num-envs "$ENV_SIZES" --steps "$ENV_STEPS" --repeats 3
done

# ------------------------------------------------------------------------- 3. training
if wants training; then
# Train until TRAIN_SECONDS after the first chunk compiled, then stop; steps/s from the rows.
# (cut so that scaling, if it runs after it, keeps its 90 s, and the training its final 60 s)
reserve=60
wants scaling && reserve=150
left=$((DEADLINE - ($(date +%s) - START) - reserve * LIMIT_SCALE))
((TRAIN_SECONDS > left)) && TRAIN_SECONDS=$((left > 20 ? left : 20))
log "training: gpu preset for ~${TRAIN_SECONDS} s"
rm -rf "$OUT_DIR/train_run"
# shellcheck disable=SC2086
timeout --kill-after=10 $((TRAIN_SECONDS + 120 * LIMIT_SCALE)) $PY examples/meta_train.py --preset gpu \
  --eval-every 0 --no-progress --out-dir "$OUT_DIR/train_run" $TRAIN_FLAGS \
  >"$OUT_DIR/logs/training.log" 2>&1 &
TRAIN_PID=$!
$PY - "$OUT_DIR/train_run/metrics.jsonl" "$TRAIN_SECONDS" "$TRAIN_PID" <<'EOF'
import json, os, signal, sys, time
path, seconds, pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
first = None
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        break
    rows = open(path).read().splitlines() if os.path.exists(path) else []
    if rows and first is None:
        first = time.time()
    if first is not None and time.time() - first > seconds:
        os.kill(pid, signal.SIGTERM)
        break
    time.sleep(1)
EOF
wait $TRAIN_PID 2>/dev/null
$PY - "$OUT_DIR/train_run/metrics.jsonl" >"$OUT_DIR/parts/training.json" <<'EOF'
import json, os, sys
path = sys.argv[1]
rows = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
rows = [r for r in rows if r.get("steps_per_second")]
steps = sum(r["chunk_seconds"] * r["steps_per_second"] for r in rows)
seconds = sum(r["chunk_seconds"] for r in rows)
print(json.dumps({
    "chunks": len(rows),
    "env_steps": rows[-1]["env_steps"] if rows else 0,
    "seconds_timed": seconds,
    "steps_per_s": steps / seconds if seconds else None,
    "steps_per_s_first_chunk": rows[0]["steps_per_second"] if rows else None,
}))
EOF
grep -h "compiled a chunk" "$OUT_DIR/logs/training.log" | head -1
fi

# -------------------------------------------------------------------------- 4. scaling
# shellcheck disable=SC2086
wants scaling && run_part scaling 90 $PY speed/scaling.py $SCALING_FLAGS

# ----------------------------------------------------------------------------- merge
$PY - "$OUT_DIR" "$START" <<'EOF'
import json, pathlib, platform, sys, time
out, start = pathlib.Path(sys.argv[1]), float(sys.argv[2])
def part(name):
    path = out / "parts" / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
names = sorted(p.stem for p in (out / "parts").glob("*.json"))
result = {
    "machine": (out / "logs" / "devices.log").read_text().strip(),
    "host": platform.node(),
    "agent_speed": part("agent_speed"),
    "env_throughput": {n[4:]: part(n) for n in names if n.startswith("env_")},
    "training": part("training"),
    "scaling": part("scaling"),
    "memory_scaling": part("memory_scaling_full") or part("memory_scaling"),
    "wall_seconds": round(time.time() - start, 1),
}
(out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n")
print(json.dumps(result)[:2000])
EOF
log "done: $OUT_DIR/gpu_check.json"
