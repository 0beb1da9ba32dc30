#!/usr/bin/env python3
"""Summarises the runs of benches/gpu.sh into gpu-bench.md and gpu-bench.json.

Usage: gpu_compare.py RESULTS_DIR DEVICE_UNDER_TEST

Reads RESULTS_DIR/runs/<name>/{rc, wall_s, log.txt, table.json, manifests/*.json} for the runs
agree-{cpu,gpu}, agm-{gpu,cpu} and quick-{gpu,cpu}. Standard library only (runs on the GPU
machine's python3 and here). Exit status 1 when a run failed or a result disagrees beyond the
tolerances below, else 0.
"""

import json
import os
import re
import statistics
import sys

# Tolerances of the CPU/GPU agreement. Both devices start from the same host-drawn weights,
# batches and noise, so they differ only by floating-point rounding (summation order in the
# matrix products), which grows slowly over training: the training loss at the logged steps
# (printed with 4 decimals) and every report cell must agree to within these relative bounds.
LOSS_RTOL = 0.02
CELL_RTOL = 0.05

# The runs gpu.sh makes (runs/<name>/), in the order of the summary table.
LABELS = {
    "agm-gpu": "AGM toy, batch 2048, one training at a time",
    "agm-cpu": "AGM toy, batch 2048, 4 trainings sharing the cores",
    "quick-gpu": "quick start, default scheduling",
    "quick-cpu": "quick start, default scheduling",
    "agree-gpu": "AGM toy short (agreement run)",
    "agree-cpu": "AGM toy short (agreement run)",
}

PROGRESS = re.compile(r"^\s*(\S+): step (\d+)/(\d+) loss (\S+)\s*$")


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def load_run(results, name):
    d = os.path.join(results, "runs", name)
    rc = read(os.path.join(d, "rc"))
    run = {
        "name": name,
        "ran": rc is not None,
        "rc": int(rc) if rc is not None else None,
        "wall_s": float(read(os.path.join(d, "wall_s"), "nan")),
        "log": read(os.path.join(d, "log.txt"), ""),
        "manifests": [],
        "tables": [],
    }
    mdir = os.path.join(d, "manifests")
    if os.path.isdir(mdir):
        for f in sorted(os.listdir(mdir)):
            with open(os.path.join(mdir, f)) as fh:
                run["manifests"].append(json.load(fh))
    table = read(os.path.join(d, "table.json"))
    if table:
        parsed = json.loads(table)
        run["tables"] = parsed if isinstance(parsed, list) else [parsed]
    return run


def ok(run):
    return run["ran"] and run["rc"] == 0


def costs(run, kind, field):
    return [
        m["cost"][field]
        for m in run["manifests"]
        if m["components"]["kind"] == kind and field in m.get("cost", {})
    ]


def losses(run):
    """Training loss at each logged step, by instance id: {id: {step: loss}}."""
    out = {}
    for line in run["log"].splitlines():
        m = PROGRESS.match(line)
        if m:
            out.setdefault(m.group(1), {})[int(m.group(2))] = float(m.group(4))
    return out


def rel(a, b, scale):
    return abs(a - b) / scale if scale > 0 else (0.0 if a == b else float("inf"))


def compare_losses(cpu, gpu):
    a, b = losses(cpu), losses(gpu)
    worst, first, n = 0.0, 0.0, 0
    for inst in sorted(set(a) & set(b)):
        steps = sorted(set(a[inst]) & set(b[inst]))
        for i, s in enumerate(steps):
            x, y = a[inst][s], b[inst][s]
            r = rel(x, y, max(abs(x), abs(y)))
            worst = max(worst, r)
            if i == 0:
                first = max(first, r)
            n += 1
    return {"points": n, "instances": len(set(a) & set(b)), "first_rel": first, "max_rel": worst}


def cells(tables):
    out = {}
    for t in tables:
        for c in t["cells"]:
            key = (t["title"], json.dumps(c["row"], sort_keys=True), json.dumps(c["column"], sort_keys=True))
            out[key] = c["mean"]
    return out


def compare_tables(cpu, gpu):
    a, b = cells(cpu["tables"]), cells(gpu["tables"])
    common = sorted(set(a) & set(b))
    # Each column (metric) is judged relative to its mean magnitude, so a metric near 0 (MMD of
    # a good model) is not held to a relative bound it cannot meet.
    by_column = {}
    for k in common:
        if a[k] is not None and b[k] is not None:
            by_column.setdefault(k[2], []).append((a[k], b[k]))
    per_metric = {}
    worst = 0.0
    for col, pairs in sorted(by_column.items()):
        scale = statistics.fmean(abs(x) for p in pairs for x in p)
        r = max(rel(x, y, scale) for x, y in pairs)
        exact = all(x == y for x, y in pairs)
        per_metric[json.loads(col).get("metric", col)] = {"max_rel": r, "identical": exact}
        worst = max(worst, r)
    return {
        "cells": len(common),
        "only_one_side": len(set(a) ^ set(b)),
        "max_rel": worst,
        "per_metric": per_metric,
    }


def mean(xs):
    return statistics.fmean(xs) if xs else float("nan")


def main():
    results, device = sys.argv[1], sys.argv[2]
    runs = {n: load_run(results, n) for n in LABELS}
    machine = read(os.path.join(results, "machine.txt"), "").strip()
    problems = []
    for r in runs.values():
        if not r["ran"]:
            problems.append(f"{r['name']}: did not run")
        elif r["rc"] != 0:
            tail = " / ".join(r["log"].strip().splitlines()[-3:])
            problems.append(f"{r['name']}: exit {r['rc']}: {tail}")

    summary = {"device": device, "machine": machine, "runs": {}, "agreement": {}}
    for name, r in runs.items():
        summary["runs"][name] = {
            "rc": r["rc"],
            "wall_s": r["wall_s"],
            "trainings": len(costs(r, "train", "steps_per_s")),
            "mean_train_steps_per_s": mean(costs(r, "train", "steps_per_s")),
            "mean_samples_per_s": mean(costs(r, "sample", "samples_per_s")),
        }
    for pair, (c, g) in {"agm-toy-short": ("agree-cpu", "agree-gpu"), "quickstart": ("quick-cpu", "quick-gpu")}.items():
        if ok(runs[c]) and ok(runs[g]):
            agreement = {"loss": compare_losses(runs[c], runs[g]), "table": compare_tables(runs[c], runs[g])}
            summary["agreement"][pair] = agreement
            if agreement["loss"]["max_rel"] > LOSS_RTOL:
                problems.append(f"{pair}: training loss differs by {agreement['loss']['max_rel']:.3g} relative (> {LOSS_RTOL})")
            if agreement["table"]["max_rel"] > CELL_RTOL:
                problems.append(f"{pair}: a report cell differs by {agreement['table']['max_rel']:.3g} relative (> {CELL_RTOL})")
            if agreement["table"]["only_one_side"] or agreement["table"]["cells"] == 0:
                problems.append(f"{pair}: the two report tables do not have the same cells")
    summary["problems"] = problems

    s = summary["runs"]
    lines = [f"GPU run (`bash benches/gpu.sh`, device under test `{device}`):", "", "```", machine, "```", ""]
    lines += [
        "| workload | device | wall s | trainings | mean steps/s per training | mean samples/s per sample set |",
        "|---|---|---|---|---|---|",
    ]
    for name, what in LABELS.items():
        v, dev = s[name], (device if name.endswith("-gpu") else "cpu")
        lines.append(
            f"| {what} | {dev} | {v['wall_s']:.1f} | {v['trainings']} | {v['mean_train_steps_per_s']:.1f} | {v['mean_samples_per_s']:.0f} |"
        )
    ratio = s["agm-gpu"]["mean_train_steps_per_s"] / s["agm-cpu"]["mean_train_steps_per_s"] if s["agm-cpu"]["mean_train_steps_per_s"] else float("nan")
    lines += ["", f"AGM toy training: {device} / cpu steps/s per training = {ratio:.2f}x.", ""]
    for pair, a in summary["agreement"].items():
        lo, t = a["loss"], a["table"]
        metrics = ", ".join(
            f"{m} {'identical' if v['identical'] else format(v['max_rel'], '.2e')}" for m, v in t["per_metric"].items()
        )
        lines.append(
            f"- {pair}: loss at {lo['points']} logged steps of {lo['instances']} trainings: max relative difference "
            f"{lo['max_rel']:.2e} (first logged step {lo['first_rel']:.2e}); {t['cells']} report cells: {metrics} "
            f"(relative to each metric's mean magnitude)."
        )
    lines.append("")
    lines.append("Problems: " + ("; ".join(problems) if problems else "none."))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(results, "gpu-bench.md"), "w") as f:
        f.write(text)
    with open(os.path.join(results, "gpu-bench.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
