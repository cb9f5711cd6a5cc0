"""Issue 18, "speed of the command line": queries encoded from a one-time ONNX export of the
model give the torch model's vectors, the export is made once and checked, and the CLI checks
its arguments before it imports anything heavy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vecstore
from vecstore.errors import ConfigError

pytest.importorskip("onnxruntime", reason="pip install 'vecstore[embed]'")
pytest.importorskip("onnx", reason="pip install 'vecstore[embed]'")

HOSTILE = [
    "What causes the common cold?",
    "   leading and trailing spaces   ",
    "ÜNÏCÖDE, 漢字 and emoji 🎉",
    "",
    "x",
    "tab\tnew\nline",
    "long " * 600,  # past the model's 256 tokens: truncated the same way
]


@pytest.fixture
def cache_env(exported_minilm, monkeypatch):
    monkeypatch.setenv("VECSTORE_CACHE_DIR", str(exported_minilm[0]))
    return exported_minilm


def test_exported_model_gives_the_torch_vectors(minilm, cache_env):
    from vecstore.embed import ExportedEmbedder, load_query_embedder

    fast = load_query_embedder(minilm.name)
    assert isinstance(fast, ExportedEmbedder)
    assert fast.fingerprint() == minilm.fingerprint()
    assert (fast.dim, fast.max_tokens, fast.special_tokens) == (minilm.dim, minilm.max_tokens, minilm.special_tokens)
    for method in ("embed_queries", "embed_documents"):
        a, b = getattr(minilm, method)(HOSTILE), getattr(fast, method)(HOSTILE)
        assert a.shape == b.shape == (len(HOSTILE), 384)
        assert np.abs(a - b).max() < 1e-4
    assert fast.count_tokens(HOSTILE) == minilm.count_tokens(HOSTILE)


def test_a_second_process_reuses_the_export_without_torch(cache_env):
    cache, (directory, _config) = cache_env
    onnx_file = directory / "model.onnx"
    before = onnx_file.stat().st_mtime_ns
    code = (
        "import sys; from vecstore.embed import load_query_embedder as q; e = q();"
        "v = e.embed_queries(['hello']); print(type(e).__name__, v.shape[1],"
        " [m for m in ('torch', 'sentence_transformers') if m in sys.modules])"
    )
    env = {**os.environ, "VECSTORE_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ExportedEmbedder", "384", "[]"]
    assert onnx_file.stat().st_mtime_ns == before  # read, not written again


def test_a_corrupt_export_is_detected_and_redone(minilm, tmp_path, monkeypatch):
    from vecstore.embed import ExportedEmbedder, SentenceTransformerEmbedder, load_query_embedder, onnx

    monkeypatch.setenv("VECSTORE_CACHE_DIR", str(tmp_path))
    directory, config = onnx.export(minilm.name, minilm._model)
    onnx_file = directory / "model.onnx"
    # cut short: the size no longer matches, so it is not used; the next search exports again
    with open(onnx_file, "r+b") as f:
        f.truncate(1000)
    assert onnx.find_export(minilm.name) is None
    assert isinstance(load_query_embedder(minilm.name), SentenceTransformerEmbedder)
    assert isinstance(load_query_embedder(minilm.name), ExportedEmbedder)
    # garbage of the right size: ONNX Runtime refuses it, it is removed and redone
    onnx_file.write_bytes(b"\0" * config["onnx_bytes"])
    assert isinstance(load_query_embedder(minilm.name), SentenceTransformerEmbedder)
    fast = load_query_embedder(minilm.name)
    assert isinstance(fast, ExportedEmbedder)
    assert np.abs(fast.embed_queries(["a query"]) - minilm.embed_queries(["a query"])).max() < 1e-4
    # a directory left half-written (no config.json) is never used
    leftover = directory.parent / "half"
    leftover.mkdir()
    (leftover / "model.onnx").write_bytes(b"partial")
    assert onnx.find_export(minilm.name)[0] == directory


def test_changed_weights_are_exported_again(minilm, tmp_path, monkeypatch):
    from vecstore.embed import SentenceTransformerEmbedder, load_query_embedder, onnx

    monkeypatch.setenv("VECSTORE_CACHE_DIR", str(tmp_path / "cache"))
    model_dir = tmp_path / "model"
    shutil.copytree(minilm._model[0].auto_model.config._name_or_path, model_dir)
    name = str(model_dir)
    assert isinstance(load_query_embedder(name), SentenceTransformerEmbedder)  # first use: exports
    first = onnx.find_export(name)
    assert first is not None
    os.utime(model_dir / "config.json", ns=(1, 1))  # the weights' directory changed
    assert onnx.find_export(name) is None
    load_query_embedder(name)
    second = onnx.find_export(name)
    assert second is not None and second[0] != first[0]


def test_onnx_switch_off_loads_sentence_transformers(minilm, cache_env, monkeypatch):
    from vecstore.embed import SentenceTransformerEmbedder, load_query_embedder

    monkeypatch.setenv("VECSTORE_ONNX", "0")
    assert isinstance(load_query_embedder(minilm.name), SentenceTransformerEmbedder)


def _cli(args: list[str], cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "VECSTORE_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run([sys.executable, "-m", "vecstore.cli", *args], capture_output=True, text=True,
                          env=full, timeout=300)


def test_cli_search_scores_match_torch(cache_env, tmp_path):
    cache = cache_env[0]
    docs = tmp_path / "docs"
    docs.mkdir()
    topics = ["cats and dogs", "the stock market", "protein folding", "rain in Spain", "cats sleeping"]
    for i, topic in enumerate(topics):
        (docs / f"d{i}.txt").write_text(f"Document {i} is about {topic}.")
    url = f"faiss://{tmp_path}/store"
    out = _cli(["ingest", str(docs), "--to", url, "--collection", "q", "-q"], cache)
    assert out.returncode == 0, out.stderr
    search = ["search", "a sleeping cat", "--in", url, "--collection", "q", "-k", "5", "--json"]
    torch_hits = json.loads(_cli(search, cache, VECSTORE_ONNX="0").stdout)
    fast_hits = json.loads(_cli(search, cache).stdout)
    assert [h["id"] for h in fast_hits] == [h["id"] for h in torch_hits]
    assert len(fast_hits) == 5
    for a, b in zip(fast_hits, torch_hits):
        assert abs(a["score"] - b["score"]) < 1e-4


HEAVY = ("torch", "sentence_transformers", "onnxruntime", "faiss", "chromadb", "qdrant_client", "pymilvus")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "q", "--in", "faiss:///tmp/x", "--collection", "c", "-k", "0"], "must be a positive integer"),
        (["search", "q", "--in", "faiss:///tmp/x", "--collection", "c", "--filter", '{"a": {"$bad": 1}}'],
         "unknown filter operator '$bad'"),
        (["search", "q", "--in", "faiss:///tmp/x", "--collection", "c", "--filter", "{oops"], "not valid JSON"),
        (["search", "q", "--in", "faiss:///tmp/x", "--collection", "Bad Name"], "invalid collection name"),
        (["search", "q", "--in", "nosuch:///x", "--collection", "c"], "no backend for scheme 'nosuch'"),
        (["ingest", "/nonexistent/dir", "--to", "faiss:///tmp/x", "--collection", "c"], "no such file"),
        (["ingest", ".", "--to", "faiss:///tmp/x", "--collection", "Bad Name"], "invalid collection name"),
        (["ingest", "/dev/null", "--to", "faiss:///tmp/x", "--collection", "c"], "nothing to ingest"),
        (["ingest", ".", "--to", "faiss:///tmp/x", "--collection", "c", "--chunking", "chars",
          "--chunk-size", "10", "--overlap", "20"], "overlap smaller"),
        (["ingest", ".", "--to", "faiss:///tmp/x", "--collection", "c", "--chunking", "words"], "invalid choice: 'words'"),
    ],
)
def test_bad_arguments_are_refused_before_anything_heavy_is_imported(args, message, tmp_path):
    code = (
        "import sys; from vecstore import cli\n"
        "try:\n    rc = cli.main(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code\n"
        f"print('RC', rc, [m for m in {HEAVY!r} if m in sys.modules])"
    )
    env = {**os.environ, "VECSTORE_CACHE_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                         timeout=120, cwd=tmp_path)
    assert message in out.stderr
    assert out.stdout.strip().splitlines()[-1] in ("RC 1 []", "RC 2 []")


def test_unknown_url_options_are_refused():
    with pytest.raises(ConfigError, match="unknown option.*bogus.*accepted: threads"):
        vecstore.connect("faiss://?bogus=1")
    with vecstore.connect("faiss://?threads=1") as store:  # a known one, from the URL
        assert store.list_collections() == []
