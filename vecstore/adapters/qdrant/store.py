"""Qdrant adapter on qdrant-client: ``qdrant://`` (local mode, in memory),
``qdrant:///dir`` (local mode, on disk), ``qdrant://host:6333`` and
``qdrant+https://host:6333`` (a server).

Server options: ``api_key`` (or the URL's password, or ``QDRANT_API_KEY``),
``timeout`` seconds (default 10), ``grpc=true`` (with ``grpc_port``, default
6334).  Collection options: ``m``, ``ef_construction`` (Qdrant's
``ef_construct``), ``ef_search`` (``hnsw_ef``, also per query),
``payload_indexes={"field": "keyword" | "integer" | "float" | "bool"}`` to
index filtered fields on a server, ``indexing_threshold`` (KB of vectors
before Qdrant builds HNSW; its default is 10000). ``index="flat"`` sets
``m=0``: no graph, every search a full scan.

Local mode is qdrant-client's pure-Python engine: the same API, searched by
brute force (so always exact), one client per directory.  It is not
thread-safe, so a local-mode store serialises its client calls with one lock
(a server client is thread-safe and takes none).  Writes wait for
acknowledgement, so a search right after an upsert sees it.  ``exact=True``
is Qdrant's own exact search.  Ids, payload, scores, filters and lexical search
(sparse vectors with ``Modifier.IDF``): see :mod:`.common`; a hybrid search with ``rrf_k`` is
one Query API call (two prefetches fused by Qdrant's RRF, whose ``k`` is ``rrf_k + 1`` for the
same formula: Qdrant counts ranks from 0).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import numpy as np
from qdrant_client import QdrantClient, models

from ... import _bridge
from ...errors import BackendError, BackendUnavailableError, CollectionNotFoundError, StoreLockedError, VecstoreError
from ...filters import Node
from ...store import Batch, Collection, VectorStore
from ...types import CollectionSettings, Hit, Record
from ...url import as_bool, option
from .common import (
    SETTINGS_KEY,
    SPARSE,
    Models,
    check_payload_indexes,
    compile_filter,
    payload,
    point_id,
    sparse_parts,
    to_hit,
    to_record,
)

DISTANCES = {"cosine": models.Distance.COSINE, "dot": models.Distance.DOT, "l2": models.Distance.EUCLID}
HNSW_OPTIONS = frozenset({"m", "ef_construction", "ef_search", "payload_indexes", "indexing_threshold"})
MODELS = Models(models.Filter, models.FieldCondition, models.MatchValue, models.MatchAny, models.Range)
_SCHEMA = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
    "bool": models.PayloadSchemaType.BOOL,
}


class _Serialised:
    """A client whose every method call holds one lock: qdrant-client's local mode
    is not thread-safe (threads sharing it raised IndexError and broadcast errors;
    issue 13 item 12).  Results are copies, so they outlive the lock safely."""

    def __init__(self, client: QdrantClient) -> None:
        self._target = client
        self._mutex = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._target, name)
        if not callable(method):
            return method
        mutex = self._mutex

        def locked(*args: Any, **kwargs: Any) -> Any:
            with mutex:
                return method(*args, **kwargs)

        self.__dict__[name] = locked  # later look-ups find it without __getattr__
        return locked


class QdrantStore(VectorStore):
    backend = "qdrant"
    index_types = ("hnsw", "flat")
    index_options = {"hnsw": HNSW_OPTIONS, "flat": frozenset({"payload_indexes", "indexing_threshold"})}
    search_params = frozenset({"ef_search"})
    connect_options = frozenset({"api_key", "timeout", "grpc", "grpc_port"})
    native_async = True
    lexical_analyzers = ("english", "english-nostem", "simple")
    lexical_engine = "sparse vectors with Modifier.IDF (BM25 weights by vecstore's analyzer)"

    def _connect(self) -> None:
        spec = self.spec
        if self._native_async:
            self._client = self._async_client()
        elif spec.mode == "memory":
            self._client = cast(QdrantClient, _Serialised(QdrantClient(location=":memory:")))
        elif spec.mode == "path":
            # calls are serialised, so SQLite's same-thread check (where SQLite
            # is built THREADSAFE=2, e.g. on macOS) only gets in the way
            client = QdrantClient(path=spec.path, force_disable_check_same_thread=True)
            self._client = cast(QdrantClient, _Serialised(client))
        else:
            self._client = QdrantClient(**self._server_options())

    def _server_options(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "host": spec.host,
            "port": spec.port or 6333,
            "https": spec.tls,
            "api_key": option(spec, self.options, "api_key", env="QDRANT_API_KEY") or spec.password,
            "timeout": int(float(option(spec, self.options, "timeout", env="QDRANT_TIMEOUT", default=10))),
            "prefer_grpc": as_bool(option(spec, self.options, "grpc", default=False)),
            "grpc_port": int(option(spec, self.options, "grpc_port", default=6334)),
            "check_compatibility": False,
        }

    def _async_client(self) -> Any:
        """qdrant-client's ``AsyncQdrantClient``, used through :mod:`vecstore._bridge` (vecstore.aio):
        a server's, or, for ``qdrant://`` (tests run the adapter's async path this way), the async
        local mode in memory."""
        from qdrant_client import AsyncQdrantClient

        from ..._bridge import Awaiting

        if self.spec.mode == "memory":
            return Awaiting(AsyncQdrantClient(location=":memory:"))
        return Awaiting(AsyncQdrantClient(**self._server_options()))

    def _close(self) -> None:
        self._client.close()

    def _check_index_options(self, settings: CollectionSettings) -> None:
        super()._check_index_options(settings)
        check_payload_indexes(settings.index_options)

    def _translate_error(self, exc: Exception, op: str) -> VecstoreError:
        text = str(exc)
        if "already accessed by another instance" in text:
            return StoreLockedError(f"{self.url} is open in another qdrant client (local mode allows one per directory)")
        if getattr(exc, "status_code", None) == 404 or "Not found: Collection" in text:
            return CollectionNotFoundError(f"{op}: collection not found [{self.backend}, {self.url}]")
        return super()._translate_error(exc, op)

    def _read_settings(self, name: str) -> CollectionSettings | None:
        if not self._client.collection_exists(name):
            return None
        meta = self._client.get_collection(name).config.metadata or {}
        if SETTINGS_KEY not in meta:
            raise BackendError(f"Qdrant collection {name!r} was not created by vecstore", backend=self.backend, url=self.url)
        return CollectionSettings.from_json(meta[SETTINGS_KEY])

    def _create_collection(self, settings: CollectionSettings) -> None:
        opts = settings.index_options
        hnsw = models.HnswConfigDiff(
            m=0 if settings.index == "flat" else opts.get("m"), ef_construct=opts.get("ef_construction")
        )
        optimizers = (
            models.OptimizersConfigDiff(indexing_threshold=int(opts["indexing_threshold"]))
            if "indexing_threshold" in opts
            else None
        )
        self._client.create_collection(
            settings.name,
            vectors_config=models.VectorParams(size=settings.dim, distance=DISTANCES[settings.metric]),
            hnsw_config=hnsw,
            optimizers_config=optimizers,
            sparse_vectors_config=(
                {SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)} if settings.lexical else None
            ),
            metadata={SETTINGS_KEY: settings.to_json()},
        )
        if self.spec.mode == "server":
            for field, kind in (opts.get("payload_indexes") or {}).items():
                self._client.create_payload_index(settings.name, f"metadata.{field}", _SCHEMA[kind], wait=True)

    def _open_collection(self, settings: CollectionSettings) -> Collection:
        return QdrantCollection(self, settings)

    def _list_collections(self) -> list[str]:
        names = [c.name for c in self._client.get_collections().collections]
        return [n for n in names if SETTINGS_KEY in (self._client.get_collection(n).config.metadata or {})]

    def _drop_collection(self, name: str) -> bool:
        if not self._client.collection_exists(name):
            return False
        return bool(self._client.delete_collection(name))

    def _write_settings(self, settings: CollectionSettings) -> None:
        self._client.update_collection(settings.name, metadata={SETTINGS_KEY: settings.to_json()})


class QdrantCollection(Collection):
    max_batch_size = 512

    @property
    def tunable_params(self) -> frozenset[str]:
        # local mode is brute force: nothing to tune
        return self.store.search_params if self.store.spec.mode == "server" else frozenset()

    @property
    def _client(self) -> QdrantClient:
        return self.store._client  # type: ignore[attr-defined,no-any-return]

    def _upsert(self, batch: Batch) -> None:
        vectors: Any = batch.vectors.tolist()
        if self.settings.lexical:
            sparse = [models.SparseVector(indices=ix, values=vs)
                      for ix, vs in (sparse_parts(self.settings.lexical, t) for t in batch.texts)]
            vectors = {"": vectors, SPARSE: sparse}
        self._client.upsert(
            self.name,
            points=models.Batch(
                ids=[point_id(i) for i in batch.ids],
                vectors=vectors,
                payloads=[payload(i, t, m) for i, t, m in zip(batch.ids, batch.texts, batch.metadata)],
            ),
            wait=True,
        )

    def _params(self, params: dict[str, Any], exact: bool) -> Any:
        ef = self._search_option(params, "ef_search")
        # local mode is brute force anyway, and warns on every search given params
        local = self.store.spec.mode != "server"
        return None if local else models.SearchParams(hnsw_ef=int(ef) if ef else None, exact=exact)

    def _search(
        self,
        queries: np.ndarray,
        k: int,
        filter: Node | None,
        exact: bool,
        include_vectors: bool,
        params: dict[str, Any],
    ) -> list[list[Hit]]:
        search_params = self._params(params, exact)
        qfilter = compile_filter(filter, MODELS)
        requests = [
            models.QueryRequest(query=q.tolist(), filter=qfilter, limit=k, params=search_params,
                                with_payload=True, with_vector=include_vectors)
            for q in queries
        ]
        responses = self._client.query_batch_points(self.name, requests=requests)
        return [[to_hit(self.metric, p) for p in r.points] for r in responses]

    def _sparse_query(self, text: str) -> Any:
        indices, values = sparse_parts(self.settings.lexical or "english", text, query=True)
        return models.SparseVector(indices=indices, values=values) if indices else None

    def _lexical(self, texts: list[str], k: int, filter: Node | None, include_vectors: bool) -> list[list[Hit]]:
        qfilter = compile_filter(filter, MODELS)
        queries = [self._sparse_query(t) for t in texts]
        requests = [models.QueryRequest(query=q, using=SPARSE, filter=qfilter, limit=k, with_payload=True,
                                        with_vector=include_vectors) for q in queries if q is not None]
        responses = iter(self._client.query_batch_points(self.name, requests=requests) if requests else [])
        # a lexical score is Qdrant's BM25 sum: higher is better, whatever the dense metric
        return [[] if q is None else [to_hit("cosine", p) for p in next(responses).points]
                for q in queries]

    def _hybrid(self, queries: np.ndarray, texts: list[str], k: int, filter: Node | None, exact: bool,
                include_vectors: bool, params: dict[str, Any], rrf_k: float, alpha: float | None,
                depth: int) -> list[list[Hit]]:
        if alpha is not None or rrf_k != int(rrf_k):  # Qdrant's RRF takes an integer k, and no weighted score
            return super()._hybrid(queries, texts, k, filter, exact, include_vectors, params, rrf_k, alpha, depth)
        qfilter = compile_filter(filter, MODELS)
        search_params = self._params(params, exact)
        requests = []
        for q, text in zip(queries, texts):
            prefetch = [models.Prefetch(query=q.tolist(), filter=qfilter, limit=depth, params=search_params)]
            sparse = self._sparse_query(text)
            if sparse is not None:
                prefetch.append(models.Prefetch(query=sparse, using=SPARSE, filter=qfilter, limit=depth))
            requests.append(models.QueryRequest(prefetch=prefetch, query=models.RrfQuery(rrf=models.Rrf(k=int(rrf_k) + 1)),
                                                limit=k, with_payload=True, with_vector=include_vectors))
        responses = self._client.query_batch_points(self.name, requests=requests)
        return [[to_hit("cosine", p) for p in r.points] for r in responses]

    def _get(self, ids: list[str], include_vectors: bool) -> list[Record]:
        points = self._client.retrieve(self.name, ids=[point_id(i) for i in ids], with_payload=True, with_vectors=include_vectors)
        return [to_record(p) for p in points]

    def _delete(self, ids: list[str]) -> None:
        self._client.delete(self.name, points_selector=models.PointIdsList(points=[point_id(i) for i in ids]), wait=True)

    def _count(self, filter: Node | None) -> int:
        return int(self._client.count(self.name, count_filter=compile_filter(filter, MODELS), exact=True).count)

    def _iterate(self, batch_size: int, filter: Node | None, include_vectors: bool) -> Iterator[list[Record]]:
        offset = None
        qfilter = compile_filter(filter, MODELS)
        while True:
            points, offset = self._client.scroll(self.name, scroll_filter=qfilter, limit=batch_size, offset=offset,
                                                 with_payload=True, with_vectors=include_vectors)
            yield [to_record(p) for p in points]
            if offset is None:
                return

    def _optimize(self, deadline_s: float = 600.0) -> None:
        """Wait until the server's optimizers have built the index (status green)."""
        end = time.monotonic() + deadline_s
        while self._client.get_collection(self.name).status != models.CollectionStatus.GREEN:
            if time.monotonic() > end:
                raise BackendUnavailableError("optimizers did not finish in time", backend="qdrant", url=self.store.url)
            _bridge.sleep(0.2)  # under vecstore.aio, the loop keeps running
