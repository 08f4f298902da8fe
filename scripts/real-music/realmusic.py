#!/usr/bin/env python3
"""Builds the real-music experiment's data from Debian packages and the music21 corpus.

Two subcommands, each idempotent (finished files are kept, every file is written to a
temporary name and renamed into place, the manifests are written last):

* ``pretrain DATA``: real recordings for pretraining. Reads the Debian music packages that
  ``fetch-and-render.sh`` downloaded and unpacked under ``DATA/debs/x/<package>/``, and writes
  ``DATA/pretrain/manifest.csv`` (the tracks ``loev cache build`` reads) and
  ``DATA/pretrain/sources.csv`` (package, version, file, licence, seconds of every track).
  Audio that loev decodes as shipped (Ogg Vorbis, MP3) is used in place; Opus files are
  transcoded to FLAC, Quake-style ``.pk3`` archives (zip) are unpacked, and Frets on Fire's
  per-instrument stems are mixed into one song.
* ``eval DATA``: the key- and tempo-labelled evaluation set. Four-part Bach chorales from the
  music21 corpus, each transposed to the 12 keys of its mode, rendered with fluidsynth through
  a General MIDI soundfont at a tempo drawn per render, once without and once with a General
  MIDI drum part. Writes ``DATA/eval/{plain,drums}/manifest.csv`` (loev manifests: ``path, id,
  split, key, tempo, tags, group`` plus provenance columns), ``DATA/eval/pieces.csv`` and
  ``DATA/eval/sources.csv``. Splits are drawn by piece, so no piece is in two splits.

Every random draw comes from a generator seeded by ``--seed`` and the item's name, so the
same seed gives the same set. See ``scripts/real-music/README.md`` and ``docs/real-music.md``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import fnmatch
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

# Debian packages of game soundtracks with recorded music, and the licence of their music where
# the package's copyright file is not machine-readable (DEP-5 files are read per file instead).
# Checked against each package's /usr/share/doc/<package>/copyright.
PACKAGES = {
    "wesnoth-1.16-music": "GPL-2+",
    "ufoai-music": None,  # DEP-5: per-file CC-BY-3.0 / CC-BY-SA-3.0 / GPL-2+ / public domain
    "nexuiz-music": "GPL-2+",
    "warzone2100-music": None,  # DEP-5
    "hyperrogue-music": None,  # DEP-5
    "singularity-music": "CC-BY-SA-3.0",
    "drascula-music": None,  # DEP-5: Drascula-License (BSD-like)
    "planetblupi-music-ogg": None,  # DEP-5
    "fretsonfire-songs-muldjord": "CC-BY-SA-3.0",
    "fretsonfire-songs-sectoid": "Expat",
    "asc-music": None,  # DEP-5
}

# Formats loev decodes as shipped; others are transcoded to FLAC.
NATIVE = (".ogg", ".oga", ".mp3", ".flac", ".wav")
AUDIO = NATIVE + (".opus",)


def log(message: str) -> None:
    print(f"[realmusic] {message}", file=sys.stderr, flush=True)


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    atomic_write_text(path, buf.getvalue())


def stable_rng(*parts) -> random.Random:
    """A generator seeded from a stable hash of `parts` (Python's own `hash` is salted)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


# --------------------------------------------------------------------------------------------
# Pretraining audio
# --------------------------------------------------------------------------------------------


def package_version(deb_dir: Path, package: str) -> str:
    debs = sorted(deb_dir.glob(f"{package}_*.deb"))
    if not debs:
        raise SystemExit(f"no .deb of {package} in {deb_dir}: run fetch-and-render.sh first")
    return debs[-1].name.split("_")[1].replace("%3a", ":")


def dep5_licence(copyright_file: Path, candidates: list[str]) -> str | None:
    """The `License:` of the last DEP-5 `Files:` stanza matching any candidate path."""
    text = copyright_file.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("Format:"):
        return None
    found = None
    for stanza in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", stanza, re.M)
        licence = re.search(r"^License:[ \t]*(\S.*)?$", stanza, re.M)
        if not files or not licence or not licence.group(1):
            continue
        patterns = files.group(1).split()
        for pattern in patterns:
            for cand in candidates:
                if (
                    fnmatch.fnmatch(cand, pattern)
                    or fnmatch.fnmatch(cand, "*/" + pattern)
                    or fnmatch.fnmatch(pattern, "*/" + cand)
                ):
                    found = licence.group(1).strip()
    return found


def transcode_to_flac(src: Path, dst: Path, mix: list[Path] | None = None) -> None:
    """Decodes `src` (or sums the stems in `mix`) and writes 16-bit FLAC, peak-limited to 1."""
    import numpy as np
    import soundfile as sf

    if dst.exists():
        return
    sources = mix or [src]
    signals, rate = [], None
    for s in sources:
        x, sr = sf.read(str(s), dtype="float32", always_2d=True)
        if rate is not None and sr != rate:
            raise SystemExit(f"stems of {src.parent} have different sample rates")
        rate = sr
        signals.append(x)
    n = max(len(x) for x in signals)
    channels = max(x.shape[1] for x in signals)
    out = np.zeros((n, channels), np.float32)
    for x in signals:
        out[: len(x)] += x if x.shape[1] == channels else np.repeat(x[:, :1], channels, axis=1)
    peak = float(np.abs(out).max()) if len(out) else 0.0
    if peak > 0.999:
        out *= 0.999 / peak
    write_flac(dst, out, rate)


def write_flac(path: Path, samples, rate: int) -> None:
    """16-bit FLAC, written to a temporary name and renamed into place."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.flac")
    sf.write(str(tmp), samples, rate, subtype="PCM_16")
    os.replace(tmp, path)


def cmd_pretrain(args: argparse.Namespace) -> None:
    import soundfile as sf

    data = Path(args.data).resolve()
    deb_dir = data / "debs"
    out_dir = data / "pretrain"
    derived = out_dir / "derived"
    rows, seen = [], set()
    started = time.time()
    for package, curated in PACKAGES.items():
        root = deb_dir / "x" / package
        if not root.is_dir():
            raise SystemExit(f"{root} is missing: run fetch-and-render.sh (it unpacks the packages)")
        version = package_version(deb_dir, package)
        copyright_file = root / "usr/share/doc" / package / "copyright"
        items = []  # (file used, original name in the package, candidates for the licence)
        files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        # Frets on Fire: one folder per song with song.ogg, guitar.ogg (and rhythm.ogg) stems.
        stem_dirs = sorted({p.parent for p in files if p.name == "song.ogg"})
        for d in stem_dirs:
            stems = [d / n for n in ("song.ogg", "guitar.ogg", "rhythm.ogg") if (d / n).exists()]
            rel = d.relative_to(root).as_posix()
            dst = derived / package / (re.sub(r"[^A-Za-z0-9._-]+", "_", d.name) + ".flac")
            transcode_to_flac(stems[0], dst, mix=stems)
            items.append((dst, rel + "/{" + ",".join(s.name for s in stems) + "}", [rel + "/song.ogg"]))
        for p in files:
            rel = p.relative_to(root).as_posix()
            if p.parent in stem_dirs:
                continue
            if p.suffix.lower() == ".pk3":
                with zipfile.ZipFile(p) as z:
                    for member in sorted(z.namelist()):
                        if not member.lower().endswith(AUDIO):
                            continue
                        dst = derived / package / member
                        if not dst.exists():
                            dst.parent.mkdir(parents=True, exist_ok=True)
                            tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
                            tmp.write_bytes(z.read(member))
                            os.replace(tmp, dst)
                        items.append((dst, f"{rel}:{member}", [member, rel]))
            elif p.suffix.lower() == ".opus":
                dst = derived / package / Path(rel).with_suffix(".flac")
                transcode_to_flac(p, dst)
                items.append((dst, rel, [rel]))
            elif p.suffix.lower() in NATIVE:
                items.append((p, rel, [rel]))
        for path, original, candidates in items:
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
            if digest in seen:  # the same recording under a second name (e.g. per language)
                continue
            try:
                info = sf.info(str(path))
            except RuntimeError as e:
                log(f"skipping {path}: {e}")
                continue
            if info.duration < args.min_seconds:
                continue
            seen.add(digest)
            licence = dep5_licence(copyright_file, candidates) if copyright_file.exists() else None
            licence = licence or curated
            if not licence:
                raise SystemExit(f"no licence found for {original} in {copyright_file}")
            track_id = f"{package}/{Path(original.split(':')[-1]).with_suffix('').as_posix()}"
            track_id = re.sub(r"[{},]+", "_", track_id)
            rows.append(
                {
                    "path": os.path.relpath(path, out_dir),
                    "id": track_id,
                    "package": package,
                    "version": version,
                    "file": original,
                    "licence": licence,
                    "seconds": f"{info.duration:.1f}",
                    "sample_rate": info.samplerate,
                    "channels": info.channels,
                    "sha1": digest,
                }
            )
    rows.sort(key=lambda r: r["id"])
    write_csv(
        out_dir / "sources.csv",
        ["id", "package", "version", "file", "licence", "seconds", "sample_rate", "channels", "sha1", "path"],
        rows,
    )
    write_csv(out_dir / "manifest.csv", ["path", "id", "package"], rows)
    hours = sum(float(r["seconds"]) for r in rows) / 3600
    log(
        f"pretraining set: {len(rows)} tracks, {hours:.2f} h from {len(PACKAGES)} packages "
        f"({time.time() - started:.0f} s) -> {out_dir / 'manifest.csv'}"
    )


# --------------------------------------------------------------------------------------------
# Evaluation set
# --------------------------------------------------------------------------------------------

TONICS = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]

# General MIDI programs (0-based) by family, for the tags and the ensembles.
FAMILY = {
    0: "keyboard", 1: "keyboard", 4: "keyboard", 6: "keyboard", 16: "organ", 19: "organ",
    21: "organ", 11: "mallets", 12: "mallets", 24: "guitar", 25: "guitar", 26: "guitar",
    32: "bass", 33: "bass", 40: "strings", 41: "strings", 42: "strings", 43: "strings",
    45: "strings", 48: "strings", 49: "strings", 52: "choir", 53: "choir", 56: "brass",
    57: "brass", 58: "brass", 60: "brass", 61: "brass", 64: "reed", 65: "reed", 66: "reed",
    68: "reed", 69: "reed", 70: "reed", 71: "reed", 72: "pipe", 73: "pipe", 74: "pipe",
}
# One polyphonic instrument plays all four voices ...
SOLO = [0, 1, 4, 6, 16, 19, 21, 11, 12, 24, 25, 26, 48, 49, 52, 53]
# ... or each voice gets an instrument of its range.
VOICE_PROGRAMS = [
    [40, 73, 68, 56, 71, 64, 74, 72],  # soprano
    [41, 71, 65, 60, 40, 69, 73],  # alto
    [42, 60, 57, 66, 70, 41, 26],  # tenor
    [43, 42, 70, 58, 57, 32, 33],  # bass
]
P_SOLO = 0.4
# Raised whenever the renders change for the same settings, so that old renders are refused.
RENDER_VERSION = 2
TEMPO_RANGE = (60, 180)  # integer BPM, uniform: the built-in corpus's distribution

# Drum patterns on a grid of eighth notes per beat: (GM note, beats within the bar).
KICK, SNARE, HAT, OPEN_HAT, CRASH = 36, 38, 42, 46, 49
PATTERNS = {
    4: {
        "rock": [(KICK, [0, 2, 2.5]), (SNARE, [1, 3]), (HAT, [i / 2 for i in range(8)])],
        "four-on-floor": [(KICK, [0, 1, 2, 3]), (SNARE, [1, 3]), (OPEN_HAT, [0.5, 1.5, 2.5, 3.5])],
        "half-time": [(KICK, [0, 1.5]), (SNARE, [2]), (HAT, [i / 2 for i in range(8)])],
    },
    3: {
        "waltz": [(KICK, [0]), (SNARE, [1, 2]), (HAT, [i / 2 for i in range(6)])],
        "three-straight": [(KICK, [0, 1.5]), (SNARE, [2]), (HAT, [0, 1, 2])],
    },
}


def key_name(tonic: int, mode: str) -> str:
    return f"{TONICS[tonic % 12]} {mode}"


def read_chorale(path: Path, min_quarters: float, opening_quarters: float):
    """The four voices of a chorale as (offset, duration, MIDI pitch) in quarters, its key and
    metre; `None` unless it is a plain four-part chorale in 4/4 or 3/4 with one key signature,
    whose final bass note is the tonic of the signature's major key or of its relative minor
    (that decides the mode), and whose opening a key profile hears in that same key (the label
    is then what one hears, not an editor's guess)."""
    import music21 as m21

    score = m21.converter.parse(str(path))
    parts = list(score.parts)
    if len(parts) != 4:
        return None
    meters = {ts.ratioString for ts in score.recurse().getElementsByClass(m21.meter.TimeSignature)}
    if len(meters) != 1 or next(iter(meters)) not in ("4/4", "3/4"):
        return None
    sharps = {k.sharps for k in score.recurse().getElementsByClass(m21.key.KeySignature)}
    if len(sharps) != 1:
        return None  # none, or a change of key signature
    # The encodings' <mode> is unreliable (parts of one chorale disagree), so the final bass
    # note chooses between the signature's major key and its relative minor.
    major_tonic = m21.key.KeySignature(next(iter(sharps))).asKey("major").tonic.pitchClass
    score = score.stripTies()
    voices = []
    for part in score.parts:
        notes = [
            (float(n.offset), float(n.quarterLength), int(n.pitch.midi))
            for n in part.flatten().notes
            if isinstance(n, m21.note.Note) and n.quarterLength > 0
        ]
        if not notes:
            return None
        voices.append(notes)
    final = voices[3][-1][2] % 12
    if final == major_tonic:
        tonic, mode = major_tonic, "major"
    elif final == (major_tonic + 9) % 12:
        tonic, mode = final, "minor"
    else:
        return None  # a modal or half-close ending
    length = float(score.highestTime)
    if length < min_quarters:
        return None
    # The shortest render (15 s at 60 BPM) holds the first 15 quarters: the key heard there must
    # be the written one, or a crop would be labelled with a key it does not sound in (an opening
    # that tonicises the relative or dominant key is left out).
    opening = m21.stream.Stream()
    for notes in voices:
        for onset, dur, pitch in notes:
            if onset < opening_quarters:
                opening.insert(onset, m21.note.Note(pitch, quarterLength=dur))
    heard = opening.analyze("key")
    if heard.tonic.pitchClass != tonic or heard.mode != mode:
        return None
    measures = list(score.parts[0].getElementsByClass(m21.stream.Measure))
    bar = 4.0 if meters == {"4/4"} else 3.0
    downbeat = -float(measures[0].paddingLeft) if measures else 0.0
    return {
        "voices": voices,
        "tonic": tonic,
        "mode": mode,
        "beats_per_bar": int(bar),
        "length": length,
        "downbeat": downbeat,
    }


def select_pieces(per_mode: int, seed: int, min_quarters: float, opening_quarters: float) -> list[dict]:
    """`per_mode` major and `per_mode` minor chorales, in a seeded order of the corpus; variants
    of one chorale (`bwv112.5`, `bwv112.5-sc`) count once."""
    import music21 as m21

    paths = sorted(Path(p) for p in m21.corpus.getComposer("bach") if str(p).endswith(".mxl"))
    by_base: dict[str, Path] = {}
    for p in paths:
        base = p.stem.split("-")[0]
        if base not in by_base or len(p.stem) < len(by_base[base].stem):
            by_base[base] = p
    names = sorted(by_base)
    stable_rng(seed, "pieces").shuffle(names)
    chosen = {"major": [], "minor": []}
    read = rejected = 0
    for name in names:
        if all(len(v) >= per_mode for v in chosen.values()):
            break
        piece = read_chorale(by_base[name], min_quarters, opening_quarters)
        read += 1
        rejected += piece is None
        if piece is None or len(chosen[piece["mode"]]) >= per_mode:
            continue
        piece["name"] = name
        piece["file"] = by_base[name].name
        chosen[piece["mode"]].append(piece)
    log(f"read {read} of {len(names)} chorales; {rejected} did not qualify")
    for mode, got in chosen.items():
        if len(got) < per_mode:
            raise SystemExit(f"only {len(got)} {mode} chorales qualify; ask for fewer with --pieces-per-mode")
    return chosen["major"] + chosen["minor"]


def assign_splits(pieces: list[dict], seed: int, fractions: tuple[float, float]) -> None:
    """Splits by piece, separately per mode so each split has both modes in equal numbers."""
    for mode in ("major", "minor"):
        group = sorted((p for p in pieces if p["mode"] == mode), key=lambda p: p["name"])
        stable_rng(seed, "splits", mode).shuffle(group)
        n_train = round(fractions[0] * len(group))
        n_valid = round(fractions[1] * len(group))
        for i, p in enumerate(group):
            p["split"] = "train" if i < n_train else "valid" if i < n_train + n_valid else "test"


def plan_render(piece: dict, target: int, seed: int) -> dict:
    """Transposition, tempo, ensemble, velocities and drum pattern of one render."""
    rng = stable_rng(seed, "render", piece["name"], target)
    shift = (target - piece["tonic"]) % 12
    if shift > 5:
        shift -= 12  # -6 … +5 semitones keeps the voices near their written range
    bpm = rng.randint(*TEMPO_RANGE)
    if rng.random() < P_SOLO:
        programs = [rng.choice(SOLO)] * 4
    else:
        programs = [rng.choice(options) for options in VOICE_PROGRAMS]
    velocities = [rng.randint(70, 105) for _ in range(4)]
    pattern = rng.choice(sorted(PATTERNS[piece["beats_per_bar"]]))
    return {
        "shift": shift,
        "bpm": bpm,
        "programs": programs,
        "velocities": velocities,
        "pattern": pattern,
        "jitter_seed": rng.getrandbits(32),
    }


def write_midi(piece: dict, plan: dict, drums: bool, seconds: float, path: Path) -> None:
    """The render as a type-1 MIDI file: one channel per voice, drums on channel 10. The piece
    repeats (from its first downbeat grid, whole bars) until `seconds` are filled; notes are cut
    at `seconds`."""
    import mido

    tpq = 480
    bpm = plan["bpm"]
    quarters = seconds * bpm / 60.0
    bar = float(piece["beats_per_bar"])
    period = -(-piece["length"] // bar) * bar  # whole bars
    events = []  # (tick, order, message); note-offs sort before note-ons at the same tick
    jitter = random.Random(plan["jitter_seed"])
    for v, notes in enumerate(piece["voices"]):
        events.append((0, 0, mido.Message("program_change", channel=v, program=plan["programs"][v])))
        repeat = 0
        while repeat * period < quarters:
            for onset, dur, pitch in notes:
                start = onset + repeat * period
                if start >= quarters:
                    break
                end = min(start + dur, quarters)
                vel = max(1, min(127, plan["velocities"][v] + jitter.randint(-6, 6)))
                note = pitch + plan["shift"]
                events.append((round(start * tpq), 2, mido.Message("note_on", channel=v, note=note, velocity=vel)))
                events.append((round(end * tpq), 1, mido.Message("note_off", channel=v, note=note, velocity=0)))
            repeat += 1
    if drums:
        grid = PATTERNS[piece["beats_per_bar"]][plan["pattern"]]
        bar_start = piece["downbeat"]
        first = True
        while bar_start < quarters:
            hits = [(CRASH, 0.0)] if first and bar_start >= 0 else []
            for note, beats in grid:
                hits.extend((note, b) for b in beats)
            for note, beat in hits:
                t = bar_start + beat
                if 0 <= t < quarters:
                    vel = 100 if beat == int(beat) else 80
                    vel = max(1, min(127, vel + jitter.randint(-8, 8)))
                    events.append((round(t * tpq), 2, mido.Message("note_on", channel=9, note=note, velocity=vel)))
                    events.append((round(min(t + 0.25, quarters) * tpq), 1, mido.Message("note_off", channel=9, note=note, velocity=0)))
            first = first and bar_start < 0
            bar_start += bar
    events.sort(key=lambda e: (e[0], e[1]))
    midi = mido.MidiFile(type=1, ticks_per_beat=tpq)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    meta.append(mido.MetaMessage("time_signature", numerator=piece["beats_per_bar"], denominator=4, time=0))
    midi.tracks.append(meta)
    track = mido.MidiTrack()
    last = 0
    for tick, _, message in events:
        track.append(message.copy(time=tick - last))
        last = tick
    midi.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    midi.save(str(tmp))
    os.replace(tmp, path)


def render(midi: Path, out: Path, soundfont: Path, seconds: float, sample_rate: int, gain: float) -> None:
    """fluidsynth renders the MIDI file; the result is mixed to mono, cut to `seconds` with a
    20 ms fade, peak-normalised to 0.9 and written as 16-bit FLAC."""
    import numpy as np
    import soundfile as sf

    out.parent.mkdir(parents=True, exist_ok=True)
    wav = out.with_name(f".{out.stem}.tmp-{os.getpid()}.wav")
    cmd = [
        "fluidsynth", "-ni", "-q", "-g", str(gain), "-r", str(sample_rate),
        "-O", "s16", "-T", "wav", "-F", str(wav), str(soundfont), str(midi),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not wav.exists():
        raise SystemExit(f"fluidsynth failed on {midi}: {result.stderr.strip()[:500]}")
    x, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    wav.unlink()
    y = x.mean(axis=1)
    n = int(round(seconds * sr))
    y = np.pad(y[:n], (0, max(0, n - len(y))))
    fade = int(0.02 * sr)
    y[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    peak = float(np.abs(y).max())
    if peak <= 0:
        raise SystemExit(f"fluidsynth rendered silence from {midi}")
    y *= 0.9 / peak
    write_flac(out, y, sr)


def cmd_eval(args: argparse.Namespace) -> None:
    import music21

    data = Path(args.data).resolve()
    out_dir = data / "eval"
    soundfont = Path(args.soundfont)
    if not soundfont.exists():
        raise SystemExit(f"soundfont {soundfont} not found: install fluid-soundfont-gm or pass --soundfont")
    # Renders are reused by file name, so a second run must use the same settings.
    settings = {k: v for k, v in sorted(vars(args).items()) if k not in ("func", "command", "data", "jobs")}
    settings["render_version"] = RENDER_VERSION
    stamp = out_dir / "settings.json"
    if stamp.exists() and json.loads(stamp.read_text()) != settings:
        raise SystemExit(
            f"{out_dir} was rendered with other settings ({stamp}): remove the folder to render anew"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(stamp, json.dumps(settings, indent=1))
    started = time.time()
    log(f"choosing {args.pieces_per_mode} major and {args.pieces_per_mode} minor chorales (music21 {music21.__version__})")
    pieces = select_pieces(args.pieces_per_mode, args.seed, args.min_quarters, args.seconds * TEMPO_RANGE[0] / 60.0)
    assign_splits(pieces, args.seed, (args.train_fraction, args.valid_fraction))
    log(f"chose {len(pieces)} pieces in {time.time() - started:.0f} s")

    jobs, rows = [], {"plain": [], "drums": []}
    for piece in sorted(pieces, key=lambda p: p["name"]):
        slug = piece["name"].replace(".", "_")
        for target in range(12):
            plan = plan_render(piece, target, args.seed)
            key = key_name(target, piece["mode"])
            track_id = f"{slug}-{TONICS[target].replace('#', 's')}-{piece['mode']}"
            tags = sorted({FAMILY[p] for p in plan["programs"]})
            for condition in ("plain", "drums"):
                audio = out_dir / condition / "audio" / f"{track_id}.flac"
                midi = out_dir / condition / "midi" / f"{track_id}.mid"
                jobs.append((piece, plan, condition == "drums", midi, audio))
                rows[condition].append(
                    {
                        "path": os.path.relpath(audio, out_dir / condition),
                        "id": track_id,
                        "split": piece["split"],
                        "key": key,
                        "tempo": plan["bpm"],
                        "tags": ";".join(tags),
                        "group": piece["name"],
                        "piece": piece["file"],
                        "transpose": plan["shift"],
                        "programs": " ".join(str(p) for p in plan["programs"]),
                        "drums": plan["pattern"] if condition == "drums" else "",
                        "meter": f"{piece['beats_per_bar']}/4",
                    }
                )

    todo = [j for j in jobs if not j[4].exists()]
    log(f"{len(jobs)} renders, {len(jobs) - len(todo)} already done; rendering {len(todo)} with {args.jobs} jobs")

    def one(job):
        piece, plan, drums, midi, audio = job
        write_midi(piece, plan, drums, args.seconds, midi)
        render(midi, audio, soundfont, args.seconds, args.sample_rate, args.gain)

    done = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for _ in pool.map(one, todo):
            done += 1
            if done % 100 == 0:
                log(f"rendered {done}/{len(todo)} ({time.time() - started:.0f} s)")

    columns = ["path", "id", "split", "key", "tempo", "tags", "group", "piece", "transpose", "programs", "drums", "meter"]
    for condition, condition_rows in rows.items():
        write_csv(out_dir / condition / "manifest.csv", columns, condition_rows)
    write_csv(
        out_dir / "pieces.csv",
        ["name", "file", "split", "mode", "written_key", "meter", "quarters"],
        [
            {
                "name": p["name"],
                "file": p["file"],
                "split": p["split"],
                "mode": p["mode"],
                "written_key": key_name(p["tonic"], p["mode"]),
                "meter": f"{p['beats_per_bar']}/4",
                "quarters": p["length"],
            }
            for p in sorted(pieces, key=lambda p: p["name"])
        ],
    )
    sf_pkg = dpkg_owner(soundfont)
    write_csv(
        out_dir / "sources.csv",
        ["what", "source", "version", "licence"],
        [
            {"what": "scores", "source": "music21 corpus (Bach chorales, pip package music21)", "version": music21.__version__, "licence": "music21: BSD-3-Clause; the chorales are public-domain compositions, encodings distributed with music21's corpus"},
            {"what": "soundfont", "source": f"{soundfont} (Debian package {sf_pkg[0]})", "version": sf_pkg[1], "licence": "MIT (FluidR3_GM, see /usr/share/doc/fluid-soundfont-gm/copyright)" if "fluid" in sf_pkg[0] else "see the package's copyright file"},
            {"what": "renderer", "source": "fluidsynth (Debian package)", "version": dpkg_version("fluidsynth"), "licence": "LGPL-2.1+"},
        ],
    )
    meters = {m: sum(1 for p in pieces if p["beats_per_bar"] == int(m[0])) for m in ("4/4", "3/4")}
    log(f"pieces per metre: {meters}")
    n_plain = len(rows["plain"])
    counts = {s: sum(1 for r in rows["plain"] if r["split"] == s) for s in ("train", "valid", "test")}
    log(
        f"evaluation set: {len(pieces)} pieces × 12 keys = {n_plain} renders per condition "
        f"(plain, drums), {args.seconds:.0f} s each; tracks per split {counts}; "
        f"{time.time() - started:.0f} s"
    )


def dpkg_version(package: str) -> str:
    try:
        return subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def dpkg_owner(path: Path) -> tuple[str, str]:
    try:
        real = os.path.realpath(path)
        owner = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True, check=True).stdout
        package = owner.split(":")[0].strip()
        return package, dpkg_version(package)
    except (OSError, subprocess.CalledProcessError):
        return "unknown", "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="the pretraining tracks from the unpacked Debian packages")
    p.add_argument("data", help="the data folder (fetch-and-render.sh's --data)")
    p.add_argument("--min-seconds", type=float, default=30.0, help="skip shorter files (jingles, effects)")
    p.set_defaults(func=cmd_pretrain)
    e = sub.add_parser("eval", help="the key- and tempo-labelled evaluation set")
    e.add_argument("data", help="the data folder (fetch-and-render.sh's --data)")
    e.add_argument("--pieces-per-mode", type=int, default=36, help="major and minor chorales each")
    e.add_argument("--seconds", type=float, default=15.0, help="length of every render")
    e.add_argument("--min-quarters", type=float, default=32.0, help="shortest chorale, in quarter notes")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--train-fraction", type=float, default=2 / 3)
    e.add_argument("--valid-fraction", type=float, default=1 / 6)
    e.add_argument("--sample-rate", type=int, default=22050)
    e.add_argument("--gain", type=float, default=0.5, help="fluidsynth's master gain")
    e.add_argument("--soundfont", default="/usr/share/sounds/sf2/FluidR3_GM.sf2")
    e.add_argument("--jobs", type=int, default=2, help="fluidsynth processes at once")
    e.set_defaults(func=cmd_eval)
    args = parser.parse_args()
    if shutil.which("fluidsynth") is None and args.command == "eval":
        raise SystemExit("fluidsynth is not installed: run fetch-and-render.sh (it installs it)")
    args.func(args)


if __name__ == "__main__":
    main()
