"""Shared by the benchmark scripts: where SciFact is, a machine record, and a child process
measured for time and peak memory."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = Path(os.environ.get("VECSTORE_SCIFACT", ROOT.parent / "shared" / "datasets" / "scifact"))


def machine() -> dict[str, object]:
    """The comparison's environment record, plus torch's thread count."""
    import torch

    from vecstore.compare.run import environment

    return {**environment(), "torch_threads": torch.get_num_threads()}


class Sampler(threading.Thread):
    """Peak RSS of a process tree plus any PostgreSQL server whose data directory lies under ``root``."""

    def __init__(self, pid: int, root: Path) -> None:
        super().__init__(daemon=True)
        self.pid, self.root, self.peak, self.server_peak, self.own_peak = pid, root, 0, 0, 0
        self.done = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.done.wait(0.25):
            try:
                tree = psutil.Process(self.pid)
                procs = [tree, *tree.children(recursive=True)]
            except psutil.Error:
                continue
            server = []
            for pidfile in self.root.rglob("postmaster.pid"):
                try:
                    post = psutil.Process(int(pidfile.read_text().split()[0]))
                    server = [post, *post.children(recursive=True)]
                except (OSError, ValueError, IndexError, psutil.Error):
                    pass
            own = _rss(procs)
            srv = _rss([p for p in server if p.pid not in {q.pid for q in procs}])
            self.peak = max(self.peak, own + srv)
            self.server_peak = max(self.server_peak, srv)
            self.own_peak = max(self.own_peak, own)


def _rss(procs: list[Any]) -> int:
    import psutil

    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_measured(cmd: list[str], root: Path, budget_s: float, log_path: Path) -> dict[str, Any]:
    """Run ``cmd`` (output to ``log_path``), killed after ``budget_s``: its wall time, exit code,
    and peak RSS sampled every 0.25 s: of its process tree (``client_peak_rss_bytes``), of any
    PostgreSQL under ``root``, and of both at once.  (``ru_maxrss`` of a child is no use here:
    Linux carries the parent's high-water mark across fork and exec.)"""
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TQDM_DISABLE": "1"})
        sampler = Sampler(proc.pid, root)
        sampler.start()
        status = None
        while status is None and time.perf_counter() < start + budget_s:
            pid, code, _ = os.wait4(proc.pid, os.WNOHANG)
            status = code if pid else None
            if status is None:
                time.sleep(0.5)
        timed_out = status is None
        if timed_out:
            proc.kill()
            _, code, _ = os.wait4(proc.pid, 0)
            status = code
        sampler.done.set()
        sampler.join()
    return {"timed_out": timed_out, "exit_code": os.waitstatus_to_exitcode(status), "wall_seconds": time.perf_counter() - start,
            "peak_rss_bytes": sampler.peak, "server_peak_rss_bytes": sampler.server_peak,
            "client_peak_rss_bytes": sampler.own_peak}


def stop_servers(root: Path) -> None:
    """A killed child leaves its private PostgreSQL running: stop it."""
    import psutil

    for pidfile in root.rglob("postmaster.pid"):
        try:
            psutil.Process(int(pidfile.read_text().split()[0])).kill()
        except (OSError, ValueError, IndexError, psutil.Error):
            pass
