"""Every benchmark in one report: runs each bench module in turn (each prints its tables,
every figure beside the raw-crypto limit or naive baseline it measured in the same run) and
writes them, with a description of the machine, to bench/REPORT.md.

    python -m bench.report [--quick] [--out bench/REPORT.md]

`--quick` passes --quick to the modules that have it and runs the mixed load for 30 s.
GOVTRUST_BENCH_DATABASE_URL adds the PostgreSQL figures where a module measures them.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (module, its arguments for a full run, for a quick one)
MODULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("bench.ca", (), ("--quick",)),
    ("bench.identity", (), ()),
    ("bench.render", (), ("--quick",)),
    ("bench.seal", (), ("--quick",)),
    ("bench.log", (), ("--quick",)),
    ("bench.registry", (), ("--quick",)),
    ("bench.verify", (), ("--quick",)),
    ("bench.load", ("--seconds", "180"), ("--seconds", "30")),
)


def machine() -> list[str]:
    """What the figures were measured on."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split()[1])
        memory = f"{total_kb / 1024 / 1024:.0f} GiB"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores available; memory {memory}",
        f"- {platform.platform()}; Python {platform.python_version()}",
        f"- load average when the report started: {load} (a shared machine: figures vary)",
        f"- database: PostgreSQL at {_safe_url()}"
        if os.environ.get("GOVTRUST_BENCH_DATABASE_URL")
        else "- database: SQLite (set GOVTRUST_BENCH_DATABASE_URL for PostgreSQL figures)",
    ]


def _safe_url() -> str:
    url = os.environ.get("GOVTRUST_BENCH_DATABASE_URL", "")
    return url.split("@")[-1] if "@" in url else url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "REPORT.md")
    args = parser.parse_args()
    started = datetime.now(UTC)
    sections = [
        "# govtrust benchmark report",
        "",
        f"Made by `python -m bench.report{' --quick' if args.quick else ''}` on "
        f"{started:%Y-%m-%d %H:%M} UTC. Each table comes from one bench module; each figure "
        "stands beside the raw-crypto limit or naive baseline measured in the same run.",
        "",
        "## Machine",
        "",
        *machine(),
    ]
    failed = []
    for module, full, quick in MODULES:
        arguments = quick if args.quick else full
        print(f"== {module} {' '.join(arguments)}", file=sys.stderr, flush=True)
        began = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", module, *arguments],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        took = time.monotonic() - began
        sections += ["", result.stdout.strip(), "", f"_{module}: {took:.0f} s_"]
        if result.returncode != 0:
            failed.append(module)
            tail = "\n".join(result.stderr.strip().splitlines()[-5:])
            sections += ["", f"**{module} failed (exit {result.returncode}):**", "```", tail, "```"]
    args.out.write_text("\n".join(sections) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
