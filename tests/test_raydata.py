"""``ingest(engine="ray")`` on a real local Ray (``ray.init(num_cpus=2)``), no mock of Ray: the same
records as the single-process pipeline into a real Chroma server, PostgreSQL and a Faiss directory,
re-runs that embed and write nothing, ``prune``, an embedding actor killed mid-run, and the typed
errors raised before any write."""

from __future__ import annotations

import gzip
import json
import os
import sys
import threading
import time
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

import vecstore
from tests.conftest import SCIFACT
from vecstore.embed import load_embedder
from vecstore.errors import BackendNotInstalledError, BackendUnavailableError, ConfigError
from vecstore.testing.servers import free_port

try:
    import ray
except ImportError:
    if os.environ.get("CI"):  # CI installs vecstore[ray]: a missing Ray there is a failure, not a skip
        raise
    pytest.skip("Ray is not installed: pip install 'vecstore[ray]'", allow_module_level=True)

HASH = "vecstore/hash-trigram-64"


@pytest.fixture(scope="module")
def local_ray():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the workers inherit the driver's environment
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _beir(path: Path, n: int, skip: set[str] = frozenset()) -> Path:
    """A BEIR directory of ``n`` documents (less ``skip``), for this test only: the first ``n`` of
    SciFact where it is at hand (VECSTORE_SCIFACT), else generated abstracts of the same shape, so
    that the test runs wherever CI clones the repository."""
    path.mkdir(parents=True, exist_ok=True)
    if (SCIFACT / "corpus.jsonl.gz").exists():
        with gzip.open(SCIFACT / "corpus.jsonl.gz", "rt") as fh:
            lines = list(islice(fh, n))
    else:
        rng = np.random.default_rng(0)
        words = [f"{a}{b}" for a in ("cell", "gene", "dose", "risk", "viral", "tumor", "trial", "brain")
                 for b in ("", "s", "al", "ic", "ness", "ome", "ing", "ed")]
        lines = [json.dumps({"_id": str(10_000 + i), "title": " ".join(rng.choice(words, 6)),
                             "text": "\n\n".join(". ".join(" ".join(rng.choice(words, rng.integers(8, 20)))
                                                            for _ in range(rng.integers(2, 6)))
                                                  for _ in range(rng.integers(1, 5)))}) + "\n" for i in range(n)]
    with open(path / "corpus.jsonl", "w") as out:
        out.writelines(line for line in lines if json.loads(line)["_id"] not in skip)
    return path


def _records(url: str, name: str) -> dict[str, vecstore.Record]:
    with vecstore.connect(url) as store:
        col = store.get_collection(name)
        out = {r.id: r for batch in col.iterate() for r in batch}
        assert len(out) == col.count()  # no id twice
        return out


def _same(a: dict[str, vecstore.Record], b: dict[str, vecstore.Record]) -> None:
    assert sorted(a) == sorted(b)
    for id_, rec in a.items():
        assert rec.text == b[id_].text and rec.metadata == b[id_].metadata, id_
    np.testing.assert_allclose(np.stack([a[i].vector for i in sorted(a)]), np.stack([b[i].vector for i in sorted(a)]),
                               atol=1e-5)


def test_ray_ingest_equals_single_process_reruns_nothing_and_prunes(local_ray, tmp_path, vecstore_url_for):
    chroma = vecstore_url_for("chroma", server=True)
    postgres = vecstore_url_for("pgvector", server=True)
    source = _beir(tmp_path / "sci", 1000)
    single = vecstore.ingest(str(source), [f"faiss://{tmp_path}/single"], "sci", cache=str(tmp_path / "c1.sqlite"))
    assert single.documents == 1000 and single.embedded > 0

    # servers only: written from the workers through the datasink, the real model in the actor
    servers = vecstore.ingest(str(source), [chroma, postgres], "sci", engine="ray", cache=str(tmp_path / "c2.sqlite"),
                              batch_size=64)
    assert (servers.documents, servers.chunks) == (single.documents, single.chunks)
    assert servers.embedded == single.embedded and servers.cache_hits == single.cache_hits
    assert [t.written for t in servers.targets] == [single.chunks] * 2
    # with a Faiss directory: the driver writes; the servers, checked in the workers, take nothing
    mixed = vecstore.ingest(str(source), [f"faiss://{tmp_path}/ray", chroma], "sci", engine="ray",
                            cache=str(tmp_path / "c2.sqlite"))
    assert mixed.embedded == 0 and [t.written for t in mixed.targets] == [single.chunks, 0]

    want = _records(f"faiss://{tmp_path}/single", "sci")
    for url in (f"faiss://{tmp_path}/ray", chroma, postgres):
        _same(want, _records(url, "sci"))
    assert vecstore.connect(chroma).get_collection("sci").info["embedding"] == \
        vecstore.connect(f"faiss://{tmp_path}/single").get_collection("sci").info["embedding"]

    again = vecstore.ingest(str(source), [f"faiss://{tmp_path}/ray", chroma, postgres], "sci", engine="ray",
                            cache=str(tmp_path / "c2.sqlite"))
    assert again.embedded == 0 and [t.written for t in again.targets] == [0, 0, 0]
    assert [t.skipped for t in again.targets] == [single.chunks] * 3

    removed = sorted({r.metadata["doc_id"] for r in want.values()})[::97][:10]
    smaller = _beir(tmp_path / "sci-less", 1000, set(removed))
    pruned = vecstore.ingest(str(smaller), [f"faiss://{tmp_path}/ray", chroma, postgres], "sci", engine="ray",
                             cache=str(tmp_path / "c2.sqlite"), prune=True)
    gone = {i for i, r in want.items() if r.metadata["doc_id"] in removed}
    assert len(removed) == 10 and gone
    assert [t.deleted for t in pruned.targets] == [len(gone)] * 3 and pruned.embedded == 0
    for url in (f"faiss://{tmp_path}/ray", chroma, postgres):
        assert sorted(_records(url, "sci")) == sorted(set(want) - gone)


def _sources(tmp_path: Path) -> dict[str, Path]:
    """The same 12 documents as JSONL, CSV, Parquet, a directory and a BEIR corpus (one of them
    empty, so that a document without chunks is in every source)."""
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"id": f"d{i}", "text": "" if i == 7 else f"Paragraph {i} about topic {i % 3}.\n\n" + "word " * (40 * i),
             "year": 2000 + i, "score": i / 3, "flag": i % 2 == 0, "tag": f"t{i % 4}"} for i in range(12)]
    out = {"jsonl": tmp_path / "docs.jsonl", "csv": tmp_path / "docs.csv", "parquet": tmp_path / "docs.parquet",
           "dir": tmp_path / "dir", "beir": tmp_path / "beir"}
    out["jsonl"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    with open(out["csv"], "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), out["parquet"])
    out["dir"].mkdir()
    for r in rows:
        (out["dir"] / f"{r['id']}.md").write_text(r["text"])
    out["beir"].mkdir()
    (out["beir"] / "corpus.jsonl").write_text("".join(json.dumps({"_id": r["id"], "title": r["tag"], "text": r["text"]})
                                                      + "\n" for r in rows))
    return out


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet", "dir", "beir"])
def test_every_source_kind_gives_the_single_process_records(local_ray, tmp_path, kind):
    source = str(_sources(tmp_path)[kind])
    single = vecstore.ingest(source, [f"faiss://{tmp_path}/single"], "c", model=HASH, chunking="chars",
                             chunk_size=120, overlap=20, cache=False)
    on_ray = vecstore.ingest(source, [f"faiss://{tmp_path}/ray"], "c", model=HASH, chunking="chars",
                             chunk_size=120, overlap=20, cache=False, engine="ray", batch_size=7)
    assert single.documents == on_ray.documents == 12 and single.chunks == on_ray.chunks > 12
    assert on_ray.targets[0].written == single.targets[0].written == single.chunks
    want = _records(f"faiss://{tmp_path}/single", "c")
    _same(want, _records(f"faiss://{tmp_path}/ray", "c"))
    if kind == "parquet":  # typed columns keep their types, on Ray as in one process
        for records in (want, _records(f"faiss://{tmp_path}/ray", "c")):
            meta = next(r for r in records.values() if r.metadata["doc_id"] == "d3").metadata
            assert [(type(meta[k]), meta[k]) for k in ("year", "score", "flag")] == [(int, 2003), (float, 1.0),
                                                                                     (bool, False)]


def test_an_edited_document_split_across_batches_keeps_every_current_chunk(local_ray, tmp_path, vecstore_url_for):
    """A long document whose last paragraph changes: its unchanged chunks keep their ids while the
    batches (2 chunks each) and write tasks carrying them run at once; stale chunks go only after
    every write, so none of the current ones is lost (deleting per batch lost them)."""
    chroma = vecstore_url_for("chroma", server=True)
    paragraphs = [f"Paragraph {i}: " + " ".join(f"w{i}x{j}" for j in range(15)) for i in range(12)]
    docs = tmp_path / "docs.jsonl"
    options = {"model": HASH, "chunking": "chars", "chunk_size": 100, "overlap": 0, "cache": False}

    def write(last: str) -> None:
        text = "\n\n".join([*paragraphs[:-1], last])
        docs.write_text(json.dumps({"id": "long", "text": text}) + "\n" + json.dumps({"id": "short", "text": "hi"}) + "\n")

    write(paragraphs[-1])
    targets = [f"faiss://{tmp_path}/ray", chroma]
    vecstore.ingest(str(docs), targets, "edit", engine="ray", batch_size=2, **options)
    vecstore.ingest(str(docs), [chroma], "edit-sink", engine="ray", batch_size=2, **options)  # workers write
    before = _records(f"faiss://{tmp_path}/ray", "edit")
    write("Paragraph 11 rewritten entirely.")
    for target, name in ((targets, "edit"), ([chroma], "edit-sink")):
        report = vecstore.ingest(str(docs), target, name, engine="ray", batch_size=2, **options)
        assert report.embedded >= 1 and all(t.deleted >= 1 for t in report.targets)
    single = vecstore.ingest(str(docs), [f"faiss://{tmp_path}/single"], "edit", **options)
    want = _records(f"faiss://{tmp_path}/single", "edit")
    assert len(want) == single.chunks > 10 and set(want) != set(before)
    for url, name in ((f"faiss://{tmp_path}/ray", "edit"), (chroma, "edit"), (chroma, "edit-sink")):
        _same(want, _records(url, name))


def test_a_run_that_fails_midway_leaves_no_stale_chunk(local_ray, tmp_path, vecstore_url_for):
    """Documents rewritten before a failure (a corrupt PDF) lose their old chunks anyway: a re-run
    would find them current and never look for stale chunks again. Ray usually writes batches
    before it reads the PDF; where it read the PDF first, nothing was rewritten and only the
    invariant is checked (trying again in the same process once hung a CI run, so it is not)."""
    chroma = vecstore_url_for("chroma", server=True)
    docs = tmp_path / "docs"
    docs.mkdir()
    options = {"model": HASH, "chunking": "chars", "chunk_size": 60, "overlap": 0, "cache": False,
               "engine": "ray", "batch_size": 2}
    for i in range(20):
        (docs / f"d{i:02}.md").write_text(f"Note {i}. " + " ".join(f"v1w{i}x{j}" for j in range(20)))
    for target in (f"faiss://{tmp_path}/f", chroma):
        vecstore.ingest(str(docs), [target], "fail", **options)
    for i in range(20):
        (docs / f"d{i:02}.md").write_text(f"Note {i}. " + " ".join(f"v2w{i}x{j}" for j in range(20)))
    (docs / "zz-broken.pdf").write_bytes(b"%PDF-1.4 this is not a PDF")
    written = 0
    for target in (f"faiss://{tmp_path}/f", chroma):  # the driver; the Datasink
        with pytest.raises(Exception, match="(?i)pdf|EOF|stream"):
            vecstore.ingest(str(docs), [target], "fail", **options)
        records = _records(target, "fail")
        by_doc: dict[str, set[str]] = {}
        for r in records.values():
            by_doc.setdefault(r.metadata["doc_id"], set()).add(r.metadata["doc_hash"])
        assert all(len(h) == 1 for h in by_doc.values()), {d: h for d, h in by_doc.items() if len(h) > 1}
        written += any("v2w" in r.text for r in records.values())
    assert written, "neither path wrote anything before the failure: the cleanup went untested"


def test_errors_keep_backend_and_url_across_processes():
    import pickle

    from vecstore.errors import BackendTimeoutError
    from vecstore.url import parse_url

    for cls in (BackendUnavailableError, BackendTimeoutError):
        err = pickle.loads(pickle.dumps(cls("search: down", backend="chroma", url="chroma://h:8000")))
        assert type(err) is cls and (err.backend, err.url) == ("chroma", "chroma://h:8000")
        assert str(err) == "search: down [chroma, chroma://h:8000]"
    assert "SEKRET" not in repr(parse_url("qdrant+https://u:pw@h:6333/?api_key=SEKRET"))
    assert "pw" not in repr(parse_url("postgresql://u:pw@h:5432/db"))


def _embedding_actor(local_ray, deadline: float) -> ray.actor.ActorHandle:
    from ray._private.state import actors

    while time.monotonic() < deadline:
        alive = [a for a in actors().values() if "_Embed" in a["ActorClassName"] and a["State"] == "ALIVE"]
        if alive:
            core = ray._private.worker.global_worker.core_worker
            return core.get_actor_handle(ray.ActorID.from_hex(alive[0]["ActorID"]))
        time.sleep(0.1)
    raise AssertionError("no embedding actor started")


def test_embedding_actor_killed_mid_run_leaves_no_duplicate_and_nothing_missing(local_ray, tmp_path,
                                                                               vecstore_url_for):
    chroma = vecstore_url_for("chroma", server=True)
    source = _beir(tmp_path / "sci", 300)
    # chunks by characters do not depend on the model: the ids a complete run must leave
    with vecstore.connect("faiss://") as memory:
        vecstore.ingest(str(source), [memory], "kill", model=HASH, chunking="chars", cache=False)
        want = {r.id for batch in memory.collection("kill").iterate(include_vectors=False) for r in batch}
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["report"] = vecstore.ingest(str(source), [chroma], "kill", chunking="chars", cache=False,
                                            engine="ray", batch_size=16)
        except BaseException as exc:  # noqa: BLE001 - reported below
            out["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    actor = _embedding_actor(local_ray, time.monotonic() + 120)
    with vecstore.connect(chroma) as store:  # kill it once it has embedded and written some
        while not store.has_collection("kill") or store.get_collection("kill").count() == 0:
            assert worker.is_alive(), out
            time.sleep(0.05)
        written_before = store.get_collection("kill").count()
    ray.kill(actor, no_restart=False)
    worker.join(600)
    assert "error" not in out, out.get("error")
    report = out["report"]
    assert written_before < len(want)  # the kill came mid-run
    assert report.chunks == len(want) == report.targets[0].written  # type: ignore[attr-defined]
    assert sorted(_records(chroma, "kill")) == sorted(want)  # _records: no id twice


def test_typed_errors_before_any_write(local_ray, tmp_path, monkeypatch):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "alpha beta"}) + "\n")
    target = f"faiss://{tmp_path}/t"
    with pytest.raises(ConfigError, match="no such file"):
        vecstore.ingest(str(tmp_path / "missing.jsonl"), [target], "c", model=HASH, engine="ray")
    dead = f"chroma://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnavailableError, match="127.0.0.1"):
        vecstore.ingest(str(docs), [target, dead], "c", model=HASH, engine="ray", cache=False)
    with pytest.raises(ConfigError, match="by name"):
        vecstore.ingest(str(docs), [target], "c", embedder=load_embedder(HASH), engine="ray")
    with pytest.raises(ConfigError, match="unknown engine"):
        vecstore.ingest(str(docs), [target], "c", model=HASH, engine="spark")
    with pytest.raises(ConfigError, match="only for engine='ray'"):
        vecstore.ingest(str(docs), [target], "c", model=HASH, embed_actors=2)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if vecstore[ray] were not installed
    with pytest.raises(BackendNotInstalledError, match=r"vecstore\[ray\]"):
        vecstore.ingest(str(docs), [target], "c", model=HASH, engine="ray")
    assert not (tmp_path / "t").exists() or not vecstore.connect(target).has_collection("c")


def test_import_and_single_process_path_never_import_ray(tmp_path):
    import subprocess

    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "alpha beta"}) + "\n")
    code = ("import sys, vecstore; from vecstore.pipeline.ingest import ingest; "
            f"ingest({str(docs)!r}, ['faiss://'], 'c', model={HASH!r}, cache=False); "
            "assert not [m for m in sys.modules if m == 'ray' or m.startswith('ray.')], 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_cli_engine_ray(local_ray, tmp_path, capsys):
    from vecstore.cli import main

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(5):
        (docs / f"d{i}.md").write_text(f"# note {i}\n\nsome words about topic {i} and more words")
    target = f"faiss://{tmp_path}/f"
    args = ["ingest", str(docs), "--to", target, "--collection", "notes", "--model", HASH, "--no-cache", "--json", "-q"]
    assert main([*args, "--engine", "ray", "--embed-actors", "1", "--batch-size", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["documents"] == 5 and report["targets"][0]["written"] == report["chunks"] > 0
    assert main(args) == 0  # the single-process pipeline finds everything current
    assert json.loads(capsys.readouterr().out)["targets"][0]["written"] == 0


def test_compare_clients_as_ray_actors_against_a_real_chroma_server(local_ray, tmp_path, vecstore_url_for):
    from tests.test_pipeline import make_beir
    from vecstore.compare import compare
    from vecstore.embed import HashEmbedder

    chroma = vecstore_url_for("chroma", server=True)
    data = make_beir(tmp_path / "beir", n=60)
    results = compare(data, [f"chroma={chroma}"], out=tmp_path / "out", embedder=HashEmbedder(32), cache=False,
                      repeat=2, warmup=1, concurrency=[1, 4], engine="ray")
    (row,) = results["backends"]
    assert row["status"] == "ok", row.get("error")
    assert [(lv["clients"], lv["kind"]) for lv in row["levels"]] == [(1, "ray actors"), (4, "ray actors")]
    for lv in row["levels"]:
        assert lv["queries"] == 2 * results["dataset"]["queries"] and lv["qps"] > 0
        assert lv["identical_topk"] == 1.0
    assert ray.is_initialized()  # the test's cluster, joined and left running
