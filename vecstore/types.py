"""Records, hits, metrics and collection settings: the data of the contract.

Scores mean one thing on every backend, **higher is better**:

========  ==========================================  ====================
metric    score                                       range
========  ==========================================  ====================
cosine    cosine similarity ``u·v / (|u| |v|)``        [-1, 1]
dot       inner product ``u·v``                        any real
l2        minus the Euclidean distance ``-|u - v|``     (-inf, 0]
========  ==========================================  ====================

Each adapter converts its backend's native value to these, next to its code.
Vectors of a ``cosine`` collection are stored unit-normalized on every backend,
so ``iterate()`` and ``get()`` return them normalized.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Literal, Union

import numpy as np

from .errors import ConfigError, InvalidInputError

MetadataValue = Union[str, int, float, bool]
Metadata = dict[str, MetadataValue]
Metric = Literal["cosine", "dot", "l2"]
METRICS: tuple[str, ...] = ("cosine", "dot", "l2")
#: Index types, named alike on every backend: ``flat`` is exact.
INDEX_TYPES: tuple[str, ...] = ("flat", "hnsw", "ivf")

# A portable collection name: valid on every backend, so switching backends
# by changing only the URL never trips over a naming rule.
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
NAME_RULE = (
    "1 to 63 characters: lowercase letters, digits, '_' and '-', "
    "starting with a letter or digit"
)


def check_collection_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(f"invalid collection name {name!r}: use {NAME_RULE}")
    return name


# A portable metadata key: every backend stores it and filters on it without
# quoting rules (Qdrant's key paths, Chroma's reserved ``chroma:``/``#`` keys,
# Milvus and Elasticsearch field paths all accept it unchanged).
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")
KEY_RULE = "1 to 64 characters: ASCII letters, digits, '_' and '-', starting with a letter or '_'"

#: Integers are exact on every backend up to this magnitude (2**53 - 1); beyond it
#: some engines compare them as doubles, so larger ones are refused.
MAX_SAFE_INT = 2**53 - 1

#: The types a collection's schema can require of a metadata field (see
#: :meth:`vecstore.VectorStore.collection`): the name, and the exact Python type of the value.
SCHEMA_TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


def is_metadata_key(key: object) -> bool:
    return isinstance(key, str) and _KEY_RE.match(key) is not None


def string_problem(value: str) -> str | None:
    """Why a string cannot be stored on every backend, or ``None``: it must be valid
    Unicode (no lone surrogate, which UTF-8 cannot encode) and hold no NUL character
    (PostgreSQL and Milvus cannot store one)."""
    if "\x00" in value:
        return f"contains a NUL character at position {value.index(chr(0))}"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"is not valid Unicode (lone surrogate at position {exc.start})"
    return None


@dataclasses.dataclass(slots=True)  # slots: get() and search() build one per result
class Record:
    """One stored item. ``vector`` is a float32 array once read back."""

    id: str
    vector: Any = None
    text: str | None = None
    metadata: Metadata = dataclasses.field(default_factory=dict)

    @classmethod
    def coerce(cls, obj: Record | Mapping[str, Any]) -> Record:
        if isinstance(obj, Record):
            return obj
        if not isinstance(obj, Mapping):
            raise InvalidInputError(f"a record must be a Record or a dict, not {type(obj).__name__}")
        unknown = set(obj) - {"id", "vector", "text", "metadata"}
        if unknown:
            raise InvalidInputError(f"unknown record field(s) {sorted(unknown)}")
        return cls(id=obj.get("id"), vector=obj.get("vector"), text=obj.get("text"),  # type: ignore[arg-type]
                   metadata=obj.get("metadata") or {})


@dataclasses.dataclass(slots=True)
class Hit:
    """One search result; ``score`` follows the table above (higher is better)."""

    id: str
    score: float
    text: str | None = None
    metadata: Metadata = dataclasses.field(default_factory=dict)
    vector: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "score": self.score,
            "text": self.text,
            "metadata": self.metadata,
        }
        if self.vector is not None:
            out["vector"] = [float(x) for x in self.vector]
        return out


@dataclasses.dataclass
class CollectionSettings:
    """What a collection remembers about itself, on every backend."""

    name: str
    dim: int
    metric: str = "cosine"
    index: str = "flat"
    index_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Free-form and JSON-serialisable; the pipeline keeps the embedding model here.
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: The analyzer of the collection's lexical index (see :mod:`vecstore.lexical`), or ``None``
    #: where it has none (a backend without a lexical side, ``lexical=False``, or made before).
    lexical: str | None = None
    #: Metadata fields every record must hold, each with a value of its type
    #: (:data:`SCHEMA_TYPES`): field -> type name; empty: none required.
    schema: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CollectionSettings:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a store can do; the conformance suite reads these instead of skipping."""

    #: Data survives ``close()`` and a new client on the same URL sees it.
    persistent: bool = False
    #: Index types this backend builds.
    index_types: tuple[str, ...] = ("flat",)
    #: ``exact=True`` is honoured (otherwise it raises UnsupportedOperationError).
    exact_search: bool = True
    metrics: tuple[str, ...] = METRICS
