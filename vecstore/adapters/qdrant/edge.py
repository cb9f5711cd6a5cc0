"""Qdrant Edge adapter: ``qdrant-edge:///dir``, Qdrant's own Rust engine
(``qdrant-edge-py``) in process, so that Qdrant's HNSW and filtering can be
measured on a machine without a Qdrant server.

Each collection is one Edge shard in ``DIR/<name>/shard`` with its vecstore
settings beside it in ``DIR/<name>/settings.json`` (written atomically).  A
shard holds a write-ahead-log lock, so a second client on the same collection
raises :class:`StoreLockedError`.  Writes are applied when ``update`` returns;
``close()`` flushes.  Edge shards are thread-safe; the store's lock guards its
table of open shards, so threads opening one collection at once share one
shard instead of tripping over its lock.  New points land in appendable
segments that are searched by full scan until :meth:`Collection.optimize`
builds the HNSW graph (the comparison tools call it after ingesting).

Options as for ``qdrant://`` (``m``, ``ef_construction``, ``ef_search``,
``indexing_threshold``, ``payload_indexes`` — index the fields you filter on,
or filtered HNSW searches lose recall; floats are stored and indexed as
integer halves of their key, see :mod:`.common`, so ``integer`` and
``float`` index a number field alike), plus
``full_scan_threshold`` (KB; segments smaller than this are scanned, not
searched by graph).  Ids, payload, scores, filters and lexical search (a sparse
vector per record with ``Modifier.Idf``, Qdrant's engine computing the IDF) are shared with
the qdrant-client adapter (:mod:`.common`); hybrid search fuses the two rankings in vecstore.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
import qdrant_edge as qe

from ...errors import StoreLockedError, VecstoreError
from ...filters import CompiledFilters, Node
from ...store import Batch, Collection, VectorStore
from ...types import CollectionSettings, Hit, Record
from .common import (
    FLOAT_HIGH,
    FLOAT_LOW,
    SPARSE,
    Models,
    check_payload_indexes,
    compile_filter,
    payload,
    point_id,
    sparse_parts,
    stored_metadata,
    to_hit,
    to_record,
)

DISTANCES = {"cosine": qe.Distance.Cosine, "dot": qe.Distance.Dot, "l2": qe.Distance.Euclid}
MODELS = Models(qe.Filter, qe.FieldCondition, qe.MatchValue, qe.MatchAny, qe.RangeFloat, bool_copies=True,
                exact_floats=True, integral_floats=True)
#: collections made before integral floats got an int copy under ``metadata``
EXACT_MODELS = Models(qe.Filter, qe.FieldCondition, qe.MatchValue, qe.MatchAny, qe.RangeFloat, bool_copies=True,
                      exact_floats=True)
#: collections made before floats were kept exactly hold them under ``metadata``
LEGACY_MODELS = Models(qe.Filter, qe.FieldCondition, qe.MatchValue, qe.MatchAny, qe.RangeFloat, bool_copies=True)
#: marks a collection whose floats are stored as key halves (see :mod:`.common`)
EXACT_FLOATS_FILE = "exact-floats"
#: marks a collection whose integral floats also keep an int copy under ``metadata`` (see :mod:`.common`)
INTEGRAL_FLOATS_FILE = "integral-floats"
HNSW_DEFAULTS = {"m": 16, "ef_construction": 100, "full_scan_threshold": 10_000}
_SCHEMA = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
    "bool": qe.PayloadSchemaType.Bool,
}
SETTINGS_FILE = "settings.json"


class QdrantEdgeStore(VectorStore):
    backend = "qdrant-edge"
    modes = ("path",)
    index_types = ("hnsw", "flat")
    index_options = {
        "hnsw": frozenset({"m", "ef_construction", "ef_search", "full_scan_threshold", "indexing_threshold",
                           "payload_indexes"}),
        "flat": frozenset({"payload_indexes"}),
    }
    search_params = frozenset({"ef_search"})
    lexical_analyzers = ("english", "english-nostem", "simple")
    lexical_engine = "sparse vectors with Modifier.Idf (BM25 weights by vecstore's analyzer)"

    def _connect(self) -> None:
        assert self.spec.path is not None
        os.makedirs(self.spec.path, exist_ok=True)
        self._shards: dict[str, Any] = {}

    def _check_index_options(self, settings: CollectionSettings) -> None:
        super()._check_index_options(settings)
        check_payload_indexes(settings.index_options)

    def _close(self) -> None:
        for shard in self._shards.values():
            shard.flush()
            shard.close()
        self._shards = {}

    def _translate_error(self, exc: Exception, op: str) -> VecstoreError:
        if "WouldBlock" in str(exc):
            return StoreLockedError(f"{op}: the collection is open in another qdrant-edge client [{self.url}]")
        return super()._translate_error(exc, op)

    def _dir(self, name: str) -> str:
        assert self.spec.path is not None
        return os.path.join(self.spec.path, name)

    def _read_settings(self, name: str) -> CollectionSettings | None:
        try:
            with open(os.path.join(self._dir(name), SETTINGS_FILE), encoding="utf-8") as fh:
                return CollectionSettings.from_json(json.load(fh))
        except FileNotFoundError:
            return None

    def _write_settings(self, settings: CollectionSettings) -> None:
        path = os.path.join(self._dir(settings.name), SETTINGS_FILE)
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(settings.to_json(), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def _create_collection(self, settings: CollectionSettings) -> None:
        opts = {**HNSW_DEFAULTS, **settings.index_options}
        optimizers = (
            qe.EdgeOptimizersConfig(indexing_threshold=int(opts["indexing_threshold"]))
            if "indexing_threshold" in opts
            else None
        )
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=settings.dim, distance=DISTANCES[settings.metric]),
            hnsw_config=qe.HnswIndexConfig(
                m=0 if settings.index == "flat" else int(opts["m"]),
                ef_construct=int(opts["ef_construction"]),
                full_scan_threshold=int(opts["full_scan_threshold"]),
            ),
            optimizers=optimizers,
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)} if settings.lexical else None,
        )
        os.makedirs(self._dir(settings.name), exist_ok=True)
        for marker in (EXACT_FLOATS_FILE, INTEGRAL_FLOATS_FILE):
            open(os.path.join(self._dir(settings.name), marker), "w").close()
        shard = self._shards[settings.name] = qe.EdgeShard.create(os.path.join(self._dir(settings.name), "shard"), config)
        for field, kind in (opts.get("payload_indexes") or {}).items():
            shard.update(qe.UpdateOperation.create_field_index(f"metadata.{field}", _SCHEMA[kind]))
            if kind in ("float", "integer"):  # floats are compared on their key halves
                for half in (FLOAT_HIGH, FLOAT_LOW):
                    shard.update(qe.UpdateOperation.create_field_index(f"{half}.{field}", _SCHEMA["integer"]))
        self._write_settings(settings)  # last: a collection without settings does not exist

    def _shard(self, name: str) -> Any:
        shard = self._shards.get(name)
        if shard is None:
            with self._lock:  # two threads loading one shard: the second would find it locked
                shard = self._shards.get(name)
                if shard is None:
                    shard = self._shards[name] = qe.EdgeShard.load(os.path.join(self._dir(name), "shard"))
        return shard

    def _open_collection(self, settings: CollectionSettings) -> Collection:
        return QdrantEdgeCollection(self, settings, self._shard(settings.name))

    def _list_collections(self) -> list[str]:
        assert self.spec.path is not None
        return [n for n in os.listdir(self.spec.path) if os.path.isfile(os.path.join(self._dir(n), SETTINGS_FILE))]

    def _drop_collection(self, name: str) -> bool:
        with self._lock:
            shard = self._shards.pop(name, None)
        if shard is not None:
            shard.close()
        if not os.path.isdir(self._dir(name)):
            return False
        shutil.rmtree(self._dir(name))
        return True


class QdrantEdgeCollection(Collection):
    max_batch_size = 1024

    @property
    def tunable_params(self) -> frozenset[str]:
        return self.store.search_params if self.index == "hnsw" else frozenset()

    def __init__(self, store: QdrantEdgeStore, settings: CollectionSettings, shard: Any) -> None:
        super().__init__(store, settings)
        self._shard = shard
        where = store._dir(settings.name)
        self._exact_floats = os.path.exists(os.path.join(where, EXACT_FLOATS_FILE))
        self._integral_floats = self._exact_floats and os.path.exists(os.path.join(where, INTEGRAL_FLOATS_FILE))
        self._models = (MODELS if self._integral_floats else EXACT_MODELS) if self._exact_floats else LEGACY_MODELS
        # compiling {cat: 3} cost tens of us a query: once per value and type
        self._filter = CompiledFilters(lambda node: compile_filter(node, self._models))

    def _upsert(self, batch: Batch) -> None:
        vectors: list[Any] = batch.vectors.tolist()
        if self.settings.lexical:
            vectors = [{"": vec, SPARSE: qe.SparseVector(*sparse_parts(self.settings.lexical, t))}
                       for vec, t in zip(vectors, batch.texts)]
        points = [
            qe.Point(point_id(i), vec, payload(i, t, m, bool_copies=True, exact_floats=self._exact_floats,
                                               integral_floats=self._integral_floats))
            for i, vec, t, m in zip(batch.ids, vectors, batch.texts, batch.metadata)
        ]
        self._shard.update(qe.UpdateOperation.upsert_points(points))

    def _search(
        self,
        queries: np.ndarray,
        k: int,
        filter: Node | None,
        exact: bool,
        include_vectors: bool,
        params: dict[str, Any],
    ) -> list[list[Hit]]:
        ef = self._search_option(params, "ef_search")
        # no SearchParams at all for the defaults (the engine's own): one object less per request
        search_params = qe.SearchParams(hnsw_ef=int(ef) if ef else None, exact=exact) if ef or exact else None
        qfilter = self._filter(filter)
        requests = [
            qe.QueryRequest(limit=k, query=qe.Query.Nearest(q), filter=qfilter, params=search_params,
                            with_payload=True, with_vector=include_vectors)
            for q in queries.tolist()
        ]
        if len(requests) == 1:
            results = [self._shard.query(requests[0])]
        else:
            results = self._shard.query_batch(qe.QueryBatchRequest(requests))
        return [self._hits(points, include_vectors) for points in results]

    def _hits(self, points: list[Any], include_vectors: bool) -> list[Hit]:
        """:func:`.common.to_hit` for Edge's points, inlined: the per-hit work was a third of
        vecstore's overhead on a search.  Edge converts ``payload`` afresh on each access, so
        its ``metadata`` dict is the hit's own, no copy needed."""
        if include_vectors:
            return [to_hit(self.metric, p) for p in points]
        negate = self.metric == "l2"
        out = []
        for p in points:
            body = p.payload
            meta = stored_metadata(body) if FLOAT_HIGH in body else body.get("metadata") or {}
            score = float(p.score)
            out.append(Hit(body["id"], -score if negate else score, body.get("text"), meta))
        return out

    def _lexical(self, texts: list[str], k: int, filter: Node | None, include_vectors: bool) -> list[list[Hit]]:
        qfilter = self._filter(filter)
        out: list[list[Hit]] = []
        for text in texts:
            indices, values = sparse_parts(self.settings.lexical or "english", text, query=True)
            if not indices:
                out.append([])
                continue
            request = qe.QueryRequest(limit=k, query=qe.Query.Nearest(qe.SparseVector(indices, values), using=SPARSE),
                                      filter=qfilter, with_payload=True, with_vector=include_vectors)
            out.append([to_hit("cosine", p) for p in self._shard.query(request)])  # BM25 sum: higher is better
        return out

    def _get(self, ids: list[str], include_vectors: bool) -> list[Record]:
        points = self._shard.retrieve([point_id(i) for i in ids], with_payload=True, with_vector=include_vectors)
        return [to_record(p) for p in points]

    def _delete(self, ids: list[str]) -> None:
        self._shard.update(qe.UpdateOperation.delete_points([point_id(i) for i in ids]))

    def _count(self, filter: Node | None) -> int:
        return int(self._shard.count(qe.CountRequest(exact=True, filter=self._filter(filter))))

    def _iterate(self, batch_size: int, filter: Node | None, include_vectors: bool) -> Iterator[list[Record]]:
        offset = None
        qfilter = compile_filter(filter, self._models)
        while True:
            points, offset = self._shard.scroll(
                qe.ScrollRequest(offset=offset, limit=batch_size, filter=qfilter, with_payload=True,
                                 with_vector=include_vectors)
            )
            yield [to_record(p) for p in points]
            if offset is None:
                return

    def _optimize(self) -> None:
        self._shard.optimize()
