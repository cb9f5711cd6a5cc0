"""Ingestion: load → chunk → embed once → write to one or several stores.

* **Embed once, write many.** Each batch of documents is chunked once and
  embedded once, and the same records go to every target.  The embedding
  cache (:mod:`.cache`) means unchanged text is never embedded twice, not in a
  re-run and not when another backend is added later.
* **Idempotent.** Chunk ids are ``<doc id>#<index>:<text hash>`` and every
  chunk carries ``doc_id`` and ``doc_hash`` (a hash of the document's id,
  text and the chunking settings).  Per target, a document whose chunks are all
  present with the current ``doc_hash`` is skipped without embedding; any other
  document has all its chunks upserted and its stale chunks (same ``doc_id``,
  another ``doc_hash``) deleted.  ``prune=True`` also deletes the chunks of
  documents no longer in the source.
* **Streaming.** Documents flow through in batches of ``batch_docs``; memory
  holds one batch, whatever the corpus size.
* **The collection remembers its model**: ``info["embedding"]`` holds the
  embedder's fingerprint, and a mismatch raises
  :class:`~vecstore.errors.EmbeddingModelMismatchError`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, islice
from typing import Any

import numpy as np

from ..embed import Embedder, check_variant, fingerprint_key, load_embedder
from ..errors import EmbeddingModelMismatchError
from ..registry import connect
from ..store import Collection, VectorStore
from ..types import check_collection_name
from .cache import EmbeddingCache
from .chunking import Chunk, Chunker, char_chunker, text_hash, token_chunker
from .loaders import Document, load

EMBEDDING_INFO_KEY = "embedding"
_COMPARED = ("model", "dim", "normalize", "query_prompt", "document_prompt")


@dataclasses.dataclass
class TargetReport:
    url: str
    written: int = 0
    skipped: int = 0  # chunks already present and current
    deleted: int = 0  # stale chunks removed
    seconds: float = 0.0


@dataclasses.dataclass
class IngestReport:
    collection: str
    model: str
    documents: int = 0
    chunks: int = 0
    embedded: int = 0  # texts the model actually computed
    cache_hits: int = 0
    embed_seconds: float = 0.0
    seconds: float = 0.0
    targets: list[TargetReport] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_embedding(collection: Collection, fingerprint: dict[str, Any], accept_variant: bool = False) -> None:
    """Raise if ``collection`` holds vectors of another model; record the model if it has none yet.

    The same model in another inference variant (int8 against fp32, say) is refused too,
    unless ``accept_variant``: then its vectors are close enough for the caller's purpose."""
    have = collection.info.get(EMBEDDING_INFO_KEY)
    if have is None:
        if collection.count() > 0:
            raise EmbeddingModelMismatchError(
                f"collection {collection.name!r} has {collection.count()} records but no embedding model recorded;"
                " refusing to add vectors of a possibly different model"
            )
        collection.update_info({EMBEDDING_INFO_KEY: fingerprint})
        return
    diff = [k for k in _COMPARED if have.get(k) != fingerprint.get(k)]
    variant_have, variant_want = have.get("variant", "fp32"), fingerprint.get("variant", "fp32")
    if not diff and variant_have != variant_want and not accept_variant:
        raise EmbeddingModelMismatchError(
            f"collection {collection.name!r} in {collection.store.url} was embedded with {have.get('model')!r}"
            f" {variant_have}, not {variant_want}: its vectors differ slightly; use the {variant_have} variant,"
            f" or accept the mix explicitly (accept_variant=True, --accept-variant). Recorded: {have};"
            f" given: {fingerprint}"
        )
    if diff:
        detail = ", ".join(f"{k}: {have.get(k)!r} vs {fingerprint.get(k)!r}" for k in diff)
        raise EmbeddingModelMismatchError(
            f"collection {collection.name!r} in {collection.store.url} was embedded with {have.get('model')!r},"
            f" not {fingerprint.get('model')!r} ({detail}); use that model or another collection"
        )


def open_target(
    target: str | VectorStore | Collection,
    collection: str,
    embedder: Embedder,
    metric: str | None = None,
    index: str | None = None,
    index_options: dict[str, Any] | None = None,
) -> tuple[Collection, VectorStore | None]:
    """The collection to write to, and the store to close afterwards (if we opened it)."""
    fingerprint = embedder.fingerprint()
    if isinstance(target, Collection):
        check_embedding(target, fingerprint)
        return target, None
    store = connect(target) if isinstance(target, str) else target
    col = store.collection(collection, dim=embedder.dim, metric=metric, index=index,
                           info={EMBEDDING_INFO_KEY: fingerprint}, **(index_options or {}))
    check_embedding(col, fingerprint)
    return col, (store if isinstance(target, str) else None)


def check_target(store: VectorStore, collection: str, embedder: Embedder, metric: str | None,
                 index: str | None) -> None:
    """Reach ``store`` and check that ``collection`` can take this model's vectors,
    creating nothing: a dead server or a mismatch fails the ingest before any write."""
    if not store.has_collection(collection):
        if index is not None and index not in store.index_types:
            from ..errors import UnsupportedOperationError

            raise UnsupportedOperationError(f"{store.backend} has no {index!r} index; it has {', '.join(store.index_types)}")
        return
    col = store.collection(collection)
    for key, want in (("dim", embedder.dim), ("metric", metric), ("index", index)):
        if want is not None and getattr(col, key) != want:
            from ..errors import CollectionConfigError

            raise CollectionConfigError(f"collection {collection!r} in {store.url} exists with {key}="
                                        f"{getattr(col, key)!r}, not {want!r}; drop it or use another name")
    have = col.info.get(EMBEDDING_INFO_KEY)
    if have is not None or col.count() > 0:
        check_embedding(col, embedder.fingerprint())


def _with_text(documents: Iterable[Document], source: str) -> Iterator[Document]:
    """``documents``, after making sure at least one has text (else :class:`InvalidInputError`)."""
    from ..errors import InvalidInputError

    it = iter(documents)
    skipped: list[Document] = []
    for doc in it:
        if doc.text.strip():
            return chain(skipped, [doc], it)
        skipped.append(doc)
    reason = f"{len(skipped)} document(s), all without text" if skipped else "no documents"
    raise InvalidInputError(f"nothing to ingest from {source}: {reason}")


def check_chunking(mode: str, size: int | None, overlap: int | None) -> None:
    """What :func:`make_chunker` would refuse, found without the embedder."""
    from ..errors import ConfigError

    if mode not in ("tokens", "chars"):
        raise ConfigError(f"unknown chunking {mode!r}: use 'tokens' or 'chars'")
    if size is not None and size < 1:
        raise ConfigError(f"chunk size must be positive (size={size})")
    if overlap is not None and (overlap < 0 or (size is not None and mode == "chars" and overlap >= size)):
        raise ConfigError(f"chunk size must be positive and overlap smaller (size={size}, overlap={overlap})")


def make_chunker(embedder: Embedder, mode: str = "tokens", size: int | None = None, overlap: int | None = None) -> Chunker:
    if mode == "tokens":
        return token_chunker(embedder, size, 32 if overlap is None else overlap)
    if mode == "chars":
        return char_chunker(size or 1000, 100 if overlap is None else overlap)
    from ..errors import ConfigError

    raise ConfigError(f"unknown chunking {mode!r}: use 'tokens' or 'chars'")


def _batches(items: Iterable[Document], n: int) -> Iterator[list[Document]]:
    it = iter(items)
    while batch := list(islice(it, n)):
        yield batch


class Ingestor:
    """Holds the embedder, chunker and cache for one or more ingest runs."""

    def __init__(self, embedder: Embedder, chunker: Chunker | None, cache: EmbeddingCache | None) -> None:
        self.embedder = embedder
        self.chunker = chunker
        self.cache = cache
        self.model_key = fingerprint_key(embedder.fingerprint())

    def embed(self, texts: list[str], report: IngestReport) -> np.ndarray:
        """Vectors for ``texts``: from the cache where possible, each distinct text embedded once."""
        unique = list(dict.fromkeys(texts))
        cached = self.cache.get(self.model_key, unique, self.embedder.dim) if self.cache else [None] * len(unique)
        todo = [t for t, v in zip(unique, cached) if v is None]
        vectors: dict[str, Any] = dict(zip(unique, cached))
        if todo:
            start = time.perf_counter()
            fresh = self.embedder.embed_documents(todo)
            report.embed_seconds += time.perf_counter() - start
            report.embedded += len(todo)
            if self.cache:
                self.cache.put(self.model_key, todo, fresh)
            vectors.update(zip(todo, fresh))
        report.cache_hits += len(unique) - len(todo)
        return np.stack([vectors[t] for t in texts]) if texts else np.empty((0, self.embedder.dim), np.float32)

    def run(
        self,
        documents: Iterable[Document],
        targets: Sequence[Collection],
        report: IngestReport,
        batch_docs: int = 256,
        prune: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        if self.chunker is None:
            raise TypeError("Ingestor.run needs a chunker")
        chunker = self.chunker
        signature = chunker.signature
        seen: set[str] = set()
        target_reports = report.targets
        for docs in _batches(documents, batch_docs):
            chunks_by_doc: dict[str, list[Chunk]] = {}
            hashes: dict[str, str] = {}
            for doc in docs:
                hashes[doc.id] = document_hash(doc, signature)
                chunks_by_doc[doc.id] = chunker.chunk(doc, doc_hash=hashes[doc.id])
            seen.update(chunks_by_doc)
            all_chunks = [c for cs in chunks_by_doc.values() for c in cs]
            report.documents += len(docs)
            report.chunks += len(all_chunks)
            dirty_per_target = [self._dirty(col, chunks_by_doc, hashes) for col in targets]
            needed = {c.id: c for dirty in dirty_per_target for d in dirty for c in chunks_by_doc[d]}
            vectors = dict(zip(needed, self.embed([c.text for c in needed.values()], report)))
            for col, dirty, tr in zip(targets, dirty_per_target, target_reports):
                start = time.perf_counter()
                chunks = [c for d in dirty for c in chunks_by_doc[d]]
                tr.skipped += len(all_chunks) - len(chunks)
                if chunks:
                    tr.written += col.upsert(ids=[c.id for c in chunks], vectors=np.stack([vectors[c.id] for c in chunks]),
                                             texts=[c.text for c in chunks], metadata=[c.metadata for c in chunks])
                if dirty:
                    tr.deleted += col.delete(filter=stale_chunks({d: hashes[d] for d in dirty}))
                tr.seconds += time.perf_counter() - start
            if progress:
                progress(len(docs))
        if prune:
            for col, tr in zip(targets, target_reports):
                tr.deleted += prune_missing(col, seen)

    @staticmethod
    def _dirty(col: Collection, chunks_by_doc: dict[str, list[Chunk]], hashes: dict[str, str]) -> list[str]:
        """Documents of the batch whose chunks in ``col`` are missing or out of date."""
        present = stored_hashes(col, [c.id for cs in chunks_by_doc.values() for c in cs])
        return [d for d, cs in chunks_by_doc.items()
                if not cs or any(present.get(c.id) != hashes[d] for c in cs)]


# -- the decisions every engine shares (the Ray engine, :mod:`.raydata`, calls these too) -----------


def document_hash(doc: Document, signature: str) -> str:
    """``doc_hash``: the document's id and text under these chunking settings."""
    return text_hash(f"{doc.id}\x00{signature}\x00{doc.text}")[:16]


def stored_hashes(col: Collection, ids: list[str]) -> dict[str, Any]:
    """``{chunk id: its stored doc_hash}`` for the chunks of ``ids`` that ``col`` holds."""
    return {r.id: r.metadata.get("doc_hash") for r in col.get(ids, include_vectors=False)} if ids else {}


def stale_chunks(current: dict[str, str]) -> dict[str, Any]:
    """The filter of the chunks of these documents (``{doc id: current doc_hash}``) that are out of
    date: their chunks under another ``doc_hash``; never a current chunk."""
    return {"doc_id": {"$in": sorted(current)}, "doc_hash": {"$nin": sorted(set(current.values()))}}


def prune_missing(col: Collection, seen: set[str]) -> int:
    """Delete the chunks of documents not in ``seen`` (``prune=True``); how many went."""
    gone = [r.id for batch in col.iterate(include_vectors=False) for r in batch if r.metadata.get("doc_id") not in seen]
    return col.delete(gone) if gone else 0


def ingest(
    source: str | Iterable[Document],
    targets: Sequence[str | VectorStore | Collection],
    collection: str,
    *,
    embedder: Embedder | None = None,
    model: str | None = None,
    metric: str | None = None,
    index: str | None = None,
    index_options: dict[str, Any] | None = None,
    chunking: str = "tokens",
    chunk_size: int | None = None,
    overlap: int | None = None,
    batch_docs: int = 256,
    cache: EmbeddingCache | str | bool = True,
    prune: bool = False,
    progress: bool | Callable[[int], None] = False,
    loader_options: dict[str, Any] | None = None,
    embedder_options: dict[str, Any] | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    embed_actors: int | None = None,
    gpus_per_actor: float | None = None,
    batch_size: int | None = None,
) -> IngestReport:
    """Ingest ``source`` (a path, or documents) into ``collection`` on every target.

    ``targets`` are store URLs (opened and closed here), stores or collections.
    ``embedder_options`` go to :func:`~vecstore.embed.load_embedder` (``backend``,
    ``quantize``, ``precision``, ``device``, ...) when no ``embedder`` is given.
    ``engine="ray"`` runs loading, chunking, embedding and (for server targets) writing on a
    Ray cluster (:mod:`vecstore.pipeline.raydata`, extra ``vecstore[ray]``) with the same
    decisions; ``ray_address``, ``embed_actors``, ``gpus_per_actor`` and ``batch_size``
    (chunks per batch) apply to it only.
    Returns an :class:`IngestReport` with counts and timings.
    """
    started = time.perf_counter()
    # what is cheap to check is checked before the model loads (seconds) or anything is created
    check_collection_name(collection)
    check_chunking(chunking, chunk_size, overlap)
    ray_options: dict[str, Any] = {"ray_address": ray_address, "embed_actors": embed_actors, "gpus_per_actor": gpus_per_actor,
                   "batch_size": batch_size}
    if engine == "ray":
        from . import raydata

        raydata.check(embedder, embedder_options, **ray_options)
    elif engine != "local":
        from ..errors import ConfigError

        raise ConfigError(f"unknown engine {engine!r}: use 'local' or 'ray'")
    elif any(v is not None for v in ray_options.values()):
        from ..errors import ConfigError

        given = ", ".join(k for k, v in ray_options.items() if v is not None)
        raise ConfigError(f"{given}: only for engine='ray'")
    variant = {k: v for k, v in (embedder_options or {}).items() if k in ("backend", "quantize", "precision") and v}
    if variant and embedder is None:
        check_variant(**variant)
    documents = load(source, **(loader_options or {})) if isinstance(source, str) else source
    documents = _with_text(documents, source if isinstance(source, str) else "the documents given")
    opened: list[VectorStore] = []
    cache_obj: EmbeddingCache | None = None
    own_cache = cache is True or isinstance(cache, str)
    try:
        stores = []
        for target in targets:
            store = connect(target) if isinstance(target, str) else target  # parses the URL and its options
            if isinstance(target, str):
                opened.append(store)  # type: ignore[arg-type]
            stores.append(store)
        embedder = embedder or load_embedder(model, **(embedder_options or {}))
        chunker = make_chunker(embedder, chunking, chunk_size, overlap)
        if isinstance(cache, EmbeddingCache):
            cache_obj = cache
        else:
            cache_obj = EmbeddingCache(cache) if isinstance(cache, str) else (EmbeddingCache() if cache else None)
        report = IngestReport(collection=collection, model=embedder.name)
        # every target is reached and checked before a collection is created anywhere
        for store in stores:
            if isinstance(store, VectorStore):
                check_target(store, collection, embedder, metric, index)
        cols = []
        for target in stores:
            col, _ = open_target(target, collection, embedder, metric, index, index_options)
            cols.append(col)
            report.targets.append(TargetReport(col.store.url))
        if engine == "ray":
            raydata.run(source if isinstance(source, str) else documents, cols, report, embedder, model,
                        embedder_options, chunking, chunk_size, overlap, cache_obj,
                        loader_options, prune, progress=bool(progress), **ray_options)
        else:
            callback, bar = _progress(progress)
            try:
                Ingestor(embedder, chunker, cache_obj).run(documents, cols, report, batch_docs, prune, callback)
            finally:
                if bar is not None:
                    bar.close()
    finally:
        for store in opened:
            store.close()
        if own_cache and cache_obj is not None:
            cache_obj.close()
    report.seconds = time.perf_counter() - started
    return report


def _progress(progress: bool | Callable[[int], None]) -> tuple[Callable[[int], None] | None, Any]:
    if callable(progress):
        return progress, None
    if not progress:
        return None, None
    from tqdm.auto import tqdm

    bar = tqdm(unit="doc", desc="ingest", dynamic_ncols=True)
    return bar.update, bar
