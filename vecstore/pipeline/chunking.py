"""Chunking: split documents into pieces that fit the embedding model.

The default counts the model's own tokens and fills each chunk up to its
maximum sequence length (less the special tokens), preferring to cut between
paragraphs, then between sentences, and only inside a sentence that alone is
too long.  ``overlap`` repeats the last whole sentences of a chunk (up to that
many tokens) at the start of the next.  The character splitter does the same
by character counts.  Each chunk knows its document, its index and its
character offsets in the document's text; its id is deterministic:
``<doc id>#<index>:<hash of its text>``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError
from .loaders import Document

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+(?=\S)")


@dataclasses.dataclass
class Chunk:
    id: str
    doc_id: str
    index: int
    text: str
    start: int
    end: int
    metadata: dict[str, Any]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def paragraphs(text: str) -> list[tuple[int, int]]:
    """Spans of the paragraphs (separated by blank lines), without surrounding space."""
    out, pos = [], 0
    for sep in [*_PARAGRAPH.finditer(text), None]:
        end = sep.start() if sep else len(text)
        a, b = _strip(text, pos, end)
        if a < b:
            out.append((a, b))
        pos = sep.end() if sep else len(text)
    return out


def units(text: str) -> list[tuple[int, int]]:
    """Sentence spans, never crossing a paragraph break."""
    out = []
    for a, b in paragraphs(text):
        start = a
        for m in _SENTENCE_END.finditer(text, a, b):
            out.append(_strip(text, start, m.start()))
            start = m.end()
        out.append(_strip(text, start, b))
    return [(x, y) for x, y in out if x < y]


@dataclasses.dataclass
class _Unit:
    start: int
    end: int
    tokens: list[tuple[int, int]]  # absolute char spans of its tokens
    weight: int
    para_start: bool


class Chunker:
    """Packs sentences into chunks of at most ``max_size`` (tokens or characters)."""

    def __init__(self, max_size: int, overlap: int, tokenize: Callable[[list[str]], list[list[tuple[int, int]]]],
                 weigh: Callable[[tuple[int, int]], int], kind: str = "tokens") -> None:
        if max_size < 1 or overlap < 0 or overlap >= max_size:
            raise ConfigError(f"chunk size must be positive and overlap smaller (size={max_size}, overlap={overlap})")
        self.max_size = max_size
        self.overlap = overlap
        self._tokenize = tokenize
        self._weigh = weigh
        #: Changes whenever the chunks would: part of each document's ``doc_hash``.
        self.signature = f"{kind}:{max_size}:{overlap}"

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the chunks of ``text``."""
        sentence_spans = units(text)
        if not sentence_spans:
            return []
        paragraph_starts = {a for a, _ in paragraphs(text)}
        tokens = self._tokenize([text[a:b] for a, b in sentence_spans])
        us = []
        for (a, b), toks in zip(sentence_spans, tokens):
            absolute = [(a + s, a + e) for s, e in toks] or [(a, b)]
            us.append(_Unit(a, b, absolute, sum(self._weigh(t) for t in absolute), a in paragraph_starts))
        return self._pack(us)

    def _pack(self, us: list[_Unit]) -> list[tuple[int, int]]:
        chunks: list[tuple[int, int]] = []
        current: list[_Unit] = []
        size = 0
        for unit in us:
            if unit.weight > self.max_size:
                if current:
                    chunks.append((current[0].start, current[-1].end))
                chunks.extend(self._split_long(unit))
                current, size = [], 0
                continue
            # cut before a new paragraph once the chunk is half full; else only when it must
            full = size + unit.weight > self.max_size or (unit.para_start and size >= self.max_size // 2)
            if full and current:
                chunks.append((current[0].start, current[-1].end))
                current, size = self._carry(current), 0
                size = sum(u.weight for u in current)
                if size + unit.weight > self.max_size:
                    current, size = [], 0
            current.append(unit)
            size += unit.weight
        if current:
            chunks.append((current[0].start, current[-1].end))
        return chunks

    def _carry(self, chunk: list[_Unit]) -> list[_Unit]:
        """The trailing whole sentences of a chunk that fit in ``overlap``."""
        carried: list[_Unit] = []
        size = 0
        for unit in reversed(chunk):
            if size + unit.weight > self.overlap:
                break
            carried.insert(0, unit)
            size += unit.weight
        return carried

    def _split_long(self, unit: _Unit) -> list[tuple[int, int]]:
        """A sentence longer than a chunk, cut between tokens with ``overlap``."""
        out = []
        toks = unit.tokens
        i = 0
        while i < len(toks):
            size, j = 0, i
            while j < len(toks) and size + self._weigh(toks[j]) <= self.max_size:
                size += self._weigh(toks[j])
                j += 1
            j = max(j, i + 1)
            out.append((toks[i][0], toks[j - 1][1]))
            if j >= len(toks):
                break
            back, k = 0, j
            while k - 1 > i and back + self._weigh(toks[k - 1]) <= self.overlap:
                back += self._weigh(toks[k - 1])
                k -= 1
            i = k
        return out

    def chunk(self, doc: Document, doc_hash: str = "", extra_metadata: dict[str, Any] | None = None) -> list[Chunk]:
        out = []
        for index, (start, end) in enumerate(self.spans(doc.text)):
            piece = doc.text[start:end]
            meta = {
                **clean_metadata(doc.metadata),
                **(extra_metadata or {}),
                "doc_id": doc.id,
                "doc_hash": doc_hash,
                "chunk_index": index,
                "char_start": start,
                "char_end": end,
            }
            out.append(Chunk(f"{doc.id}#{index}:{text_hash(piece)[:12]}", doc.id, index, piece, start, end, meta))
        return out


def clean_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """Metadata keys as the contract allows them ('.' and a leading '$' replaced by '_')."""
    out = {}
    for key, value in meta.items():
        if isinstance(value, (str, int, float, bool)):
            k = key.replace(".", "_")
            out["_" + k[1:] if k.startswith("$") else k] = value
    return out


def token_chunker(embedder: Any, max_tokens: int | None = None, overlap: int = 32) -> Chunker:
    """Chunks of the embedder's own tokens, up to its maximum sequence length."""
    limit = max_tokens or embedder.max_tokens
    if not limit:
        raise ConfigError(f"{embedder.name} declares no maximum length: use the character splitter")
    budget = limit - int(getattr(embedder, "special_tokens", 0))
    return Chunker(budget, min(overlap, budget // 2), embedder.count_tokens, lambda _t: 1, f"tokens/{embedder.name}")


def char_chunker(max_chars: int = 1000, overlap: int = 100) -> Chunker:
    """Chunks of at most ``max_chars`` characters (words are the units of cutting)."""

    return Chunker(max_chars, overlap, word_spans, lambda t: t[1] - t[0] + 1, "chars")


def word_spans(texts: Sequence[str]) -> list[list[tuple[int, int]]]:
    """Character spans of the whitespace-separated words of each text."""
    return [[m.span() for m in re.finditer(r"\S+", t)] for t in texts]
