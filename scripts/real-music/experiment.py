#!/usr/bin/env python3
"""Helpers of run-experiment.sh (standard library only, Python ≥ 3.11):

* ``config PRESET OUT.toml --loev BIN [--set KEY=VALUE ...]``: the preset's full configuration
  (``loev pretrain --preset PRESET --print-config``) with dotted keys overridden, e.g.
  ``--set objective.anchor_mean='"with_positives"'`` or
  ``--set model.encoder.slow_widths=[64,128,384,384]``. VALUE is a TOML value. loev itself
  validates the result (an unknown key is an error naming it).
* ``subset MANIFEST OUT.csv --per-split N``: the first N rows of each split of a manifest
  (paths made absolute), for a dry run at a small scale.
* ``summary OUT``: every ``probe.json`` under OUT, as mean ± std over training seeds (each
  training seed's value is the mean over its probe seeds), written to ``OUT/summary.md`` and
  ``OUT/summary.csv``; also the mean invariance distances of V per model.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from collections import defaultdict
from pathlib import Path


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------ config


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        if isinstance(v, float) and not math.isfinite(v):
            raise SystemExit(f"cannot write the non-finite number {v} as TOML")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise SystemExit(f"cannot write {v!r} as a TOML value")


def toml_dump(table: dict, prefix: str = "") -> str:
    """TOML text of nested tables of scalars and arrays (all a loev run configuration holds)."""
    lines = [f"{k} = {toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in table.items():
        if isinstance(v, dict):
            name = f"{prefix}.{k}" if prefix else k
            scalars = any(not isinstance(x, dict) for x in v.values())
            body = toml_dump(v, name)
            out += (f"\n[{name}]\n" if scalars or not v else "") + body
    return out


def cmd_config(args: argparse.Namespace) -> None:
    text = subprocess.run(
        [args.loev, "pretrain", "--preset", args.preset, "--print-config"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    config = tomllib.loads(text)
    for assignment in args.set:
        key, sep, value = assignment.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--set {assignment!r}: expected KEY=VALUE (a dotted key and a TOML value)")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError as e:
            raise SystemExit(f"--set {assignment!r}: the value is not TOML ({e}); quote strings: '\"text\"'")
        table = config
        parts = key.strip().split(".")
        for part in parts[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise SystemExit(f"--set {assignment!r}: {part} is a value, not a table")
        table[parts[-1]] = parsed
    atomic_write_text(Path(args.out), toml_dump(config))


# ------------------------------------------------------------------------------------ subset


def cmd_subset(args: argparse.Namespace) -> None:
    manifest = Path(args.manifest).resolve()
    with open(manifest, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        rows = list(reader)
    kept, per = [], defaultdict(int)
    for row in rows:
        split = row.get("split", "")
        if per[split] < args.per_split:
            per[split] += 1
            row["path"] = str((manifest.parent / row["path"]).resolve())
            kept.append(row)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    atomic_write_text(Path(args.out), buf.getvalue())


# ------------------------------------------------------------------------------------ summary


# The main table's order of models (others follow by name).
MODEL_ORDER = ["mule-b", "mule-ps", "loev-ps", "mule-ts", "loev-ts"]


def mean_std(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    var = sum((v - m) ** 2 for v in values) / len(values)
    return m, math.sqrt(var)


def cmd_summary(args: argparse.Namespace) -> None:
    out = Path(args.out)
    # OUT/<variant>/emb/<evalset>/<model>-s<seed>/probe.json
    cells: dict[tuple, list[float]] = defaultdict(list)
    probe_seeds: dict[tuple, int] = {}
    for path in sorted(out.glob("*/emb/*/*/probe.json")):
        evalset = path.parent.parent.name
        match = re.fullmatch(r"(.+)-s(\d+)", path.parent.name)
        variant = path.parent.parent.parent.parent.name
        if not match:
            continue
        model, seed = match.group(1), int(match.group(2))
        for result in json.loads(path.read_text()):
            for probe in result["probes"]:
                task = probe.get("fold_of") or probe["task"]
                for metric in probe["metrics"]:
                    key = (variant, evalset, task, metric["name"], model, result["space"])
                    cells[key].append(metric["mean"])
                    probe_seeds[key] = len(metric["values"])
    def order(key: tuple) -> tuple:
        variant, evalset, task, metric, model, space = key
        model_rank = MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER)
        return (variant != "base", variant, evalset, task, metric, model_rank, model, space != "v", space)

    rows = []
    for key in sorted(cells, key=order):
        values = cells[key]
        m, s = mean_std(values)
        sample = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else float("nan")
        rows.append(
            {
                "variant": key[0],
                "eval_set": key[1],
                "task": key[2],
                "metric": key[3],
                "model": key[4],
                "space": key[5],
                "mean": m,
                "std_over_training_seeds": s,
                "sample_std_over_training_seeds": sample,
                "training_seeds": len(values),
                "probe_seeds": probe_seeds[key],
                "per_training_seed": " ".join(f"{v:.4f}" for v in values),
            }
        )
    buf = io.StringIO()
    columns = list(rows[0]) if rows else ["variant"]
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "summary.csv", buf.getvalue())

    # Invariance: mean cosine distance of V over each transform's non-identity settings.
    inv: dict[tuple, list[float]] = defaultdict(list)
    for path in sorted(out.glob("*/analyze/*/invariance.csv")):
        match = re.fullmatch(r"(.+)-s(\d+)", path.parent.name)
        if not match:
            continue
        variant = path.parent.parent.parent.name
        per_run: dict[str, list[float]] = defaultdict(list)
        with open(path, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                if r.get("space") != "v":
                    continue
                transform = r["transform"]
                amount = float(r["parameter"])
                identity = 0.0 if "pitch" in transform.lower() else 1.0
                if abs(amount - identity) > 1e-9:
                    per_run[transform].append(float(r["mean_distance"]))
        for transform, distances in per_run.items():
            inv[(variant, match.group(1), transform)].append(sum(distances) / len(distances))

    md = ["# Real-music experiment: mean ± std over training seeds", ""]
    md.append("Each cell: the mean over training seeds of each seed's probe mean, ± the std over training seeds")
    md.append("(population std; n = training seeds, probe seeds nested), in %. summary.csv also has the sample std")
    md.append("(n − 1) that docs/real-music.md's rules use, and every training seed's value.")
    groups = defaultdict(list)
    for r in rows:
        groups[(r["variant"], r["eval_set"], r["task"], r["metric"])].append(r)
    for (variant, evalset, task, metric), group in groups.items():
        spaces = sorted({r["space"] for r in group}, key=lambda s: (s != "v", s))
        models = list(dict.fromkeys(r["model"] for r in group))
        md += ["", f"## {variant} · {evalset} · {task} · {metric}", ""]
        md.append("| model | " + " | ".join(spaces) + " | n |")
        md.append("|---|" + "---:|" * len(spaces) + "---:|")
        for model in models:
            cells_md, n = [], 0
            for space in spaces:
                hit = [r for r in group if r["model"] == model and r["space"] == space]
                if hit:
                    r = hit[0]
                    n = max(n, r["training_seeds"])
                    cells_md.append(f"{100 * r['mean']:.1f} ± {100 * r['std_over_training_seeds']:.1f}")
                else:
                    cells_md.append("—")
            md.append(f"| {model} | " + " | ".join(cells_md) + f" | {n} |")
    if inv:
        md += ["", "## Invariance of V: mean cosine distance over the non-identity settings", ""]
        md.append("| variant | model | transform | mean ± std over training seeds | n |")
        md.append("|---|---|---|---:|---:|")
        for (variant, model, transform), values in sorted(inv.items()):
            m, s = mean_std(values)
            md.append(f"| {variant} | {model} | {transform} | {m:.3f} ± {s:.3f} | {len(values)} |")
    atomic_write_text(out / "summary.md", "\n".join(md) + "\n")
    print("\n".join(md))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("config")
    c.add_argument("preset")
    c.add_argument("out")
    c.add_argument("--loev", required=True)
    c.add_argument("--set", action="append", default=[])
    c.set_defaults(func=cmd_config)
    s = sub.add_parser("subset")
    s.add_argument("manifest")
    s.add_argument("out")
    s.add_argument("--per-split", type=int, required=True)
    s.set_defaults(func=cmd_subset)
    m = sub.add_parser("summary")
    m.add_argument("out")
    m.set_defaults(func=cmd_summary)
    args = parser.parse_args()
    if sys.version_info < (3, 11):
        raise SystemExit("experiment.py needs Python 3.11 or newer (tomllib)")
    args.func(args)


if __name__ == "__main__":
    main()
