"""Document loaders: every one is a generator, so corpora stream through.

* a directory (recursive, glob patterns) of ``.txt``, ``.md``, ``.html``/``.htm``
  (text extracted) and ``.pdf`` (needs ``vecstore[pdf]``);
* ``.jsonl`` (optionally gzipped), ``.csv`` and ``.parquet`` (needs pyarrow) files with
  configurable id, text and metadata fields;
* BEIR directories (``corpus.jsonl[.gz]``, ``queries.jsonl``, ``qrels/*.tsv``),
  where a document's text is ``title + " " + text`` as BEIR and MTEB embed it.

Each :class:`Document` keeps its source (path or file) and metadata.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import html.parser
import io
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import BackendNotInstalledError, ConfigError, InvalidInputError

DEFAULT_PATTERNS = ("**/*.txt", "**/*.md", "**/*.html", "**/*.htm", "**/*.pdf")


@dataclasses.dataclass
class Document:
    id: str
    text: str
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str = ""


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")  # type: ignore[return-value]
    return open(path, encoding="utf-8")  # type: ignore[return-value]


class _TextExtractor(html.parser.HTMLParser):
    _SKIP = {"script", "style", "noscript", "template", "head", "title"}
    _BLOCK = {"p", "div", "section", "article", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "pre", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> tuple[str, str]:
    """(title, text) of an HTML page; paragraphs separated by blank lines."""
    parser = _TextExtractor()
    parser.feed(markup)
    raw = "".join(parser.parts)
    paragraphs = [" ".join(p.split()) for p in raw.split("\n\n")]
    return parser.title.strip(), "\n\n".join(p for p in paragraphs if p)


def _pdf_text(path: Path) -> str:
    try:
        from pypdf import PdfReader
    except ImportError as exc:
        raise BackendNotInstalledError(f"reading {path} needs pypdf: pip install 'vecstore[pdf]'") from exc
    return "\n\n".join((page.extract_text() or "").strip() for page in PdfReader(str(path)).pages)


def load_file(path: str | os.PathLike[str], doc_id: str | None = None) -> Document:
    """One ``.txt``/``.md``/``.html``/``.pdf`` file as a document."""
    p = Path(path)
    ext = p.suffix.lower()
    meta: dict[str, Any] = {"source": str(doc_id or p.name), "format": ext.lstrip(".")}
    if ext in (".html", ".htm"):
        title, text = html_to_text(p.read_text(encoding="utf-8", errors="replace"))
        if title:
            meta["title"] = title
    elif ext == ".pdf":
        text = _pdf_text(p)
    elif ext in (".txt", ".md", ".markdown", ".rst", ""):
        text = p.read_text(encoding="utf-8", errors="replace")
    else:
        raise ConfigError(f"{p}: unsupported file type {ext!r} (txt, md, html, pdf; jsonl and csv as collections)")
    return Document(doc_id or p.name, text, meta, str(p))


def load_directory(
    path: str | os.PathLike[str], patterns: Sequence[str] = DEFAULT_PATTERNS, exclude: Sequence[str] = ()
) -> Iterator[Document]:
    """Every file under ``path`` matching ``patterns``, in sorted order; ids are relative paths."""
    for p, rel in directory_files(path, patterns, exclude):
        yield load_file(p, rel)


def directory_files(
    path: str | os.PathLike[str], patterns: Sequence[str] = DEFAULT_PATTERNS, exclude: Sequence[str] = ()
) -> list[tuple[Path, str]]:
    """``(file, id)`` of every file :func:`load_directory` loads, in its order; ids are relative paths."""
    root = Path(path)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory")
    seen: set[Path] = set()
    for pattern in patterns:
        seen.update(p for p in root.glob(pattern) if p.is_file())
    out = []
    for p in sorted(seen):
        rel = p.relative_to(root).as_posix()
        if not any(Path(rel).match(x) for x in exclude):
            out.append((p, rel))
    return out


def row_document(row: dict[str, Any], id_field: str, text_fields: Sequence[str],
                 metadata_fields: Sequence[str] | None, where: str) -> Document:
    """The document of one row (a JSON line, CSV or Parquet row as a dict); ``where`` names it in errors."""
    if id_field not in row:
        raise InvalidInputError(f"{where}: no id field {id_field!r} (fields: {', '.join(row)})")
    missing = [f for f in text_fields if f not in row]
    if len(missing) == len(text_fields):
        raise InvalidInputError(f"{where}: no text field {' or '.join(text_fields)!r} (fields: {', '.join(row)})")
    text = " ".join(str(row[f]) for f in text_fields if row.get(f)).strip()
    if metadata_fields is None:
        metadata_fields = [k for k in row if k != id_field and k not in text_fields]
    meta = {k: row[k] for k in metadata_fields if k in row and isinstance(row[k], (str, int, float, bool))}
    return Document(str(row[id_field]), text, meta, where)


def load_jsonl(
    path: str | os.PathLike[str],
    id_field: str = "id",
    text_fields: Sequence[str] = ("text",),
    metadata_fields: Sequence[str] | None = None,
) -> Iterator[Document]:
    """One document per JSON line (``.jsonl`` or ``.jsonl.gz``)."""
    p = Path(path)
    with _open_text(p) as fh:
        for n, line in enumerate(fh, 1):
            doc = json_document(line, f"{p.name}:{n}", id_field, text_fields, metadata_fields)
            if doc is not None:
                yield doc


def json_document(line: str, where: str, id_field: str = "id", text_fields: Sequence[str] = ("text",),
                  metadata_fields: Sequence[str] | None = None) -> Document | None:
    """The document of one JSON line (``None`` for a blank one); ``where`` names it in errors."""
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise InvalidInputError(f"{where}: not JSON ({exc})") from exc
    return row_document(row, id_field, text_fields, metadata_fields, where)


def load_csv(
    path: str | os.PathLike[str],
    id_field: str = "id",
    text_fields: Sequence[str] = ("text",),
    metadata_fields: Sequence[str] | None = None,
    delimiter: str = ",",
) -> Iterator[Document]:
    """One document per CSV row (with a header row); numbers in metadata stay strings."""
    p = Path(path)
    with open(p, newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.DictReader(fh, delimiter=delimiter), 2):
            yield row_document(row, id_field, text_fields, metadata_fields, f"{p.name}:{n}")


def load_parquet(
    path: str | os.PathLike[str],
    id_field: str = "id",
    text_fields: Sequence[str] = ("text",),
    metadata_fields: Sequence[str] | None = None,
) -> Iterator[Document]:
    """One document per row of a Parquet file, read 1,024 rows at a time (needs pyarrow)."""
    p = Path(path)
    n = 0
    for batch in _parquet(p).iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            n += 1
            yield row_document(row, id_field, text_fields, metadata_fields, f"{p.name}:{n}")


def _parquet(path: Path) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise BackendNotInstalledError("Parquet sources need pyarrow: pip install pyarrow") from exc
    return pq.ParquetFile(path)


# -- BEIR ----------------------------------------------------------------------------


def is_beir(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return p.is_dir() and ((p / "corpus.jsonl").exists() or (p / "corpus.jsonl.gz").exists())


#: How a BEIR corpus line becomes a document: text is ``title + " " + text``
BEIR_FIELDS: dict[str, Any] = {"id_field": "_id", "text_fields": ("title", "text"), "metadata_fields": ("title",)}


@dataclasses.dataclass
class BeirDataset:
    """A BEIR directory: the corpus streams, queries and judgments load on demand."""

    path: Path

    @property
    def corpus_file(self) -> Path:
        for name in ("corpus.jsonl", "corpus.jsonl.gz"):
            if (self.path / name).exists():
                return self.path / name
        raise ConfigError(f"{self.path} has no corpus.jsonl or corpus.jsonl.gz")

    def corpus(self) -> Iterator[Document]:
        for doc in load_jsonl(self.corpus_file, **BEIR_FIELDS):
            yield self.document(doc)

    def document(self, doc: Document) -> Document:
        """A corpus line's document as :meth:`corpus` gives it."""
        doc.source = f"{self.path.name}/{doc.id}"
        return doc

    def queries(self, split: str | None = "test") -> dict[str, str]:
        """Query texts; with ``split``, only the queries judged in ``qrels/<split>.tsv``."""
        wanted = set(self.qrels(split)) if split else None
        out = {}
        for doc in load_jsonl(self.path / "queries.jsonl", id_field="_id", text_fields=("text",), metadata_fields=()):
            if wanted is None or doc.id in wanted:
                out[doc.id] = doc.text
        return out

    def qrels(self, split: str | None = "test") -> dict[str, dict[str, int]]:
        """``{query_id: {doc_id: relevance}}`` from ``qrels/<split>.tsv`` (empty if there is none)."""
        path = self.path / "qrels" / f"{split or 'test'}.tsv"
        return load_qrels(path) if path.exists() else {}


def load_qrels(path: str | os.PathLike[str]) -> dict[str, dict[str, int]]:
    """Relevance judgments from a TSV of ``query-id, corpus-id, score`` (header row optional)."""
    out: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if not row or row[0] == "query-id":
                continue
            out.setdefault(row[0], {})[row[1]] = int(row[2])
    return out


def load(source: str | os.PathLike[str], **options: Any) -> Iterator[Document]:
    """Documents from a path, by what it is: BEIR directory, directory, jsonl, csv, parquet or a single file."""
    p = Path(source)
    if not p.exists():
        raise ConfigError(f"{p}: no such file or directory")
    if is_beir(p):
        return BeirDataset(p).corpus()
    if p.is_dir():
        return load_directory(p, **options)
    name = p.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return load_jsonl(p, **options)
    if name.endswith((".csv", ".tsv")):
        return load_csv(p, delimiter="\t" if name.endswith(".tsv") else ",", **options)
    if name.endswith(".parquet"):
        return load_parquet(p, **options)
    return iter([load_file(p)])
