"""Lexical and hybrid search beyond the conformance cases: the analyzer, the fusion formula, a
property test of every in-process lexical engine against a reference, persistence of the Faiss
BM25 index across processes (and a kill -9), and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vecstore
from vecstore import cli
from vecstore.errors import InvalidInputError
from vecstore.lexical import Analyzer, document_weights, fuse, query_weights, term_id


def test_english_analyzer_splits_lowercases_drops_stop_words_and_stems():
    an = Analyzer("english")
    assert an.terms("The Running DOGS barked at the Cats!") == ["run", "dog", "bark", "cat"]
    assert an.terms("Über-Café 3.5mg BRCA1") == ["über", "café", "3", "5mg", "brca1"]
    assert an.query_terms("dogs dog DOG") == ["dog"]
    assert an.terms(None) == [] and an.terms("the and of") == []
    assert Analyzer("simple").terms("The Running DOGS") == ["the", "running", "dogs"]
    assert Analyzer("english-nostem").terms("The Running DOGS") == ["running", "dogs"]


def test_bm25_weights_saturate_and_normalise_length():
    short = document_weights(["gene"] * 1)
    repeated = document_weights(["gene"] * 10)
    assert repeated[term_id("gene")] > short[term_id("gene")]
    assert repeated[term_id("gene")] < 2.2  # k1 + 1 bounds the saturation
    longer = document_weights(["gene"] + ["filler"] * 500)
    assert longer[term_id("gene")] < short[term_id("gene")]
    assert query_weights(["a", "b", "a"]) == {term_id("a"): 1.0, term_id("b"): 1.0}


def _hits(*ids):
    return [SimpleNamespace(id=i, score=10.0 - n) for n, i in enumerate(ids)]


def test_rrf_by_hand():
    fused = fuse(_hits("a", "b", "c"), _hits("c", "d"), k=4, rrf_k=60)
    scores = {h.id: s for h, s in fused}
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["a"] == pytest.approx(1 / 61) and scores["d"] == pytest.approx(1 / 62)
    # c (both lists) first; a and d tie-free; b and d: 1/62 each -> the dense rank breaks the tie
    assert [h.id for h, _ in fused] == ["c", "a", "b", "d"]


def test_alpha_fusion_by_hand():
    dense = [SimpleNamespace(id="a", score=0.9), SimpleNamespace(id="b", score=0.5), SimpleNamespace(id="c", score=0.1)]
    lexical = [SimpleNamespace(id="c", score=12.0), SimpleNamespace(id="a", score=2.0)]
    fused = dict((h.id, s) for h, s in fuse(dense, lexical, k=3, alpha=0.25))
    assert fused["a"] == pytest.approx(0.25 * 1.0 + 0.75 * 0.0)
    assert fused["b"] == pytest.approx(0.25 * 0.5)
    assert fused["c"] == pytest.approx(0.25 * 0.0 + 0.75 * 1.0)


# -- every in-process lexical engine against a reference ------------------------------------------

#: words that are their own stem in every analyzer here and no stop word anywhere
WORDS = ["apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "candle", "forest", "rocket"]
RECORD = st.tuples(st.lists(st.sampled_from(WORDS), min_size=0, max_size=6), st.integers(0, 2))


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    root = tmp_path_factory.mktemp("lexical-engines")
    stores = [vecstore.connect("faiss://"), vecstore.connect("qdrant://"),
              vecstore.connect(f"qdrant-edge://{root}/edge")]
    yield stores
    for store in stores:
        store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(RECORD, min_size=1, max_size=25), query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
       group=st.one_of(st.none(), st.integers(0, 2)))
def test_lexical_hits_are_exactly_the_records_holding_a_query_term(engines, records, query, group):
    ids = [f"d{i}" for i in range(len(records))]
    texts = [" ".join(words) if words else None for words, _ in records]
    meta = [{"g": g} for _, g in records]
    flt = None if group is None else {"g": group}
    expected = {i for i, (words, g) in zip(ids, records)
                if set(words) & set(query) and (group is None or g == group)}
    rng = np.random.default_rng(len(records))
    vectors = rng.normal(size=(len(ids), 4))
    for store in engines:
        name = "prop"
        if store.has_collection(name):
            store.drop_collection(name)
        col = store.collection(name, dim=4)
        col.upsert(ids=ids, vectors=vectors, texts=texts, metadata=meta)
        hits = col.search(text=" ".join(query), mode="lexical", k=len(ids) + 1, filter=flt)
        assert {h.id for h in hits} == expected, store.backend
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        hybrid = col.search(vectors[0], text=" ".join(query), mode="hybrid", k=len(ids), filter=flt)
        matching = {i for i, (_, g) in zip(ids, records) if group is None or g == group}
        assert {h.id for h in hybrid} == matching, store.backend


# -- the Faiss BM25 index is part of the saved generation ----------------------------------------

_CHILD = textwrap.dedent("""
    import json, os, sys, numpy as np, vecstore
    url, step = sys.argv[1], sys.argv[2]
    store = vecstore.connect(url)
    col = store.collection("docs", dim=4)
    rng = np.random.default_rng(0)
    if step == "write":
        col.upsert(ids=["a", "b", "c"], vectors=rng.normal(size=(3, 4)),
                   texts=["zebrafish regenerate hearts", "aspirin and stroke", "brca1 in breast cancer"])
        print(json.dumps(col.count()), flush=True)  # no lexical search: close() still saves the index
        store.close()
    elif step == "append-and-die":
        col.upsert(ids=["d"], vectors=rng.normal(size=(1, 4)), texts=["axolotl limbs regrow"])
        print("written", flush=True)
        os.kill(os.getpid(), 9)
    else:
        out = {q: [h.id for h in col.search(text=q, mode="lexical")] for q in ("zebrafish", "brca1", "axolotl")}
        print(json.dumps(out), flush=True)
        store.close()
""")


def _child(url, step):
    proc = subprocess.run([sys.executable, "-c", _CHILD, url, step], capture_output=True, text=True, timeout=120)
    return proc


def test_faiss_bm25_index_survives_a_new_process_and_a_kill(tmp_path):
    url = f"faiss://{tmp_path}/s"
    first = _child(url, "write")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == 3
    manifest = json.loads((tmp_path / "s" / "docs" / "manifest.json").read_text())
    saved = tmp_path / "s" / "docs" / manifest["files"]["lexical"]
    assert (saved / "labels.npy").exists() and not list(saved.glob("*.pkl"))
    died = _child(url, "append-and-die")
    assert died.returncode == -signal.SIGKILL and "written" in died.stdout
    after = _child(url, "read")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == {"zebrafish": ["a"], "brca1": ["c"], "axolotl": ["d"]}
    # the generation names one lexical directory; earlier ones are gone after the next save
    names = os.listdir(tmp_path / "s" / "docs")
    assert sum(n.startswith("lexical-") for n in names) <= 1
    # the BM25 index is derived data: a damaged one is rebuilt from the records, nothing is lost
    manifest = json.loads((tmp_path / "s" / "docs" / "manifest.json").read_text())
    for f in (tmp_path / "s" / "docs" / manifest["files"]["lexical"]).iterdir():
        f.write_bytes(b"garbage")
    again = _child(url, "read")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"zebrafish": ["a"], "brca1": ["c"], "axolotl": ["d"]}


def test_text_collections_sync_and_async_search_by_mode(tmp_path):
    import asyncio

    import vecstore.aio
    from vecstore.embed import HashEmbedder

    url = f"faiss://{tmp_path}/t"
    from vecstore.pipeline.loaders import Document

    vecstore.ingest([Document("a", "Zebrafish regenerate their hearts."),
                     Document("b", "Aspirin lowers the risk of stroke.")], [url], "n",
                    embedder=HashEmbedder(32), cache=False)
    with vecstore.open(url, "n", embedder=HashEmbedder(32)) as col:
        assert [h.id.split("#")[0] for h in col.search("zebrafish", mode="lexical")] == ["a"]
        assert [h.id.split("#")[0] for h in col.search("zebrafish", mode="hybrid", k=2)][0] == "a"
        assert col.search_batch(["stroke", "quasar"], mode="lexical")[1] == []

    async def main():
        acol = await vecstore.aio.open(url, "n", embedder=HashEmbedder(32))
        try:
            return [h.id.split("#")[0] for h in await acol.search("stroke", mode="lexical")]
        finally:
            await acol.close()

    assert asyncio.run(main()) == ["b"]


def test_copy_keeps_the_analyzer_and_says_what_it_cannot_keep(tmp_path):
    notes = []
    with vecstore.connect("faiss://") as src:
        col = src.collection("c", dim=2, lexical="simple")
        col.upsert([{"id": "a", "vector": [1, 0], "text": "The running dogs"}])
        vecstore.copy_collection(src, "c", f"qdrant-edge://{tmp_path}/e", on_change=notes.append)
        vecstore.copy_collection(src, "c", "chroma://", on_change=notes.append)
        with vecstore.connect(f"qdrant-edge://{tmp_path}/e") as dst:
            copied = dst.get_collection("c")
            assert copied.settings.lexical == "simple"
            assert [h.id for h in copied.search(text="running", mode="lexical")] == ["a"]
            assert copied.search(text="run", mode="lexical") == []  # simple: no stemming, as at the source
    assert notes and "chroma" in notes[-1] and "no lexical search" in notes[-1]


# -- the CLI -------------------------------------------------------------------------------------

def test_cli_search_modes(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VECSTORE_CACHE_DIR", str(tmp_path / "cache"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("Zebrafish regenerate their hearts after injury.")
    (docs / "b.md").write_text("Aspirin lowers the risk of stroke.")
    url = f"faiss://{tmp_path}/s"
    assert cli.main(["ingest", str(docs), "--to", url, "--collection", "n", "--model", "vecstore/hash-trigram-32",
                     "-q"]) == 0
    capsys.readouterr()
    for mode in ("lexical", "hybrid"):
        assert cli.main(["search", "zebrafish", "--in", url, "--collection", "n", "--mode", mode, "--json"]) == 0
        hits = json.loads(capsys.readouterr().out)
        assert hits[0]["id"].startswith("a.md"), mode
    assert cli.main(["search", "zebrafish", "--in", url, "--collection", "n", "--mode", "lexical", "-k", "5",
                     "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1  # only the record holding the term
    assert cli.main(["search", "zebrafish", "--in", url, "--collection", "n", "--mode", "hybrid", "--alpha", "2"]) != 0
    assert "alpha" in capsys.readouterr().err


def test_chroma_refuses_lexical_search_by_name():
    with vecstore.connect("chroma://") as store:
        col = store.collection("c", dim=2)
        col.upsert([{"id": "a", "vector": [1, 0], "text": "zebrafish"}])
        with pytest.raises(vecstore.UnsupportedOperationError, match="chroma"):
            col.search(text="zebrafish", mode="lexical")
        with pytest.raises(InvalidInputError):
            col.search(text="zebrafish", mode="nonsense")
