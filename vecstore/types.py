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


@dataclasses.dataclass
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


@dataclasses.dataclass
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
