"""Issue 24: the same model on ONNX Runtime, OpenVINO and int8 — vectors that agree with torch
fp32, exported once, fingerprints that keep variants apart, the CLI flags end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import vecstore
from vecstore import cli
from vecstore.embed import ExportedEmbedder, load_embedder, onnx
from vecstore.errors import BackendNotInstalledError, ConfigError, EmbeddingModelMismatchError
from vecstore.pipeline.ingest import ingest
from vecstore.pipeline.loaders import Document
from vecstore.textsearch import open_collection

pytest.importorskip("onnxruntime", reason="pip install 'vecstore[embed]'")

DOCS = {
    "cats": "Cats sleep for most of the day and hunt small animals at night.",
    "market": "The stock market fell sharply after the central bank raised interest rates.",
    "protein": "Protein folding determines the three-dimensional structure and function of enzymes.",
    "rain": "Heavy rain caused rivers to flood the valley and close several roads.",
    "vaccine": "The vaccine reduced hospital admissions for influenza by half in older adults.",
}
QUERIES = {"cats": "when do cats hunt", "market": "interest rates and shares", "protein": "how enzymes fold",
           "rain": "flooding after storms", "vaccine": "flu shot effectiveness"}
VARIANTS = [  # (options, mean cosine to torch fp32 required)
    ({"backend": "onnx"}, 0.9999),
    ({"backend": "openvino"}, 0.9999),
    ({"backend": "onnx", "quantize": "int8"}, 0.98),
]


@pytest.fixture
def env_cache(exported_minilm, monkeypatch):
    monkeypatch.setenv("VECSTORE_CACHE_DIR", str(exported_minilm[0]))
    return exported_minilm[0]


@pytest.mark.parametrize(("options", "min_cosine"), VARIANTS, ids=["onnx", "openvino", "onnx-int8"])
def test_variant_agrees_with_torch_and_ranks_the_same(minilm, env_cache, options, min_cosine):
    if options["backend"] == "openvino":
        pytest.importorskip("openvino", reason="pip install 'vecstore[openvino]'")
    emb = load_embedder(minilm.name, **options)
    assert isinstance(emb, ExportedEmbedder) and emb.runtime == options["backend"]
    texts = list(DOCS.values()) + list(QUERIES.values())
    ref, got = minilm.embed_documents(texts), emb.embed_documents(texts)
    cosine = np.sum(ref * got, axis=1)
    assert cosine.mean() >= min_cosine, cosine
    # exact search on the variant's own vectors: every query finds its document first
    docs = emb.embed_documents(list(DOCS.values()))
    queries = emb.embed_queries(list(QUERIES.values()))
    assert [list(DOCS)[i] for i in np.argmax(queries @ docs.T, axis=1)] == list(QUERIES)
    fp = emb.fingerprint()
    if options.get("quantize"):
        assert fp["variant"] == f"int8/{onnx.cpu_config()}"
        assert fp != minilm.fingerprint()
    else:  # fp32 on any runtime is one variant: same collections, same cache entries
        assert fp == minilm.fingerprint()


def test_int8_model_is_made_once_and_remade_when_corrupt(minilm, env_cache):
    directory, _ = onnx.find_export(minilm.name)
    name = onnx.int8_file(directory)
    path = directory / name
    before = path.stat().st_mtime_ns
    code = ("from vecstore.embed import load_embedder; e = load_embedder(backend='onnx', quantize='int8');"
            "print(e.fingerprint()['variant'], e.embed_queries(['x']).shape[1])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "VECSTORE_CACHE_DIR": str(env_cache), "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [f"int8/{onnx.cpu_config()}", "384"]
    assert path.stat().st_mtime_ns == before  # reused by another process, not rewritten
    with open(path, "r+b") as f:
        f.truncate(100)  # cut short: its recorded size no longer matches
    assert onnx.int8_file(directory) == name
    assert path.stat().st_size > 1_000_000
    emb = load_embedder(minilm.name, backend="onnx", quantize="int8")
    assert np.sum(emb.embed_queries(["a query"]) * minilm.embed_queries(["a query"])) > 0.98


def test_mixing_variants_needs_asking(minilm, env_cache, tmp_path):
    url = f"faiss://{tmp_path}/mix"
    docs = [Document(k, v, {}) for k, v in DOCS.items()]
    report = ingest(docs, [url], "notes", embedder=minilm, cache=False)
    assert report.embedded == len(DOCS)
    with pytest.raises(EmbeddingModelMismatchError) as err:
        open_collection(url, "notes", backend="onnx", quantize="int8")
    message = str(err.value)
    assert "fp32" in message and f"int8/{onnx.cpu_config()}" in message and "accept_variant" in message
    with open_collection(url, "notes", backend="onnx", quantize="int8", accept_variant=True) as col:
        assert col.search(QUERIES["rain"], k=1)[0].id.startswith("rain")
    # writing int8 vectors into the fp32 collection is refused, asked or not
    int8 = load_embedder(minilm.name, backend="onnx", quantize="int8")
    with pytest.raises(EmbeddingModelMismatchError):
        ingest(docs, [url], "notes", embedder=int8, cache=False)
    # another variant re-embeds exactly once: its cache entries are its own
    cache_file = str(tmp_path / "emb.sqlite")
    first = ingest(docs, [url], "q8", embedder=int8, cache=cache_file)
    again = ingest(docs, [f"faiss://{tmp_path}/other"], "q8", embedder=int8, cache=cache_file)
    fp32 = ingest(docs, [f"faiss://{tmp_path}/other"], "fp32", embedder=minilm,
                                           cache=cache_file)
    assert (first.embedded, again.embedded, again.cache_hits, fp32.embedded) == (5, 0, 5, 5)


def test_bad_or_missing_variants_are_typed_errors(monkeypatch):
    with pytest.raises(ConfigError, match="int8 runs on ONNX Runtime"):
        load_embedder(backend="openvino", quantize="int8")
    with pytest.raises(ConfigError, match="unknown embedding backend 'tensorrt'"):
        load_embedder(backend="tensorrt")
    with pytest.raises(ConfigError, match="fp16.* runs on a CUDA device"):
        load_embedder(precision="fp16")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    with pytest.raises(BackendNotInstalledError, match=r"pip install 'vecstore\[openvino\]'"):
        load_embedder(backend="openvino")


def test_cli_flags_end_to_end(env_cache, tmp_path, capsys):
    folder = tmp_path / "docs"
    folder.mkdir()
    for key, text in DOCS.items():
        (folder / f"{key}.txt").write_text(text)
    url = f"faiss://{tmp_path}/store"
    assert cli.main(["ingest", str(folder), "--to", url, "--collection", "n", "-q", "--quantize", "int8"]) == 0
    with vecstore.connect(url) as store:
        assert store.get_collection("n").info["embedding"]["variant"] == f"int8/{onnx.cpu_config()}"
    capsys.readouterr()
    # search takes the collection's recorded variant by itself
    assert cli.main(["search", QUERIES["vaccine"], "--in", url, "--collection", "n", "-k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"].startswith("vaccine")
    # another variant: refused with both named, unless asked for
    assert cli.main(["search", "x", "--in", url, "--collection", "n", "--embed-backend", "openvino"]) == 1
    assert "int8" in capsys.readouterr().err
    assert cli.main(["search", QUERIES["cats"], "--in", url, "--collection", "n", "-k", "1", "--json",
                     "--embed-backend", "onnx", "--accept-variant"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"].startswith("cats")
    assert cli.main(["search", "x", "--in", url, "--collection", "n", "--embed-backend", "openvino",
                     "--quantize", "int8"]) == 1
    assert "int8 runs on ONNX Runtime" in capsys.readouterr().err


def test_compare_with_two_variants_writes_the_report(scifact, env_cache, tmp_path, capsys):
    out = tmp_path / "out"
    rc = cli.main(["compare", str(scifact), "--backend", "faiss://", "--max-docs", "150", "--max-queries", "20",
                   "--repeat", "1", "--warmup", "2", "--embedder", "int8=onnx:int8", "--embedder", "openvino",
                   "--out", str(out), "-q"])
    assert rc == 0
    results = json.loads((out / "results.json").read_text())
    rows = {r["label"]: r for r in results["embedders"]}
    assert set(rows) == {"reference", "int8", "openvino"}
    assert rows["reference"]["recall@10_vs_reference"] == 1.0
    assert (rows["reference"]["variant"], rows["int8"]["variant"], rows["openvino"]["variant"]) == (
        "torch fp32", f"onnx int8/{onnx.cpu_config()}", "openvino fp32")
    assert rows["openvino"]["mean_cosine_to_reference"] > 0.9999
    assert 0.98 < rows["int8"]["mean_cosine_to_reference"] < 1.0
    assert all(r["texts_per_s"] > 0 and 0 <= r["ndcg@10"] <= 1 for r in rows.values())
    assert results["embedder_overlap"]["int8"]["reference"] > 0.8
    assert (out / "quality_vs_speed.png").stat().st_size > 10_000
    summary = (out / "summary.md").read_text()
    assert "Embedding variants" in summary and "int8" in summary
    assert "Embedding variants" in capsys.readouterr().out


def test_two_processes_exporting_at_once_leave_one_good_export(tmp_path):
    code = ("import sys; from vecstore.embed import load_embedder; e = load_embedder(backend='onnx');"
            "print(repr(float(e.embed_queries(['two at once'])[0, :4].sum())))")
    env = {**os.environ, "VECSTORE_CACHE_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    assert outs[0][0] == outs[1][0]  # the same vectors from whichever export won
    root = tmp_path / "onnx"
    exports = [d for d in root.iterdir() if d.is_dir() and d.name != "names"]
    assert len(exports) == 1 and (exports[0] / "config.json").exists()  # no half-written leftovers
    config = json.loads((exports[0] / "config.json").read_text())
    assert (exports[0] / "model.onnx").stat().st_size == config["onnx_bytes"]
