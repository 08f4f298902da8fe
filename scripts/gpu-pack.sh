#!/usr/bin/env bash
# Prepares what scripts/gpu-check.sh needs on a GPU machine that has no Rust toolchain and no
# network: the release binary and the GPU test binaries, built here with every feature,
# stripped and gzipped into .gpu/, plus the Vulkan loader packages in .gl/ (Debian's, amd64).
# Both folders are ignored by git (.git/info/exclude) and travel as carried paths.
#
#   scripts/gpu-pack.sh            # then: OUT=/tmp/out scripts/gpu-check.sh   (or on the GPU machine)
set -euo pipefail
cd "$(dirname "$0")/.."
for ignored in /.gpu/ /.gl/; do
  grep -qxF "$ignored" .git/info/exclude 2>/dev/null || echo "$ignored" >> .git/info/exclude
done
mkdir -p .gpu .gl

echo "== building (release, all features)"
cargo build --release --workspace --all-features --locked
# The test binary of the GPU comparisons; cargo prints its path as JSON.
tests=$(cargo test --release --workspace --all-features --locked --no-run --message-format=json 2>/dev/null \
  | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    exe = msg.get("executable")
    if exe and msg.get("target", {}).get("name") in ("software_gpu",):
        print(exe)
')
rm -f .gpu/*.gz
for path in target/release/loev $tests; do
  name=$(basename "$path" | sed 's/-[0-9a-f]\{16\}$//')
  strip --strip-all -o ".gpu/$name" "$path"
  gzip -f -9 ".gpu/$name"
done
ls -la .gpu

echo "== Vulkan loader and EGL packages (Debian amd64), unpacked on the GPU machine"
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  lists=$(mktemp -d)
  mkdir -p "$lists/partial"
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
  apt-get "${o[@]}" update -qq
  (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 vulkan-tools)
fi
ls -la .gl
du -sh .gpu .gl
