"""The embedding explorer: similarity matrices, 2-D maps and clusters, from
texts or from any collection.

>>> from vecstore import explore
>>> emb = explore.from_texts(["El robot explora", "La máquina aprende"])     # default model
>>> explore.similarity(emb)                                                  # cosine matrix
>>> emb = explore.from_collection("qdrant:///data/q", "scifact", max_items=2000, seed=0)
>>> maps = explore.project_all(emb, seed=0)                                  # pca, tsne (+ umap)
>>> clusters = explore.kmeans(emb, k=None, seed=0)                           # k by silhouette

Everything is reproducible with ``seed``.  Plotting needs ``vecstore[viz]``
(matplotlib, plotly, scikit-learn); UMAP needs ``vecstore[umap]``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import _numeric
from ._plot import off_diagonal_range, place_labels, pyplot, require, save
from .embed import Embedder, load_embedder
from .errors import BackendNotInstalledError, InvalidInputError

METHODS = ("pca", "tsne", "umap")


@dataclasses.dataclass
class Embeddings:
    """Unit-normalised vectors with their ids, texts and metadata."""

    vectors: np.ndarray
    ids: list[str]
    texts: list[str]
    metadata: list[dict[str, Any]]
    model: str = ""

    def __len__(self) -> int:
        return len(self.ids)


def from_texts(texts: Sequence[str], *, model: str | None = None, embedder: Embedder | None = None,
               ids: Sequence[str] | None = None, metadata: Sequence[dict[str, Any]] | None = None) -> Embeddings:
    """Embed texts (as documents) with the default or a named model."""
    texts = [str(t) for t in texts]
    if not texts:
        raise InvalidInputError("no texts to explore")
    embedder = embedder or load_embedder(model)
    vectors = _numeric.normalize(np.asarray(embedder.embed_documents(texts), dtype=np.float32))
    return Embeddings(vectors, list(ids or [str(i) for i in range(len(texts))]), texts,
                      [dict(m) for m in (metadata or [{} for _ in texts])], embedder.name)


def from_source(path: str, *, model: str | None = None, embedder: Embedder | None = None, max_items: int = 2000,
                seed: int = 0, **loader_options: Any) -> Embeddings:
    """Documents from a loader source (directory, jsonl, csv, BEIR), sampled, then embedded."""
    from .pipeline.loaders import load

    docs = _sample(load(path, **loader_options), max_items, seed)
    return from_texts([d.text for d in docs], model=model, embedder=embedder, ids=[d.id for d in docs],
                      metadata=[d.metadata for d in docs])


def from_collection(url: str, collection: str, *, max_items: int = 2000, seed: int = 0,
                    filter: dict[str, Any] | None = None) -> Embeddings:
    """Vectors read back from any backend through ``iterate()``, sampled to ``max_items`` with ``seed``."""
    from .registry import connect

    with connect(url) as store:
        col = store.get_collection(collection)
        records = _sample((r for batch in col.iterate(1000, filter=filter) for r in batch), max_items, seed)
        model = (col.info.get("embedding") or {}).get("model", "")
    if not records:
        raise InvalidInputError(f"collection {collection!r} has no records to explore")
    vectors = _numeric.normalize(np.stack([np.asarray(r.vector, dtype=np.float32) for r in records]))
    return Embeddings(vectors, [r.id for r in records], [r.text or r.id for r in records],
                      [dict(r.metadata) for r in records], model)


def _sample(items: Any, k: int, seed: int) -> list[Any]:
    """Reservoir sample of ``k`` items in one pass, in their original order."""
    rng = random.Random(seed)
    reservoir: list[tuple[int, Any]] = []
    for i, item in enumerate(items):
        if len(reservoir) < k:
            reservoir.append((i, item))
        else:
            j = rng.randint(0, i)
            if j < k:
                reservoir[j] = (i, item)
    return [item for _, item in sorted(reservoir, key=lambda t: t[0])]


# -- similarity -----------------------------------------------------------------------


def similarity(emb: Embeddings) -> np.ndarray:
    """The cosine-similarity matrix (vectors are unit-normalised)."""
    return np.asarray(emb.vectors @ emb.vectors.T, dtype=np.float64)


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def similarity_table(emb: Embeddings, matrix: np.ndarray, width: int = 28, digits: int = 4) -> str:
    labels = [f"{i + 1}. {_short(t, width)}" for i, t in enumerate(emb.texts)]
    head = " " * (width + 4) + "".join(f"{i + 1:>{digits + 4}}" for i in range(len(labels)))
    rows = [f"{label:<{width + 4}}" + "".join(f"{v:>{digits + 4}.{digits}f}" for v in row)
            for label, row in zip(labels, matrix)]
    return "\n".join([head, *rows])


def write_similarity_csv(emb: Embeddings, matrix: np.ndarray, path: str | Path) -> Path:
    p = Path(path)
    with open(p, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["", *emb.texts])
        for text, row in zip(emb.texts, matrix):
            writer.writerow([text, *(f"{v:.6f}" for v in row)])
    return p


def neighbours(emb: Embeddings, matrix: np.ndarray, n: int = 3) -> list[tuple[int, list[tuple[int, float]]]]:
    """For each item, its ``n`` most similar other items with their similarity."""
    out = []
    for i, row in enumerate(matrix):
        order = [j for j in np.argsort(-row, kind="stable") if j != i][:n]
        out.append((i, [(int(j), float(row[j])) for j in order]))
    return out


def neighbours_text(emb: Embeddings, matrix: np.ndarray, n: int = 3, width: int = 60) -> str:
    lines = []
    for i, near in neighbours(emb, matrix, n):
        lines.append(f"{i + 1}. {_short(emb.texts[i], width)}")
        lines += [f"     {s:+.4f}  {j + 1}. {_short(emb.texts[j], width)}" for j, s in near]  # signed: columns align
    return "\n".join(lines)


def natural_order(labels: Sequence[str]) -> list[str]:
    """Labels as people count them: "2" before "10", numbers before words."""
    def key(label: str) -> tuple[int, float, str]:
        try:
            return (0, float(label), label)
        except ValueError:
            return (1, 0.0, label)

    return sorted(labels, key=key)


def heatmap_png(emb: Embeddings, matrix: np.ndarray, path: str | Path, width: int = 30) -> Path:
    plt = pyplot()
    n = len(emb)
    size = min(2 + 0.55 * n, 20)
    fig, ax = plt.subplots(figsize=(size + 2, size))
    lo, hi = off_diagonal_range(matrix)  # the 1.00 diagonal would flatten every other colour
    im = ax.imshow(matrix, vmin=lo, vmax=hi, cmap="magma")
    labels = [f"{i + 1}. {_short(t, width)}" for i, t in enumerate(emb.texts)]
    if n <= 40:
        ax.set_xticks(range(n), [str(i + 1) for i in range(n)])
        ax.set_yticks(range(n), labels, fontsize=8)
        if n <= 15:
            for i in range(n):
                for j in range(n):
                    ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=8,
                            color="black" if matrix[i, j] > lo + 0.6 * (hi - lo) else "white")
    fig.colorbar(im, ax=ax, label="cosine similarity")
    ax.set_title(f"Cosine similarity ({emb.model or 'embeddings'})")
    return save(fig, path)


# -- maps -------------------------------------------------------------------------------


def project(emb: Embeddings, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates by ``pca``, ``tsne`` (perplexity adapted to small inputs) or ``umap``."""
    x = emb.vectors.astype(np.float64)
    n = len(x)
    if n < 3:
        raise InvalidInputError(f"a 2-D map needs at least 3 items, got {n}")
    if method == "pca":
        centred = x - x.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        coords = centred @ vt[:2].T
        signs = np.sign(coords[np.abs(coords).argmax(axis=0), range(2)])  # deterministic orientation
        return coords * signs
    if method == "tsne":
        manifold = require("sklearn.manifold", "viz")
        perplexity = float(min(30.0, max(1.0, (n - 1) / 3)))
        return np.asarray(manifold.TSNE(n_components=2, perplexity=perplexity, init="pca", metric="cosine",
                                        random_state=seed).fit_transform(x))
    if method == "umap":
        umap = require("umap", "umap")
        neighbours_n = int(min(15, max(2, n - 1)))
        return np.asarray(umap.UMAP(n_components=2, n_neighbors=neighbours_n, metric="cosine", random_state=seed,
                                    n_jobs=1).fit_transform(x))
    raise InvalidInputError(f"unknown projection {method!r}: use one of {', '.join(METHODS)}")


def project_all(emb: Embeddings, methods: Sequence[str] = METHODS, seed: int = 0,
                progress: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """Every method that can run; UMAP is left out (with a note) when umap-learn is missing."""
    out = {}
    for method in methods:
        if progress:
            progress(method)
        try:
            out[method] = project(emb, method, seed)
        except BackendNotInstalledError:
            if method != "umap" or list(methods) == ["umap"]:
                raise
    return out


def colours(emb: Embeddings, by: str | None, clusters: np.ndarray | None = None) -> list[str]:
    """A label per item: a metadata field's value, the cluster, or one group."""
    if by == "cluster" and clusters is not None:
        return [f"cluster {c}" for c in clusters]
    if by:
        return [str(m.get(by, "(none)")) for m in emb.metadata]
    return ["all"] * len(emb)


def map_png(emb: Embeddings, maps: dict[str, np.ndarray], groups: list[str], path: str | Path,
            numbered: bool | None = None) -> Path:
    """The methods side by side, one colour per group."""
    plt = pyplot()
    numbered = len(emb) <= 30 if numbered is None else numbered
    fig, axes = plt.subplots(1, len(maps), figsize=(5.2 * len(maps), 5), squeeze=False)
    largest = sorted(set(groups), key=lambda g: (groups.count(g) * -1, g))[:20]
    names = natural_order(largest)  # the legend reads 0, 1, 2, … (not by size)
    cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    colour_of = {g: cmap(i % cmap.N) for i, g in enumerate(names)}
    for ax, (method, xy) in zip(axes[0], maps.items()):
        for g in names:
            idx = [i for i, x in enumerate(groups) if x == g]
            ax.scatter(xy[idx, 0], xy[idx, 1], s=14 if len(emb) > 200 else 40, alpha=0.75, color=colour_of[g], label=g)
        if numbered:  # each number where it covers the fewest others
            place_labels(ax, xy, [str(i + 1) for i in range(len(xy))])
        ax.set_title({"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[method])
        ax.set_xticks([])
        ax.set_yticks([])
    if len(names) > 1:
        axes[0][-1].legend(fontsize=7, loc="best", markerscale=0.8)
    fig.suptitle(f"{len(emb)} embeddings ({emb.model or 'vectors'})")
    return save(fig, path)


def map_html(emb: Embeddings, maps: dict[str, np.ndarray], groups: list[str], path: str | Path) -> Path:
    """An interactive, self-contained page (plotly.js inlined): hover shows each text."""
    go = require("plotly.graph_objects", "viz")
    subplots = require("plotly.subplots", "viz")
    titles = [{"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[m] for m in maps]
    fig = subplots.make_subplots(rows=1, cols=len(maps), subplot_titles=titles)
    hover = [f"<b>{emb.ids[i]}</b><br>{_wrap(emb.texts[i])}" for i in range(len(emb))]
    for col, (_, xy) in enumerate(maps.items(), start=1):
        for g in sorted(set(groups)):
            idx = [i for i, x in enumerate(groups) if x == g]
            fig.add_trace(go.Scatter(x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=g, legendgroup=g,
                                     showlegend=col == 1, text=[hover[i] for i in idx], hoverinfo="text",
                                     marker={"size": 7, "opacity": 0.8}), row=1, col=col)
    fig.update_layout(title=f"{len(emb)} embeddings ({emb.model or 'vectors'})", height=560, width=520 * len(maps))
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return Path(path)


def _wrap(text: str, width: int = 80, limit: int = 400) -> str:
    import html
    import textwrap

    return "<br>".join(textwrap.wrap(html.escape(_short(text, limit)), width))


# -- clusters ---------------------------------------------------------------------------


@dataclasses.dataclass
class Clusters:
    k: int
    labels: np.ndarray
    centroids: np.ndarray
    silhouette: float | None
    #: silhouette score for each k tried, when k was chosen automatically
    scores: dict[int, float]

    def summary(self, emb: Embeddings, n: int = 3) -> list[dict[str, Any]]:
        """Per cluster: its size and the ``n`` texts nearest its centroid."""
        out = []
        for c in range(self.k):
            members = np.flatnonzero(self.labels == c)
            centre = self.centroids[c] / (np.linalg.norm(self.centroids[c]) or 1.0)
            order = members[np.argsort(-(emb.vectors[members] @ centre), kind="stable")][:n]
            out.append({"cluster": c, "size": int(len(members)),
                        "nearest": [{"id": emb.ids[i], "text": emb.texts[i]} for i in order]})
        return out


def kmeans(emb: Embeddings, k: int | None = None, *, k_range: tuple[int, int] = (2, 10), seed: int = 0,
           progress: Callable[[int], None] | None = None) -> Clusters:
    """k-means on the unit vectors; ``k=None`` picks k in ``k_range`` by silhouette score (cosine)."""
    cluster = require("sklearn.cluster", "viz")
    sk_metrics = require("sklearn.metrics", "viz")
    n = len(emb)
    x = emb.vectors

    def fit(kk: int) -> Any:
        return cluster.KMeans(n_clusters=kk, n_init=10, random_state=seed).fit(x)

    if k is not None:
        if not 1 <= k <= n:
            raise InvalidInputError(f"k must be between 1 and the number of items ({n}), got {k}")
        model = fit(k)
        sil = float(sk_metrics.silhouette_score(x, model.labels_, metric="cosine")) if 1 < k < n else None
        return Clusters(k, model.labels_, model.cluster_centers_, sil, {})
    lo, hi = k_range[0], min(k_range[1], n - 1)
    if hi < lo:
        raise InvalidInputError(f"too few items ({n}) to choose k in {k_range}")
    scores, models = {}, {}
    sample = min(n, 5000)
    for kk in range(lo, hi + 1):
        if progress:
            progress(kk)
        models[kk] = fit(kk)
        scores[kk] = float(sk_metrics.silhouette_score(x, models[kk].labels_, metric="cosine", sample_size=sample,
                                                        random_state=seed))
    best = max(scores, key=lambda kk: (scores[kk], -kk))
    return Clusters(best, models[best].labels_, models[best].cluster_centers_, scores[best], scores)


def clusters_text(emb: Embeddings, clusters: Clusters, n: int = 3, width: int = 90) -> str:
    head = f"k = {clusters.k}" + (f", silhouette {clusters.silhouette:.3f}" if clusters.silhouette is not None else "")
    if clusters.scores:
        head += " (chosen by silhouette: " + ", ".join(f"k={k}: {s:.3f}" for k, s in clusters.scores.items()) + ")"
    lines = [head]
    for c in clusters.summary(emb, n):
        lines.append(f"cluster {c['cluster']}: {c['size']} items")
        lines += [f"    {_short(x['text'], width)}" for x in c["nearest"]]
    return "\n".join(lines)


def write_cluster_labels(url: str, collection: str, emb: Embeddings, clusters: Clusters, field: str = "cluster") -> int:
    """Store each sampled record's cluster in its metadata (``field``); returns how many were updated."""
    from .registry import connect

    with connect(url) as store:
        col = store.get_collection(collection)
        records = {r.id: r for r in col.get(emb.ids)}
        for r, label in zip(emb.ids, clusters.labels):
            if r in records:
                records[r].metadata[field] = int(label)
        return col.upsert(list(records.values()))


# -- output helpers ---------------------------------------------------------------------


def write_report(path: str | Path, data: dict[str, Any]) -> Path:
    Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    return Path(path)
