#!/usr/bin/env bash
# Prepares what scripts/gpu-check.sh needs on a GPU machine that has no Rust toolchain and no
# network, in two folders that .gitignore keeps out of git and the device call carries:
#   .gpu/loev.xz, .gpu/software_gpu.xz   the release binary and the GPU comparison tests, built
#                                        with every feature, stripped, xz -9e
#   .gpu/cuda-include.tar.xz (+ .txt)    CUDA 13.0 headers (runtime, crt, CCCL) from NVIDIA's
#                                        wheels on PyPI, for a machine whose CUDA folder lacks
#                                        crt/mma.h or cuda/barrier (not committed: NVIDIA's files)
#   .gpu/COMMIT                          the commit the binaries were built from
#   .gl/*.deb                            the Vulkan loader and EGL packages (Debian, amd64)
# It builds only those two targets, with the CI feature set, so a built workspace only links.
# Any failed step stops it with the step's own error. At the end it prints what the device call
# carries and fails above 60 MiB (the call's limit is 64 MiB).
#
#   scripts/gpu-pack.sh          # then the call in docs/gpu.md, or a rehearsal:
#                                # LOEV_GPU_CHECK_DRY=1 OUT=/tmp/out scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
limit_mib=60
fail() { echo "gpu-pack: $*" >&2; exit 1; }
for tool in cargo python3 strip xz git; do
  command -v "$tool" >/dev/null || fail "needs $tool"
done
for folder in .gpu .gl; do
  git check-ignore -q "$folder/x" || fail "$folder is not ignored by git (.gitignore lists /$folder/)"
done
mkdir -p .gpu .gl

# The executable a cargo invocation built, from its JSON messages (diagnostics still go to stderr).
built() { # target-name cargo-args…
  local name=$1
  shift
  cargo "$@" --message-format=json-render-diagnostics | python3 -c '
import json, sys
name = sys.argv[1]
found = [m["executable"] for m in map(json.loads, sys.stdin)
         if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == name]
if not found:
    sys.exit("gpu-pack: cargo built no executable named " + name)
print(found[-1])' "$name"
}

echo "== building loev and the GPU comparison tests (release, all features)"
loev=$(built loev build --release --workspace --all-features --locked --bin loev) || fail "the loev build failed"
tests=$(built software_gpu test --release --workspace --all-features --locked --no-run --test software_gpu) ||
  fail "the software_gpu build failed"

echo "== stripping and compressing (xz -9e)"
for pair in "loev:$loev" "software_gpu:$tests"; do
  name=${pair%%:*}
  strip --strip-all -o ".gpu/$name" "${pair#*:}"
  # xz -9e takes minutes per binary on two cores: skip it when the stripped binary is unchanged.
  sum=$(sha256sum ".gpu/$name" | cut -d' ' -f1)
  if [ -f ".gpu/$name.xz" ] && [ "$(cat ".gpu/$name.sha256" 2>/dev/null)" = "$sum" ]; then
    echo "$name unchanged since the last pack"
    rm ".gpu/$name"
  else
    rm -f ".gpu/$name.xz" ".gpu/$name.sha256"
    xz -9e -T1 -f ".gpu/$name"
    echo "$sum" >".gpu/$name.sha256"
  fi
done
echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.toml Cargo.lock || echo '+uncommitted changes')" >.gpu/COMMIT

echo "== CUDA 13.0 headers (NVIDIA's wheels on PyPI)"
wheels=(nvidia-cuda-runtime==13.0.96 nvidia-cuda-crt==13.0.88 nvidia-cuda-cccl==13.0.85)
downloads=$(mktemp -d)
trap 'rm -rf "$downloads"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 --python-version 3.12 \
  -d "$downloads" "${wheels[@]}" || fail "pip could not download ${wheels[*]}"
python3 - "$downloads" <<'EOF' || fail "the CUDA header wheels did not unpack"
import glob, os, sys, zipfile
root = sys.argv[1]
for wheel in glob.glob(os.path.join(root, "*.whl")):
    with zipfile.ZipFile(wheel) as z:
        for member in z.namelist():
            if member.startswith("nvidia/cu13/include/"):
                z.extract(member, os.path.join(root, "unpacked"))
EOF
include=$downloads/unpacked/nvidia/cu13
for header in crt/mma.h cuda_fp16.h cooperative_groups/memcpy_async.h cccl/cuda/barrier; do
  [ -f "$include/include/$header" ] || fail "the header wheels lack include/$header"
done
tar -C "$include" -cf - include | xz -9e -T1 >.gpu/cuda-include.tar.xz
echo "${wheels[*]}" >.gpu/cuda-include.txt

echo "== Vulkan loader and EGL packages (Debian amd64), unpacked by gpu-check.sh on the GPU machine"
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  lists=$(mktemp -d)
  mkdir -p "$lists/partial"
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
  apt-get "${o[@]}" update -qq || fail "apt-get update failed"
  (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2) ||
    fail "apt-get download failed"
  rm -rf "$lists"
fi

echo "== what the device call carries"
ls -l .gpu .gl | grep -v '^total'
tracked=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | python3 -c '
import os, sys
print(sum(os.path.getsize(p) for p in sys.stdin.read().split("\0") if p and os.path.isfile(p)))')
carried=$(du -cb .gpu .gl | tail -n1 | cut -f1)
total=$((tracked + carried))
mib() { python3 -c "print(f'{$1 / 2**20:.1f}')"; }
echo "working tree $(mib "$tracked") MiB + .gpu and .gl $(mib "$carried") MiB = $(mib "$total") MiB (limit ${limit_mib} MiB)"
((total <= limit_mib * 1024 * 1024)) || fail "carried size $(mib "$total") MiB is over ${limit_mib} MiB"
echo "binaries from commit $(cat .gpu/COMMIT). The device call (docs/gpu.md):"
echo '  run(command="bash scripts/gpu-check.sh", carry=[".gpu", ".gl"], timeout_s=600)'
