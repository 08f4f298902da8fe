#!/usr/bin/env bash
# Every GPU check and benchmark of loev in one run of at most LOEV_GPU_CHECK_SECONDS (540 s), for
# a machine with an NVIDIA GPU, PyTorch and no Rust toolchain. scripts/gpu-pack.sh prepares it
# (.gpu/: the xz-compressed binaries and CUDA headers; .gl/: the Vulkan loader packages);
# docs/gpu.md has the one-line device call.
#
#   OUT=/some/folder scripts/gpu-check.sh
#
# Stages, most valuable first; each gets what is left of the deadline, capped at its own limit,
# and is skipped when less than its minimum is left:
#   preflight    nvidia-smi, ldd, Vulkan driver, CUDA headers chosen by content, the NVRTC probe
#                (scripts/gpu-nvrtc-probe.py: does a TF32 tensor-core kernel compile?), a tiny
#                CUDA training step                                           (≈ 40 s)
#   test-cuda    crates/train/tests/software_gpu.rs on cuda:0, training steps included
#   bench-cuda   one training step of the full SF-NFNet-F0 + one head at one batch chosen from
#                free GPU memory (ms/step, views/s, TFLOP/s, MFU)
#   torch        the PyTorch anchor at the same batch, f32 then bf16 autocast + channels-last,
#                after loev's process has gone (its memory pool with it); ratios to loev
#   test-vulkan  the same tests on vulkan:0
#   bench-vulkan the same benchmark on vulkan:0
#   train        `loev bench train` with the real data pipeline, per-step lines; only if ≥ 90 s
#                are left
#
# What comes back, written as it happens so that a kill at any moment (SIGTERM or SIGKILL) keeps
# every finished figure and the running stage's last output:
#   $OUT/summary.txt   one block per stage (its command, streamed figure lines, a result row),
#                      then the table of every stage
#   $OUT/stages.log    each stage's output, at most 1 MiB from its start plus its last 256 KiB
#   $OUT/running-tail-{1,2}.log  the running stage's latest output beyond that cap; folded into
#                      stages.log when the stage ends, so present only after a kill
#
# Rehearsal on a machine without a GPU (docs/gpu.md): LOEV_GPU_CHECK_DRY=1 runs the same stages
# with the same deadline logic, cuda:0 played by the CPU backend and vulkan:0's tests by Mesa's
# software OpenGL driver (opengl:cpu), with the full model at batch 2.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
start=$(date +%s)
budget=${LOEV_GPU_CHECK_SECONDS:-540}
deadline=$((start + budget))
reserve=10 # for the kill grace of a stage cut at the deadline and the closing table
dry=${LOEV_GPU_CHECK_DRY:-0}
OUT=${OUT:-$repo/gpu-check-out}
mkdir -p "$OUT"
summary=$OUT/summary.txt
stages=$OUT/stages.log
tail_one=$OUT/running-tail-1.log
tail_two=$OUT/running-tail-2.log
: >"$summary"
: >"$stages"
rm -f "$tail_one" "$tail_two"
scratch=$(mktemp -d /tmp/loev-gpu-check.XXXXXX)
table=$scratch/table
: >"$table"
head_cap=$((1024 * 1024))
tail_half=$((128 * 1024))
export RUST_BACKTRACE=0 PYTHONUNBUFFERED=1
export BURN_DEVICE=${BURN_DEVICE:-flex} # restored optimizer state loads on the CPU (docs/gpu.md)
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/loev-xdg-runtime}
mkdir -p -m 700 "$XDG_RUNTIME_DIR"

t() { echo $(($(date +%s) - start)); }
note() { printf '%s\n' "$*" | tee -a "$summary"; }
# One row of the closing table, also written at once (a kill keeps the rows written so far).
row() {
  local line
  line=$(printf '| %-13s | %-22s | %5s s | %s' "$1" "$2" "$3" "$4")
  printf '%s\n' "$line" >>"$table"
  note "$line"
}
loud() { note "!!! $*"; printf '| %-13s | %-22s | %5s   | %s\n' "WARNING" "" "" "$*" >>"$table"; }

current=
stage_pid=
capture_pid=
on_signal() {
  local signal=$1
  note ""
  note "!!! killed by SIG$signal at t+$(t)s${current:+, during stage $current}"
  if [ -n "$stage_pid" ]; then
    kill -TERM "$stage_pid" 2>/dev/null
    # Let the capture fold the running stage's tail into stages.log.
    for _ in 1 2 3 4 5 6; do kill -0 "$capture_pid" 2>/dev/null || break; sleep 0.5; done
  fi
  [ -n "$current" ] && row "$current" "KILLED (SIG$signal)" "?" "see the stage's lines above and stages.log"
  exit 143
}
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT
trap 'on_signal HUP' HUP

# Copies a stage's output (stdin) to: $scratch/<name>.log in full (for the figures computed after
# the stage); stages.log, the first $head_cap bytes, then the last 2 × $tail_half bytes kept in two
# alternating files under $OUT and folded in at the end; the summary, the lines matching the
# stage's figure pattern (at most 60). Every write is flushed: a SIGKILL loses nothing written.
capture() {
  LC_ALL=C awk -v raw="$scratch/$1.log" -v pattern="$2" -v stages="$stages" -v summary="$summary" \
    -v one="$tail_one" -v two="$tail_two" -v head_cap="$head_cap" -v half="$tail_half" '
    function put(file, text) { print text >>file; fflush(file) }
    function rotate() { close(one); close(two); current = (current == one) ? two : one; printf "" >current; fflush(current); held = 0 }
    {
      line = length($0) > 4000 ? substr($0, 1, 4000) " [line cut]" : $0
      put(raw, line)
      if (pattern != "" && line ~ pattern && figures < 60) { put(summary, "  " line); figures++ }
      if (written + length(line) + 1 <= head_cap) { put(stages, line); written += length(line) + 1; next }
      if (current == "") { current = two; rotate() }
      put(current, line); held += length(line) + 1; beyond += length(line) + 1
      if (held >= half) rotate()
    }
    END {
      if (current == "") exit
      close(one); close(two)
      older = (current == one) ? two : one
      kept = 0
      while ((getline text <older) > 0) kept += length(text) + 1
      close(older)
      while ((getline text <current) > 0) kept += length(text) + 1
      close(current)
      put(stages, sprintf("[… %d bytes of this stage'"'"'s output left out; its last %d bytes follow …]", beyond - kept, kept))
      while ((getline text <older) > 0) put(stages, text)
      while ((getline text <current) > 0) put(stages, text)
      close(older); close(current)
    }'
  rm -f "$tail_one" "$tail_two"
}

# run_stage NAME LIMIT MINIMUM FIGURE-PATTERN COMMAND…: runs COMMAND for at most
# min(LIMIT, time left − reserve) seconds, or skips it when that is under MINIMUM. Returns the
# command's exit status (124 when cut by its limit, 125 when skipped).
run_stage() {
  local name=$1 limit=$2 minimum=$3 pattern=$4
  shift 4
  local now left
  now=$(date +%s)
  left=$((deadline - now - reserve))
  stage_seconds=0
  stage_memory=
  if ((left < minimum)); then
    note ""
    note "== $name: SKIPPED at t+$(t)s, ${left}s left (needs ${minimum}s)"
    stage_status="SKIPPED (${left}s left)"
    return 125
  fi
  ((limit > left)) && limit=$left
  current=$name
  note ""
  note "== $name (t+$(t)s, limit ${limit}s): $*"
  printf '\n######## %s (t+%ss, limit %ss): %s\n' "$name" "$(t)" "$limit" "$*" >>"$stages"
  local sampler=
  if [ "$dry" != 1 ] && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$scratch/$name.smi" 2>/dev/null &
    sampler=$!
  fi
  rm -f "$scratch/fifo"
  mkfifo "$scratch/fifo"
  capture "$name" "$pattern" <"$scratch/fifo" &
  capture_pid=$!
  local began
  began=$(date +%s)
  timeout -k 5 "$limit" "$@" >"$scratch/fifo" 2>&1 &
  stage_pid=$!
  wait "$stage_pid"
  local status=$?
  wait "$capture_pid"
  stage_pid=
  capture_pid=
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  stage_seconds=$(($(date +%s) - began))
  stage_memory=
  if [ -s "$scratch/$name.smi" ]; then
    stage_memory="peak GPU memory $(sort -n "$scratch/$name.smi" | tail -n1) MiB (nvidia-smi)"
  fi
  case $status in
    0) stage_status="ok" ;;
    124 | 137) stage_status="TIMED OUT (${limit}s)" ;;
    *) stage_status="FAILED (exit $status)" ;;
  esac
  current=
  return "$status"
}
log_of() { cat "$scratch/$1.log" 2>/dev/null; }
# The table's figures: a test stage's result line, or what had passed before it was cut; a
# benchmark's time per step and rates.
tests_figure() {
  local result
  result=$(log_of "$1" | grep -m1 'test result' | sed 's/.*test result: //; s/; 0 measured//')
  [ -n "$result" ] && { echo "$result"; return; }
  echo "cut: $(log_of "$1" | grep -c '\.\.\. ok$') ok, $(log_of "$1" | grep -c 'FAILED$') failed before the cut"
}
bench_figure() {
  local ms
  ms=$(log_of "$1" | grep -m1 'ms/step' | sed 's/^ *//; s/ (min.*//; s/  */ /g')
  echo "${ms:-no step timed}; $(log_of "$1" | grep -m1 -E '^ +burn:' | sed 's/^ *burn: //') ${stage_memory:-}"
}

# --- what runs where --------------------------------------------------------------------------
if [ "$dry" = 1 ]; then
  # The CPU backend plays cuda:0 (it runs everything, training steps included). Mesa's llvmpipe
  # plays vulkan:0 for the tests that software GPUs can run (docs/gpu.md); benchmarks train, so
  # their "vulkan" stage runs on the CPU too.
  cuda=cpu
  vulkan_tests=opengl:cpu
  vulkan_test_filter=(--ignored --skip gpu_training_)
  vulkan_bench=cpu
  mels=96 frames=300 workers=2 train_preset=loev-psts:tiny
else
  cuda=cuda:0
  vulkan_tests=vulkan:0
  vulkan_test_filter=(--include-ignored)
  vulkan_bench=vulkan:0
  mels=96 frames=300 workers=16 train_preset=loev-psts:full
fi

note "loev GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), deadline ${budget}s$([ "$dry" = 1 ] && echo ', DRY RUN (no GPU: cuda:0 → cpu, vulkan:0 → opengl:cpu for tests, cpu for benches)')"
note "commit $(git rev-parse --short HEAD 2>/dev/null || cat .gpu/COMMIT 2>/dev/null || echo '?')"
row "stage" "status" "time" "figures"

# --- preflight (≈ 40 s) -----------------------------------------------------------------------
current=preflight
note ""
note "== preflight (t+$(t)s)"
preflight_began=$(date +%s)
{ echo; echo "######## preflight"; } >>"$stages"
note "$(uname -srm); $(nproc) cores; $(grep -m1 MemTotal /proc/meminfo | tr -s ' ')"
gpu_name=
free_mib=
if command -v nvidia-smi >/dev/null; then
  smi=$(timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,memory.free --format=csv,noheader,nounits 2>&1 | head -n1)
  note "GPU: $smi (name, driver, MiB total, MiB free)"
  gpu_name=$(echo "$smi" | cut -d, -f1 | sed 's/^ *//;s/ *$//')
  free_mib=$(echo "$smi" | cut -d, -f4 | tr -dc 0-9)
else
  note "no nvidia-smi"
fi

# The binaries: carried, never a silent fallback to a local build.
bin=$scratch/bin
mkdir -p "$bin"
unxz() { if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi; }
if ! ls .gpu/loev.xz .gpu/software_gpu.xz >/dev/null 2>&1; then
  note "!!! no .gpu/loev.xz and .gpu/software_gpu.xz: run scripts/gpu-pack.sh here and name .gpu and .gl in the call's carry (docs/gpu.md)"
  row preflight "FAILED" "$(t)" "binaries not carried"
  exit 2
fi
for f in .gpu/loev.xz .gpu/software_gpu.xz; do unxz "$f" >"$bin/$(basename "$f" .xz)"; done
chmod +x "$bin"/*
note "binaries: $(cat .gpu/COMMIT 2>/dev/null || echo 'commit not recorded'); $(cd "$bin" && ls -l loev software_gpu | awk '{printf "%s %.0f MB  ", $NF, $5/1e6}')"
missing=$(ldd "$bin/loev" 2>&1 | grep 'not found')
[ -n "$missing" ] && loud "loev lacks libraries: $missing"

# Vulkan: the loader where the machine has none; NVIDIA's driver manifest, found without a search
# of the whole file system.
if [ "$dry" != 1 ]; then
  if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
    if ls .gl/*.deb >/dev/null 2>&1; then
      for f in .gl/*.deb; do dpkg -x "$f" /; done
      ldconfig
      note "unpacked the carried Vulkan loader (.gl)"
    else
      loud "no libvulkan.so.1 and no .gl/*.deb: the Vulkan stages will fail"
    fi
  fi
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [ -f /usr/share/vulkan/icd.d/nvidia_icd.json ] || [ -f /etc/vulkan/icd.d/nvidia_icd.json ]; then
    icd=
  elif [ ! -f "$icd" ]; then
    icd=$(timeout 15 find /usr /etc /opt -name nvidia_icd.json -print -quit 2>/dev/null)
  fi
  if [ -n "$icd" ]; then
    export VK_DRIVER_FILES=$icd
    note "VK_DRIVER_FILES=$icd"
  fi
  egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  [ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
fi

# CUDA headers, chosen by content: cubecl-cuda passes $CUDA_PATH/include (and include/cccl) to
# NVRTC, and its tensor-core kernels need crt/mma.h, its async-copy kernels cuda/barrier.
has_headers() {
  [ -f "$1/include/crt/mma.h" ] && [ -f "$1/include/cuda_fp16.h" ] &&
    [ -f "$1/include/cooperative_groups/memcpy_async.h" ] &&
    { [ -f "$1/include/cccl/cuda/barrier" ] || [ -f "$1/include/cuda/barrier" ]; }
}
candidates=()
[ -n "${CUDA_PATH:-}" ] && candidates+=("$CUDA_PATH")
if command -v nvcc >/dev/null; then candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"); fi
candidates+=(/usr/local/cuda /opt/cuda)
cuda_path=
for c in "${candidates[@]}"; do
  if has_headers "$c"; then cuda_path=$c; break; fi
  [ -d "$c" ] && note "CUDA_PATH candidate $c lacks crt/mma.h, cuda_fp16.h, cooperative_groups or cuda/barrier"
done
if [ -z "$cuda_path" ] && [ -f .gpu/cuda-include.tar.xz ]; then
  mkdir -p "$scratch/cuda"
  unxz .gpu/cuda-include.tar.xz | tar -x -C "$scratch/cuda"
  has_headers "$scratch/cuda" && cuda_path=$scratch/cuda
  note "CUDA headers: the carried bundle ($(cat .gpu/cuda-include.txt 2>/dev/null || echo '?'))"
fi
if [ -n "$cuda_path" ]; then
  export CUDA_PATH=$cuda_path
  note "CUDA_PATH=$CUDA_PATH"
else
  loud "no CUDA headers with crt/mma.h and cuda/barrier anywhere: tensor-core kernels cannot compile"
fi

# NVRTC and its builtins from one folder: the chosen CUDA folder's when it has NVRTC, else
# PyTorch's wheel (nvidia/cu13/lib). cudarc tries libnvrtc.so before libnvrtc.so.13, so a link
# of that name in front of the search path keeps another installation's NVRTC out.
nvrtc_dir=
for d in "${CUDA_PATH:-/nonexistent}/lib64" "${CUDA_PATH:-/nonexistent}/targets/x86_64-linux/lib"; do
  if [ -f "$d/libnvrtc.so.13" ] && [ -f "$d/libnvrtc-builtins.so.13.0" ]; then nvrtc_dir=$d; break; fi
done
if [ -z "$nvrtc_dir" ]; then
  nvrtc_dir=$(timeout 20 python3 - <<'EOF' 2>/dev/null
import glob, os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
for root in roots:
    for path in sorted(glob.glob(os.path.join(root, "nvidia", "**", "libnvrtc.so.1[0-9]"), recursive=True), reverse=True):
        print(os.path.dirname(path)); raise SystemExit
EOF
  )
fi
if [ -n "$nvrtc_dir" ]; then
  mkdir -p "$scratch/nvrtc"
  ln -sf "$(ls "$nvrtc_dir"/libnvrtc.so.1[0-9] | sort | tail -n1)" "$scratch/nvrtc/libnvrtc.so"
  export LD_LIBRARY_PATH="$scratch/nvrtc:$nvrtc_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  note "NVRTC from $nvrtc_dir"
else
  loud "no NVRTC (libnvrtc.so.13) in the CUDA folder or in Python's nvidia wheels: CUDA cannot compile kernels"
fi

# Does a TF32 tensor-core kernel compile? Without it the CUDA timings would be of fallback kernels.
tensor_cores=0
if [ -n "${CUDA_PATH:-}" ] && [ -n "$nvrtc_dir" ]; then
  probe=$(timeout 30 python3 scripts/gpu-nvrtc-probe.py --cuda-path "$CUDA_PATH" 2>&1)
  probe_status=$?
  printf '%s\n' "$probe" | sed 's/^/  /' | tee -a "$summary" >>"$stages"
  [ $probe_status = 0 ] && tensor_cores=1
fi
[ $tensor_cores = 1 ] || loud "TENSOR-CORE (TF32) KERNELS DO NOT COMPILE: the CUDA benchmarks are skipped rather than timing slow fallback kernels"

# One batch for every benchmark, from the free memory: 76 MiB per example on the CPU backend, more
# on a GPU (pools, convolution workspaces); the PyTorch anchor runs at the same batch.
if [ -n "${LOEV_GPU_CHECK_BATCH:-}" ]; then
  batch=$LOEV_GPU_CHECK_BATCH
elif [ "$dry" = 1 ]; then
  batch=2
elif [ -n "$free_mib" ] && [ "$free_mib" -ge 100000 ]; then
  batch=256
elif [ -n "$free_mib" ] && [ "$free_mib" -ge 40000 ]; then
  batch=64
else
  batch=16
fi
# Dense peaks from NVIDIA's data sheets (TFLOP/s): TF32 for loev's f32 kernels (cubecl runs f32
# matmuls on TF32 tensor cores) and PyTorch f32 (cuDNN TF32 convolutions), bf16 for autocast.
case $gpu_name in
  *H100*PCIe*) peak_tf32=378 peak_bf16=756 ;;
  *H100*NVL*) peak_tf32=418 peak_bf16=835 ;;
  *H100* | *H200* | *GH200*) peak_tf32=495 peak_bf16=989 ;;
  *) peak_tf32= peak_bf16= ;;
esac
note "batch $batch (free ${free_mib:-?} MiB); peaks: TF32 dense ${peak_tf32:-?}, bf16 dense ${peak_bf16:-?} TFLOP/s"

export CUBECL_AUTOTUNE_LEVEL=minimal
run_stage smoke-cuda 45 15 'ms/step|rror|panicked' \
  "$bin/loev" bench model --case tiny --tiny-batch 4 --mels 32 --frames 64 --steps 1 --warmup 0 --no-torch --device "$cuda"
smoke=$(log_of smoke-cuda | grep -m1 'ms/step' | sed 's/^ *//; s/  */ /g')
row preflight "$([ $tensor_cores = 1 ] && echo 'ok' || echo 'NO TENSOR CORES')" "$(($(date +%s) - preflight_began))" \
  "NVRTC probe $([ $tensor_cores = 1 ] && echo ok || echo FAILED); smoke $stage_status: ${smoke:-no step}"

# --- the CUDA tests ---------------------------------------------------------------------------
test_pattern='^test |test result|deviation|panicked|error'
LOEV_TEST_GPU=$cuda run_stage test-cuda 150 30 "$test_pattern" "$bin/software_gpu" --include-ignored --test-threads 1 --nocapture
row test-cuda "$stage_status" "$stage_seconds" "$(tests_figure test-cuda)"

# --- the CUDA benchmark -----------------------------------------------------------------------
unset CUBECL_AUTOTUNE_LEVEL # the benchmarks time the kernels autotuning picks at its default level
bench_pattern='batch|ms/step|views/s|GFLOP|rror|panicked|memory'
loev_ms() { log_of "$1" | sed -n 's/.*burn (loev kernels) *\([0-9.]*\) ms\/step.*/\1/p' | head -n1; }
gflop=
if [ $tensor_cores = 1 ] || [ "$dry" = 1 ]; then
  run_stage bench-cuda 120 45 "$bench_pattern" "$bin/loev" bench model --case full --full-batch "$batch" --heads 1 \
    --mels "$mels" --frames "$frames" --steps 5 --warmup 2 --no-torch --device "$cuda" ${peak_tf32:+--peak-tflops $peak_tf32}
  gflop=$(log_of bench-cuda | sed -n 's/.*; \([0-9.]*\) GFLOP per step.*/\1/p' | head -n1)
  row bench-cuda "$stage_status" "$stage_seconds" "$(bench_figure bench-cuda)"
else
  row bench-cuda "SKIPPED" 0 "tensor-core kernels do not compile (preflight)"
fi

# --- the PyTorch anchor, alone on the GPU ------------------------------------------------------
torch_device=cuda
[ "$dry" = 1 ] && torch_device=cpu
torch_pattern='rror|Traceback|No module|median_ms'
torch_statuses=
for mode in f32 bf16; do
  flags=()
  [ $mode = bf16 ] && flags=(--dtype bf16 --channels-last)
  run_stage "torch-$mode" 60 25 "$torch_pattern" python3 bench/torch/sfnfnet_step.py --batch "$batch" --mels "$mels" \
    --frames "$frames" --heads 1 --steps 5 --warmup 2 --device "$torch_device" "${flags[@]}"
  torch_statuses="$torch_statuses $mode $stage_status ${stage_seconds}s;"
done
# The anchor's figures from its JSON lines, with loev's FLOP count and its ratio to loev.
read -r -d '' torch_figures <<'EOF'
import json, sys
batch, gflop, loev_ms, tf32, bf16 = sys.argv[1:6]
runs = []
for line in sys.stdin:
    if line.startswith("{"):
        try:
            runs.append(json.loads(line))
        except ValueError:
            pass
for r in runs:
    ms = r["median_ms"]
    label = "PyTorch %s %s" % (r.get("torch", "?"), "bf16 autocast, channels-last" if r.get("dtype") == "bf16" else "f32")
    flags = r.get("tf32")
    if r.get("dtype") != "bf16" and flags:
        label += " (TF32: cuDNN %s, matmul %s)" % ("on" if flags.get("cudnn") else "off", "on" if flags.get("matmul") else "off")
    text = "%s: %.1f ms/step, %.1f views/s" % (label, ms, int(batch) / ms * 1e3)
    if gflop:
        tflops = float(gflop) / ms
        text += ", %.1f TFLOP/s" % tflops
        peak = bf16 if r.get("dtype") == "bf16" else tf32
        if peak:
            text += ", MFU %.1f %% of %s dense %s" % (100 * tflops / float(peak), "bf16" if r.get("dtype") == "bf16" else "TF32", peak)
    if r.get("peak_gpu_bytes"):
        text += ", peak %.0f MiB allocated" % (r["peak_gpu_bytes"] / 2**20)
    if loev_ms:
        text += "; loev on cuda:0 at %.2fx this speed" % (ms / float(loev_ms))
    print(text)
EOF
figures=$(cat "$scratch/torch-f32.log" "$scratch/torch-bf16.log" 2>/dev/null |
  python3 -c "$torch_figures" "$batch" "${gflop:-}" "$(loev_ms bench-cuda)" "${peak_tf32:-}" "${peak_bf16:-}" 2>&1)
[ -n "$figures" ] && note "$(printf '%s\n' "$figures" | sed 's/^/  /')"
row torch "${torch_statuses# }" "" "$(printf '%s' "${figures:-no figures: see the torch stages above}" | tr '\n' ';' | cut -c1-600)"

# --- Vulkan -----------------------------------------------------------------------------------
export CUBECL_AUTOTUNE_LEVEL=minimal
LOEV_TEST_GPU=$vulkan_tests run_stage test-vulkan 100 30 "$test_pattern" "$bin/software_gpu" "${vulkan_test_filter[@]}" \
  --test-threads 1 --nocapture
row test-vulkan "$stage_status" "$stage_seconds" "$(tests_figure test-vulkan)"
unset CUBECL_AUTOTUNE_LEVEL
run_stage bench-vulkan 90 45 "$bench_pattern" "$bin/loev" bench model --case full --full-batch "$batch" --heads 1 \
  --mels "$mels" --frames "$frames" --steps 5 --warmup 2 --no-torch --device "$vulkan_bench" ${peak_tf32:+--peak-tflops $peak_tf32}
row bench-vulkan "$stage_status" "$stage_seconds" "$(bench_figure bench-vulkan)"

# --- real training with the data pipeline -------------------------------------------------------
if [ $tensor_cores = 1 ] || [ "$dry" = 1 ]; then
  run_stage train 150 90 'step [0-9]+/|views|loev-|rror|panicked' \
    "$bin/loev" bench train --presets "$train_preset" --device "$cuda" --full-anchors $((batch / 4 > 0 ? batch / 4 : 1)) \
    --workers "$workers" --steps 4 --warmup 2 --tracks 24
  row train "$stage_status" "$stage_seconds" "$(log_of train | grep -E '^loev-' | tail -n1 | tr -s ' ')"
else
  row train "SKIPPED" 0 "tensor-core kernels do not compile (preflight)"
fi

note ""
note "== table (t+$(t)s of ${budget}s)"
cat "$table" | tee -a "$summary"
rm -rf "$scratch"
