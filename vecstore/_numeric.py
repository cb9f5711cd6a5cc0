"""Exact scores and top-k in numpy: the reference every adapter is held to."""

from __future__ import annotations

import numpy as np


def squared_norms(x: np.ndarray) -> np.ndarray:
    """Each float32 row's squared length, in float64: finite exactly when every value of the row
    is (float32 squares cannot overflow float64), zero exactly when the row is all zeros."""
    return np.einsum("ij,ij->i", x, x, dtype=np.float64)


def normalize(x: np.ndarray, squared: np.ndarray | None = None) -> np.ndarray:
    """Rows scaled to unit length (callers have rejected zero rows; ``squared``: their
    :func:`squared_norms`, where the caller has them).

    Computed in float64: in float32 the squared norm of ``[3e-23, 0, ...]``
    underflows (its "unit" vector came out with norm 0.80) and that of
    ``[1e-21, 2e-21, ...]`` loses digits (norm 1.000017)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.sqrt(squared_norms(x) if squared is None else squared)
    odd = (norms < 1e-18) | (norms > 1e18)  # 1/norm or the quotient leaves float32's normal range
    out = x / np.where(odd, 1.0, norms)[:, None].astype(np.float32)
    if odd.any():
        out[odd] = x[odd].astype(np.float64) / norms[odd, None]
    return out


def scores(metric: str, queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Contract scores (higher is better) of every query against every vector.

    ``cosine`` expects both sides already unit-normalized.
    """
    if metric in ("cosine", "dot"):
        q = np.asarray(queries, dtype=np.float32)
        x = np.asarray(vectors, dtype=np.float32)
        return (q @ x.T).astype(np.float64)
    # l2: -|q - x| as |q|² + |x|² - 2 q·x, all in float64 (products of float32
    # values are exact there): with q·x in float32 a stored vector scored -0.0006
    # against itself
    q64 = np.asarray(queries, dtype=np.float64)
    x64 = np.asarray(vectors, dtype=np.float64)
    sq = np.einsum("ij,ij->i", q64, q64)[:, None] + np.einsum("ij,ij->i", x64, x64)[None, :] - 2.0 * (q64 @ x64.T)
    return -np.sqrt(np.maximum(sq, 0.0))


def topk(row: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values of a 1-D array, best first."""
    k = min(k, row.shape[0])
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    idx = np.argpartition(-row, k - 1)[:k] if k < row.shape[0] else np.arange(row.shape[0])
    return idx[np.argsort(-row[idx], kind="stable")]
