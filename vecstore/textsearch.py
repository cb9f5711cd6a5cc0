"""Search by text, and copy collections between backends.

>>> docs = vecstore.open("faiss:///data/vs", "docs")      # embeds with the collection's own model
>>> docs.search("how do HNSW graphs work?", k=5, filter={"lang": "en"})
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .embed import Embedder, load_query_embedder, variant_options
from .errors import EmbeddingModelMismatchError
from .pipeline.ingest import EMBEDDING_INFO_KEY, check_embedding
from .registry import connect
from .store import Collection, VectorStore
from .types import Hit, Record


class TextCollection:
    """A collection plus the embedding model it was built with."""

    def __init__(self, collection: Collection, embedder: Embedder, store: VectorStore | None = None, *,
                 accept_variant: bool = False) -> None:
        check_embedding(collection, embedder.fingerprint(), accept_variant)
        self.collection = collection
        self.embedder = embedder
        self._store = store

    def search(self, text: str, k: int = 10, *, filter: dict[str, Any] | None = None, mode: str = "dense",
               **kwargs: Any) -> list[Hit]:
        """``mode``: ``dense`` (by the embedded text), ``lexical`` (the keyword index; nothing
        is embedded) or ``hybrid`` (both, fused; ``rrf_k=``/``alpha=``); see :mod:`vecstore.lexical`."""
        return self.search_batch([text], k, filter=filter, mode=mode, **kwargs)[0]

    def search_batch(self, texts: Sequence[str], k: int = 10, *, filter: dict[str, Any] | None = None,
                     mode: str = "dense", **kwargs: Any) -> list[list[Hit]]:
        texts = _texts(texts)
        vectors = None if mode == "lexical" else self.embedder.embed_queries(texts)
        if mode == "dense":
            return self.collection.search_batch(vectors, k, filter=filter, **kwargs)
        return self.collection.search_batch(vectors, k, filter=filter, texts=texts, mode=mode, **kwargs)

    # the collection's read methods, so that a text collection is all a reader needs

    def count(self, filter: dict[str, Any] | None = None) -> int:
        return self.collection.count(filter)

    def get(self, ids: Iterable[str], *, include_vectors: bool = True) -> list[Record]:
        return self.collection.get(ids, include_vectors=include_vectors)

    def iterate(self, batch_size: int = 1000, *, filter: dict[str, Any] | None = None,
                include_vectors: bool = True) -> Iterator[list[Record]]:
        return self.collection.iterate(batch_size, filter=filter, include_vectors=include_vectors)

    @property
    def info(self) -> dict[str, Any]:
        return self.collection.info

    @property
    def name(self) -> str:
        return self.collection.name

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> TextCollection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        from .errors import InvalidInputError

        raise InvalidInputError("search_batch() takes a list of texts; use search() for one")
    return list(texts)


def open_collection(url: str | VectorStore, collection: str, *, embedder: Embedder | None = None,
                    model: str | None = None, accept_variant: bool = False,
                    **embedder_options: Any) -> TextCollection:
    """Open ``collection`` for text search; its recorded model is loaded unless one is given, in
    the recorded inference variant (int8, fp16) unless ``embedder_options`` choose one
    (``backend``, ``quantize``, ``precision``): another variant than the recorded one needs
    ``accept_variant=True``."""
    store = connect(url) if isinstance(url, str) else url
    try:
        col = store.get_collection(collection)
        embedder = embedder_for(col, embedder, accept_variant, model=model, **embedder_options)
        return TextCollection(col, embedder, store if isinstance(url, str) else None, accept_variant=accept_variant)
    except BaseException:
        if isinstance(url, str):
            store.close()
        raise


def embedder_for(col: Collection, embedder: Embedder | None = None, accept_variant: bool = False, *,
                 model: str | None = None, check: bool = True, **embedder_options: Any) -> Embedder:
    """The query embedder for ``col``: ``embedder`` if given, else the recorded model in its
    recorded variant (see :func:`open_collection`); checked against the collection's fingerprint."""
    if embedder is None:
        recorded = col.info.get(EMBEDDING_INFO_KEY) or {}
        name = model or recorded.get("model")
        if not name:
            raise EmbeddingModelMismatchError(
                f"collection {col.name!r} records no embedding model; pass model= or embedder="
            )
        chosen = any(embedder_options.get(k) for k in ("backend", "quantize", "precision"))
        if not chosen and (model is None or model == recorded.get("model")):
            embedder_options = {**variant_options(recorded.get("variant")), **embedder_options}
        embedder = load_query_embedder(name, **embedder_options)
    if check:
        check_embedding(col, embedder.fingerprint(), accept_variant)
    return embedder


def copy_collection(
    src: str | VectorStore,
    src_collection: str,
    dst: str | VectorStore,
    dst_collection: str | None = None,
    *,
    index: str | None = None,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
    on_change: Callable[[str], None] | None = None,
    **index_options: Any,
) -> int:
    """Copy every record (vectors included, nothing re-embedded) to another store; returns the count.

    The copy keeps the source's index type and options where the target has them
    (``index=`` and options given here win); ``on_change`` is told, in a sentence,
    what the target could not keep."""
    src_store = connect(src) if isinstance(src, str) else src
    dst_store = connect(dst) if isinstance(dst, str) else dst
    try:
        source = src_store.get_collection(src_collection)
        dst_index, options, notes = _copy_settings(source, dst_store, index, index_options)
        for note in notes:
            if on_change:
                on_change(note)
        lexical = source.settings.lexical if source.settings.lexical in dst_store.lexical_analyzers else None
        if source.settings.lexical and lexical is None and on_change:
            on_change(f"{dst_store.backend} has no {source.settings.lexical!r} lexical analyzer: the copy "
                      + (f"uses {dst_store.lexical_analyzers[0]!r}" if dst_store.lexical_analyzers
                         else "has no lexical search"))
        target = dst_store.collection(dst_collection or src_collection, dim=source.dim, metric=source.metric,
                                      index=dst_index, info=source.info, lexical=lexical,
                                      schema=source.schema or None, **options)
        copied = 0
        for batch in source.iterate(batch_size):
            copied += target.upsert(batch)
            if progress:
                progress(len(batch))
        return copied
    finally:
        if isinstance(src, str):
            src_store.close()
        if isinstance(dst, str):
            dst_store.close()


def _copy_settings(source: Collection, dst: VectorStore, index: str | None,
                   given: dict[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    """The target's index type and options for a copy of ``source``, and what changed."""
    notes: list[str] = []
    wanted = index or source.index
    inherited = dict(source.settings.index_options) if wanted == source.index else {}
    if wanted not in dst.index_types:
        if index is not None:  # asked for explicitly: the store's own error says it
            return index, dict(given), notes
        notes.append(f"{dst.backend} has no {wanted!r} index: the copy uses {dst.index_types[0]!r}"
                     f" (the source's options {sorted(inherited) or 'none'} are left out)")
        wanted, inherited = dst.index_types[0], {}
    allowed = dst.index_options.get(wanted, frozenset())
    dropped = sorted(k for k in inherited if k not in allowed)
    if dropped:
        notes.append(f"{dst.backend}'s {wanted!r} index has no option {', '.join(dropped)}: left out of the copy")
    options = {k: v for k, v in inherited.items() if k in allowed}
    options.update(given)
    return wanted, options, notes
