"""Retrieval-quality and latency measures, in plain Python (checked against
``ranx`` in the tests).

Conventions follow TREC/BEIR: a run is ``{query_id: {doc_id: score}}``, judgments
(qrels) are ``{query_id: {doc_id: relevance}}``; documents with relevance > 0 are
relevant; nDCG uses the exponential-free gain ``rel / log2(rank + 1)``, as
pytrec_eval and ranx do; queries without a relevant document are left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]


def ranked(scores: Mapping[str, float]) -> list[str]:
    """Doc ids by score, ties broken by ascending id (as ranx does)."""
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]


def ndcg_at_k(run: Run, qrels: Qrels, k: int = 10) -> float:
    values = []
    for qid, rels in qrels.items():
        relevant = {d: r for d, r in rels.items() if r > 0}
        if not relevant:
            continue
        top = ranked(run.get(qid, {}))[:k]
        dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(top))
        ideal = sorted(relevant.values(), reverse=True)[:k]
        idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
        values.append(dcg / idcg)
    return float(np.mean(values)) if values else 0.0


def mrr_at_k(run: Run, qrels: Qrels, k: int = 10) -> float:
    values = []
    for qid, rels in qrels.items():
        relevant = {d for d, r in rels.items() if r > 0}
        if not relevant:
            continue
        top = ranked(run.get(qid, {}))[:k]
        values.append(next((1.0 / (i + 1) for i, d in enumerate(top) if d in relevant), 0.0))
    return float(np.mean(values)) if values else 0.0


def recall_at_k(run: Run, qrels: Qrels, k: int = 100) -> float:
    values = []
    for qid, rels in qrels.items():
        relevant = {d for d, r in rels.items() if r > 0}
        if not relevant:
            continue
        top = set(ranked(run.get(qid, {}))[:k])
        values.append(len(top & relevant) / len(relevant))
    return float(np.mean(values)) if values else 0.0


def recall_vs_exact(found: Sequence[Sequence[str]], exact: Sequence[Sequence[str]], k: int) -> float:
    """Mean share of the exact top-k that a backend returned in its top-k."""
    values = [len(set(f[:k]) & set(e[:k])) / max(1, min(k, len(e))) for f, e in zip(found, exact)]
    return float(np.mean(values)) if values else 0.0


def overlap(a: Sequence[Sequence[str]], b: Sequence[Sequence[str]], k: int) -> float:
    """Mean |top-k(a) ∩ top-k(b)| / k over queries: how much two backends agree."""
    values = [len(set(x[:k]) & set(y[:k])) / max(1, min(k, len(x), len(y)) or 1) for x, y in zip(a, b)]
    return float(np.mean(values)) if values else 0.0


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(seconds, dtype=np.float64) * 1000.0
    if not len(arr):
        return {}
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p95_ms": float(np.percentile(arr, 95)),
        "p99_ms": float(np.percentile(arr, 99)),
        "mean_ms": float(arr.mean()),
    }
