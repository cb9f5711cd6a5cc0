"""Start real servers for tests: polled until healthy, never a fixed sleep."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator

from ..errors import BackendUnavailableError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, deadline_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers 2xx, the process dies, or the deadline passes."""
    end = time.monotonic() + deadline_s
    last: Exception | None = None
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise BackendUnavailableError(f"server exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if 200 <= resp.status < 300:
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise BackendUnavailableError(f"{url} did not become healthy within {deadline_s:.0f}s ({last})")


def chroma_executable() -> str:
    exe = shutil.which("chroma") or os.path.join(os.path.dirname(sys.executable), "chroma")
    if not os.path.exists(exe):
        raise FileNotFoundError("the `chroma` command is not installed: pip install 'vecstore[chroma]'")
    return exe


class ChromaServer:
    """A real ``chroma run`` on a free loopback port, in a directory of its own."""

    def __init__(self, path: str | None = None, port: int | None = None) -> None:
        self._tmp = None if path else tempfile.mkdtemp(prefix="vecstore-chroma-")
        self.path = path or self._tmp
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        fd, self.log = tempfile.mkstemp(prefix=f"vecstore-chroma-{self.port}-", suffix=".log")
        os.close(fd)

    @property
    def url(self) -> str:
        return f"chroma://127.0.0.1:{self.port}"

    def start(self, deadline_s: float = 60.0) -> ChromaServer:
        log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [chroma_executable(), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            wait_http(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", deadline_s, self.proc)
        except BaseException:
            self.stop()
            with open(self.log, errors="replace") as fh:
                tail = fh.read()[-2000:]
            raise BackendUnavailableError(f"chroma run on port {self.port} did not start:\n{tail}") from None
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.log)


@contextlib.contextmanager
def chroma_server(path: str | None = None) -> Iterator[ChromaServer]:
    server = ChromaServer(path).start()
    try:
        yield server
    finally:
        server.cleanup()
