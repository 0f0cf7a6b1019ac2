"""Peak memory of each notebook at its default parameters (`make bench-memory`).

    .venv/bin/python -m benchmarks.memory                       # every chapter
    .venv/bin/python -m benchmarks.memory notebooks/14_distributed_training.ipynb
    .venv/bin/python -m benchmarks.memory --json memory.json --budget-mb 1200

Each notebook runs alone, top to bottom, in a fresh kernel with its own
(default) parameters, as a learner on Binder would run it, in a throw-away
workspace (the stored notebook is never written). While
it runs, this script samples every process the kernel starts (servers,
torchrun and its workers, Prefect, MLflow, DVC...) every 0.3 s and sums their
memory over the process tree:

- **PSS** (proportional set size): each shared page counted once, split among
  the processes that share it. Summed over a tree it is close to what a
  container's memory limit (Binder's) charges, so the budget applies to it.
- **RSS**: what ``top`` shows; summed over a tree it counts shared libraries
  (torch, numpy) once per process, so it overstates.

The notebook client itself (this process) is not counted: on Binder its place
is taken by the Jupyter server, which the budget leaves room for. Samples
0.3 s apart can miss a shorter spike; the figures are a floor for the true
peak, good for comparing chapters and for finding where memory goes (the
``by process`` column names the largest processes at the peak).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

from tools.nbchecks import CELL_TIMEOUT_S, KERNELSPEC

ROOT = Path(__file__).resolve().parent.parent
#: A public Binder gives about 2 GB in all; JupyterLab takes its own share.
BUDGET_MB = 1200
INTERVAL_S = 0.3


@dataclass
class Peak:
    """The largest summed memory seen, and what made it up."""

    pss_mb: float = 0.0
    rss_mb: float = 0.0
    processes: int = 0
    top: list[str] = field(default_factory=list)


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return root.children(recursive=True)
    except psutil.Error:
        return []


def _name(proc: psutil.Process) -> str:
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return "?"
    words = [Path(w).name for w in cmd[:4] if not w.startswith("-")]
    if len(words) > 1 and words[0].startswith("python"):
        words = words[1:]
    return " ".join(words[:2])[:40] or proc.name()


def sample(root: psutil.Process, peak: Peak) -> None:
    """Add one sample of ``root``'s descendants to ``peak``."""
    pss = rss = 0.0
    parts: Counter[str] = Counter()
    procs = _tree(root)
    for proc in procs:
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue  # it ended between the listing and the read
        pss += getattr(info, "pss", info.rss) / 2**20
        rss += info.rss / 2**20
        parts[_name(proc)] += getattr(info, "pss", info.rss) / 2**20
    if pss > peak.pss_mb:
        peak.pss_mb, peak.processes = pss, len(procs)
        peak.top = [f"{name} {mb:.0f}" for name, mb in parts.most_common(3)]
    peak.rss_mb = max(peak.rss_mb, rss)


def measure(path: Path) -> tuple[Peak, float]:
    """Run ``path`` once at its defaults; return its peak and wall seconds."""
    peak = Peak()
    me = psutil.Process()
    done = threading.Event()

    def sampler() -> None:
        while not done.wait(INTERVAL_S):
            sample(me, peak)

    with tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch:
        nb = nbformat.read(path, as_version=4)
        os.environ["MLOPS_COURSE_WORKSPACE"] = str(Path(scratch) / "workspace")
        thread = threading.Thread(target=sampler, daemon=True)
        started = time.perf_counter()
        thread.start()
        try:
            NotebookClient(
                nb,
                timeout=CELL_TIMEOUT_S,
                kernel_name=KERNELSPEC["name"],
                resources={"metadata": {"path": str(path.parent)}},
            ).execute()
        finally:
            done.set()
            thread.join()
        seconds = time.perf_counter() - started
    return peak, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--budget-mb", type=float, default=BUDGET_MB)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a notebook is over budget"
    )
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    rows = []
    print("| notebook | peak PSS MB | peak RSS MB | processes | largest at peak | s |")
    print("| --- | ---: | ---: | ---: | --- | ---: |")
    for path in paths:
        peak, seconds = measure(path.resolve())
        over = " (over budget)" if peak.pss_mb > args.budget_mb else ""
        print(
            f"| {path.stem} | {peak.pss_mb:,.0f}{over} | {peak.rss_mb:,.0f} |"
            f" {peak.processes} | {', '.join(peak.top)} | {seconds:.0f} |",
            flush=True,
        )
        rows.append({"notebook": path.stem, "seconds": seconds, **asdict(peak)})
    over = [r["notebook"] for r in rows if r["pss_mb"] > args.budget_mb]
    print(
        f"\nbudget {args.budget_mb:,.0f} MB (PSS summed over the kernel's tree):",
        f"{len(rows) - len(over)} of {len(rows)} notebooks under it",
        *(["; over:", ", ".join(over)] if over else []),
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 1 if (args.strict and over) else 0


if __name__ == "__main__":
    sys.exit(main())
