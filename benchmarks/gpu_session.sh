#!/usr/bin/env bash
# The GPU measurements of docs/speed.md, stage by stage, for a session lent a GPU through the
# device tool (10 minutes per command, 30 minutes in all, machine released after 30 s idle).
#
# Here, once:     make gpu-wheels                     # Hydra wheels into .carry/wheels
# Then each call: device run, carry [".carry"], command "bash benchmarks/gpu_session.sh STAGE"
#   check         GPU tests of tests/test_speed.py and a short ResNet-20 CUDA benchmark
#   bench         ResNet-110: plain loop vs the lab step, eager lever variants (cl, cudnn, bf16)
#   compile       ResNet-110: plain loop vs the lab step, compiled and CUDA-graph variants
#   seeds         ResNet-110: 4 seeds stacked (vmap) and as 4 concurrent processes (MPS=1: with
#                 the NVIDIA MPS daemon running, so that the processes' kernels can overlap)
#   data K        K = 1, 2, 3: move the CIFAR-10 files that `make gpu-cifar PART=K` put in
#                 .carry/cifar to $CIFAR (outside the work tree, so later calls keep them)
#   run NAME ARGS one resnet-lab run on the real data in $RUNS/NAME, stopped (checkpoint saved)
#                 after $LIMIT_S seconds, under the command limit; the same stage again continues
#                 it (resume=true) while the machine is warm
# Each stage is meant to fit one command; extra arguments go to the benchmark (e.g. --steps 20),
# VARIANTS=... replaces a stage's lever variants (each compiled variant compiles ResNet-110 once).
# Outputs go to $OUT (the device tool returns at most 8 files); copy them to benchmarks/results/
# with the device, date and command. Locally (DEVICE=cpu), OUT is benchmarks/results/incoming.
set -euo pipefail

OUT=${OUT:-benchmarks/results/incoming}
CIFAR=${CIFAR:-/root/cifar}
RUNS=${RUNS:-/root/runs}
DEVICE=${DEVICE:-cuda}
LIMIT_S=${LIMIT_S:-540} # stop a run this long after its start, under the 600 s command limit
USAGE="stage: check | bench | compile | seeds | data K | run NAME [overrides]"
stage=${1:?$USAGE}
shift
case $stage in
  check | bench | compile | seeds | data | run) ;;
  *)
    echo "unknown stage $stage; $USAGE" >&2
    exit 2
    ;;
esac
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [[ $stage != data ]] && ! python3 -c "import hydra, omegaconf" 2>/dev/null; then
  python3 -m pip install -q --no-index --find-links .carry/wheels hydra-core omegaconf
fi

device_tag() { # e.g. h100-2026-11-23: the prefix of the result files
  python3 -c "import datetime, sys, torch
gpu = torch.cuda.get_device_name().split()[1].lower() if sys.argv[1] == 'cuda' else 'cpu'
print(f'{gpu}-{datetime.date.today()}')" "$DEVICE"
}

bench() { # bench NAME ARGS...: the JSON and the printed table (with the command) into $OUT
  local name=$1 tag
  shift
  tag=$(device_tag)
  python3 -m resnet_lab.bench --device "$DEVICE" "$@" --out "$OUT/$tag-$name.json" 2>&1 |
    tee "$OUT/$tag-$name.txt"
}

case $stage in
  check)
    tag=$(device_tag)
    { nvidia-smi || true; python3 -m pip list 2>/dev/null | grep -E "^(torch|triton|hydra-core) "; } |
      tee "$OUT/$tag-machine.txt"
    python3 -m pytest -q -rs tests/test_speed.py 2>&1 | tee "$OUT/$tag-tests.txt"
    bench smoke --depth 20 --steps 20 --rounds 2 --variants "${VARIANTS:-none,cl+graphs+cudnn}" "$@"
    ;;
  bench)
    bench "resnet${DEPTH:-110}" --depth "${DEPTH:-110}" --rounds 5 --variants "${VARIANTS:-none,cl,cl+bf16+cudnn}" "$@"
    ;;
  compile)
    bench "resnet${DEPTH:-110}-compile" --depth "${DEPTH:-110}" --rounds 5 \
      --variants "${VARIANTS:-cl+compile+cudnn,cl+graphs+cudnn,cl+bf16+graphs+cudnn}" "$@"
    ;;
  seeds)
    suffix=""
    if [[ ${MPS:-0} == 1 ]]; then # processes share the GPU through NVIDIA MPS, not time-slicing
      nvidia-cuda-mps-control -d
      trap 'echo quit | nvidia-cuda-mps-control' EXIT
      suffix="-mps"
    fi
    bench "resnet${DEPTH:-110}-seeds$suffix" --depth "${DEPTH:-110}" --rounds 3 --models 4 \
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
    timeout --signal=TERM "$LIMIT_S" python3 -m resnet_lab data.root="$CIFAR" \
      trainer.device="$DEVICE" trainer.progress=none resume=true hydra.run.dir="$RUNS/$name" \
      "$@" 2>&1 | tail -n 40 | tee "$OUT/$name-log.txt" || status=$?
    for f in result.json metrics.jsonl .hydra/overrides.yaml; do
      [[ -f $RUNS/$name/$f ]] && cp "$RUNS/$name/$f" "$OUT/$name-$(basename "$f")"
    done
    exit "$status"
    ;;
esac
