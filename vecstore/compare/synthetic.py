"""Synthetic clustered workloads for scale runs, generated (never downloaded).

``synthetic:clustered?n=100000&dim=384&queries=500&clusters=1000&spread=0.6&seed=0``

Vectors: ``clusters`` Gaussian centres in ``dim`` dimensions; each vector is a centre
(chosen uniformly) plus Gaussian noise of ``spread`` times the centre's per-coordinate scale,
L2-normalised (the cosine metric), so the data has the structure of embeddings, which
approximate indexes exploit, rather than the uniform noise they handle worst.  Queries are
drawn the same way from another stream of the same generator.  Everything is a function of
the parameters: the same URL gives the same float32 bits on every run.

Metadata of record ``i``: ``{"sel1": i % 100, "sel50": i % 2}``, so the filters ``{"sel1": 0}``
and ``{"sel50": 0}`` match 1 % and 50 % of the records, spread over every cluster.

Exact ground truth (top-k ids by exact cosine, unfiltered and under each filter) is computed
once, in blocks of queries so that a million vectors need no query × corpus matrix, and
cached as ``.npz`` (no pickle) in ``$VECSTORE_CACHE_DIR/groundtruth/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from ..errors import ConfigError

PREFIX = "synthetic:"
#: label → (filter, share of records it matches)
FILTERS: dict[str, dict[str, int]] = {"1%": {"sel1": 0}, "50%": {"sel50": 0}}
_BLOCK = 1 << 16  # vectors generated per step: bounded temporaries at any n


@dataclasses.dataclass(frozen=True)
class Synthetic:
    n: int = 10_000
    dim: int = 384
    queries: int = 500
    clusters: int = 1_000
    spread: float = 0.6
    seed: int = 0

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def ids(self) -> list[str]:
        width = len(str(max(self.n - 1, 0)))
        return [f"v{i:0{width}d}" for i in range(self.n)]

    def metadata(self) -> list[dict[str, Any]]:
        return [{"sel1": i % 100, "sel50": i % 2} for i in range(self.n)]

    def mask(self, flt: dict[str, int]) -> np.ndarray:
        (field, value), = flt.items()
        modulus = {"sel1": 100, "sel50": 2}[field]
        return np.arange(self.n) % modulus == value

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(documents, queries), float32, unit rows."""
        rng = np.random.default_rng(self.seed)
        centres = rng.standard_normal((self.clusters, self.dim), dtype=np.float32)
        docs = np.empty((self.n, self.dim), dtype=np.float32)
        for start in range(0, self.n, _BLOCK):
            docs[start : start + _BLOCK] = self._draw(rng, centres, min(_BLOCK, self.n - start))
        queries = self._draw(np.random.default_rng([self.seed, 1]), centres, self.queries)
        return docs, queries

    def _draw(self, rng: np.random.Generator, centres: np.ndarray, count: int) -> np.ndarray:
        x = centres[rng.integers(0, self.clusters, count)]
        x += np.float32(self.spread) * rng.standard_normal((count, self.dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x


def parse(dataset: str) -> Synthetic | None:
    """The workload a ``synthetic:`` dataset names, or None for any other dataset."""
    if not dataset.startswith(PREFIX):
        return None
    kind, _, query = dataset[len(PREFIX):].partition("?")
    if kind != "clustered":
        raise ConfigError(f"{dataset!r}: the synthetic workload is 'synthetic:clustered?n=...&dim=...'")
    fields = {f.name: f.type for f in dataclasses.fields(Synthetic)}
    values: dict[str, Any] = {}
    for key, raw in parse_qsl(query, keep_blank_values=True):
        if key not in fields:
            raise ConfigError(f"{dataset!r}: unknown parameter {key!r}; use {', '.join(fields)}")
        try:
            values[key] = float(raw) if key == "spread" else int(raw.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{dataset!r}: {key} must be a number, got {raw!r}") from None
    spec = Synthetic(**values)
    if spec.n < 1 or spec.dim < 1 or spec.queries < 1 or spec.clusters < 1 or not spec.spread > 0:
        raise ConfigError(f"{dataset!r}: n, dim, queries and clusters must be at least 1 and spread above 0")
    return spec


def ground_truth(spec: Synthetic, docs: np.ndarray, queries: np.ndarray, k: int,
                 cache_dir: Path | None = None) -> dict[str, np.ndarray]:
    """Exact top-k row indices: ``"all"`` and one entry per :data:`FILTERS` label, cached."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "groundtruth" / f"{spec.key}-k{k}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as saved:
                if set(saved.files) == {"all", *FILTERS}:
                    return {name: saved[name] for name in saved.files}
    out = {"all": exact_topk(docs, queries, k)}
    for label, flt in FILTERS.items():
        rows = np.flatnonzero(spec.mask(flt))
        out[label] = rows[exact_topk(docs[rows], queries, k)]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **out)  # type: ignore[arg-type]  # numpy stubs take the names for allow_pickle
        tmp.replace(path)
    return out


def exact_topk(docs: np.ndarray, queries: np.ndarray, k: int, block: int = 64) -> np.ndarray:
    """Indices of each query's k best documents by inner product, best first (ties: lower index)."""
    k = min(k, docs.shape[0])
    out = np.empty((queries.shape[0], k), dtype=np.int64)
    for start in range(0, queries.shape[0], block):
        scores = queries[start : start + block] @ docs.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < docs.shape[0] else \
            np.broadcast_to(np.arange(docs.shape[0]), (scores.shape[0], k)).copy()
        picked = np.take_along_axis(scores, part, axis=1)
        order = np.lexsort((part, -picked), axis=1)
        out[start : start + block] = np.take_along_axis(part, order, axis=1)
    return out
