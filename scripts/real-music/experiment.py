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
* ``verdict OUT``: docs/real-music.md's pre-registered rules applied to ``OUT/summary.csv``
  (``OUT/verdict.md``): the pitch half per copy, the tempo half on the drummed copy, and ΔR of
  every check. Phase 2's separation diagnostic and step trend are read by hand.
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


# ------------------------------------------------------------------------------------ verdict

# docs/real-music.md's minimum effects, in loev's units (fractions; ρ as it is).
MINIMUM = {"key_weighted": 0.05, "acc1": 0.05, "rho": 0.10, "roc_auc": 0.02}


class Cell:
    """One model's metric over training seeds: mean, sample std (n − 1) and n."""

    def __init__(self, values: list[float]):
        self.values = values
        self.n = len(values)
        self.mean = sum(values) / self.n
        self.sd = math.sqrt(sum((v - self.mean) ** 2 for v in values) / (self.n - 1)) if self.n > 1 else math.nan

    @property
    def se(self) -> float:
        return self.sd / math.sqrt(self.n)


def difference(a: Cell, b: Cell) -> tuple[float, float]:
    """a − b and its standard error (unpaired)."""
    return a.mean - b.mean, math.sqrt(a.se**2 + b.se**2)


def stands(d: float, se: float, minimum: float) -> bool:
    """docs/real-music.md: at least 2 standard errors and at least the minimum effect."""
    return math.isfinite(se) and d >= 2 * se and d >= minimum


def cmd_verdict(args: argparse.Namespace) -> None:
    """The pre-registered rules of docs/real-music.md, applied to OUT/summary.csv."""
    out = Path(args.out)
    with open(out / "summary.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    table: dict[tuple, Cell] = {}
    for r in rows:
        values = [float(v) for v in r["per_training_seed"].split()]
        table[(r["variant"], r["eval_set"], r["task"], r["metric"], r["model"], r["space"])] = Cell(values)

    def cell(variant, evalset, task, metric, model):
        return table.get((variant, evalset, task, metric, model, "v"))

    tempo_metrics = ["acc1"] + sorted({k[3] for k in table if k[2] == "tempo" and ("spearman" in k[3] or "rho" in k[3])})
    pct = lambda x: f"{100 * x:+.1f}"  # noqa: E731
    md = ["# Verdicts by docs/real-music.md's pre-registered rules", ""]
    md.append("Differences in points (key, tags, Acc1) or in ρ; ± is the standard error from the sample std over")
    md.append("training seeds. A difference stands at ≥ 2 se and ≥ the minimum effect.")

    def pitch(variant, evalset):
        """L, se_L, R, se_R; a variant without its own MULE runs uses the base table's (check b)."""
        key = lambda model: cell(variant, evalset, "key", "key_weighted", model) or cell(  # noqa: E731
            "base", evalset, "key", "key_weighted", model
        )
        b, ps, lp = key("mule-b"), key("mule-ps"), cell(variant, evalset, "key", "key_weighted", "loev-ps")
        if not (b and ps and lp):
            return None
        loss, se_l = difference(b, ps)
        rec, se_r = difference(lp, ps)
        return loss, se_l, rec, se_r

    for evalset in sorted({k[1] for k in table if k[0] == "base"}):
        md += ["", f"## Pitch half · {evalset}", ""]
        got = pitch("base", evalset)
        if not got:
            md.append("MULE-B, MULE-PS and LOEV-PS are needed.")
            continue
        loss, se_l, rec, se_r = got
        share = rec / loss if loss else math.nan
        tags_l = cell("base", evalset, "tagging", "roc_auc", "loev-ps")
        tags_m = cell("base", evalset, "tagging", "roc_auc", "mule-ps")
        tags = tags_l.mean - tags_m.mean if tags_l and tags_m else math.nan
        md.append(f"* L = MULE-B − MULE-PS = {pct(loss)} ± {100 * se_l:.1f}; R = LOEV-PS − MULE-PS = {pct(rec)} ± {100 * se_r:.1f}; F = {share:.2f}; tags (LOEV-PS − MULE-PS) {pct(tags)}")
        if not stands(loss, se_l, MINIMUM["key_weighted"]):
            verdict = "not testable on this copy (L does not stand)"
        elif not stands(rec, se_r, MINIMUM["key_weighted"]):
            verdict = "does NOT hold (R does not stand)"
        elif share >= 0.5 and abs(tags) <= 0.02:
            verdict = "holds"
        else:
            verdict = "holds partly" + (" (F < 0.5)" if share < 0.5 else "") + (" (tags differ by more than 2 points)" if abs(tags) > 0.02 else "")
        md.append(f"* **Verdict: {verdict}.** The demo's rule (R ≥ 10 points, tags within 2): {'met' if rec >= 0.10 and abs(tags) <= 0.02 else 'not met'}.")

    if any(k[1] == "drums" and k[2] == "tempo" for k in table):
        md += ["", "## Tempo half · drums", ""]
        for metric in tempo_metrics:
            b, ts, lt = (cell("base", "drums", "tempo", metric, m) for m in ("mule-b", "mule-ts", "loev-ts"))
            if not (b and ts and lt):
                continue
            minimum = MINIMUM["acc1" if metric == "acc1" else "rho"]
            loss, se_l = difference(b, ts)
            rec, se_r = difference(lt, ts)
            gate = (b.mean >= 0.25) if metric == "acc1" else (b.mean >= 0.5)
            scale = 100 if metric == "acc1" else 1
            md.append(f"* {metric}: MULE-B {scale * b.mean:.2f}; L_T = {scale * loss:+.2f} ± {scale * se_l:.2f}; R_T = {scale * rec:+.2f} ± {scale * se_r:.2f}; F_T = {rec / loss if loss else math.nan:.2f}")
            if not gate:
                verdict = "MULE-B does not reach the gate on this metric"
            elif not stands(loss, se_l, minimum):
                verdict = "not testable (L_T does not stand)"
            elif not stands(rec, se_r, minimum):
                verdict = "does NOT hold"
            else:
                verdict = "holds" if loss and rec / loss >= 0.5 else "holds partly (F_T < 0.5)"
            md.append(f"  **{metric}: {verdict}.** (The half is testable when MULE-B passes the gate on Acc1 or ρ.)")

    checks = [v for v in sorted({k[0] for k in table}) if v != "base"]
    if checks:
        md += ["", "## Checks: ΔR = R(variant) − R(base), key in V", ""]
    for variant in checks:
        for evalset in sorted({k[1] for k in table if k[0] == variant}):
            now, base = pitch(variant, evalset), pitch("base", evalset)
            if not (now and base):
                continue
            delta = now[2] - base[2]
            se = math.sqrt(now[3] ** 2 + base[3] ** 2)
            line = f"* {variant} · {evalset}: R = {pct(now[2])} vs {pct(base[2])}, ΔR = {pct(delta)} ± {100 * se:.1f}: **{'moves R' if stands(abs(delta), se, MINIMUM['key_weighted']) else 'does not move R'}**"
            b_now, b_base = cell(variant, evalset, "key", "key_weighted", "mule-b"), cell("base", evalset, "key", "key_weighted", "mule-b")
            if b_now and b_base:  # the confound of check (a): does the variant cost MULE-B key?
                fall, se_f = difference(b_base, b_now)
                line += f"; MULE-B's key {pct(-fall)} ± {100 * se_f:.1f}"
                if stands(fall, se_f, MINIMUM["key_weighted"]) and now[0] and base[0]:
                    line += f" (falls: judge on F, {base[2] / base[0]:.2f} → {now[2] / now[0]:.2f})"
            md.append(line)
        for metric in tempo_metrics:
            got = []
            for v in (variant, "base"):
                ts = cell(v, "drums", "tempo", metric, "mule-ts") or cell("base", "drums", "tempo", metric, "mule-ts")
                lt = cell(v, "drums", "tempo", metric, "loev-ts")
                if ts and lt:
                    got.append(difference(lt, ts))
            if len(got) == 2:
                scale = 100 if metric == "acc1" else 1
                delta, se = got[0][0] - got[1][0], math.sqrt(got[0][1] ** 2 + got[1][1] ** 2)
                moved = stands(abs(delta), se, MINIMUM["acc1" if metric == "acc1" else "rho"])
                md.append(
                    f"* {variant} · drums · tempo {metric}: R_T = {scale * got[0][0]:+.2f} vs {scale * got[1][0]:+.2f}, "
                    f"ΔR_T = {scale * delta:+.2f} ± {scale * se:.2f}: **{'moves R_T' if moved else 'does not move R_T'}**"
                )
    atomic_write_text(out / "verdict.md", "\n".join(md) + "\n")
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
    v = sub.add_parser("verdict")
    v.add_argument("out")
    v.set_defaults(func=cmd_verdict)
    args = parser.parse_args()
    if sys.version_info < (3, 11):
        raise SystemExit("experiment.py needs Python 3.11 or newer (tomllib)")
    args.func(args)


if __name__ == "__main__":
    main()
