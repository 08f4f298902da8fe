#!/usr/bin/env bash
# Every GPU check and benchmark of loev in one run, for a machine with an NVIDIA GPU, CUDA,
# PyTorch and no Rust toolchain (this project's H200). Prepare it with scripts/gpu-pack.sh,
# which leaves the gzipped binaries in .gpu/ and the Vulkan loader packages in .gl/.
#
#   OUT=/some/folder scripts/gpu-check.sh
#
# What it does, each stage under its own time limit so that one slow stage cannot eat the run:
#   1. unpacks the Vulkan loader, finds NVIDIA's Vulkan driver and NVRTC, lists the devices;
#   2. runs the GPU comparison tests (crates/train/tests/software_gpu.rs, training steps
#      included) on Vulkan and on CUDA;
#   3. benchmarks one training step of the full SF-NFNet-F0 + one head at batch 64 and 256 on
#      both backends (ms/step, views/s, TFLOP/s, MFU) against PyTorch f32 and bf16 autocast +
#      channels-last on the same GPU, sampling GPU memory with nvidia-smi;
#   4. measures real training (the data pipeline with 16 workers feeding LOEV-PSTS at 256
#      views per step) for the data-wait share.
# Results: $OUT/summary.txt (the figures) and $OUT/stages.log (every stage's full output); only
# two files, as the device tool brings back at most eight.
#
# Dry run on a machine without a GPU (Mesa's software Vulkan, small inputs):
#   LOEV_GPU_CHECK_DRY=1 OUT=/tmp/gpu-dry scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
summary="$OUT/summary.txt"
stages="$OUT/stages.log"
: >"$summary"
: >"$stages"
scratch=$(mktemp -d)
start=$(date +%s)
note() { printf '%s\n' "$*" | tee -a "$summary"; }
stage() { note ""; note "== $1 (t+$(( $(date +%s) - start ))s)"; }

# A stage: name, time limit in seconds, command. Its output goes to $scratch/<name>.log (kept)
# and is appended to stages.log; the summary gets its exit status, its time and, on an NVIDIA
# machine, the peak GPU memory sampled while it ran. Callers grep the figures from the log.
run_stage() {
  local name=$1 limit=$2
  shift 2
  stage "$name"
  local sampler=
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$scratch/$name.smi" 2>/dev/null &
    sampler=$!
  fi
  local began=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >"$scratch/$name.log" 2>&1
  local status=$?
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  { echo "######## $name: $*"; cat "$scratch/$name.log"; echo; } >>"$stages"
  [ $status -eq 124 ] && note "  TIMED OUT after ${limit}s"
  note "  exit status $status after $(( $(date +%s) - began ))s"
  if [ -s "$scratch/$name.smi" ]; then
    note "  peak GPU memory used during the stage (nvidia-smi): $(sort -n "$scratch/$name.smi" | tail -n1) MiB"
  fi
  return $status
}
log_of() { cat "$scratch/$1.log"; }

dry=${LOEV_GPU_CHECK_DRY:-0}
if [ "$dry" = 1 ]; then
  # Mesa's OpenGL driver: lavapipe (vulkan:cpu) crashes on cubecl's SPIR-V, and training
  # steps do not run on llvmpipe (docs/gpu.md), so the training comparisons stay off.
  # The benchmarks train, so in a dry run they use the CPU backend (their plumbing and the
  # PyTorch anchor still run).
  vulkan_device=opengl:cpu; cuda_device=; training=0; batches=2; mels=32; frames=64; anchors=2; workers=2
  bench_devices=(cpu)
  bench_case=(--case tiny --tiny-batch 8); train_preset=loev-psts:test; peak=
else
  vulkan_device=vulkan:0; cuda_device=cuda:0; training=1; batches=64,256; mels=96; frames=300; anchors=64; workers=16
  bench_devices=("$vulkan_device" "$cuda_device")
  bench_case=(--case full --full-batch "$batches"); train_preset=loev-psts:full; peak=989
fi

stage "machine"
uname -m | tee -a "$summary"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee -a "$summary"

stage "unpack"
bin="$scratch/bin"
mkdir -p "$bin"
if [ -d .gpu ] && ls .gpu/*.gz >/dev/null 2>&1; then
  for f in .gpu/*.gz; do gunzip -c "$f" >"$bin/$(basename "$f" .gz)"; done
  chmod +x "$bin"/*
else
  note "no .gpu/*.gz: using target/release and the newest test binaries (a local dry run)"
  cp target/release/loev "$bin/loev"
  for t in software_gpu; do
    exe=$(ls -t target/release/deps/${t}-* 2>/dev/null | grep -v '\.d$' | head -n1)
    [ -n "$exe" ] && cp "$exe" "$bin/$t"
  done
fi
ls -la "$bin" | tee -a "$summary"

# The Vulkan loader (libvulkan.so.1) where the machine has none.
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  if ls .gl/*.deb >/dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    note "unpacked the carried Vulkan loader"
  else
    note "no libvulkan.so.1 and no .gl/*.deb: Vulkan stages will fail"
  fi
fi
# NVIDIA's Vulkan driver: the container may expose it outside the loader's default folders.
if [ "$dry" != 1 ] && ! ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json >/dev/null 2>&1; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json $(find / -name nvidia_icd.json -not -path '/proc/*' 2>/dev/null | head -n1); do
    if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; note "VK_DRIVER_FILES=$icd"; break; fi
  done
fi
# Restored optimizer state loads on burn's default device: keep it on the CPU (docs/gpu.md).
export BURN_DEVICE=${BURN_DEVICE:-flex}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-runtime}
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
command -v vulkaninfo >/dev/null && { vulkaninfo --summary 2>&1 | grep -E 'deviceName|driverName|apiVersion' | tee -a "$summary"; }

# CUDA: NVRTC from PyTorch's wheels when the system has none, and a CUDA folder for cubecl.
if [ -n "$cuda_device" ]; then
  nvrtc=$(python3 - <<'EOF' 2>/dev/null
import glob, os, site
for base in site.getsitepackages() + [site.getusersitepackages()]:
    for path in glob.glob(os.path.join(base, "nvidia", "**", "libnvrtc.so*"), recursive=True):
        print(os.path.dirname(path)); raise SystemExit
EOF
)
  if [ -n "$nvrtc" ]; then
    export LD_LIBRARY_PATH="$nvrtc${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    note "NVRTC from $nvrtc"
  fi
  if [ -z "${CUDA_PATH:-}" ]; then
    if [ -d /usr/local/cuda ]; then export CUDA_PATH=/usr/local/cuda; else export CUDA_PATH="${nvrtc%/lib}"; fi
  fi
  note "CUDA_PATH=$CUDA_PATH"
fi

devices=("$vulkan_device")
[ -n "$cuda_device" ] && devices+=("$cuda_device")

# 2. The comparison tests on each GPU backend.
for device in "${devices[@]}"; do
  tag=${device//:/-}
  for t in software_gpu; do
    [ -x "$bin/$t" ] || { note "missing test binary $t"; continue; }
    LOEV_TEST_GPU=$device LOEV_TEST_GPU_TRAINING=$training run_stage "test-$t-$tag" 240 "$bin/$t" --test-threads 1 --nocapture
    log_of "test-$t-$tag" | grep -E 'test result|vs cpu|differ from|deviation|panicked' | sed 's/^/  /' | tee -a "$summary"
  done
done

# 3. One training step, loev on each backend against PyTorch (PyTorch once, with the first).
torch_flags=(--torch-bf16)
for device in "${bench_devices[@]}"; do
  tag=${device//:/-}
  run_stage "bench-model-$tag" 200 "$bin/loev" bench model "${bench_case[@]}" --heads 1 \
    --mels "$mels" --frames "$frames" --steps 5 --warmup 2 --device "$device" \
    ${peak:+--peak-tflops $peak} "${torch_flags[@]}"
  log_of "bench-model-$tag" | grep -E 'batch|ms/step|views/s|ratio|peak|FLOP|params|Error|error' | sed 's/^/  /' | tee -a "$summary"
  torch_flags=(--no-torch)
done

# 4. Real training with the data pipeline: throughput and the share of time spent waiting.
fastest=${LOEV_GPU_CHECK_TRAIN_DEVICE:-${bench_devices[-1]}}
run_stage "bench-train" 150 "$bin/loev" bench train --presets "$train_preset" --device "$fastest" \
  --full-anchors "$anchors" --workers "$workers" --steps 4 --warmup 2 --tracks 24
log_of bench-train | grep -E 'preset|views|loev|device|rror' | sed 's/^/  /' | tee -a "$summary"

stage "done"
rm -rf "$scratch"
