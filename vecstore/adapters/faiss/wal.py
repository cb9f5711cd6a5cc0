"""The write-ahead log of a persisted Faiss collection: every acknowledged write
is on disk before ``upsert``/``delete`` returns.

``wal-<g>.log`` holds the writes made since generation ``g`` was saved, as a
sequence of frames::

    magic "VSW1" | header length (u32) | payload length (u32) | CRC-32 (u32) | header | payload

The header is UTF-8 JSON (``{"op": "upsert", "ids": [...], "texts": [...],
"metadata": [...]}`` or ``{"op": "delete", "ids": [...]}``), the payload the
upserted vectors as little-endian float32, row after row; the CRC covers header
and payload.  Each frame is written with one ``write`` and ``fsync``-ed before
the call returns.  No pickle.

Reading stops at the first frame that is incomplete or fails its CRC — the
tail of a write that a crash interrupted, never acknowledged — and the file is
cut back to the last whole frame so that later appends follow valid data.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

MAGIC = b"VSW1"
_HEAD = struct.Struct("<4sIII")


@dataclass
class Entry:
    """One logged write."""

    op: str  # "upsert" or "delete"
    ids: list[str]
    vectors: np.ndarray | None = None
    texts: list[str | None] | None = None
    metadata: list[dict[str, Any]] | None = None


def encode(entry: Entry) -> list[bytes | memoryview]:
    """A frame as buffers to write in one ``writev`` (the vectors are not copied)."""
    header: dict[str, Any] = {"op": entry.op, "ids": entry.ids}
    payload: bytes | memoryview = b""
    if entry.op == "upsert":
        assert entry.vectors is not None
        header["texts"] = entry.texts
        header["metadata"] = entry.metadata
        header["dim"] = int(entry.vectors.shape[1])
        payload = memoryview(np.ascontiguousarray(entry.vectors, dtype="<f4")).cast("B")  # type: ignore[arg-type]
    head = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    crc = zlib.crc32(payload, zlib.crc32(head))
    return [_HEAD.pack(MAGIC, len(head), len(payload), crc) + head, payload]


def _decode(head: bytes, payload: bytes) -> Entry:
    header = json.loads(head.decode("utf-8"))
    if header["op"] == "delete":
        return Entry("delete", header["ids"])
    vectors = np.frombuffer(payload, dtype="<f4").reshape(len(header["ids"]), header["dim"]).astype(np.float32)
    return Entry("upsert", header["ids"], vectors, header["texts"], header["metadata"])


def read(path: str) -> Iterator[Entry]:
    """Every whole frame of the log (none if it does not exist); a torn tail is cut off."""
    try:
        fh = open(path, "r+b")
    except FileNotFoundError:
        return
    with fh:
        good = 0
        while True:
            entry = _read_frame(fh)
            if entry is None:
                break
            good = fh.tell()
            yield entry
        if fh.seek(0, os.SEEK_END) != good:
            fh.truncate(good)
            os.fsync(fh.fileno())


def _read_frame(fh: BinaryIO) -> Entry | None:
    raw = fh.read(_HEAD.size)
    if len(raw) < _HEAD.size:
        return None
    magic, head_len, payload_len, crc = _HEAD.unpack(raw)
    if magic != MAGIC:
        return None
    head = fh.read(head_len)
    payload = fh.read(payload_len)
    if len(head) < head_len or len(payload) < payload_len or zlib.crc32(payload, zlib.crc32(head)) != crc:
        return None
    return _decode(head, payload)


class Writer:
    """Appends frames to one log file, each durable when :meth:`append` returns."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.size = os.lseek(self._fd, 0, os.SEEK_END)

    def append(self, entry: Entry) -> None:
        buffers = encode(entry)
        total = sum(len(b) for b in buffers)
        try:
            written = os.writev(self._fd, buffers)
            if written < total:  # a short write (rare on a regular file): finish it
                rest = b"".join(bytes(b) for b in buffers)[written:]
                while rest:
                    rest = rest[os.write(self._fd, rest):]
            os.fsync(self._fd)
        except BaseException:
            # nothing half-written stays behind: cut the log back to its last whole frame
            os.ftruncate(self._fd, self.size)
            raise
        self.size += total

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
