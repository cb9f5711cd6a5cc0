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


# -- servers in containers: Qdrant and Elasticsearch --------------------------------

#: Pinned images, the same as docker-compose.yml.
QDRANT_IMAGE = "qdrant/qdrant:v1.19.1"
ELASTICSEARCH_IMAGE = "docker.elastic.co/elasticsearch/elasticsearch:9.1.5"
CHROMA_IMAGE = "chromadb/chroma:1.5.9"


def docker_available() -> bool:
    """Whether a Docker engine answers (not merely whether the client is installed)."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextlib.contextmanager
def container(image: str, port: int, health_path: str, env: dict[str, str] | None = None,
              deadline_s: float = 180.0) -> Iterator[str]:
    """Run ``image`` with testcontainers, poll ``health_path`` until it answers,
    yield ``host:port``; the container is removed even when the tests fail."""
    from testcontainers.core.container import DockerContainer

    box = DockerContainer(image).with_exposed_ports(port)
    for key, value in (env or {}).items():
        box = box.with_env(key, value)
    with box:
        host, mapped = box.get_container_host_ip(), box.get_exposed_port(port)
        wait_http(f"http://{host}:{mapped}{health_path}", deadline_s)
        yield f"{host}:{mapped}"


IMAGES = {"qdrant": QDRANT_IMAGE, "elasticsearch": ELASTICSEARCH_IMAGE, "chroma": CHROMA_IMAGE}


@contextlib.contextmanager
def container_url(backend: str) -> Iterator[str]:
    """A vecstore URL of a fresh container of ``backend`` (needs a Docker engine)."""
    if backend == "qdrant":
        with container(QDRANT_IMAGE, 6333, "/readyz") as addr:
            yield f"qdrant://{addr}"
    elif backend == "elasticsearch":
        es_env = {
            "discovery.type": "single-node",
            "xpack.security.enabled": "false",  # the throwaway test container only
            "ES_JAVA_OPTS": "-Xms1g -Xmx1g",
        }
        with container(ELASTICSEARCH_IMAGE, 9200, "/_cluster/health?wait_for_status=yellow&timeout=1s", es_env) as addr:
            yield f"elasticsearch://{addr}"
    elif backend == "chroma":
        with container(CHROMA_IMAGE, 8000, "/api/v2/heartbeat") as addr:
            yield f"chroma://{addr}"
    else:
        raise ValueError(f"no container for {backend!r}")
