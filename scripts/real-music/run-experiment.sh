#!/usr/bin/env bash
# The real-music experiment with `loev` commands, on the data of fetch-and-render.sh:
#   1. a decode-once cache of the pretraining recordings (loev cache build);
#   2. per variant, model and training seed: pretraining (loev pretrain), embeddings of both
#      evaluation sets (loev embed, with stretched copies for the tempo probe), probes of key,
#      tempo and tags in V and every head's z (loev probe), invariance and equivariance on the
#      drummed set (loev analyze);
#   3. OUT/summary.md and OUT/summary.csv: mean ± std over training seeds, and OUT/verdict.md:
#      docs/real-music.md's rules applied to them (experiment.py).
# Idempotent: a finished stage is skipped, an interrupted pretraining resumes.
#
#   scripts/real-music/run-experiment.sh [--data DIR] [--out DIR] [--variants "base a_bandlimit …"]
#       [--steps N] [--seeds "1 2 3"] [--models "…"] [--config FILE] [--dry-run]
#
# The settings and the variants (checks a–d) are in experiment.conf; docs/real-music.md
# pre-registers their decision rules. --dry-run proves the pipeline at a tiny scale: 10 steps,
# one seed, 24 tracks per split, one probe seed, every variant with one model.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DATA="${LOEV_REAL_MUSIC_DIR:-$HOME/loev-real-music}"
OUT=""
CONF="$HERE/experiment.conf"
DRY=0
LOEV="${LOEV:-$ROOT/target/release/loev}"
PYTHON="${PYTHON:-python3}"
declare -A cli=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --data) DATA="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --config) CONF="$2"; shift 2 ;;
        --variants) cli[VARIANTS]="$2"; shift 2 ;;
        --steps) cli[STEPS]="$2"; shift 2 ;;
        --seeds) cli[SEEDS]="$2"; shift 2 ;;
        --models) cli[MODELS]="$2"; shift 2 ;;
        --dry-run) DRY=1; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
for k in "${!cli[@]}"; do export "$k=${cli[$k]}"; done
if [[ $DRY -eq 1 ]]; then
    export STEPS=${STEPS:-10} SEEDS=${SEEDS:-1} STRETCH_COPIES=${STRETCH_COPIES:-1} ANALYZE_CLIPS=${ANALYZE_CLIPS:-4} KEEP_EVERY=${KEEP_EVERY:-0}
fi
# shellcheck source=experiment.conf
source "$CONF"
[[ $DRY -eq 1 && -z "${cli[VARIANTS]:-}" ]] && VARIANTS="base a_bandlimit b_with_positives c_exact d_wide"
OUT="${OUT:-$DATA/experiment$([[ $DRY -eq 1 ]] && echo -dry-run)}"
DATA="$(cd "$DATA" && pwd)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

say() { echo "[run-experiment $(date +%H:%M:%S)] $*" >&2; }
[[ -x "$LOEV" ]] || { say "no loev binary at $LOEV: cargo build --release (or set LOEV=…)"; exit 1; }
for f in "$DATA/pretrain/manifest.csv" "$DATA/eval/plain/manifest.csv" "$DATA/eval/drums/manifest.csv"; do
    [[ -e "$f" ]] || { say "$f is missing: run scripts/real-music/fetch-and-render.sh --data $DATA"; exit 1; }
done
# Wall seconds of every stage, and its CPU seconds (user + system, all threads) where GNU time
# is installed: on a shared machine the CPU seconds are what predicts an idle machine's time.
TIMINGS="$OUT/timings.csv"
[[ -e "$TIMINGS" ]] || echo "stage,variant,model,seed,wall_s,cpu_s" > "$TIMINGS"
timed() { # stage variant model seed -- command…
    local stage=$1 variant=$2 model=$3 seed=$4; shift 5
    local t0 cpu="" ms; t0=$(date +%s%N)
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -o "$OUT/.cpu" -f "%U %S" nice -n 10 "$@"
        cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$OUT/.cpu")
    else
        nice -n 10 "$@"
    fi
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    printf '%s,%s,%s,%s,%d.%03d,%s\n' "$stage" "$variant" "$model" "$seed" $(( ms / 1000 )) $(( ms % 1000 )) "$cpu" >> "$TIMINGS"
}

# Evaluation manifests (a dry run embeds the first 24 tracks of each split).
declare -A MANIFEST=()
for set in $EVAL_SETS; do
    if [[ $DRY -eq 1 ]]; then
        MANIFEST[$set]="$OUT/eval-$set.csv"
        "$PYTHON" "$HERE/experiment.py" subset "$DATA/eval/$set/manifest.csv" "${MANIFEST[$set]}" --per-split 24
    else
        MANIFEST[$set]="$DATA/eval/$set/manifest.csv"
    fi
done
[[ -n "${MANIFEST[$ANALYZE_SET]:-}" ]] || { say "ANALYZE_SET=$ANALYZE_SET is not one of EVAL_SETS ($EVAL_SETS)"; exit 1; }
PROBE_ARGS=(--config "$PROBE_CONFIG")
[[ $DRY -eq 1 ]] && PROBE_ARGS+=(--seeds 1 --epochs 5)

# 1. The cache of the pretraining recordings (shared by every output folder).
CACHE="$DATA/cache"
if ! "$LOEV" cache info "$CACHE" >/dev/null 2>&1; then
    say "building the cache $CACHE"
    timed cache - - - -- "$LOEV" cache build "$DATA/pretrain/manifest.csv" -o "$CACHE" --quiet
fi
CACHE="$(cd "$CACHE" && pwd)"

# Embeddings and analyses read the checkpoint of step STEPS itself (every checkpoint is a model
# file), not the run's newest one. An output folder made from another checkpoint than `final`
# (or by an older script) is removed.
drop_stale() { # folder final-checkpoint
    [[ "$(cat "$1/.checkpoint" 2>/dev/null)" == "$2" ]] || rm -rf "$1"
}

# 2. Variants × models × seeds.
for variant in $VARIANTS; do
    models_var="VARIANT_MODELS_$variant"; set_var="VARIANT_SET_$variant"
    [[ -n "${!models_var+x}" ]] || { say "unknown variant '$variant' (experiment.conf defines VARIANT_MODELS_<name>)"; exit 1; }
    models="${!models_var}"
    [[ $DRY -eq 1 && "$variant" != base ]] && models="${models##* }"  # one model per check
    sets=()
    for s in ${!set_var}; do sets+=(--set "$s"); done
    for model in $models; do
        for seed in $SEEDS; do
            tag="$model-s$seed"
            run="$OUT/$variant/runs/$tag"
            final="$run/checkpoints/step-$(printf %08d "$STEPS")"
            if [[ ! -e "$final" ]]; then
                if [[ -e "$run/config.toml" ]]; then
                    say "$variant/$tag: resuming"
                    timed pretrain "$variant" "$model" "$seed" -- "$LOEV" pretrain --resume "$run" --steps "$STEPS" --no-progress
                else
                    say "$variant/$tag: pretraining $STEPS steps"
                    mkdir -p "$OUT/$variant/configs"
                    config="$OUT/$variant/configs/$tag.toml"
                    "$PYTHON" "$HERE/experiment.py" config "$model:tiny" "$config" --loev "$LOEV" \
                        --set "name=\"$tag\"" --set "seed=$seed" --set "train.steps=$STEPS" \
                        --set "train.checkpoint_every=$(( STEPS < 250 ? STEPS : 250 ))" --set "train.keep_every=$KEEP_EVERY" \
                        --set "train.log_every=$(( STEPS / 20 > 0 ? STEPS / 20 : 1 ))" "${sets[@]}"
                    timed pretrain "$variant" "$model" "$seed" -- "$LOEV" pretrain --config "$config" --cache "$CACHE" --out "$run" --no-progress
                fi
            fi
            # Outputs record the checkpoint they came from; a run extended to more steps since
            # is embedded, probed and analysed again.
            for set in $EVAL_SETS; do
                emb="$OUT/$variant/emb/$set/$tag"
                drop_stale "$emb" "$final"
                if [[ ! -e "$emb/embeddings.json" ]]; then
                    say "$variant/$tag: embedding the $set set"
                    rm -rf "$emb.partial"
                    timed "embed-$set" "$variant" "$model" "$seed" -- "$LOEV" embed --model "$final/model.safetensors" "${MANIFEST[$set]}" \
                        -o "$emb.partial" --stretch-copies "$STRETCH_COPIES" --quiet
                    echo "$final" > "$emb.partial/.checkpoint"
                    mv "$emb.partial" "$emb"
                fi
                if [[ ! -e "$emb/probe.json" ]]; then
                    spaces=()
                    for s in $("$PYTHON" -c 'import json,sys; print(" ".join(s["name"] for s in json.load(open(sys.argv[1]))["spaces"]))' "$emb/embeddings.json"); do
                        spaces+=(--space "$s")
                    done
                    say "$variant/$tag: probing the $set set in ${spaces[*]}"
                    timed "probe-$set" "$variant" "$model" "$seed" -- "$LOEV" probe "$emb" "${spaces[@]}" "${PROBE_ARGS[@]}" > "$emb/probe.log" 2>&1
                fi
            done
            ana="$OUT/$variant/analyze/$tag"
            drop_stale "$ana" "$final"
            if [[ ! -e "$ana/invariance.csv" ]]; then
                say "$variant/$tag: invariance on the $ANALYZE_SET set"
                rm -rf "$ana.partial"
                timed analyze "$variant" "$model" "$seed" -- "$LOEV" analyze --model "$final/model.safetensors" "${MANIFEST[$ANALYZE_SET]}" \
                    -o "$ana.partial" --max-clips "$ANALYZE_CLIPS" --clip-seconds "$ANALYZE_SECONDS" > /dev/null
                echo "$final" > "$ana.partial/.checkpoint"
                mv "$ana.partial" "$ana"
            fi
        done
    done
done

# 3. Mean ± std over training seeds.
"$PYTHON" "$HERE/experiment.py" summary "$OUT" > /dev/null
"$PYTHON" "$HERE/experiment.py" verdict "$OUT" > /dev/null
say "done: $OUT/summary.md, $OUT/summary.csv, $OUT/verdict.md, $TIMINGS"
