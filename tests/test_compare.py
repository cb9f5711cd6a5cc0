"""Backend comparison: metrics checked against ranx, config parsing, and
whole runs (a tiny synthetic dataset fast; SciFact with the real model)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vecstore.compare import compare, load_config, metrics, parse_backend, parse_sweep
from vecstore.embed import HashEmbedder
from vecstore.errors import ConfigError

ranx = pytest.importorskip("ranx", reason="ranx is not installed: pip install 'vecstore[test]'")


def random_run(seed=0, queries=30, docs=200):
    rng = np.random.default_rng(seed)
    run, qrels = {}, {}
    for q in range(queries):
        ids = rng.choice(docs, 120, replace=False)
        run[f"q{q}"] = {f"d{i}": float(s) for i, s in zip(ids, rng.random(120))}
        rel = rng.choice(docs, rng.integers(1, 5), replace=False)
        qrels[f"q{q}"] = {f"d{i}": int(rng.integers(1, 3)) for i in rel}
    return run, qrels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_ranx(seed):
    run, qrels = random_run(seed)
    want = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), ["ndcg@10", "mrr@10", "recall@100"])
    assert metrics.ndcg_at_k(run, qrels, 10) == pytest.approx(want["ndcg@10"], abs=1e-9)
    assert metrics.mrr_at_k(run, qrels, 10) == pytest.approx(want["mrr@10"], abs=1e-9)
    assert metrics.recall_at_k(run, qrels, 100) == pytest.approx(want["recall@100"], abs=1e-9)


def test_recall_vs_exact_and_overlap():
    assert metrics.recall_vs_exact([["a", "b"], ["c", "x"]], [["a", "b"], ["c", "d"]], 2) == 0.75
    assert metrics.overlap([["a", "b"]], [["b", "c"]], 2) == 0.5
    lat = metrics.latency_summary([0.001] * 99 + [0.1])
    assert lat["p50_ms"] == pytest.approx(1.0) and lat["p99_ms"] > 1.0


def test_parse_backend():
    spec = parse_backend("hnsw=faiss://?index=hnsw&m=32&ef_search=64&threads=2")
    assert (spec.label, spec.url, spec.index) == ("hnsw", "faiss://", "hnsw")
    assert spec.options == {"m": 32} and spec.search_params == {"ef_search": 64} and spec.connect_options == {"threads": "2"}
    assert parse_backend("qdrant://localhost:6333").label == "qdrant://localhost:6333"
    spec = parse_backend('q=qdrant-edge:///tmp/x?payload_indexes={"bucket":"integer"}')
    assert spec.options == {"payload_indexes": {"bucket": "integer"}}


def test_parse_sweep():
    assert parse_sweep(["ef_search=16,32", "num_candidates=10"]) == {"ef_search": [16, 32], "num_candidates": [10]}
    with pytest.raises(ConfigError):
        parse_sweep(["m=4,8"])


def test_load_config_toml_and_yaml(tmp_path):
    (tmp_path / "c.toml").write_text(
        'dataset = "data"\nk = 5\nsweep = {ef_search = [8, 16]}\n'
        '[[backend]]\nurl = "faiss://"\nlabel = "flat"\n[[backend]]\nurl = "faiss://"\nlabel = "hnsw"\nindex = "hnsw"\n'
        'options = {m = 16}\n')
    cfg = load_config(tmp_path / "c.toml", {"repeat": 2})
    assert cfg.k == 5 and cfg.repeat == 2 and cfg.sweep == {"ef_search": [8, 16]}
    assert [b.label for b in cfg.backends] == ["flat", "hnsw"] and cfg.backends[1].options == {"m": 16}
    assert cfg.dataset == str(tmp_path / "data")
    (tmp_path / "c.yaml").write_text("dataset: /d\nbackends:\n  - faiss://\n  - x=qdrant://\n")
    assert [b.label for b in load_config(tmp_path / "c.yaml").backends] == ["faiss://", "x"]
    (tmp_path / "bad.toml").write_text('dataset = "d"\nbogus = 1\n[[backend]]\nurl = "faiss://"\n')
    with pytest.raises(ConfigError, match="bogus"):
        load_config(tmp_path / "bad.toml")


def test_compare_run_on_a_tiny_dataset(tmp_path):
    from tests.test_pipeline import make_beir

    data = make_beir(tmp_path / "beir", n=60)
    out = tmp_path / "out"
    results = compare(data, ["flat=faiss://", "hnsw=faiss://?index=hnsw&ef_search=32", "chroma://",
                             "broken=qdrant://127.0.0.1:1?timeout=1"],
                      out=out, embedder=HashEmbedder(32), cache=False, repeat=2, warmup=1, concurrency=2,
                      sweep={"ef_search": [8, 64]})
    flat, hnsw, chroma, broken = results["backends"]
    assert flat["status"] == hnsw["status"] == chroma["status"] == "ok"
    assert broken["status"] == "failed" and "BackendUnavailableError" in broken["error"]
    assert flat["recall@10"] == 1.0 and flat["filtered"]["recall@10"] == 1.0
    assert len(flat["latencies_ms"]) == 2 * 2 and flat["concurrent"]["threads"] == 2
    assert [s["value"] for s in hnsw["sweep"]] == [8, 64] and chroma["sweep"] == []
    assert results["overlap"]["flat"]["flat"] == 1.0
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["schema_version"] == 1 and on_disk["environment"]["cpu_count"] >= 1
    for name in ("summary.md", "report.html", "recall_vs_qps.png", "latency.png", "quality.png", "overlap.png"):
        assert (out / name).stat().st_size > 0
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html and "http" not in html.split("<body>")[1][:2000]
    assert "FAILED" in (out / "summary.md").read_text()


@pytest.mark.integration
def test_compare_scifact_subset_with_real_model(tmp_path, scifact, minilm):
    from vecstore.testing.servers import ChromaServer

    server = ChromaServer().start()
    try:
        results = compare(scifact, ["faiss-flat=faiss://", "faiss-hnsw=faiss://?index=hnsw", "chroma://",
                                    f"chroma-server={server.url}", "qdrant://"],
                          out=tmp_path / "out", embedder=minilm, cache=False, max_docs=500, max_queries=40,
                          repeat=1, warmup=5)
    finally:
        server.cleanup()
    by = {b["label"]: b for b in results["backends"]}
    assert all(b["status"] == "ok" for b in by.values()), [b.get("error") for b in by.values()]
    assert by["faiss-flat"]["recall@10"] == 1.0
    # vecstore's nDCG@10 equals ranx's on the same ranking and the same judgments
    from vecstore.compare.config import CompareConfig
    from vecstore.compare.run import load_dataset

    qrels = load_dataset(CompareConfig(dataset=str(scifact), backends=[parse_backend("faiss://")],
                                       max_docs=500, max_queries=40)).qrels
    for label in ("faiss-flat", "chroma-server"):
        ranking = by[label]["run"]
        run = {q: {d: 1.0 / (i + 1) for i, d in enumerate(ranking[q])} for q in qrels}
        want = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), "ndcg@10")
        assert by[label]["quality"]["ndcg@10"] == pytest.approx(want, abs=1e-9), label


def test_compare_documents_with_a_queries_file_and_qrels(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(12):
        (docs / f"d{i}.txt").write_text(f"document {i} about subject {i % 3}")
    (tmp_path / "q.jsonl").write_text('{"id": "q1", "text": "document 4 about subject 1"}\n{"id": "q2", "text": "subject 2"}\n')
    (tmp_path / "qrels.tsv").write_text("q1\td4.txt\t1\nq2\td2.txt\t1\n")
    results = compare(docs, ["faiss://"], embedder=HashEmbedder(32), cache=False, repeat=1, warmup=0,
                      queries=str(tmp_path / "q.jsonl"), qrels=str(tmp_path / "qrels.tsv"), filter_field="",
                      synthetic_filter=False)
    (flat,) = results["backends"]
    assert results["dataset"]["documents"] == 12 and results["dataset"]["judged_queries"] == 2
    assert flat["status"] == "ok" and flat["quality"]["mrr@10"] > 0 and "filtered" not in flat


@pytest.mark.integration
def test_compare_smoke_on_every_server(tmp_path, vecstore_url_for):
    """The comparison on every real server this run has (env URLs, containers, or the
    local `chroma run` and PostgreSQL): each one ingests, answers and agrees with exact search."""
    from tests.test_pipeline import make_beir

    urls = {}
    for backend in ("qdrant", "elasticsearch", "chroma", "milvus", "pgvector"):
        try:
            urls[backend] = vecstore_url_for(backend, server=True)
        except pytest.skip.Exception:
            continue
    if not urls:
        pytest.skip("no server reachable: set QDRANT_URL, ELASTICSEARCH_URL, CHROMA_URL, MILVUS_URL or PGVECTOR_URL")
    data = make_beir(tmp_path / "beir", n=60)
    results = compare(data, ["flat=faiss://", *(f"{b}={u}" for b, u in urls.items())], out=tmp_path / "out",
                      embedder=HashEmbedder(32), cache=False, repeat=1, warmup=1, concurrency=2)
    by_label = {b["label"]: b for b in results["backends"]}
    for backend in urls:
        row = by_label[backend]
        assert row["status"] == "ok", (backend, row.get("error"))
        assert row["recall@10"] >= 0.9 and row["filtered"]["recall@10"] >= 0.9, backend
        assert results["overlap"]["flat"][backend] >= 0.9


def test_compare_search_modes_and_lexical_agreement(tmp_path):
    from tests.test_pipeline import make_beir

    data = make_beir(tmp_path / "beir", n=40)
    out = tmp_path / "out"
    results = compare(data, ["faiss://", f"edge=qdrant-edge://{tmp_path}/e", "chroma://"], out=out,
                      embedder=HashEmbedder(32), cache=False, repeat=1, warmup=1, concurrency=1,
                      modes=["dense", "lexical", "hybrid"])
    faiss, edge, chroma = results["backends"]
    for b in (faiss, edge):
        assert b["analyzer"] == "english" and b["lexical_engine"]
        for mode in ("lexical", "hybrid"):
            m = b["modes"][mode]
            assert m["status"] == "ok" and 0 < m["quality"]["ndcg@10"] <= 1, (b["label"], mode)
            assert m["latency"]["qps"] > 0 and len(m["topk"]) == results["dataset"]["queries"]
    assert chroma["modes"]["lexical"]["status"] == "unsupported" and "chroma" in chroma["modes"]["lexical"]["error"]
    overlap = results["mode_overlap"]["lexical"]
    assert set(overlap) == {"faiss://", "edge"} and 0 < overlap["faiss://"]["edge"] <= 1
    summary = (out / "summary.md").read_text()
    assert "| edge | hybrid |" in summary and "Top-10 overlap of lexical rankings" in summary
    assert "| chroma:// | lexical | unsupported" in summary
    with pytest.raises(ConfigError, match="fuzzy"):
        compare(data, ["faiss://"], embedder=HashEmbedder(32), modes=["dense", "fuzzy"])
