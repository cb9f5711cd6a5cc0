"""Milvus adapter on pymilvus: ``milvus://`` (Milvus Lite in a temporary file,
removed on close), ``milvus:///path/file.db`` (Milvus Lite, on disk),
``milvus://host:19530`` and ``milvus+https://...`` (a server; token from the
URL's ``user:password``, ``token=`` or ``MILVUS_TOKEN``; ``db_name=``,
``timeout=`` seconds, default 10).

Schema: ``id`` VARCHAR primary key (ids round-trip unchanged), ``vector``
FLOAT_VECTOR, ``text`` VARCHAR (nullable; at most 65,535 bytes — longer texts
are refused before anything is written), ``metadata`` JSON, and ``vs_types``
JSON (type tags that make filters exact, see :mod:`.filters`).  Collections are
created with ``consistency_level="Strong"`` so a search right after an upsert
sees it; vecstore's settings live in the collection's properties.

Index types: ``flat`` (FLAT, exact), ``hnsw`` (``m``, ``ef_construction``;
``ef_search`` per query), ``ivf`` (IVF_FLAT, ``nlist``; ``nprobe`` per query).
``exact=True`` on an approximate index reads the (filtered) collection back
and ranks it in numpy.

``optimize()`` flushes, so that new rows leave Milvus's growing segments and are
searched through the index (the comparison tools call it after ingesting).

Scores: COSINE and IP are reported as similarities (kept); L2 is the *squared*
distance ``d``, so the score is ``-sqrt(d)``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np
from pymilvus import DataType, MilvusClient

from ...errors import BackendError, BackendUnavailableError, InvalidInputError, VecstoreError
from ...filters import Node
from ...store import Batch, Collection, VectorStore
from ...types import CollectionSettings, Hit, Record
from ...url import option
from .filters import compile_expr, ids_expr, type_tags

METRICS = {"cosine": "COSINE", "dot": "IP", "l2": "L2"}
SETTINGS_KEY = "vecstore"
MAX_VARCHAR = 65_535
_FIELDS = ["id", "text", "metadata"]


def to_score(metric: str, distance: float) -> float:
    return -float(np.sqrt(max(distance, 0.0))) if metric == "l2" else float(distance)


class MilvusStore(VectorStore):
    backend = "milvus"
    index_types = ("flat", "hnsw", "ivf")
    index_options = {"flat": frozenset(), "hnsw": frozenset({"m", "ef_construction", "ef_search"}),
                     "ivf": frozenset({"nlist", "nprobe"})}
    search_params = frozenset({"ef_search", "nprobe"})
    connect_options = frozenset({"token", "db_name", "timeout"})

    def _connect(self) -> None:
        spec = self.spec
        self._tmpdir: str | None = None
        if spec.mode == "memory":
            self._tmpdir = tempfile.mkdtemp(prefix="vecstore-milvus-")
            uri = os.path.join(self._tmpdir, "milvus.db")
        elif spec.mode == "path":
            assert spec.path is not None
            os.makedirs(os.path.dirname(spec.path) or ".", exist_ok=True)
            uri = spec.path
        else:
            uri = f"{'https' if spec.tls else 'http'}://{spec.host}:{spec.port or 19530}"
        token = option(spec, self.options, "token", env="MILVUS_TOKEN")
        if not token and spec.username:
            token = f"{spec.username}:{spec.password or ''}"
        self._timeout = float(option(spec, self.options, "timeout", env="MILVUS_TIMEOUT", default=10))
        self._client = MilvusClient(uri=uri, token=token or "", db_name=option(spec, self.options, "db_name", default=""),
                                    timeout=self._timeout)

    def _close(self) -> None:
        try:
            self._client.close()
        finally:
            if self._tmpdir:
                shutil.rmtree(self._tmpdir, ignore_errors=True)

    def _translate_error(self, exc: Exception, op: str) -> VecstoreError:
        text = str(exc)
        if "Fail connecting to server" in text or "server unavailable" in text.lower():
            return BackendUnavailableError(f"{op}: cannot reach the server ({type(exc).__name__})",
                                           backend=self.backend, url=self.url)
        return super()._translate_error(exc, op)

    def _read_settings(self, name: str) -> CollectionSettings | None:
        if not self._client.has_collection(name):
            return None
        props = self._client.describe_collection(name).get("properties") or {}
        if SETTINGS_KEY not in props:
            raise BackendError(f"Milvus collection {name!r} was not created by vecstore", backend=self.backend,
                               url=self.url)
        return CollectionSettings.from_json(json.loads(props[SETTINGS_KEY]))

    def _create_collection(self, settings: CollectionSettings) -> None:
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_VARCHAR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=settings.dim)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR, nullable=True)
        schema.add_field("metadata", DataType.JSON)
        schema.add_field("vs_types", DataType.JSON)
        opts = settings.index_options
        index_type, params = {"flat": ("FLAT", {}),
                              "hnsw": ("HNSW", {"M": int(opts.get("m", 16)),
                                                "efConstruction": int(opts.get("ef_construction", 200))}),
                              "ivf": ("IVF_FLAT", {"nlist": int(opts.get("nlist", 128))})}[settings.index]
        index_params = self._client.prepare_index_params()
        index_params.add_index(field_name="vector", index_type=index_type, metric_type=METRICS[settings.metric],
                               params=params)
        self._client.create_collection(settings.name, schema=schema, index_params=index_params,
                                       consistency_level="Strong",
                                       properties={SETTINGS_KEY: json.dumps(settings.to_json())})

    def _open_collection(self, settings: CollectionSettings) -> Collection:
        return MilvusCollection(self, settings)

    def _list_collections(self) -> list[str]:
        return [n for n in self._client.list_collections()
                if SETTINGS_KEY in (self._client.describe_collection(n).get("properties") or {})]

    def _drop_collection(self, name: str) -> bool:
        if not self._client.has_collection(name):
            return False
        self._client.drop_collection(name)
        return True

    def _write_settings(self, settings: CollectionSettings) -> None:
        self._client.alter_collection_properties(settings.name, {SETTINGS_KEY: json.dumps(settings.to_json())})


class MilvusCollection(Collection):
    max_batch_size = 1000

    @property
    def _client(self) -> MilvusClient:
        return self.store._client  # type: ignore[attr-defined,no-any-return]

    @property
    def tunable_params(self) -> frozenset[str]:
        return frozenset({"hnsw": {"ef_search"}, "ivf": {"nprobe"}}.get(self.index, set()))

    def _validate_batch(self, batch: Batch) -> None:
        for id_, text in zip(batch.ids, batch.texts):
            for what, value in (("id", id_), ("text", text)):
                if value is not None and len(value.encode("utf-8")) > MAX_VARCHAR:
                    raise InvalidInputError(f"record {id_[:40]!r}: Milvus stores at most {MAX_VARCHAR} bytes of {what}")

    def _upsert(self, batch: Batch) -> None:
        rows = [{"id": i, "vector": v, "text": t, "metadata": m, "vs_types": type_tags(m)}
                for i, v, t, m in zip(batch.ids, batch.vectors.tolist(), batch.texts, batch.metadata)]
        self._client.upsert(self.name, rows)

    def _search(
        self,
        queries: np.ndarray,
        k: int,
        filter: Node | None,
        exact: bool,
        include_vectors: bool,
        params: dict[str, Any],
    ) -> list[list[Hit]]:
        if exact and self.index != "flat":
            return self._scan_search(queries, k, filter, include_vectors)
        ef, nprobe = self._search_option(params, "ef_search"), self._search_option(params, "nprobe")
        search: dict[str, int] = {}
        if self.index == "hnsw" and ef is not None:
            search = {"ef": max(int(ef), k)}
        elif self.index == "ivf" and nprobe is not None:
            search = {"nprobe": int(nprobe)}
        results = self._client.search(self.name, data=queries.tolist(), limit=k, filter=compile_expr(filter),
                                      output_fields=_FIELDS + (["vector"] if include_vectors else []),
                                      search_params={"params": search})
        out = []
        for row in results:
            records = [(self._record(h["entity"], include_vectors), h["distance"]) for h in row]
            out.append([Hit(r.id, to_score(self.metric, d), r.text, r.metadata, r.vector) for r, d in records])
        return out

    def _record(self, row: dict[str, Any], include_vectors: bool) -> Record:
        vector = np.asarray(row["vector"], dtype=np.float32) if include_vectors else None
        return Record(row["id"], vector, row.get("text"), row.get("metadata") or {})

    # pymilvus's get(ids=)/delete(ids=) paste ids into an expression unescaped
    # (an id with a quote breaks it), so both go through our own escaped literal

    def _get(self, ids: list[str], include_vectors: bool) -> list[Record]:
        fields = _FIELDS + (["vector"] if include_vectors else [])
        rows = self._client.query(self.name, filter=ids_expr(ids), output_fields=fields)
        return [self._record(r, include_vectors) for r in rows]

    def _delete(self, ids: list[str]) -> None:
        self._client.delete(self.name, filter=ids_expr(ids))

    def _count(self, filter: Node | None) -> int:
        rows = self._client.query(self.name, filter=compile_expr(filter), output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def _optimize(self, deadline_s: float = 600.0) -> None:
        """Seal growing segments so they are searched by the index (160 ms → 18 ms a query
        on 5,183 × 384 in Milvus Lite), and wait until every row is indexed."""
        import time

        self._client.flush(self.name)
        end = time.monotonic() + deadline_s
        while True:
            info = self._client.describe_index(self.name, "vector")
            if info.get("pending_index_rows", 0) == 0 and info.get("indexed_rows") == info.get("total_rows"):
                return
            if time.monotonic() > end:
                raise BackendError("index building did not finish in time", backend="milvus", url=self.store.url)
            time.sleep(0.2)

    def _iterate(self, batch_size: int, filter: Node | None, include_vectors: bool) -> Iterator[list[Record]]:
        it = self._client.query_iterator(self.name, batch_size=batch_size, filter=compile_expr(filter),
                                         output_fields=_FIELDS + (["vector"] if include_vectors else []))
        try:
            while rows := it.next():
                yield [self._record(r, include_vectors) for r in rows]
        finally:
            it.close()
