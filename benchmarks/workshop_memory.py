"""Workshop capacity: peak memory of each notebook's kernel, the whole path against a 2 GB limit, and a
Jupyter server's own footprint; then how many participants a machine of N cores and M GB serves.

Run (from the repository root, with the shared data as seed folder)::

    GLACIERLAB_SEED_DIR=../shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/workshop_memory.py
    ... benchmarks/workshop_memory.py --limit-gb 2 --only explore_region map_glaciers

Runs explore_region -> train_your_region -> map_glaciers -> reliability_calibration -> compare_outlines with
their default parameters under papermill in one fresh workspace (map and calibrate use the model the
training wrote, as in a workshop), each in a new kernel. A thread polls the kernel's process tree
(psutil, every 0.1 s) and records the peak of the summed resident set size (RSS; shared library pages
counted once per process, so an upper bound) and of the unique set size (USS, pages only that process
holds). Binder gives each participant a 2 GB memory limit (a cgroup on RSS); with ``--limit-gb`` the
script fails when a kernel's peak RSS exceeds it. ``--server`` also measures an idle ``jupyter server``
(the other process each participant has on a hub).

Prints one row per notebook (peak RSS, peak USS, wall time, load average) and the capacity table for
the measured per-participant footprint. The wall times depend on what else runs on the machine: the
1-minute load average is printed next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PATH = ("explore_region", "train_your_region", "map_glaciers", "reliability_calibration", "compare_outlines")
MB = 1024 * 1024


class TreePeak:
    """Poll the process trees of this process's kernel children; keep the peak summed RSS and USS."""

    def __init__(self, every_s: float = 0.1) -> None:
        self.every_s = every_s
        self.rss = self.uss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            rss = uss = 0
            for p in me.children(recursive=True):  # the kernel and anything it started
                try:
                    info = p.memory_full_info()
                    rss, uss = rss + info.rss, uss + info.uss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.rss, self.uss = max(self.rss, rss), max(self.uss, uss)
            self._stop.wait(self.every_s)


def run_notebook(name: str, cwd: Path, out: Path) -> tuple[float, int, int, float, float]:
    """(wall s, peak RSS bytes, peak USS bytes, load before, load after) of one notebook with its defaults."""
    import papermill as pm

    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    with TreePeak() as peak:
        pm.execute_notebook(
            str(cwd / f"{name}.ipynb"), str(out), kernel_name="python3", cwd=str(cwd), progress_bar=False
        )
    return time.perf_counter() - t0, peak.rss, peak.uss, load0, os.getloadavg()[0]


def server_rss() -> int:
    """RSS of an idle ``jupyter server`` (with the voila and localtileserver extensions) after start-up."""
    import psutil

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    jupyter = Path(sys.executable).with_name("jupyter")
    proc = subprocess.Popen(
        [str(jupyter), "server", "--allow-root", "--no-browser", f"--ServerApp.port={port}",
         "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password="],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        time.sleep(3)
        return int(psutil.Process(proc.pid).memory_info().rss)
    finally:
        proc.terminate()
        proc.wait(20)


def participants(cores: int, mem_gb: float, per_participant_gb: float, reserve_gb: float = 1.0,
                 per_core: int = 2) -> int:
    """Participants a machine serves: memory for every participant's peak, and ``per_core`` per core.

    ``min(floor((M - reserve) / m), per_core * N)``: every participant may hold their peak at once
    (kernels keep their memory until shut down), while the CPU is shared because participants compute in
    bursts (``per_core = 1`` when everyone presses Run at the same moment and expects the measured times).
    """
    by_memory = int((mem_gb - reserve_gb) // per_participant_gb)
    return max(0, min(by_memory, per_core * cores))


def capacity(rss_mb: dict[str, float], uss_mb: dict[str, float], server_mb: float, limit_gb: float) -> bool:
    """Print the per-participant footprint and the capacity table; return whether every kernel fits the limit."""
    worst = max(rss_mb, key=rss_mb.__getitem__)
    fits = rss_mb[worst] <= limit_gb * 1024
    print(f"largest kernel: {worst} at {rss_mb[worst]:.0f} MB RSS "
          f"(limit {limit_gb:g} GB: {'within' if fits else 'EXCEEDED'})")
    # one participant: their server, the largest kernel at its peak, and the next largest kernel left
    # open (a kernel keeps its memory until shut down; its USS, as shared pages are counted once)
    second = sorted(uss_mb.values())[-2] if len(uss_mb) > 1 else 0.0
    one_open = server_mb + rss_mb[worst]
    two_open = one_open + second
    print(f"per participant: {one_open:.0f} MB with one kernel open at a time (server {server_mb:.0f} MB + "
          f"{worst}); {two_open:.0f} MB with the previous notebook's kernel left open")
    per = -(-two_open // 100) / 10  # GB, rounded up to 0.1: plan for the kernel left open
    head = f"participants at {per:.1f} GB (2 per core)"
    print(f"{'cores':>6}{'GB':>6}{head:>36}{'(1 per core)':>14}")
    for cores, mem in ((2, 4), (4, 16), (8, 32), (16, 64), (32, 128), (64, 256)):
        print(f"{cores:6d}{mem:6d}{participants(cores, mem, per):36d}{participants(cores, mem, per, per_core=1):14d}")
    return fits


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=PATH, help="run only these notebooks (in path order)")
    ap.add_argument("--limit-gb", type=float, default=2.0, help="fail when a kernel's peak RSS exceeds it")
    ap.add_argument("--server", action="store_true", help="also measure an idle jupyter server")
    ap.add_argument("--from-json", help="print the capacity table from an earlier run's memory.json")
    args = ap.parse_args()
    if args.from_json:
        m = json.loads(Path(args.from_json).read_text())
        return 0 if capacity(m["rss_mb"], m["uss_mb"], m["server_mb"], args.limit_gb) else 1

    tmp = Path(tempfile.mkdtemp(prefix="workshop_memory_"))
    os.environ["GLACIERLAB_WORKSPACE"] = str(tmp / "workspace")
    os.environ.setdefault("GLACIERLAB_MAP_MODE", "overlay")
    cwd = tmp / "notebooks"
    shutil.copytree(REPO / "notebooks", cwd)
    print(f"{os.cpu_count()} CPU cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")
    print(f"{'notebook':<26}{'peak RSS MB':>12}{'peak USS MB':>12}{'wall s':>8}{'load before':>12}{'after':>7}")
    rss_mb, uss_mb = {}, {}
    for i, name in enumerate(n for n in PATH if not args.only or n in args.only):
        wall, rss, uss, l0, l1 = run_notebook(name, cwd, tmp / f"{i:02d}_{name}.ipynb")
        rss_mb[name], uss_mb[name] = rss / MB, uss / MB
        print(f"{name:<26}{rss / MB:12.0f}{uss / MB:12.0f}{wall:8.1f}{l0:12.2f}{l1:7.2f}", flush=True)
    server_mb = server_rss() / MB if args.server else 0.0
    if args.server:
        print(f"idle jupyter server: {server_mb:.0f} MB RSS")
    record = {"rss_mb": rss_mb, "uss_mb": uss_mb, "server_mb": server_mb}
    (tmp / "memory.json").write_text(json.dumps(record, indent=1))
    fits = capacity(rss_mb, uss_mb, server_mb, args.limit_gb)
    print(f"outputs (and memory.json) in {tmp}")
    return 0 if fits else 1


if __name__ == "__main__":
    raise SystemExit(main())
