"""Ingestion on Ray Data: ``ingest(..., engine="ray")`` and ``vecstore ingest --engine ray``.

The same decisions as the single-process pipeline (:mod:`.ingest`), taken on a cluster:

* **Sources** become a Ray Dataset without the corpus passing through the driver: the lines of a
  ``.jsonl`` file or BEIR corpus (``read_text``), the rows of a ``.parquet`` file
  (``read_parquet``), or the paths of a directory's files (each file read by a worker).  A ``.csv``
  file is read by one worker (a quoted field may span lines).
* **Chunking** is a stateless ``map_batches``: the same :class:`~.chunking.Chunker`, built once per
  worker process, so the same chunk ids and ``doc_hash`` (:func:`.ingest.document_hash`).
* **Embedding** is a ``map_batches`` over an actor pool; each actor loads the model once (on a GPU
  with ``gpus_per_actor``) and embeds through :meth:`.ingest.Ingestor.embed`: the same
  embedding cache keys, so a re-run embeds only what changed (the cache is a file on each node).
* **Writes.**  A store whose URL names a server (``chroma://host:port``, ``postgresql://``,
  ``http(s)://`` Qdrant, Elasticsearch, Milvus) is written from the workers through
  :class:`VecstoreDatasink`, at most ``max_in_flight`` batches at a time per target; its
  up-to-date chunks are found *before* embedding, so they are never embedded.  A store in the
  driver's process or directory (``faiss://``, ``chroma:///dir``, ``qdrant:///dir``,
  ``qdrant-edge://``, Milvus Lite, ``pgvector:///dir``'s private server) has one writer: the
  driver takes its batches and writes them; its up-to-date chunks are read once before the run
  (``{chunk id: doc_hash}``, sent to the actors), so they are not embedded either, and checked
  again as they are written.
* **Stale chunks** of the documents written are deleted by the driver once every batch is
  written: a document's chunks may be in several batches at once, and a per-batch delete (list,
  then delete by id) could remove a chunk another batch had just rewritten.  A run that fails
  still removes the stale chunks of the documents written before the failure (the write tasks
  report them to a small actor as they go): a re-run would find those documents current and
  never look for their old chunks again.
* A task or actor that dies is retried by Ray; chunk ids are deterministic and every write is an
  upsert, so a retried batch leaves no duplicate and loses nothing.
* The collection's model fingerprint, the checks before any write, stale-chunk removal,
  ``prune`` and the :class:`~.ingest.IngestReport` are the single-process pipeline's own.
  ``written`` counts the chunks actually written: a chunk that is up to date counts as skipped
  even in a changed document (the single-process pipeline rewrites a changed document whole).
* Each embedding actor checks that its model's fingerprint is the driver's, and a pool the cluster
  cannot hold (GPUs it lacks) is refused before anything is written.

``import vecstore`` and the single-process path never import Ray.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..embed import fingerprint_key
from ..errors import BackendNotInstalledError, ConfigError, EmbeddingModelMismatchError, VecstoreError
from ..store import Collection
from ..url import ConnectionSpec
from .cache import EmbeddingCache
from .chunking import Chunker, clean_metadata
from .ingest import (
    Ingestor,
    IngestReport,
    TargetReport,
    document_hash,
    make_chunker,
    prune_missing,
    stale_chunks,
    stored_hashes,
)
from .loaders import (
    BEIR_FIELDS,
    BeirDataset,
    Document,
    directory_files,
    is_beir,
    json_document,
    load_csv,
    load_file,
    row_document,
)

INSTALL_HINT = "pip install 'vecstore[ray]'"
#: Chunks per batch through the embedding actors and per write.
DEFAULT_BATCH_SIZE = 256
#: Write tasks at a time (so batches in flight) per server target.
DEFAULT_IN_FLIGHT = 4
_COLUMNS = ("doc_id", "doc_hash", "first", "chunk_id", "text", "metadata")


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise BackendNotInstalledError(f"engine='ray' needs Ray Data, which is not installed: {INSTALL_HINT}") from exc
    return ray


def check(embedder: Any, embedder_options: dict[str, Any] | None, ray_address: str | None,
          embed_actors: int | None, gpus_per_actor: float | None, batch_size: int | None) -> None:
    """What ``engine="ray"`` refuses, found before the model loads or anything is written."""
    _ray()
    if gpus_per_actor and (embedder_options or {}).get("backend") not in (None, "torch"):
        raise ConfigError(f"gpus_per_actor runs the model on torch; backend {embedder_options['backend']!r} runs on"  # type: ignore[index]
                          " the CPU")
    if embedder is not None:
        raise ConfigError("engine='ray' loads the model in every embedding actor by name: give model= (and "
                          "embedder_options=), not an embedder object")
    for name, value in (("embed_actors", embed_actors), ("batch_size", batch_size)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    if gpus_per_actor is not None and gpus_per_actor < 0:
        raise ConfigError(f"gpus_per_actor must not be negative, got {gpus_per_actor}")


def distributed(col: Collection) -> bool:
    """Whether workers on other processes and nodes may write ``col``'s store (a server)."""
    return bool(col.store.spec.mode == "server")


@dataclasses.dataclass(frozen=True)
class _Spec:
    """Everything a worker needs to rebuild the pipeline's parts: plain data, sent to each worker."""

    model: str | None
    embedder_options: tuple[tuple[str, Any], ...]
    chunking: str
    chunk_size: int | None
    overlap: int | None
    cache: str | None
    collection: str
    urls: tuple[str, ...]  # every target, in the report's order (redacted)
    checked: tuple[bool, ...]  # the targets checked (and written) by the workers
    threads: int | None  # torch threads per embedding actor on a CPU
    gpu: bool  # the embedding actors hold a GPU: their model goes to "cuda" unless a device is given
    fingerprint: str  # the driver's model fingerprint (key): an actor whose model differs refuses to embed
    # how to open each target: its parsed URL (secrets included) and connect() options; never printed
    stores: tuple[tuple[ConnectionSpec, dict[str, Any]], ...] = dataclasses.field(repr=False)


@lru_cache(maxsize=2)
def _embedder(model: str | None, options: tuple[tuple[str, Any], ...]) -> Any:
    from ..embed import load_embedder

    return load_embedder(model, **dict(options))


@lru_cache(maxsize=2)
def _chunker(model: str | None, options: tuple[tuple[str, Any], ...], chunking: str, size: int | None,
             overlap: int | None) -> Chunker:
    """The driver's chunker, rebuilt once per worker process (tokens: the model's tokenizer)."""
    embedder = _embedder(model, options) if chunking == "tokens" else None
    return make_chunker(embedder, chunking, size, overlap)  # type: ignore[arg-type]


# -- sources ----------------------------------------------------------------------------------


def _dataset(ray: Any, source: str | Iterable[Document], options: dict[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    """The source as a Ray Dataset, and how a worker turns its rows into documents."""
    if not isinstance(source, str):  # documents already in the driver's memory
        rows = [{"id": d.id, "text": d.text, "metadata": json.dumps(clean_metadata(d.metadata)), "source": d.source}
                for d in source]
        return ray.data.from_items(rows), ("documents",)
    p = Path(source)
    if is_beir(p):
        return ray.data.read_text(str(BeirDataset(p).corpus_file)), ("beir", str(p))
    if p.is_dir():
        files = directory_files(p, **options)
        return ray.data.from_items([{"path": str(f), "id": rel} for f, rel in files]), ("files",)
    name = p.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return ray.data.read_text(str(p)), ("jsonl", p.name, options)
    if name.endswith(".parquet"):
        return ray.data.read_parquet(str(p)), ("parquet", p.name, options)
    if name.endswith((".csv", ".tsv")):
        return ray.data.from_items([{"path": str(p)}]), ("csv", "\t" if name.endswith(".tsv") else ",", options)
    return ray.data.from_items([{"path": str(p), "id": None}]), ("files",)


def _documents(kind: tuple[Any, ...], rows: list[dict[str, Any]]) -> Iterator[Document]:
    """The documents of a batch of rows, parsed by the single-process loaders' own functions."""
    if kind[0] == "documents":
        for row in rows:
            yield Document(row["id"], row["text"], json.loads(row["metadata"]), row["source"])
    elif kind[0] == "beir":
        beir = BeirDataset(Path(kind[1]))
        for row in rows:
            doc = json_document(row["text"], beir.corpus_file.name, **BEIR_FIELDS)
            if doc is not None:
                yield beir.document(doc)
    elif kind[0] == "jsonl":
        for row in rows:
            doc = json_document(row["text"], kind[1], **kind[2])
            if doc is not None:
                yield doc
    elif kind[0] == "parquet":
        options = {"id_field": "id", "text_fields": ("text",), "metadata_fields": None, **kind[2]}
        for row in rows:
            yield row_document(row, options["id_field"], options["text_fields"], options["metadata_fields"], kind[1])
    elif kind[0] == "csv":
        for row in rows:
            yield from load_csv(row["path"], delimiter=kind[1], **kind[2])
    else:
        for row in rows:
            yield load_file(row["path"], row["id"])


def _chunk(batch: Any, kind: tuple[Any, ...], spec: _Spec) -> dict[str, list[Any]]:
    """Documents → chunk rows; a document without chunks keeps one row (``chunk_id`` ``""``), so
    that it is counted and its old chunks removed, as the single-process pipeline does."""
    chunker = _chunker(spec.model, spec.embedder_options, spec.chunking, spec.chunk_size, spec.overlap)
    out: dict[str, list[Any]] = {c: [] for c in _COLUMNS}
    for doc in _documents(kind, batch.to_pylist()):  # a pyarrow table: rows with Python values
        doc_hash = document_hash(doc, chunker.signature)
        rows = [(c.id, c.text, json.dumps(c.metadata)) for c in chunker.chunk(doc, doc_hash=doc_hash)] or [("", "", "{}")]
        for i, (chunk_id, text, meta) in enumerate(rows):
            for col, value in zip(_COLUMNS, (doc.id, doc_hash, i == 0, chunk_id, text, meta)):
                out[col].append(value)
    return out


# -- embedding ----------------------------------------------------------------------------------


def _open(spec: _Spec, t: int) -> tuple[Any, Collection]:
    """Target ``t`` opened in a worker as the driver opened it (same URL, secrets and options)."""
    from ..registry import resolve

    url, options = spec.stores[t]
    store = resolve(url.scheme)(url, **options)
    return store, store.get_collection(spec.collection)


class _Embed:
    """One embedding actor: the model loaded once; the worker-checked targets opened once."""

    def __init__(self, spec: _Spec, stored: Any) -> None:
        self.spec = spec
        if spec.threads:
            try:
                import torch

                torch.set_num_threads(spec.threads)  # Ray sets OMP_NUM_THREADS to the actor's CPUs
            except ImportError:
                pass
        options = spec.embedder_options
        if spec.gpu and "device" not in dict(options):
            options = (*options, ("device", "cuda"))
        embedder = _embedder(spec.model, options)
        self.ingestor = Ingestor(embedder, None, EmbeddingCache(spec.cache) if spec.cache else None)
        if self.ingestor.model_key != spec.fingerprint:  # another variant here (int8 tuned per CPU, ...)
            raise EmbeddingModelMismatchError(
                f"the embedding actor's model {embedder.fingerprint()} differs from the driver's; every node"
                " must embed with the same model and variant")
        self.dim = embedder.dim
        self.cols = {t: _open(spec, t)[1] for t, checked in enumerate(spec.checked) if checked}
        # {target: {chunk id: doc_hash}} of the targets the driver writes (an object ref: sent once)
        self.stored = stored if isinstance(stored, dict) else _ray().get(stored)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        ids = [str(i) for i in batch["chunk_id"]]
        real = [i for i, chunk_id in enumerate(ids) if chunk_id]
        need = np.zeros(len(ids), dtype=np.int64)  # bit t: target t takes this chunk
        for t in range(len(self.spec.urls)):
            # up to date there: not embedded for it, not written (the driver's targets: as they were
            # when the run began; the driver checks again when it writes)
            present = stored_hashes(self.cols[t], [ids[i] for i in real]) if t in self.cols else self.stored[t]
            need[[i for i in real if present.get(ids[i]) != batch["doc_hash"][i]]] |= 1 << t
        todo = [i for i in real if need[i]]
        report = IngestReport("", "")
        vectors = np.zeros((len(ids), self.dim), dtype=np.float32)
        if todo:
            vectors[todo] = self.ingestor.embed([str(batch["text"][i]) for i in todo], report)
        stats = np.zeros((len(ids), 3), dtype=np.float64)  # on the first row: this batch's counts
        if len(ids):
            stats[0] = (report.embedded, report.cache_hits, report.embed_seconds)
        return {**batch, "need": need, "vector": vectors, "stats": stats}


# -- writing ------------------------------------------------------------------------------------


def _write(cols: dict[int, Collection], batch: dict[str, Any], reports: dict[int, TargetReport],
           changed: dict[int, dict[str, str]]) -> None:
    """Write one batch to these targets (the chunks each needs); note in ``changed[t]`` the
    documents written there (``{doc id: current doc_hash}``)."""
    ids = [str(i) for i in batch["chunk_id"]]
    doc_ids = [str(d) for d in batch["doc_id"]]
    hashes = [str(h) for h in batch["doc_hash"]]
    real = [i for i, chunk_id in enumerate(ids) if chunk_id]
    for t, col in cols.items():
        started = time.perf_counter()
        tr = reports[t]
        take = [i for i in real if batch["need"][i] >> t & 1]
        if not distributed(col):  # checked here, by its one writer
            present = stored_hashes(col, [ids[i] for i in take])
            take = [i for i in take if present.get(ids[i]) != hashes[i]]
        tr.skipped += len(real) - len(take)
        if take:
            tr.written += col.upsert(ids=[ids[i] for i in take], vectors=np.asarray(batch["vector"][take]),
                                     texts=[str(batch["text"][i]) for i in take],
                                     metadata=[json.loads(batch["metadata"][i]) for i in take])
        # their stale chunks go after every write of the run (_remove_stale): deleted now, they could
        # take chunks of the same document that another batch is writing under the new hash
        changed[t].update({doc_ids[i]: hashes[i] for i in take})
        changed[t].update({doc_ids[i]: hashes[i] for i, c in enumerate(ids) if not c})
        tr.seconds += time.perf_counter() - started


def _tally(batch: dict[str, Any], totals: dict[str, Any]) -> None:
    """Documents, chunks and embedding counts of a written batch."""
    firsts = np.asarray(batch["first"], dtype=bool)
    totals["documents"] += int(firsts.sum())
    totals["docs"].update(str(d) for d, first in zip(batch["doc_id"], firsts) if first)
    totals["chunks"] += sum(1 for c in batch["chunk_id"] if c)
    totals["stats"] += np.asarray(batch["stats"]).sum(axis=0)


def _totals() -> dict[str, Any]:
    return {"docs": set(), "documents": 0, "chunks": 0, "stats": np.zeros(3)}


def _datasink_class() -> Any:
    from ray.data.block import BlockAccessor
    from ray.data.datasource import Datasink

    class VecstoreDatasink(Datasink):  # type: ignore[misc,valid-type]
        """Upserts from the workers into the server targets; returns each task's counts."""

        def __init__(self, spec: _Spec, batch_size: int, collector: Any) -> None:
            self.spec = spec
            self.batch_size = batch_size
            self.collector = collector  # a _Changed actor: the driver's record of the documents written
            self.results: list[dict[str, Any]] = []

        def get_name(self) -> str:
            return "Vecstore"

        def write(self, blocks: Iterable[Any], ctx: Any) -> dict[str, Any]:
            spec = self.spec
            opened = {t: _open(spec, t) for t, checked in enumerate(spec.checked) if checked}
            cols = {t: col for t, (_, col) in opened.items()}
            reports = {t: TargetReport(spec.urls[t]) for t in cols}
            totals = _totals()
            try:
                for block in blocks:
                    batch: dict[str, Any] = BlockAccessor.for_block(block).to_numpy()  # type: ignore[assignment]
                    rows = len(batch["chunk_id"])
                    for start in range(0, rows, self.batch_size):
                        part = {k: v[start : start + self.batch_size] for k, v in batch.items()}
                        changed: dict[int, dict[str, str]] = {t: {} for t in cols}
                        _write(cols, part, reports, changed)
                        # recorded before the next write: a run that fails later still removes their
                        # stale chunks (a re-run would find them current and never look again)
                        _ray().get(self.collector.add.remote(changed))
                        _tally(part, totals)
            finally:
                for store, _ in opened.values():
                    store.close()
            return {"reports": {t: dataclasses.asdict(r) for t, r in reports.items()}, **totals}

        def on_write_complete(self, write_result: Any) -> None:
            self.results = list(write_result.write_returns)

    return VecstoreDatasink


# -- the run ------------------------------------------------------------------------------------


def run(
    source: str | Iterable[Document],
    cols: list[Collection],
    report: IngestReport,
    embedder: Any,
    model: str | None,
    embedder_options: dict[str, Any] | None,
    chunking: str,
    chunk_size: int | None,
    overlap: int | None,
    cache: EmbeddingCache | None,
    loader_options: dict[str, Any] | None,
    prune: bool,
    progress: bool = False,
    ray_address: str | None = None,
    embed_actors: int | None = None,
    gpus_per_actor: float | None = None,
    batch_size: int | None = None,
    max_in_flight: int = DEFAULT_IN_FLIGHT,
) -> None:
    """Run the ingest on Ray into the (opened and checked) ``cols``; fills ``report``."""
    with cluster(ray_address) as ray, worker_errors():
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = progress
        actors = embed_actors or 1
        gpus = gpus_per_actor or 0.0
        actor_cpus = _resources(ray, actors, gpus)
        cpus = float(ray.cluster_resources().get("CPU", 1))
        spec = _Spec(model or embedder.name, tuple(sorted((embedder_options or {}).items())), chunking, chunk_size,
                     overlap, str(cache.path) if cache is not None else None, cols[0].name if cols else "",
                     tuple(c.store.url for c in cols), tuple(distributed(c) for c in cols),
                     None if gpus else max(1, int(cpus // actors)), bool(gpus),
                     fingerprint_key(embedder.fingerprint()),
                     tuple((c.store.spec, dict(c.store.options)) for c in cols))
        # the targets the driver writes, as they are now: the actors skip their up-to-date chunks
        stored = {t: _stored(col) for t, col in enumerate(cols) if not spec.checked[t]}
        size = batch_size or DEFAULT_BATCH_SIZE
        ds, kind = _dataset(ray, source, loader_options or {})
        ds = ds.map_batches(_chunk, fn_kwargs={"kind": kind, "spec": spec}, batch_format="pyarrow")
        # the pool must leave CPUs to reading, chunking and writing (a pool holding every CPU starves
        # them: no progress); its torch threads still use the cluster's share (spec.threads)
        ds = ds.map_batches(_Embed, fn_constructor_kwargs={"spec": spec, "stored": ray.put(stored)}, batch_size=size,
                            batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors),
                            num_gpus=gpus or None, num_cpus=actor_cpus)
        totals = _totals()
        reports = {t: tr for t, tr in enumerate(report.targets)}
        changed: dict[int, dict[str, str]] = {t: {} for t in range(len(cols))}
        collector = ray.remote(num_cpus=0)(_Changed).remote()
        try:
            if all(spec.checked) and cols:
                sink = _datasink_class()(spec, size, collector)
                ds.write_datasink(sink, concurrency=max_in_flight, ray_remote_args={"num_cpus": 0.25})
                for result in sink.results:
                    _merge(result, reports, totals)
            else:  # a single-writer target: the driver writes every target, the server ones too
                driver_cols = dict(enumerate(cols))
                for batch in ds.iter_batches(batch_size=size, batch_format="numpy"):
                    _write(driver_cols, batch, reports, changed)
                    _tally(batch, totals)
        except BaseException:
            # the documents written before the failure: their stale chunks go now (best effort: the
            # failure is what the caller hears about), or a re-run would leave them for good
            with contextlib.suppress(Exception):
                _remove_all_stale(cols, _changes(ray, collector, changed), size, reports)
            raise
        # every write is done: no batch can lose a chunk now
        _remove_all_stale(cols, _changes(ray, collector, changed), size, reports)
        report.documents += totals["documents"]
        report.chunks += totals["chunks"]
        report.embedded += int(totals["stats"][0])
        report.cache_hits += int(totals["stats"][1])
        report.embed_seconds += float(totals["stats"][2])
        if prune:
            for col, tr in zip(cols, report.targets):
                tr.deleted += prune_missing(col, totals["docs"])


def _resources(ray: Any, actors: int, gpus: float) -> float:
    """CPUs per embedding actor; refuses a pool the cluster cannot hold (Ray would wait for ever)."""
    have = ray.cluster_resources()
    if gpus and have.get("GPU", 0) < gpus * actors:
        raise ConfigError(f"{actors} embedding actor(s) x {gpus} GPU need {gpus * actors:g} GPUs; the Ray cluster"
                          f" has {have.get('GPU', 0):g}")
    if gpus:
        return 0.0
    cpus = float(have.get("CPU", 1))
    # one CPU each while one is left for reading, chunking and writing; else an equal share
    return 1.0 if cpus >= actors + 1 else cpus / (actors + 1)


def _stored(col: Collection) -> dict[str, Any]:
    """``{chunk id: doc_hash}`` of everything in ``col`` (a store written by the driver)."""
    return {r.id: r.metadata.get("doc_hash") for batch in col.iterate(include_vectors=False) for r in batch}


class _Changed:
    """An actor holding ``{target: {doc id: doc_hash}}`` of the documents the write tasks wrote."""

    def __init__(self) -> None:
        self.changed: dict[int, dict[str, str]] = {}

    def add(self, changed: dict[int, dict[str, str]]) -> None:
        for t, docs in changed.items():
            self.changed.setdefault(int(t), {}).update(docs)

    def get(self) -> dict[int, dict[str, str]]:
        return self.changed


def _changes(ray: Any, collector: Any, changed: dict[int, dict[str, str]]) -> dict[int, dict[str, str]]:
    """The documents written, by target: the driver's own record and the write tasks'."""
    out = {t: dict(docs) for t, docs in changed.items()}
    for t, docs in ray.get(collector.get.remote()).items():
        out.setdefault(int(t), {}).update(docs)
    return out


def _remove_all_stale(cols: list[Collection], changed: dict[int, dict[str, str]], size: int,
                      reports: dict[int, TargetReport]) -> None:
    for t, col in enumerate(cols):
        if changed.get(t):
            reports[t].deleted += _remove_stale(col, changed[t], size)


def _remove_stale(col: Collection, changed: dict[str, str], size: int) -> int:
    """Delete the stale chunks of the documents written (``{doc id: current doc_hash}``)."""
    items = sorted(changed.items())
    return sum(col.delete(filter=stale_chunks(dict(items[i : i + size]))) for i in range(0, len(items), size))


def _merge(result: dict[str, Any], reports: dict[int, TargetReport], totals: dict[str, Any]) -> None:
    for t, counts in result["reports"].items():
        tr = reports[int(t)]
        tr.written += counts["written"]
        tr.skipped += counts["skipped"]
        tr.deleted += counts["deleted"]
        tr.seconds += counts["seconds"]
    totals["docs"].update(result["docs"])
    totals["documents"] += result["documents"]
    totals["chunks"] += result["chunks"]
    totals["stats"] += result["stats"]


@contextlib.contextmanager
def cluster(address: str | None) -> Iterator[Any]:
    """The Ray in use, or the cluster at ``address`` (``RAY_ADDRESS``, else a local Ray) joined
    for the block and left (stopped, if it was started here) after it."""
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, log_to_driver=False, include_dashboard=False)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


@contextlib.contextmanager
def worker_errors() -> Iterator[None]:
    """A vecstore error raised in a worker reaches the caller as itself, not in Ray's wrappers."""
    try:
        yield
    except Exception as exc:
        cause = _cause(exc)
        if cause is exc:
            raise
        raise cause from exc


def _cause(exc: BaseException) -> BaseException:
    """The vecstore error a worker raised, out of Ray's wrappers (else ``exc`` itself)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, VecstoreError):
            return seen
        seen = getattr(seen, "cause", None) or seen.__cause__
    return exc


__all__ = ["DEFAULT_BATCH_SIZE", "INSTALL_HINT", "check", "distributed", "run"]
