"""On-disk format of a persisted Faiss collection (no pickle anywhere).

``DIR/<collection>/`` holds:

* ``manifest.json`` — format version, settings, the current generation ``g``
  and its file names, the next free label and the labels removed from an HNSW
  graph but not yet rebuilt away;
* ``index-<g>.faiss`` — ``faiss.write_index`` of the ``IndexIDMap2``;
* ``records-<g>.jsonl`` — one JSON object per record: label, id, text, metadata;
* ``wal-<g>.log`` — the writes acknowledged since generation ``g`` was saved
  (:mod:`.wal`), replayed on open;
* ``lexical-<g>/`` — the BM25 index of generation ``g``'s records, when one was built: bm25s's
  own format (``.npy`` arrays read with ``allow_pickle=False``, JSON vocabulary and
  parameters) plus ``labels.npy``, the record label of each of its documents.  A collection
  whose log changed records since then rebuilds it on the next lexical search; a damaged or
  missing one is rebuilt from the records (it holds nothing else).

Every ``upsert``/``delete`` is appended to the log and fsync-ed before it
returns, so a process killed at any moment loses nothing it acknowledged.
``flush()``, ``close()`` and a log grown past the size of the snapshot (at
least :data:`FOLD_MIN_BYTES`) fold the log into a new generation: a save writes
generation ``g+1`` to temporary files, fsyncs and renames them, then atomically
replaces the manifest, and only then deletes generation ``g`` and its log.  A
crash at any point leaves a manifest that names a complete generation and its
log; files of an unfinished generation are ignored and cleaned up on the next
save.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, Callable, TypeVar

import faiss as _faiss

from ...errors import BackendError
from ...types import CollectionSettings
from . import wal

# faiss's bundled stubs miss most of its SWIG API (SearchParametersHNSW, get_xb, ...)
faiss: Any = _faiss

FORMAT = "vecstore.faiss"
FORMAT_VERSION = 3  # 2 added the write-ahead log, 3 the BM25 directory; versions 1 and 2 still open
MANIFEST = "manifest.json"
#: A log smaller than this is never folded early (only by flush/close).
FOLD_MIN_BYTES = 64 << 20

S = TypeVar("S")


def exists(path: str) -> bool:
    return os.path.isfile(os.path.join(path, MANIFEST))


def _read_manifest(path: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(path, MANIFEST), encoding="utf-8") as fh:
            manifest = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot read {path}/{MANIFEST}: {exc}", backend="faiss") from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") not in (1, 2, FORMAT_VERSION):
        raise BackendError(
            f"{path} is not a vecstore Faiss collection of format version {FORMAT_VERSION}", backend="faiss"
        )
    return manifest


def read_settings(path: str) -> CollectionSettings | None:
    manifest = _read_manifest(path)
    return None if manifest is None else CollectionSettings.from_json(manifest["settings"])


def _write_atomic(path: str, write: Callable[[str], None]) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_json(path: str, data: Any) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)

    _write_atomic(path, write)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(path: str, state: Any) -> None:
    """Write ``state`` (see ``_State`` in .store) as a new generation."""
    os.makedirs(path, exist_ok=True)
    old = _read_manifest(path)
    gen = (old["generation"] + 1) if old else 1
    files = {"index": f"index-{gen}.faiss", "records": f"records-{gen}.jsonl", "wal": f"wal-{gen}.log"}
    _write_atomic(os.path.join(path, files["index"]), lambda tmp: faiss.write_index(state.index, tmp))

    def write_records(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            for label, (id_, text, meta) in state.rows.items():
                fh.write(json.dumps({"label": label, "id": id_, "text": text, "metadata": meta}, ensure_ascii=False))
                fh.write("\n")

    _write_atomic(os.path.join(path, files["records"]), write_records)
    if state.settings.lexical:  # the BM25 index of these records, built now if a write made it stale
        retriever, labels = state.lexical_index()
        if retriever is not None:
            files["lexical"] = f"lexical-{gen}"
            _save_lexical(os.path.join(path, files["lexical"]), retriever, labels)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generation": gen,
        "files": files,
        "settings": state.settings.to_json(),
        "next_label": state.next_label,
        "removed": sorted(state.removed),
        "count": len(state.rows),
    }
    _fsync_dir(path)
    _write_json(os.path.join(path, MANIFEST), manifest)
    _fsync_dir(path)
    state.saved_version = state.version
    state.snapshot_bytes = sum(os.path.getsize(os.path.join(path, files[k])) for k in ("index", "records"))
    _open_log(path, files["wal"], state)
    for name in os.listdir(path):  # earlier generations and their logs, leftovers of a crash
        if name not in files.values() and name != MANIFEST:
            full = os.path.join(path, name)
            shutil.rmtree(full) if os.path.isdir(full) else os.unlink(full)


def _save_lexical(target: str, retriever: Any, labels: Any) -> None:
    import numpy as np

    tmp = f"{target}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    retriever.save(tmp, corpus=None, allow_pickle=False, show_progress=False)
    np.save(os.path.join(tmp, "labels.npy"), labels, allow_pickle=False)
    for name in os.listdir(tmp):
        with open(os.path.join(tmp, name), "rb") as fh:
            os.fsync(fh.fileno())
    _fsync_dir(tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


def _load_lexical(source: str) -> tuple[Any, Any]:
    import bm25s
    import numpy as np

    retriever = bm25s.BM25.load(source, load_corpus=False, mmap=False, allow_pickle=False)
    return retriever, np.load(os.path.join(source, "labels.npy"), allow_pickle=False)


def _open_log(path: str, name: str, state: Any) -> None:
    if state.wal is not None:
        state.wal.close()
    state.wal = wal.Writer(os.path.join(path, name))
    _fsync_dir(path)  # the log's directory entry is durable before the first acknowledged write


def should_fold(state: Any) -> bool:
    """Whether the log has grown enough to be folded into a new generation."""
    return state.wal is not None and state.wal.size > max(FOLD_MIN_BYTES, state.snapshot_bytes)


def write_settings(path: str, settings: CollectionSettings) -> None:
    """Replace only the settings in the manifest (for ``update_info``)."""
    manifest = _read_manifest(path)
    if manifest is None:
        raise BackendError(f"{path} has no {MANIFEST}", backend="faiss")
    manifest["settings"] = settings.to_json()
    _write_json(os.path.join(path, MANIFEST), manifest)


def load(path: str, make_state: Callable[..., S]) -> S:
    manifest = _read_manifest(path)
    if manifest is None:
        raise BackendError(f"{path} has no {MANIFEST}", backend="faiss")
    files = manifest["files"]
    try:
        index = faiss.read_index(os.path.join(path, files["index"]))  # owns the C++ object: keep it
    except RuntimeError as exc:
        raise BackendError(f"cannot read the Faiss index in {path}: {exc}", backend="faiss") from exc
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None and ivf.direct_map.type == faiss.DirectMap.NoMap:
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
    state: Any = make_state(CollectionSettings.from_json(manifest["settings"]), index)
    with open(os.path.join(path, files["records"]), encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            state.rows[rec["label"]] = (rec["id"], rec["text"], rec["metadata"])
            state.labels[rec["id"]] = rec["label"]
    state.next_label = manifest["next_label"]
    state.removed = set(manifest["removed"])
    if len(state.rows) != manifest["count"]:
        raise BackendError(f"{path}: records file has {len(state.rows)} records, manifest says {manifest['count']}", backend="faiss")
    state.saved_version = state.version
    state.snapshot_bytes = sum(os.path.getsize(os.path.join(path, files[k])) for k in ("index", "records"))
    if files.get("lexical"):
        try:
            retriever, labels = _load_lexical(os.path.join(path, files["lexical"]))
            if len(labels) <= len(state.rows):
                state.bm25 = (state.version, retriever, labels)
        except Exception:  # noqa: BLE001 - derived data: a missing or damaged index is rebuilt from the records
            state.bm25 = None
    log = files.get("wal")
    if log is None:  # format version 1: start a log by saving in the current format
        save(path, state)
        return state
    for entry in wal.read(os.path.join(path, log)):
        state.apply(entry)
    _open_log(path, log, state)
    return state
