"""Exact scores and top-k in numpy: the reference every adapter is held to."""

from __future__ import annotations

import numpy as np


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (callers have rejected zero rows)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / norms).astype(np.float32, copy=False)


def scores(metric: str, queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Contract scores (higher is better) of every query against every vector.

    ``cosine`` expects both sides already unit-normalized.
    """
    q = np.asarray(queries, dtype=np.float32)
    x = np.asarray(vectors, dtype=np.float32)
    dots = q @ x.T
    if metric in ("cosine", "dot"):
        return dots
    # l2: -|q - x|, in float64 so that near-identical vectors do not go negative
    sq = (
        np.einsum("ij,ij->i", q.astype(np.float64), q.astype(np.float64))[:, None]
        + np.einsum("ij,ij->i", x.astype(np.float64), x.astype(np.float64))[None, :]
        - 2.0 * dots.astype(np.float64)
    )
    return -np.sqrt(np.maximum(sq, 0.0))


def topk(row: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values of a 1-D array, best first."""
    k = min(k, row.shape[0])
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    idx = np.argpartition(-row, k - 1)[:k] if k < row.shape[0] else np.arange(row.shape[0])
    return idx[np.argsort(-row[idx], kind="stable")]
