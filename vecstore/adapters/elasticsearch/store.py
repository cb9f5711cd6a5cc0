"""Elasticsearch adapter: ``elasticsearch://host:9200`` (alias ``es://``) and
``elasticsearch+https://user:pass@host:9200``, on the official client (9.x,
for Elasticsearch 9.x servers; vectors are read back with
``_source.exclude_vectors=false``, which 9.2+ needs and earlier 9.x accepts).

Options: ``api_key`` (or ``ELASTICSEARCH_API_KEY``), ``ca_certs``,
``verify_certs`` (default true), ``timeout`` seconds (default 10),
``max_retries`` (default 1), ``refresh`` (``"wait_for"`` by default, so a
search right after an upsert sees it; ``"false"`` for bulk loads, then
``optimize()`` refreshes and force-merges).

Collection options: ``m``, ``ef_construction``, ``quantization``
(``int8``/``int4``/``bbq``: ``int8_hnsw`` etc.), ``num_candidates`` (default
for searches; also per query).  ``index="flat"`` is ES's brute-force ``flat``
type.  ``exact=True`` is a ``script_score`` over the same filter.

Lexical search: Elasticsearch's BM25 on the ``text`` field, analysed by its ``english``
analyzer (standard tokenizer, English possessives, lowercase, ``_english_`` stop words,
Porter stemmer; the default) or ``standard`` (lowercase, no stemming), a ``match`` query with
the filter as a bool filter.  Hybrid search fuses in vecstore (the same formula on every
backend; Elasticsearch's ``rrf`` retriever needs a paid licence below 8.16 / basic since).

Request bodies and the ``_score`` conversion: :mod:`.requests`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from elasticsearch import Elasticsearch, helpers

from ...errors import BackendError, CollectionNotFoundError, InvalidInputError, VecstoreError
from ...filters import Node
from ...store import Batch, Collection, VectorStore
from ...types import CollectionSettings, Hit, Record
from ...url import as_bool, option
from . import requests as rq

DEFAULT_NUM_CANDIDATES = 100
HNSW_OPTIONS = frozenset({"m", "ef_construction", "quantization", "num_candidates"})


class ElasticsearchStore(VectorStore):
    backend = "elasticsearch"
    modes = ("server",)
    index_types = ("hnsw", "flat")
    index_options = {"hnsw": HNSW_OPTIONS, "flat": frozenset({"quantization"})}
    search_params = frozenset({"num_candidates"})
    connect_options = frozenset({"api_key", "ca_certs", "verify_certs", "timeout", "max_retries", "refresh"})
    native_async = True
    lexical_analyzers = ("english", "standard")
    lexical_engine = "Elasticsearch BM25 (match query on the text field)"

    def _connect(self) -> None:
        spec, opts = self.spec, self.options
        kwargs: dict[str, Any] = {
            "request_timeout": float(option(spec, opts, "timeout", env="ELASTICSEARCH_TIMEOUT", default=10)),
            "max_retries": int(option(spec, opts, "max_retries", default=1)),
            "retry_on_timeout": False,
        }
        api_key = option(spec, opts, "api_key", env="ELASTICSEARCH_API_KEY")
        if api_key:
            kwargs["api_key"] = api_key
        elif spec.username:
            kwargs["basic_auth"] = (spec.username, spec.password or "")
        if option(spec, opts, "ca_certs"):
            kwargs["ca_certs"] = option(spec, opts, "ca_certs")
        if "verify_certs" in opts or "verify_certs" in spec.params:
            kwargs["verify_certs"] = as_bool(option(spec, opts, "verify_certs"))
        self._refresh = str(option(spec, opts, "refresh", default="wait_for")).lower()
        if self._native_async:  # vecstore.aio: the async client, used through the bridge
            from elasticsearch import AsyncElasticsearch

            from ..._bridge import Awaiting

            self._client: Any = Awaiting(AsyncElasticsearch(spec.http_url, **kwargs), ("elasticsearch",))
        else:
            self._client = Elasticsearch(spec.http_url, **kwargs)

    def _close(self) -> None:
        self._client.close()

    def _translate_error(self, exc: Exception, op: str) -> VecstoreError:
        if getattr(exc, "status_code", None) == 404 or getattr(getattr(exc, "meta", None), "status", None) == 404:
            return CollectionNotFoundError(f"{op}: index not found [{self.backend}, {self.url}]")
        return super()._translate_error(exc, op)

    def _read_settings(self, name: str) -> CollectionSettings | None:
        if not self._client.indices.exists(index=name):
            return None
        mappings = self._client.indices.get_mapping(index=name)[name]["mappings"]
        meta = mappings.get("_meta") or {}
        if rq.SETTINGS_KEY not in meta:
            raise BackendError(f"index {name!r} was not created by vecstore", backend=self.backend, url=self.url)
        if not rq.has_typed_layout(mappings.get("properties") or {}):
            raise BackendError(f"index {name!r} was made by an earlier vecstore, whose metadata mapping let the first"
                               " record fix each key's type; re-create it (vecstore copy to a new collection)",
                               backend=self.backend, url=self.url)
        return CollectionSettings.from_json(meta[rq.SETTINGS_KEY])

    def _create_collection(self, settings: CollectionSettings) -> None:
        self._client.indices.create(index=settings.name, mappings=rq.mapping(settings.to_json()))

    def _open_collection(self, settings: CollectionSettings) -> Collection:
        return ElasticsearchCollection(self, settings)

    def _list_collections(self) -> list[str]:
        mappings = self._client.indices.get_mapping(index="*", expand_wildcards="open")
        return [n for n, m in mappings.items() if rq.SETTINGS_KEY in (m["mappings"].get("_meta") or {})]

    def _drop_collection(self, name: str) -> bool:
        if not self._client.indices.exists(index=name):
            return False
        self._client.indices.delete(index=name)
        return True

    def _write_settings(self, settings: CollectionSettings) -> None:
        self._client.indices.put_mapping(index=settings.name, meta={rq.SETTINGS_KEY: settings.to_json()})


class ElasticsearchCollection(Collection):
    max_batch_size = 500

    @property
    def tunable_params(self) -> frozenset[str]:
        return self.store.search_params if self.index == "hnsw" else frozenset()

    @property
    def _es(self) -> Elasticsearch:
        return self.store._client  # type: ignore[attr-defined,no-any-return]

    def _bulk(self, actions: list[dict[str, Any]], ignore_missing: bool = False) -> None:
        refresh = self.store._refresh  # type: ignore[attr-defined]
        _, errors = helpers.bulk(self._es, actions, refresh=refresh, raise_on_error=False, stats_only=False)
        failed = [e for e in errors if not (ignore_missing and next(iter(e.values())).get("status") == 404)]  # type: ignore[union-attr]
        if failed:
            first = next(iter(failed[0].values()))  # type: ignore[union-attr]
            raise BackendError(
                f"{len(failed)} of {len(actions)} bulk operations failed; first: {first.get('error')}",
                backend=self.store.backend,
                url=self.store.url,
            )

    def _validate_batch(self, batch: Batch) -> None:
        for id_, meta in zip(batch.ids, batch.metadata):
            for key, value in meta.items():
                if isinstance(value, str) and len(value) * 4 > rq.MAX_KEYWORD_BYTES \
                        and len(value.encode("utf-8")) > rq.MAX_KEYWORD_BYTES:
                    raise InvalidInputError(f"record {id_[:40]!r}: metadata {key!r} is longer than the"
                                            f" {rq.MAX_KEYWORD_BYTES} bytes Elasticsearch indexes in one term")

    def _upsert(self, batch: Batch) -> None:
        self._bulk(rq.bulk_upsert_actions(self.name, batch.ids, batch.vectors.tolist(), batch.texts, batch.metadata))

    def _delete(self, ids: list[str]) -> None:
        self._bulk(rq.bulk_delete_actions(self.name, ids), ignore_missing=True)

    def _hit(self, raw: dict[str, Any]) -> Hit:
        r = self._record(raw)
        return Hit(r.id, rq.to_score(self.metric, raw["_score"]), r.text, r.metadata, r.vector)

    def _search(
        self,
        queries: np.ndarray,
        k: int,
        filter: Node | None,
        exact: bool,
        include_vectors: bool,
        params: dict[str, Any],
    ) -> list[list[Hit]]:
        flt = rq.compile_filter(filter)
        candidates = int(self._search_option(params, "num_candidates", DEFAULT_NUM_CANDIDATES))
        searches: list[dict[str, Any]] = []
        for q in queries.tolist():
            body = (rq.exact_search(self.metric, q, k, flt, include_vectors) if exact
                    else rq.knn_search(q, k, candidates, flt, include_vectors))
            searches.extend([{"index": self.name}, body])
        return [[self._hit(h) for h in hits] for hits in self._msearch(searches)]

    def _msearch(self, searches: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        responses = self._es.msearch(searches=searches)["responses"]
        out = []
        for resp in responses:
            if "error" in resp:
                raise BackendError(f"search failed: {resp['error']}", backend=self.store.backend, url=self.store.url)
            out.append(resp["hits"]["hits"])
        return out

    def _lexical(self, texts: list[str], k: int, filter: Node | None, include_vectors: bool) -> list[list[Hit]]:
        flt = rq.compile_filter(filter)
        searches: list[dict[str, Any]] = []
        for text in texts:
            searches.extend([{"index": self.name}, rq.lexical_search(text, k, flt, include_vectors)])
        out = []
        for hits in self._msearch(searches):
            records = [self._record(h) for h in hits]  # _score is BM25 as it is: higher is better
            out.append([Hit(r.id, float(h["_score"]), r.text, r.metadata, r.vector) for r, h in zip(records, hits)])
        return out

    def _record(self, raw: dict[str, Any]) -> Record:
        src = raw["_source"]
        vector = np.asarray(src[rq.VECTOR_FIELD], dtype=np.float32) if rq.VECTOR_FIELD in src else None
        return Record(src["id"], vector, src.get("text"), src.get("metadata") or {})

    def _get(self, ids: list[str], include_vectors: bool) -> list[Record]:
        out: list[Record] = []
        for start in range(0, len(ids), 1000):  # under index.max_result_window
            part = [rq.doc_id(i) for i in ids[start : start + 1000]]
            resp = self._es.search(index=self.name, query={"ids": {"values": part}}, size=len(part),
                                   source=rq.source(include_vectors))
            out.extend(self._record(h) for h in resp["hits"]["hits"])
        return out

    def _count(self, filter: Node | None) -> int:
        return int(self._es.count(index=self.name, query=rq.query_of(rq.compile_filter(filter)))["count"])

    def _iterate(self, batch_size: int, filter: Node | None, include_vectors: bool) -> Iterator[list[Record]]:
        query = rq.query_of(rq.compile_filter(filter))
        after = None
        while True:
            resp = self._es.search(index=self.name, query=query, size=batch_size, sort=[{"id": "asc"}],
                                   search_after=after, source=rq.source(include_vectors))
            hits = resp["hits"]["hits"]
            if not hits:
                return
            yield [self._record(h) for h in hits]
            after = hits[-1]["sort"]

    def _optimize(self) -> None:
        self._es.indices.refresh(index=self.name)
        self._es.indices.forcemerge(index=self.name, max_num_segments=1)
