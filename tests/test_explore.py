"""The embedding explorer: similarity against sentence-transformers, maps,
clusters, sampling from collections, and the CLI."""

from __future__ import annotations

import json
from itertools import islice

import numpy as np
import pytest

import vecstore
from vecstore import cli, explore
from vecstore.embed import HashEmbedder

pytest.importorskip("sklearn", reason="pip install 'vecstore[viz]'")

SPANISH = [
    "El robot explora el laboratorio de IA",
    "La inteligencia artificial optimiza el sistema",
    "El agente autónomo navega en la red",
    "La máquina aprende de los datos",
    "El dron analiza el entorno digital",
]


@pytest.mark.integration
def test_similarity_table_matches_sentence_transformers(minilm, capsys):
    from sentence_transformers import util

    emb = explore.from_texts(SPANISH)  # the default model
    matrix = explore.similarity(emb)
    vectors = minilm._model.encode(SPANISH)
    reference = util.cos_sim(vectors, vectors).numpy()
    np.testing.assert_allclose(matrix, reference, atol=5e-5)
    table = explore.similarity_table(emb, matrix)  # what the user reads: 4 decimals, the same digits
    cells = [x for line in table.splitlines()[1:] for x in line.split()[-5:]]
    assert cells == [f"{v:.4f}" for v in reference.ravel()]


def clustered(n_per=20, centres=3, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim)) * 5
    x = np.concatenate([c[i] + rng.normal(size=(n_per, dim)) for i in range(centres)]).astype(np.float32)
    truth = np.repeat(np.arange(centres), n_per)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = [f"p{i}" for i in range(len(x))]
    return explore.Embeddings(x, ids, ids, [{"group": int(t)} for t in truth]), truth


def test_kmeans_chooses_k_by_silhouette():
    emb, truth = clustered()
    result = explore.kmeans(emb, None, k_range=(2, 6), seed=0)
    assert result.k == 3 and set(result.scores) == {2, 3, 4, 5, 6}
    # the clusters are the true groups, up to naming
    pairs = {(int(a), int(b)) for a, b in zip(result.labels, truth)}
    assert len(pairs) == 3
    summary = result.summary(emb)
    assert sorted(s["size"] for s in summary) == [20, 20, 20] and len(summary[0]["nearest"]) == 3
    again = explore.kmeans(emb, None, k_range=(2, 6), seed=0)
    assert (again.labels == result.labels).all()


def test_projections_are_reproducible_and_small_inputs_work():
    emb, _ = clustered(n_per=2, centres=3)  # 6 items: t-SNE perplexity must adapt
    for method in ("pca", "tsne", "umap"):
        a = explore.project(emb, method, seed=1)
        b = explore.project(emb, method, seed=1)
        assert a.shape == (6, 2) and np.allclose(a, b), method
    with pytest.raises(vecstore.InvalidInputError):
        explore.project(explore.Embeddings(emb.vectors[:2], ["a", "b"], ["a", "b"], [{}, {}]), "pca")


def test_missing_umap_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed
    emb, _ = clustered(n_per=3)
    with pytest.raises(vecstore.BackendNotInstalledError, match=r"vecstore\[umap\]"):
        explore.project(emb, "umap")
    assert set(explore.project_all(emb, seed=0)) == {"pca", "tsne"}


def test_collection_sampling_and_cluster_write_back(tmp_path):
    url = f"faiss://{tmp_path}/f"
    rng = np.random.default_rng(3)
    with vecstore.connect(url) as store:
        col = store.collection("c", dim=8)
        col.upsert(ids=[f"r{i}" for i in range(500)], vectors=rng.normal(size=(500, 8)), texts=[f"t{i}" for i in range(500)],
                   metadata=[{"i": i} for i in range(500)])
    a = explore.from_collection(url, "c", max_items=100, seed=7)
    b = explore.from_collection(url, "c", max_items=100, seed=7)
    c = explore.from_collection(url, "c", max_items=100, seed=8)
    assert len(a) == 100 and a.ids == b.ids and a.ids != c.ids
    np.testing.assert_allclose(np.linalg.norm(a.vectors, axis=1), 1.0, atol=1e-5)
    clusters = explore.kmeans(a, 4, seed=0)
    assert explore.write_cluster_labels(url, "c", a, clusters, "cl") == 100
    with vecstore.connect(url) as store:
        col = store.collection("c")
        assert col.count({"cl": {"$in": [0, 1, 2, 3]}}) == 100 and col.count() == 500
        rec = col.get([a.ids[0]])[0]
        assert rec.metadata["cl"] == int(clusters.labels[0]) and rec.metadata["i"] == int(a.ids[0][1:])


def test_cli_explore_texts_writes_pictures(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(explore, "load_embedder", lambda model=None: HashEmbedder(32))
    out = tmp_path / "out"
    assert cli.main(["explore", *SPANISH, "--out", str(out), "--map", "pca,tsne", "--clusters", "2", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "1. El robot explora" in printed and "cluster 0" in printed
    for name in ("similarity.csv", "similarity.png", "map.png", "map.html", "explore.json"):
        assert (out / name).stat().st_size > 0, name
    page = (out / "map.html").read_text()
    assert "El robot explora el laboratorio de IA" in page and '<script src="http' not in page
    report = json.loads((out / "explore.json").read_text())
    assert report["clusters"]["k"] == 2 and set(report["maps"]) == {"pca", "tsne"}


def test_cli_explore_needs_one_input(capsys):
    assert cli.main(["explore"]) == 1
    assert "one input" in capsys.readouterr().err


def test_explore_scifact_collection(tmp_path, scifact):
    """A map and a cluster report of a SciFact collection, read back from its store URL."""
    from vecstore.pipeline.loaders import BeirDataset

    url = f"qdrant://{tmp_path}/q"
    docs = list(islice(BeirDataset(scifact).corpus(), 400))
    vecstore.ingest(docs, [url], "scifact", embedder=HashEmbedder(64), cache=False)
    out = tmp_path / "out"
    assert cli.main(["explore", "--from", url, "--collection", "scifact", "--max", "300", "--map", "pca,umap",
                     "--clusters", "auto", "--out", str(out), "-q"]) == 0
    report = json.loads((out / "explore.json").read_text())
    assert report["items"] == 300 and 2 <= report["clusters"]["k"] <= 10
    assert (out / "map.png").stat().st_size > 10_000
