"""Faiss adapter: ``faiss://`` (in memory) and ``faiss:///dir`` (persisted).

Index types: ``flat`` (exact, the default), ``hnsw`` (options ``m``,
``ef_construction``, ``ef_search``) and ``ivf`` (IVF-Flat; ``nlist``, default
``4·sqrt(n)``, and ``nprobe``, default 8, also per query).  An IVF index needs
training data: until a collection holds ``39 · nlist`` vectors (1,000 when
``nlist`` is not set) it is a flat index, searched exactly; reaching that size,
or ``optimize()``, trains the quantizer on the stored vectors and moves them in.  String ids map to int64 labels through an
``IndexIDMap2``; an overwritten or deleted record gets a fresh label.  A flat
index removes vectors for real; HNSW graphs cannot, so their removed labels are
excluded from every search by an ``IDSelector`` until the graph is rebuilt
(automatically once they pass 30 % of it, and never visible to ``get``,
``count``, ``iterate`` or the saved records).

Scores (Faiss native → contract):

* cosine: inner product of unit vectors (``METRIC_INNER_PRODUCT``) = cosine similarity;
* dot: inner product, unchanged;
* l2: Faiss reports the *squared* distance ``d``; the score is ``-sqrt(d)``.

Filters are evaluated in Python (:func:`vecstore.filters.matches`) into the set of
allowed labels, passed to Faiss as an ``IDSelectorBatch`` so that a filtered
search returns ``k`` hits whenever ``k`` records match.  Small allowed sets
(≤ ``BRUTE_FORCE_MAX``) and ``exact=True`` are searched by brute force in
numpy over the stored vectors, which is exact; so is any query the graph
answers short.

Lexical search (``mode="lexical"``/``"hybrid"``) ranks by BM25 (Lucene's variant, k1 1.5,
b 0.75) from the ``bm25s`` library over the records' texts, tokenised by vecstore's analyzer
(:mod:`vecstore.lexical`, default ``english``).  The index is built on the first lexical search
after a write (texts analysed once per record and kept), filtered by the same allowed-label set
as vector search, and saved in the same generation as the vectors (see :mod:`.persist`).

The store is thread-safe (one lock per collection).  On a directory store
every ``upsert``/``delete`` is in a write-ahead log, fsync-ed, before it
returns: a process killed at any moment, or one that never calls ``close()``,
loses nothing it acknowledged.  See :mod:`.persist` for the on-disk format (no
pickle).  One client per directory: a second one, in this process or another,
raises :class:`~vecstore.errors.StoreLockedError`.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import os
import shutil
import threading
import weakref
from itertools import repeat
from typing import Any

import faiss as _faiss
import numpy as np

from ... import _numeric
from ...errors import StoreLockedError
from ...filters import Node, cache_key, matcher
from ...lexical import analyzer
from ...store import Batch, Collection, VectorStore
from ...types import CollectionSettings, Hit, Record
from ...url import option
from . import persist, wal

# faiss's bundled stubs miss most of its SWIG API (SearchParametersHNSW, get_xb, ...)
faiss: Any = _faiss

#: Filtered searches allowing at most this many records go straight to brute force.
BRUTE_FORCE_MAX = 2048
HNSW_DEFAULTS = {"m": 32, "ef_construction": 200, "ef_search": 64}
DEFAULT_NPROBE = 8
#: Vectors before an IVF collection trains itself when ``nlist`` is not given.
IVF_TRAIN_AT = 1000
#: Rebuild an HNSW graph when removed labels exceed this share of it.
COMPACT_RATIO = 0.3


class _State:
    """One collection's index and records, shared by every handle on it."""

    def __init__(self, settings: CollectionSettings, index: Any = None) -> None:
        self.settings = settings
        self.index = index if index is not None else _new_index(settings)
        self.labels: dict[str, int] = {}
        self.rows: dict[int, tuple[str, str | None, dict[str, Any]]] = {}
        self.removed: set[int] = set()  # HNSW labels still in the graph
        self.next_label = 0
        self.version = 0
        self.saved_version = -1
        self.lock = threading.RLock()
        self._filter_cache: tuple[str, int, np.ndarray] | None = None
        self._vectors_cache: tuple[np.ndarray, int, np.ndarray] | None = None
        #: the write-ahead log of a persisted collection (see .persist); None in memory
        self.wal: wal.Writer | None = None
        self.snapshot_bytes = 0
        #: the BM25 index of ``version``, or None: (version, bm25s.BM25 or None when no text, labels)
        self.bm25: tuple[int, Any, np.ndarray] | None = None
        self._terms: dict[int, list[str]] = {}  # analysed texts, by label

    def lexical_index(self) -> tuple[Any, np.ndarray]:
        """The BM25 index of the current records (``None`` when none has a term) and the label of
        each of its documents; rebuilt after a write, analysing only texts not seen before."""
        if self.bm25 is not None and self.bm25[0] == self.version:
            return self.bm25[1], self.bm25[2]
        import bm25s

        an = analyzer(self.settings.lexical or "english")
        terms: dict[int, list[str]] = {}
        for label, (_, text, _) in self.rows.items():
            found = self._terms.get(label)
            if found is None:
                found = an.terms(text)
            if found:
                terms[label] = found
        self._terms = terms
        labels = np.fromiter(terms, dtype=np.int64, count=len(terms))
        retriever = None
        if terms:
            retriever = bm25s.BM25()
            retriever.index(list(terms.values()), show_progress=False)
        self.bm25 = (self.version, retriever, labels)
        return retriever, labels

    @property
    def hnsw(self) -> bool:
        return self.settings.index == "hnsw"

    @property
    def index(self) -> Any:
        return self._index

    @index.setter
    def index(self, index: Any) -> None:
        self._index = index
        #: an IVF index that has been trained (before that, an IVF collection is flat); noted here,
        #: not asked per query: ``try_extract_index_ivf`` is a SWIG call of 3 µs
        self.ivf = self.settings.index == "ivf" and faiss.try_extract_index_ivf(index) is not None

    def maybe_train(self, force: bool = False) -> None:
        """Train an IVF collection once it has enough vectors (or now, with ``force``)."""
        if self.settings.index != "ivf" or self.ivf:
            return
        n = len(self.rows)
        nlist = self.settings.index_options.get("nlist")
        if not force and n < (39 * int(nlist) if nlist else IVF_TRAIN_AT):
            return
        nlist = int(nlist) if nlist else int(4 * n**0.5)
        nlist = max(1, min(nlist, n // 39 if force else n))
        if n < nlist:
            return
        labels = np.fromiter(self.rows, dtype=np.int64)
        vectors = self.index.reconstruct_batch(labels)
        metric = faiss.METRIC_L2 if self.settings.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        # keep the owning object from index_factory; extract_index_ivf only views it
        index = faiss.index_factory(self.settings.dim, f"IVF{nlist},Flat", metric)
        index.train(vectors)
        faiss.extract_index_ivf(index).set_direct_map_type(faiss.DirectMap.Hashtable)  # remove/reconstruct by label
        index.add_with_ids(vectors, labels)
        self.index = index
        self.version += 1

    def vectors_of(self, labels: np.ndarray) -> np.ndarray:
        """The stored vectors of ``labels``; the last answer is kept while nothing is written, so a
        filter repeated query after query (``allowed`` returns the same array) reads them once."""
        cache = self._vectors_cache
        if cache is not None and cache[0] is labels and cache[1] == self.version:
            return cache[2]
        vectors = self.index.reconstruct_batch(labels)
        if len(labels) <= BRUTE_FORCE_MAX:  # small sets only: an exact search of everything is not kept
            self._vectors_cache = (labels, self.version, vectors)
        return vectors

    def allowed(self, node: Node) -> np.ndarray:
        key = cache_key(node)  # typed: {"x": 1} must not reuse the answer to {"x": True}
        cache = self._filter_cache
        if cache is not None and cache[0] == key and cache[1] == self.version:
            return cache[2]
        match = matcher(node)
        labels = np.fromiter((label for label, row in self.rows.items() if match(row[2])), dtype=np.int64)
        self._filter_cache = (key, self.version, labels)
        return labels

    def write(self, entry: wal.Entry) -> None:
        """Log a write (durable when this returns), then apply it."""
        if self.wal is not None:
            self.wal.append(entry)
        self.apply(entry)

    def apply(self, entry: wal.Entry) -> None:
        """Apply a write to memory: the same code for a new write and a replayed one."""
        if entry.op == "delete":
            labels = [self.labels.pop(i) for i in entry.ids if i in self.labels]
            for label in labels:
                del self.rows[label]
            self.remove(labels)
        else:
            assert entry.vectors is not None and entry.texts is not None and entry.metadata is not None
            if not self.labels.keys().isdisjoint(entry.ids):  # one C-level pass when all ids are new
                replaced = [label for label in map(self.labels.get, entry.ids) if label is not None]
                for label in replaced:
                    del self.rows[label]
                self.remove(replaced)  # may rebuild the graph from self.rows: drop them first
            new = np.arange(self.next_label, self.next_label + len(entry.ids), dtype=np.int64)
            self.index.add_with_ids(entry.vectors, new)
            self.next_label += len(entry.ids)
            labels = new.tolist()
            self.labels.update(zip(entry.ids, labels))
            self.rows.update(zip(labels, zip(entry.ids, entry.texts, entry.metadata)))
            self.maybe_train()
        self.version += 1

    def remove(self, labels: list[int]) -> None:
        if not labels:
            return
        if self.hnsw:
            self.removed.update(labels)
            if len(self.removed) > COMPACT_RATIO * self.index.ntotal:
                self.compact()
        else:
            self.index.remove_ids(np.asarray(labels, dtype=np.int64))

    def compact(self) -> None:
        """Rebuild the graph from the live vectors, dropping removed labels."""
        live = np.fromiter(self.rows, dtype=np.int64)
        vectors = self.index.reconstruct_batch(live) if len(live) else None
        self.index = _new_index(self.settings)
        if vectors is not None:
            self.index.add_with_ids(vectors, live)
        self.removed.clear()


def _new_index(settings: CollectionSettings) -> Any:
    metric = faiss.METRIC_L2 if settings.metric == "l2" else faiss.METRIC_INNER_PRODUCT
    if settings.index == "hnsw":
        opts = {**HNSW_DEFAULTS, **settings.index_options}
        base = faiss.IndexHNSWFlat(settings.dim, int(opts["m"]), metric)
        base.hnsw.efConstruction = int(opts["ef_construction"])
        base.hnsw.efSearch = int(opts["ef_search"])
    else:
        base = faiss.IndexFlat(settings.dim, metric)
    return faiss.IndexIDMap2(base)


def _stored_vectors(index: Any) -> tuple[np.ndarray, np.ndarray]:
    """(labels, vectors) of everything in the index, as views without copying (IVF: a copy)."""
    ivf = faiss.try_extract_index_ivf(index)  # a view: ``index`` keeps ownership
    if ivf is not None:
        labels = np.concatenate([faiss.rev_swig_ptr(ivf.invlists.get_ids(i), ivf.invlists.list_size(i)).copy()
                                 for i in range(ivf.nlist) if ivf.invlists.list_size(i)] or [np.empty(0, np.int64)])
        return labels, ivf.reconstruct_batch(labels) if len(labels) else np.empty((0, ivf.d), np.float32)
    base = faiss.downcast_index(index.index)
    flat = faiss.downcast_index(base.storage) if isinstance(base, faiss.IndexHNSW) else base
    n, d = flat.ntotal, flat.d
    vectors = faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d) if n else np.empty((0, d), np.float32)
    return faiss.vector_to_array(index.id_map), vectors


class FaissStore(VectorStore):
    backend = "faiss"
    lexical_analyzers = ("english", "english-nostem", "simple")
    lexical_engine = "bm25s (BM25, Lucene variant) over vecstore's analyzer"
    modes = ("memory", "path")
    index_types = ("flat", "hnsw", "ivf")
    index_options = {"flat": frozenset(), "hnsw": frozenset(HNSW_DEFAULTS), "ivf": frozenset({"nlist", "nprobe"})}
    search_params = frozenset({"ef_search", "nprobe"})
    connect_options = frozenset({"threads"})

    def _connect(self) -> None:
        self._states: dict[str, _State] = {}
        self._lockfile: Any = None
        threads = option(self.spec, self.options, "threads")
        if threads:
            faiss.omp_set_num_threads(int(threads))
        if self.spec.mode == "path":
            assert self.spec.path is not None
            os.makedirs(self.spec.path, exist_ok=True)
            self._lockfile = open(os.path.join(self.spec.path, ".lock"), "a+")
            try:
                fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                self._lockfile.close()
                raise StoreLockedError(
                    f"{self.url} is open in another faiss client (this or another process); close that one first"
                ) from exc
            ref = weakref.ref(self)

            def flush_at_exit() -> None:
                store = ref()
                if store is not None:
                    store.close()

            self._atexit = flush_at_exit
            atexit.register(flush_at_exit)

    def _close(self) -> None:
        try:
            self._flush()
        finally:
            for state in self._states.values():
                if state.wal is not None:
                    state.wal.close()
            self._states = {}
            if self._lockfile is not None:
                atexit.unregister(self._atexit)
                fcntl.flock(self._lockfile, fcntl.LOCK_UN)
                self._lockfile.close()
                self._lockfile = None

    def flush(self) -> None:
        """Write every changed collection to disk (``close()`` does this too)."""
        if self._connected:
            with self._guard("flush"):
                self._flush()

    def _flush(self) -> None:
        if self.spec.mode != "path":
            return
        for state in list(self._states.values()):
            with state.lock:
                if state.version != state.saved_version:
                    persist.save(self._dir(state.settings.name), state)

    def _dir(self, name: str) -> str:
        assert self.spec.path is not None
        return os.path.join(self.spec.path, name)

    def _state(self, name: str) -> _State | None:
        state = self._states.get(name)
        if state is None and self.spec.mode == "path" and persist.exists(self._dir(name)):
            state = self._states[name] = persist.load(self._dir(name), _State)
        return state

    def _read_settings(self, name: str) -> CollectionSettings | None:
        if name in self._states:
            return self._states[name].settings
        if self.spec.mode == "path":
            return persist.read_settings(self._dir(name))
        return None

    def _create_collection(self, settings: CollectionSettings) -> None:
        state = self._states[settings.name] = _State(settings)
        if self.spec.mode == "path":
            persist.save(self._dir(settings.name), state)

    def _open_collection(self, settings: CollectionSettings) -> Collection:
        state = self._state(settings.name)
        assert state is not None
        return FaissCollection(self, state)

    def _list_collections(self) -> list[str]:
        names = set(self._states)
        if self.spec.mode == "path":
            assert self.spec.path is not None
            names.update(n for n in os.listdir(self.spec.path) if persist.exists(self._dir(n)))
        return list(names)

    def _drop_collection(self, name: str) -> bool:
        state = self._states.pop(name, None)
        existed = state is not None
        if state is not None and state.wal is not None:
            state.wal.close()
        if self.spec.mode == "path" and os.path.isdir(self._dir(name)):
            shutil.rmtree(self._dir(name))
            existed = True
        return existed

    def _write_settings(self, settings: CollectionSettings) -> None:
        state = self._states[settings.name]
        with state.lock:
            state.settings = settings
            if self.spec.mode == "path":
                persist.write_settings(self._dir(settings.name), settings)


@functools.lru_cache(maxsize=64)
def _search_parameters(kind: str, value: int) -> Any:
    """Selector-free search parameters, made once per value and shared: Faiss only reads them."""
    return faiss.SearchParametersHNSW(efSearch=value) if kind == "hnsw" else faiss.SearchParametersIVF(nprobe=value)


class FaissCollection(Collection):
    max_batch_size = 10_000
    get_in_order = True

    @property
    def tunable_params(self) -> frozenset[str]:
        return frozenset({"hnsw": {"ef_search"}, "ivf": {"nprobe"}}.get(self.index, set()))

    def _optimize(self) -> None:
        s = self._s
        with s.lock:
            trained = s.ivf
            s.maybe_train(force=True)
            if s.wal is not None and s.ivf and not trained:  # training is not in the log: save it
                persist.save(self.store._dir(self.name), s)  # type: ignore[attr-defined]

    def __init__(self, store: FaissStore, state: _State) -> None:
        super().__init__(store, state.settings)
        self._s = state

    def _upsert(self, batch: Batch) -> None:
        self._write(wal.Entry("upsert", batch.ids, batch.vectors, batch.texts, batch.metadata))

    def _delete(self, ids: list[str]) -> None:
        self._write(wal.Entry("delete", ids))

    def _write(self, entry: wal.Entry) -> None:
        s = self._s
        with s.lock:
            s.write(entry)
            if persist.should_fold(s):
                persist.save(self.store._dir(self.name), s)  # type: ignore[attr-defined]

    def _get(self, ids: list[str], include_vectors: bool) -> list[Record]:
        s = self._s
        with s.lock:
            # ``ids`` come deduplicated from Collection.get; records in that order (get_in_order)
            labels = [label for label in map(s.labels.get, ids) if label is not None]
            return self._records(labels, include_vectors)

    def _records(self, labels: list[int], include_vectors: bool) -> list[Record]:
        if not labels:
            return []
        ids, texts, metas = zip(*map(self._s.rows.__getitem__, labels))
        vectors: Any = repeat(None)
        if include_vectors:
            vectors = self._s.index.reconstruct_batch(np.asarray(labels, dtype=np.int64))
        # map() over columns, not a comprehension over rows: get of 1,000 went 621 -> 575 µs
        return list(map(Record, ids, vectors, texts, map(dict.copy, metas)))

    def _count(self, filter: Node | None) -> int:
        s = self._s
        with s.lock:
            return len(s.rows) if filter is None else len(s.allowed(filter))

    def _iterate(self, batch_size: int, filter: Node | None, include_vectors: bool) -> Any:
        s = self._s
        with s.lock:
            labels = sorted(s.rows) if filter is None else sorted(s.allowed(filter).tolist())
        for start in range(0, len(labels), batch_size):
            with s.lock:
                part = [label for label in labels[start : start + batch_size] if label in s.rows]
                yield self._records(part, include_vectors)

    def _search(
        self,
        queries: np.ndarray,
        k: int,
        filter: Node | None,
        exact: bool,
        include_vectors: bool,
        params: dict[str, Any],
    ) -> list[list[Hit]]:
        s = self._s
        with s.lock:
            allowed = None if filter is None else s.allowed(filter)
            available = len(s.rows) if allowed is None else len(allowed)
            if available == 0:
                return [[] for _ in range(len(queries))]
            small = allowed is not None and len(allowed) <= BRUTE_FORCE_MAX
            if (exact and (s.hnsw or s.ivf)) or small:
                labels, scores = self._brute(queries, k, allowed)
                rows = labels.tolist()
            else:
                labels, scores = self._ann(queries, k, allowed, params)
                # Faiss pads a short answer with -1 at the end: look at the last place that must be
                # filled, in lists (numpy's reductions, or a comprehension for one query, cost more
                # than the rest of one query's bookkeeping)
                rows, last = labels.tolist(), min(k, available) - 1
                if (rows[0][last] if len(rows) == 1 else min([row[last] for row in rows])) < 0:
                    short = np.flatnonzero(labels[:, last] < 0)  # the graph answered short: fill exactly
                    labels[short], scores[short] = self._brute(queries[short], k, allowed)
                    rows = labels.tolist()
            if len(rows) == 1:  # one query: no comprehension
                return [self._hits(rows[0], scores[0].tolist(), include_vectors)]
            return [self._hits(lrow, srow, include_vectors) for lrow, srow in zip(rows, scores.tolist())]

    def _ann(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None, params: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Faiss's own search.  A single query on a flat index runs on one OpenMP thread: it is
        too little work to share, and a parallel region for it costs more than the search when
        another thread or process holds a core (flat over 20,000 × 384: p50 3.0 ms on 2 threads,
        1.1 ms on one, on this 2-core machine under load).  libgomp keeps the setting per calling
        thread, so other threads' searches keep theirs.  HNSW and trained IVF open no parallel
        region for one query, so their threads are left alone: switching the count there and
        back cost more than the search gained (IVF, nprobe 8: p50 0.277 ms against native 0.233)."""
        s = self._s
        selector: Any = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(allowed)
        elif s.removed:
            selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.fromiter(s.removed, dtype=np.int64)))
        if s.hnsw:
            ef = max(int(self._search_option(params, "ef_search", HNSW_DEFAULTS["ef_search"])), k)
            search_params = _search_parameters("hnsw", ef) if selector is None else \
                faiss.SearchParametersHNSW(efSearch=ef, sel=selector)
        elif s.ivf:
            nprobe = int(self._search_option(params, "nprobe", DEFAULT_NPROBE))
            search_params = _search_parameters("ivf", nprobe) if selector is None else \
                faiss.SearchParametersIVF(nprobe=nprobe, sel=selector)
        else:
            search_params = faiss.SearchParameters(sel=selector) if selector is not None else None
        threads = faiss.omp_get_max_threads() if len(queries) == 1 and not (s.hnsw or s.ivf) else 1
        if threads > 1:  # a flat index: the one-thread case above
            faiss.omp_set_num_threads(1)
            try:
                distances, labels = s.index.search(queries, k, params=search_params)
            finally:
                faiss.omp_set_num_threads(threads)
        else:
            distances, labels = s.index.search(queries, k, params=search_params)
        return labels, self._to_scores(distances)

    def _to_scores(self, distances: np.ndarray) -> np.ndarray:
        """Contract scores from Faiss's distances (a padding label's -1 is never read: hits skip it)."""
        if self.metric == "l2":  # Faiss L2 is squared
            return -np.sqrt(np.maximum(distances, 0.0))
        return distances

    def _brute(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k by numpy over the stored vectors (all, or the allowed labels)."""
        s = self._s
        if allowed is None:
            labels, vectors = _stored_vectors(s.index)
            live = ~np.isin(labels, np.fromiter(s.removed, dtype=np.int64)) if s.removed else None
        else:
            labels, vectors, live = allowed, s.vectors_of(allowed), None
        sc = _numeric.scores(self.metric, queries, vectors)
        if live is not None:
            sc[:, ~live] = -np.inf
        out_l = np.full((len(queries), k), -1, dtype=np.int64)
        out_s = np.full((len(queries), k), -np.inf)
        for qi, row in enumerate(sc):
            top = _numeric.topk(row, k)
            top = top[np.isfinite(row[top])]
            out_l[qi, : len(top)] = labels[top]
            out_s[qi, : len(top)] = row[top]
        return out_l, out_s

    def _lexical(self, texts: list[str], k: int, filter: Node | None, include_vectors: bool) -> list[list[Hit]]:
        s = self._s
        an = analyzer(self.settings.lexical or "english")
        with s.lock:
            retriever, labels = s.lexical_index()
            mask = None
            if filter is not None and retriever is not None:
                mask = np.isin(labels, s.allowed(filter)).astype(np.float32)
            out: list[list[Hit]] = []
            for text in texts:
                ids = retriever.get_tokens_ids(an.query_terms(text)) if retriever is not None else []
                if not ids:
                    out.append([])
                    continue
                scores = retriever.get_scores_from_ids(ids, weight_mask=mask)
                top = _numeric.topk(scores, k)
                top = top[scores[top] > 0]
                out.append(self._hits(labels[top].tolist(), scores[top].tolist(), include_vectors))
            return out

    def _hits(self, labels: list[int], scores: list[float], include_vectors: bool) -> list[Hit]:
        if not include_vectors:  # one plain loop: this runs once per query (10 hits: 3.9 -> 2.7 µs)
            rows = self._s.rows
            out = []
            for label, score in zip(labels, scores):
                if label >= 0:
                    id_, text, meta = rows[label]
                    out.append(Hit(id_, score, text, meta.copy()))
            return out
        keep = [(label, score) for label, score in zip(labels, scores) if label >= 0]
        records = self._records([label for label, _ in keep], include_vectors)
        return [Hit(r.id, score, r.text, r.metadata, r.vector) for r, (_, score) in zip(records, keep)]
