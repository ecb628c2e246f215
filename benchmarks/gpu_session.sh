#!/usr/bin/env bash
# The GPU measurements of docs/speed.md for a session lent a GPU through the device tool: 15
# minutes of device time in all (machine start and idle time included), 10 minutes per command,
# the machine given back after 30 s idle, at most 8 files back per command.
#
# Here, once:     make gpu-wheels                     # Hydra wheels into .carry/wheels
# Then each call: device run, carry [".carry"], command "bash benchmarks/gpu_session.sh STAGE",
#                 timeout_s 600. The first call of a lease is `all`: every figure of the speed
#                 issue in one command, most important first, within ALL_S seconds.
#   all           tests, bench (the step graph), seeds (4 processes with the step graph, MPS),
#                 compile (CUDA graphs, bf16): each under its own limit and the overall deadline;
#                 a stage cut short is said in the log, the others still run (a stage with under
#                 MIN_STAGE_S, 20 s, left is skipped). One log (all.txt) and one JSON per
#                 benchmark come back.
#   tests         the machine (nvidia-smi, versions) and the CUDA tests of tests/test_speed.py
#   check         tests, then a short ResNet-20 CUDA benchmark (a cheap first look)
#   bench         ResNet-110: plain loop vs the lab step, the whole step as one CUDA graph in
#                 fp32, tf32 and bf16 (trainer.step_graph; no compile, so a short warm-up)
#   compile       ResNet-110: plain loop vs the lab step, compiled and CUDA-graph variants
#   seeds         ResNet-110: 4 seeds stacked (vmap) and as 4 concurrent processes (MPS=1: with
#                 the NVIDIA MPS daemon running, so that the processes' kernels can overlap)
#   data K        K = 1, 2, 3: move the CIFAR-10 files that `make gpu-cifar PART=K` put in
#                 .carry/cifar to $CIFAR (outside the work tree, so later calls keep them)
#   run NAME ARGS one resnet-lab run on the real data in $RUNS/NAME, stopped (checkpoint saved)
#                 after $LIMIT_S seconds, under the command limit; the same stage again continues
#                 it (resume=true) while the machine is warm
# Stages chain in one command (`data 2 && ... run r110 ...`): fewer calls, less idle time.
# Extra arguments go to the benchmark (e.g. --steps 20); VARIANTS=... replaces a stage's lever
# variants (each compiled variant compiles ResNet-110 once), NAME=... its file name.
# Outputs go to $OUT; copy them to benchmarks/results/ with the device, date and command.
# Locally (DEVICE=cpu), OUT is benchmarks/results/incoming.
set -euo pipefail

OUT=${OUT:-benchmarks/results/incoming}
CIFAR=${CIFAR:-/root/cifar}
RUNS=${RUNS:-/root/runs}
DEVICE=${DEVICE:-cuda}
DEPTH=${DEPTH:-110}
LIMIT_S=${LIMIT_S:-540} # stop a run this long after its start, under the 600 s command limit
USAGE="stage: all | tests | check | bench | compile | seeds | data K | run NAME [overrides]"
stage=${1:?$USAGE}
shift
STAGE_ARGS="$*" # for the first line of each log: the command as given
case $stage in
  all | tests | check | bench | compile | seeds | data | run) ;;
  *)
    echo "unknown stage $stage; $USAGE" >&2
    exit 2
    ;;
esac
mkdir -p "$OUT"
SITE=${SITE:-/tmp/site} # the carried wheels go here: the machine's environment may be read-only
export PYTHONPATH=$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}
if [[ -z ${RESNET_LAB_GIT_COMMIT:-} && -f .carry/git_commit ]]; then # no .git here: the commit
  RESNET_LAB_GIT_COMMIT=$(<.carry/git_commit) # that make gpu-wheels / gpu-cifar saw
  export RESNET_LAB_GIT_COMMIT
fi
export PYTHONUNBUFFERED=1 # a stage stopped at its limit keeps what it printed
if [[ $stage != data ]] && ! python3 -c "import hydra, omegaconf" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" .carry/wheels/*.whl
fi

# The result files' prefix, e.g. h200-2026-12-03: computed once (a Python start with torch each
# time) and inherited by the stages that `all` runs
if [[ $stage != data && $stage != run && -z ${TAG:-} ]]; then
  TAG=$(python3 -c "import datetime, sys, torch
gpu = torch.cuda.get_device_name().split()[1].lower() if sys.argv[1] == 'cuda' else 'cpu'
print(f'{gpu}-{datetime.date.today()}')" "$DEVICE")
  export TAG
fi

header() { # header SETTINGS: a log's first line, the stage as given, its settings and commit
  echo "== $(date -u +%FT%TZ) bash $0 $stage $STAGE_ARGS ($1, commit ${RESNET_LAB_GIT_COMMIT:-unknown})"
}

log() { # log NAME: append stdin to $LOG (one log for `all`) or to $OUT/<tag>-NAME.txt
  tee -a "${LOG:-$OUT/$TAG-$1.txt}"
}

bench() { # bench NAME ARGS...: the JSON into $OUT, the printed table (with the command) logged
  local name=$1
  shift
  header "DEPTH=$DEPTH DEVICE=$DEVICE VARIANTS=${VARIANTS:-(stage default)} MPS=${MPS:-0}" |
    log "$name"
  python3 -m resnet_lab.bench --device "$DEVICE" "$@" --out "$OUT/$TAG-$name.json" 2>&1 |
    log "$name"
}

tests() {
  { nvidia-smi || true; python3 -m pip list 2>/dev/null | grep -E "^(torch|triton|hydra-core) "; } |
    log tests
  # the compiled steps last: they take most of the stage's time, and a limit should cut them,
  # not the step graph's tests; both parts run, and the stage fails if either does
  local status=0
  python3 -m pytest -v -rs -k "cuda and not compiled" tests/test_speed.py 2>&1 | log tests ||
    status=$?
  python3 -m pytest -v -rs -k "cuda and compiled" tests/test_speed.py 2>&1 | log tests ||
    status=$?
  return $status
}

case $stage in
  all)
    export LOG=${LOG:-$OUT/$TAG-all.txt}
    deadline=${ALL_S:-560} # SECONDS counts from this script's start: the pip install counts too
    header "ALL_S=$deadline DEPTH=$DEPTH DEVICE=$DEVICE" | tee -a "$LOG"
    limited() { # limited SECONDS STAGE ARGS...: a stage of this script, cut at SECONDS or the deadline
      local limit=$1 left=$((deadline - SECONDS)) status=0
      shift
      if ((left < ${MIN_STAGE_S:-20})); then # too little time left to be worth a start
        echo "== stage $1: skipped, $left s left before the deadline" | tee -a "$LOG"
        return 0
      fi
      ((limit < left)) || limit=$left
      echo "== stage $1${VARIANTS:+ [$VARIANTS]}, at most $limit s" | tee -a "$LOG"
      timeout --signal=TERM --kill-after=20 "$limit" bash "$0" "$@" || status=$?
      if ((status == 124 || status == 137)); then
        echo "== stage $1: stopped at its $limit s limit" | tee -a "$LOG"
      elif ((status != 0)); then
        echo "== stage $1: failed with status $status" | tee -a "$LOG"
      fi
    }
    limited "${TESTS_S:-150}" tests
    limited "${BENCH_S:-120}" bench "$@"
    MPS=1 NAME=resnet$DEPTH-seeds-stepgraph-mps limited "${SEEDS_S:-120}" seeds "$@" trainer.step_graph=true
    VARIANTS=cl+bf16+graphs+cudnn NAME=resnet$DEPTH-graphs-bf16 limited "${GRAPHS_S:-150}" compile "$@"
    ;;
  tests)
    tests
    ;;
  check)
    tests
    bench smoke --depth 20 --steps 20 --rounds 2 --variants "${VARIANTS:-none,cl+graphs+cudnn}" "$@"
    ;;
  bench)
    bench "${NAME:-resnet$DEPTH}" --depth "$DEPTH" --rounds 5 \
      --variants "${VARIANTS:-cl+stepgraph+cudnn,cl+tf32+stepgraph+cudnn,cl+bf16+stepgraph+cudnn}" "$@"
    ;;
  compile)
    bench "${NAME:-resnet$DEPTH-compile}" --depth "$DEPTH" --rounds 5 \
      --variants "${VARIANTS:-cl+compile+cudnn,cl+graphs+cudnn,cl+bf16+graphs+cudnn}" "$@"
    ;;
  seeds)
    suffix=""
    if [[ ${MPS:-0} == 1 ]]; then # processes share the GPU through NVIDIA MPS, not time-slicing
      # a daemon left by a stage killed past its limit (no EXIT trap then) is stopped first
      echo quit | nvidia-cuda-mps-control 2>/dev/null || true
      nvidia-cuda-mps-control -d || { sleep 2 && nvidia-cuda-mps-control -d; } # still quitting
      trap 'echo quit | nvidia-cuda-mps-control' EXIT
      suffix="-mps"
    fi
    bench "${NAME:-resnet$DEPTH-seeds$suffix}" --depth "$DEPTH" --rounds 3 --models 4 \
      --processes 4 "$@"
    ;;
  data)
    part=${1:?"data K: K = 1, 2 or 3"}
    mkdir -p "$CIFAR/cifar-10-batches-bin"
    mv .carry/cifar/* "$CIFAR/cifar-10-batches-bin/"
    ls -l "$CIFAR/cifar-10-batches-bin" | tee "$OUT/data-part$part.txt"
    ;;
  run)
    name=${1:?"run NAME [overrides]"}
    shift
    status=0
    {
      header "LIMIT_S=$LIMIT_S DEVICE=$DEVICE"
      timeout --signal=TERM --kill-after=60 "$LIMIT_S" python3 -m resnet_lab data.root="$CIFAR" \
        trainer.device="$DEVICE" trainer.progress=none resume=true hydra.run.dir="$RUNS/$name" \
        "$@" 2>&1 | tail -n 40
    } | tee "$OUT/$name-log.txt" || status=$?
    launch=$(ls -d "$RUNS/$name"/.hydra/*/ 2>/dev/null | tail -n 1 || true)  # this launch's record
    for f in result.json metrics.jsonl config.yaml "${launch#"$RUNS/$name/"}overrides.yaml"; do
      [[ -f $RUNS/$name/$f ]] && cp "$RUNS/$name/$f" "$OUT/$name-$(basename "$f")"
    done
    exit "$status"
    ;;
esac
