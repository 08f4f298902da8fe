#!/usr/bin/env bash
# Builds the real-music experiment's data from nothing (see README.md in this folder):
#   1. installs fluidsynth and the FluidR3 General MIDI soundfont (Debian packages);
#   2. makes a Python virtual environment with the pinned requirements.txt;
#   3. downloads the Debian soundtrack packages and unpacks them (no installation);
#   4. writes the pretraining manifest and sources.csv (realmusic.py pretrain);
#   5. renders the key- and tempo-labelled evaluation set (realmusic.py eval).
# Idempotent: every step skips what is already there, so a second run (or a run after an
# interruption) only finishes what is missing.
#
#   scripts/real-music/fetch-and-render.sh [--data DIR] [-- extra options of `realmusic.py eval`]
#
# DIR defaults to $LOEV_REAL_MUSIC_DIR, else ~/loev-real-music. Nothing is written inside the
# repository. Needs Debian (apt-get), root or sudo for step 1, python3 with venv.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data="${LOEV_REAL_MUSIC_DIR:-$HOME/loev-real-music}"
eval_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --data) data="$2"; shift 2 ;;
        --) shift; eval_args=("$@"); break ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
mkdir -p "$data"
data="$(cd "$data" && pwd)"
say() { echo "[fetch-and-render] $*" >&2; }
start=$(date +%s)
lap() { say "$1 done ($(( $(date +%s) - start )) s so far)"; }

# The soundtracks: their music licences are in the generated pretrain/sources.csv and
# summarised in docs/real-music.md.
packages=(
    wesnoth-1.16-music ufoai-music nexuiz-music warzone2100-music hyperrogue-music
    singularity-music drascula-music planetblupi-music-ogg fretsonfire-songs-muldjord
    fretsonfire-songs-sectoid asc-music
)

# 1. System packages.
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
if ! command -v fluidsynth >/dev/null || [[ ! -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ]]; then
    say "installing fluidsynth and fluid-soundfont-gm"
    $sudo apt-get update -qq
    $sudo apt-get install -y -q --no-install-recommends fluidsynth fluid-soundfont-gm
fi
lap "system packages"

# 2. Python environment (pinned).
venv="$data/venv"
if [[ ! -x "$venv/bin/python" ]] || ! cmp -s "$here/requirements.txt" "$venv/.requirements.txt"; then
    say "creating $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/.requirements.txt"
fi
lap "virtual environment"

# 3. Debian soundtrack packages: downloaded as .deb and unpacked, never installed.
mkdir -p "$data/debs/x"
missing=()
for p in "${packages[@]}"; do
    compgen -G "$data/debs/${p}_*.deb" >/dev/null || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    say "downloading ${missing[*]}"
    if ! apt-cache show "${missing[0]}" >/dev/null 2>&1; then $sudo apt-get update -qq; fi
    (cd "$data/debs" && apt-get download "${missing[@]}")
fi
for p in "${packages[@]}"; do
    if [[ ! -e "$data/debs/x/$p/.unpacked" ]]; then
        deb=$(ls "$data/debs/${p}"_*.deb | tail -n 1)
        rm -rf "$data/debs/x/$p"
        dpkg-deb -x "$deb" "$data/debs/x/$p"
        touch "$data/debs/x/$p/.unpacked"
    fi
done
lap "soundtrack packages"

# 4. Pretraining manifest (transcodes only what loev cannot decode as shipped).
if [[ ! -e "$data/pretrain/manifest.csv" ]]; then
    nice -n 10 "$venv/bin/python" "$here/realmusic.py" pretrain "$data"
fi
lap "pretraining manifest"

# 5. Evaluation set.
if [[ ! -e "$data/eval/plain/manifest.csv" || ! -e "$data/eval/drums/manifest.csv" || ${#eval_args[@]} -gt 0 ]]; then
    nice -n 10 "$venv/bin/python" "$here/realmusic.py" eval "$data" "${eval_args[@]}"
fi
lap "evaluation set"
say "data in $data: pretrain/manifest.csv, eval/plain/manifest.csv, eval/drums/manifest.csv"
