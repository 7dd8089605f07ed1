"""Run the benchmarks of bench/ once and write docs/benchmarks.md: the figures, the machine, the commands.

    .venv/bin/python bench/report.py [--only quality map_speed] [--skip memory] [--out docs/benchmarks.md]

Every ``bench/*.py`` runs with its default arguments (they are chosen to be the published figures), one
after the other in a fresh process, except the studies in ``STUDIES`` (parameter searches, run by hand).
Each prints a table and, last, one JSON line: the page quotes the table, keeps the JSON in
``docs/benchmarks.json``, and says how long each took. A benchmark that fails is reported as failed and
the others still run. The machine is shared by design (2 cores), so timings carry its load at the time:
the page records the load average before each run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
# Parameter searches and ablations, not published figures: run by hand when tuning.
STUDIES = {"feature_lab", "musicnn_pooling", "report"}
# The order of the page: what users ask first (quality, speed), then scale, then the rest by name.
FIRST = ["quality", "analysis_speed", "library_speed", "index_speed", "map_speed", "memory"]
WHAT = {
    "quality": "Retrieval quality per model on the labelled development set (../shared/data/dev).",
    "analysis_speed": "Analysis speed, seconds of audio per CPU-second on one core (x realtime).",
    "library_speed": "Rescan of an unchanged collection, and `similar` latency at 10^4 .. 10^6 tracks.",
    "index_speed": "Nearest-neighbour indexes: build time, query latency, recall@10, memory.",
    "map_speed": "The sonic map at 10^4 tracks: UMAP and PCA end to end, cached, and the page's size.",
    "memory": "Peak memory analysing one 2-hour file, and `serve` before and after a model loads.",
}


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True
        )
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def benchmarks(only: list[str] | None, skip: list[str]) -> list[str]:
    present = sorted(p.stem for p in BENCH.glob("*.py") if not p.stem.startswith("_"))
    names = [n for n in present if n not in STUDIES and n not in skip and (not only or n in only)]
    return sorted(names, key=lambda n: (FIRST.index(n) if n in FIRST else len(FIRST), n))


def run(name: str, timeout: float) -> dict:
    script = BENCH / f"{name}.py"
    command = f".venv/bin/python bench/{name}.py"
    load = os.getloadavg()[0]
    start = time.perf_counter()
    print(f"running {command} ...", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(
            [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as e:
        code, stdout, stderr = "timeout", _text(e.stdout), _text(e.stderr)
    seconds = time.perf_counter() - start
    lines = stdout.rstrip().splitlines()
    result = None
    if lines:
        try:
            result = json.loads(lines[-1])
            lines = lines[:-1]
        except json.JSONDecodeError:
            pass
    print(f"  {name}: exit {code} in {seconds:.0f} s", file=sys.stderr, flush=True)
    return {
        "name": name,
        "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "exit": code,
        "seconds": round(seconds, 1),
        "load_before": round(load, 2),
        "table": "\n".join(lines),
        "result": result,
        "stderr_tail": "\n".join(stderr.strip().splitlines()[-8:]) if code != 0 else "",
    }


def _text(data) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def doc_line(name: str) -> str:
    """The first line of a benchmark's docstring: what it measures, in its own words."""
    if name in WHAT:
        return WHAT[name]
    text = (BENCH / f"{name}.py").read_text(encoding="utf-8")
    if text.startswith('"""'):
        return text[3:].split("\n", 1)[0].strip()
    return ""


def page(runs: list[dict], info: dict, started: str, rev: str) -> str:
    times = sorted(r["at"] for r in runs if r.get("at")) or [started]
    when = times[0] if times[0] == times[-1] else f"{times[0]} to {times[-1]}"
    out = [
        "# Benchmarks",
        "",
        f"Measured {when}, last at commit `{rev}` by `.venv/bin/python bench/report.py`, which runs every",
        "benchmark below once with its default arguments and writes this page (the raw JSON of each is in",
        "[benchmarks.json](benchmarks.json)).",
        "",
        "## The machine",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores",
        f"- memory: {info['memory_gb']} GB",
        f"- {info['system']}, Python {info['python']}",
        "- shared: other jobs ran on the same cores, so wall-clock figures carry their load (the 1-minute",
        "  load average before each benchmark is given); CPU-time figures are the steadier ones.",
        "",
        "| benchmark | what | finished | took | load before | status |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        status = "ok" if r["exit"] == 0 else f"failed ({r['exit']})"
        out.append(
            f"| [{r['name']}](#{r['name'].replace('_', '-')}) | {doc_line(r['name'])} | {r.get('at', '')} | {r['seconds']:.0f} s | {r['load_before']} | {status} |"
        )
    out.append("")
    for r in runs:
        out += [
            f"## {r['name'].replace('_', '-')}",
            "",
            doc_line(r["name"]),
            "",
            "```sh",
            r["command"],
            "```",
            "",
        ]
        if r["table"]:
            out += ["```", r["table"], "```", ""]
        if r["exit"] != 0:
            out += [f"Failed ({r['exit']}):", "", "```", r["stderr_tail"], "```", ""]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="run just these (names without .py)")
    parser.add_argument("--skip", nargs="*", default=[], help="leave these out")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per benchmark")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    names = benchmarks(args.only, args.skip)
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    info, rev = machine(), commit()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    raw_path = args.out.with_suffix(".json")
    kept: dict[str, dict] = {}
    if args.only and raw_path.exists():  # re-running a few: the others keep their figures on the page
        previous = json.loads(raw_path.read_text(encoding="utf-8"))
        kept = previous["benchmarks"]
        for r in kept.values():
            r.setdefault("at", previous["measured"])
    order = benchmarks(None, [])
    runs: list[dict] = []
    for name in names:  # the page is rewritten after each benchmark, so an interrupted run keeps its figures
        runs.append(run(name, args.timeout))
        kept.pop(name, None)
        shown = sorted(
            [*kept.values(), *runs],
            key=lambda r: order.index(r["name"]) if r["name"] in order else len(order),
        )
        args.out.write_text(page(shown, info, started, rev), encoding="utf-8")
        raw = {
            "measured": started,
            "commit": rev,
            "machine": info,
            "benchmarks": {r["name"]: r for r in shown},
        }
        raw_path.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    print(
        json.dumps(
            {"benchmark": "report", "ran": names, "failed": [r["name"] for r in runs if r["exit"] != 0]}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
