#!/usr/bin/env bash
# Prints the crate table of docs/architecture.md from the workspace as it is: each loev crate,
# the loev crates it depends on (`cargo tree`, normal dependencies, loev-core left out;
# dev-dependencies in brackets) and its lines of Rust under src/. Nothing is built.
#
#   scripts/crate-graph.sh      # paste the output over the table in docs/architecture.md
set -euo pipefail
cd "$(dirname "$0")/.."
deps() {  # deps CRATE EDGES: the loev crates CRATE depends on directly, loev-core left out
  cargo tree --offline -p "$1" -e "$2" --depth 1 --prefix none 2>/dev/null </dev/null \
    | tail -n +2 | { grep -o '^loev[a-z-]*' || true; } | { grep -vx "loev-core" || true; } \
    | sed 's/^loev-//' | sort -u | paste -sd, - | sed 's/,/, /g'
}
echo "| crate | depends on | lines |"
echo "|---|---|---:|"
cargo metadata --offline --no-deps --format-version 1 \
  | python3 -c 'import json, sys
for p in json.load(sys.stdin)["packages"]:
    print(p["name"], p["manifest_path"].rsplit("/", 1)[0])' \
  | while read -r name dir; do
      normal=$(deps "$name" normal)
      dev=$(deps "$name" dev)
      [ -n "$dev" ] && normal="${normal:+$normal }(tests: $dev)"
      lines=$(find "$dir/src" -name '*.rs' -print0 | xargs -0 cat | wc -l)
      printf '| `%s` | %s | %s k |\n' "$name" "${normal:-—}" "$(python3 -c "print(f'{$lines/1000:.1f}')")"
    done
