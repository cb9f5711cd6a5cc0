"""The ingestion pipeline with a tiny deterministic embedder: loaders,
chunking, the cache, idempotent re-ingest, text search, copy and the CLI."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

import vecstore
from vecstore import cli
from vecstore.embed import HashEmbedder
from vecstore.errors import ConfigError, EmbeddingModelMismatchError
from vecstore.pipeline.cache import EmbeddingCache
from vecstore.pipeline.chunking import char_chunker, token_chunker, units
from vecstore.pipeline.loaders import BeirDataset, Document, html_to_text, load

pytest.importorskip("faiss", reason="faiss-cpu is not installed")


@pytest.fixture
def emb():
    return HashEmbedder(32, max_tokens=40)


@pytest.fixture
def cache(tmp_path):
    c = EmbeddingCache(tmp_path / "cache.sqlite")
    yield c
    c.close()


def docs(n=30, prefix="doc"):
    return [Document(f"{prefix}{i}", f"Title {i}.\n\nBody of document {i} about topic {i % 4}. " * (1 + i % 3),
                     {"topic": i % 4, "lang": "en" if i % 2 else "es"}) for i in range(n)]


# -- loaders -------------------------------------------------------------------------


def test_directory_loader(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("# A\n\nalpha")
    (tmp_path / "sub" / "b.txt").write_text("beta")
    (tmp_path / "c.html").write_text("<html><head><title>T</title><script>x=1</script></head><body><p>gamma</p><p>delta</p></body></html>")
    (tmp_path / "skip.bin").write_bytes(b"\0")
    got = {d.id: d for d in load(str(tmp_path))}
    assert sorted(got) == ["a.md", "c.html", "sub/b.txt"]
    assert got["c.html"].text == "gamma\n\ndelta" and got["c.html"].metadata["title"] == "T"
    assert got["sub/b.txt"].metadata["source"] == "sub/b.txt"
    assert [d.id for d in load(str(tmp_path), patterns=["*.md"])] == ["a.md"]


def test_html_to_text_drops_scripts_and_styles():
    title, text = html_to_text("<title>X</title><style>p{}</style><p>one  two</p><div>three</div>")
    assert title == "X" and text == "one two\n\nthree"


def test_jsonl_and_csv_loaders(tmp_path):
    rows = [{"key": "a", "body": "first", "lang": "en", "n": 3, "nested": {"x": 1}}, {"key": "b", "body": "second", "lang": "es", "n": 4}]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    got = list(load(str(tmp_path / "d.jsonl"), id_field="key", text_fields=["body"]))
    assert [(d.id, d.text, d.metadata) for d in got] == [("a", "first", {"lang": "en", "n": 3}), ("b", "second", {"lang": "es", "n": 4})]
    (tmp_path / "d.csv").write_text("id,text,lang\n1,hello,en\n2,hola,es\n")
    got = list(load(str(tmp_path / "d.csv")))
    assert [(d.id, d.text, d.metadata) for d in got] == [("1", "hello", {"lang": "en"}), ("2", "hola", {"lang": "es"})]
    with pytest.raises(vecstore.InvalidInputError, match="no id field"):
        list(load(str(tmp_path / "d.jsonl")))


def make_beir(path, n=12):
    path.mkdir(parents=True)
    with gzip.open(path / "corpus.jsonl.gz", "wt") as fh:
        for i in range(n):
            fh.write(json.dumps({"_id": str(i), "title": f"T{i}", "text": f"text {i}"}) + "\n")
    (path / "queries.jsonl").write_text("\n".join(json.dumps({"_id": f"q{i}", "text": f"query {i}"}) for i in range(4)))
    (path / "qrels").mkdir()
    (path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t1\t1\nq2\t2\t1\nq2\t3\t1\n")
    return path


def test_beir_loader(tmp_path):
    ds = BeirDataset(make_beir(tmp_path / "beir"))
    corpus = list(load(str(ds.path)))
    assert len(corpus) == 12 and corpus[1].text == "T1 text 1" and corpus[1].metadata == {"title": "T1"}
    assert ds.queries() == {"q1": "query 1", "q2": "query 2"}
    assert ds.qrels() == {"q1": {"1": 1}, "q2": {"2": 1, "3": 1}}
    assert len(ds.queries(split=None)) == 4


def test_missing_source():
    with pytest.raises(ConfigError, match="no such file"):
        load("/nonexistent/path")


# -- chunking ------------------------------------------------------------------------


def test_units_split_sentences_within_paragraphs():
    text = "One. Two!\n\nThree? Four"
    assert [text[a:b] for a, b in units(text)] == ["One.", "Two!", "Three?", "Four"]


def test_token_chunks_fit_the_model_and_keep_offsets(emb):
    text = " ".join(f"Sentence number {i} has six words." for i in range(40))
    chunker = token_chunker(emb, overlap=8)
    chunks = chunker.chunk(Document("d", text))
    assert len(chunks) > 1
    for c in chunks:
        assert text[c.start:c.end] == c.text
        assert len(emb.count_tokens([c.text])[0]) <= 40
        assert c.metadata["doc_id"] == "d" and c.metadata["chunk_index"] == c.index
    # overlap: each chunk starts with the last sentence of the previous one
    assert chunks[1].start < chunks[0].end
    assert [c.id for c in chunker.chunk(Document("d", text))] == [c.id for c in chunks]


def test_long_sentence_is_cut_between_tokens(emb):
    text = " ".join(f"w{i}" for i in range(100))
    chunks = token_chunker(emb, overlap=5).chunk(Document("d", text))
    assert all(len(c.text.split()) <= 40 for c in chunks)
    assert chunks[0].text.split()[0] == "w0" and chunks[-1].text.split()[-1] == "w99"


def test_char_chunker_prefers_paragraphs():
    text = ("a" * 300 + ". ") * 2 + "\n\n" + "b" * 200 + "."
    chunks = char_chunker(700, 0).chunk(Document("d", text))
    assert [c.text[0] for c in chunks] == ["a", "b"]


def test_bad_chunk_settings():
    with pytest.raises(ConfigError):
        char_chunker(100, 100)


# -- cache ---------------------------------------------------------------------------


def test_cache_roundtrip_and_model_separation(cache):
    vecs = np.arange(6, dtype=np.float32).reshape(2, 3)
    cache.put("m1", ["a", "b"], vecs)
    got = cache.get("m1", ["b", "x", "a"], 3)
    np.testing.assert_array_equal(got[0], vecs[1])
    assert got[1] is None
    np.testing.assert_array_equal(got[2], vecs[0])
    assert cache.get("m2", ["a"], 3) == [None]


# -- ingest --------------------------------------------------------------------------


def test_ingest_into_several_backends_embeds_once(tmp_path, emb, cache):
    targets = [f"faiss://{tmp_path}/f", f"chroma://{tmp_path}/c", f"qdrant://{tmp_path}/q"]
    report = vecstore.ingest(docs(), targets, "c", embedder=emb, cache=cache)
    assert report.documents == 30 and report.embedded == report.chunks == emb.calls
    assert [t.written for t in report.targets] == [report.chunks] * 3
    for url in targets:
        with vecstore.connect(url) as store:
            col = store.collection("c")
            assert col.count() == report.chunks
            assert col.info["embedding"]["model"] == emb.name

    again = vecstore.ingest(docs(), targets, "c", embedder=emb, cache=cache)
    assert again.embedded == 0 and [t.written for t in again.targets] == [0, 0, 0]
    assert [t.skipped for t in again.targets] == [report.chunks] * 3


def test_new_backend_later_is_filled_from_the_cache(tmp_path, emb, cache):
    vecstore.ingest(docs(), [f"faiss://{tmp_path}/f"], "c", embedder=emb, cache=cache)
    calls = emb.calls
    later = vecstore.ingest(docs(), ["chroma://"], "c", embedder=emb, cache=cache)
    assert emb.calls == calls and later.embedded == 0 and later.cache_hits == later.chunks


def test_changed_document_replaces_exactly_its_chunks(tmp_path, emb, cache):
    url = f"faiss://{tmp_path}/f"
    corpus = docs()
    vecstore.ingest(corpus, [url], "c", embedder=emb, cache=cache)
    with vecstore.connect(url) as store:
        before = {r.id for b in store.collection("c").iterate(include_vectors=False) for r in b}
    old5 = {i for i in before if i.startswith("doc5#")}
    corpus[5] = Document("doc5", "Entirely new text for document five.", corpus[5].metadata)
    report = vecstore.ingest(corpus, [url], "c", embedder=emb, cache=cache)
    assert report.embedded == 1 and report.targets[0].written == 1 and report.targets[0].deleted == len(old5)
    with vecstore.connect(url) as store:
        after = {r.id for b in store.collection("c").iterate(include_vectors=False) for r in b}
    assert before - after == old5 and len(after - before) == 1


def test_shortened_document_loses_its_tail_chunk(tmp_path, emb, cache):
    url = f"faiss://{tmp_path}/f"
    long_doc = Document("d", "\n\n".join(f"Paragraph {i} " + "word " * 30 for i in range(4)))
    vecstore.ingest([long_doc], [url], "c", embedder=emb, cache=cache)
    short = Document("d", long_doc.text.rsplit("\n\n", 1)[0])
    report = vecstore.ingest([short], [url], "c", embedder=emb, cache=cache)
    assert report.embedded == 0 and report.targets[0].deleted >= 1
    with vecstore.connect(url) as store:
        col = store.collection("c")
        texts = [r.text for b in col.iterate() for r in b]
        assert all("Paragraph 3" not in t for t in texts) and col.count() == len(token_chunker(emb).chunk(short))


def test_prune_removes_documents_gone_from_the_source(tmp_path, emb, cache):
    url = f"faiss://{tmp_path}/f"
    vecstore.ingest(docs(10), [url], "c", embedder=emb, cache=cache)
    report = vecstore.ingest(docs(6), [url], "c", embedder=emb, cache=cache, prune=True)
    with vecstore.connect(url) as store:
        ids = {r.metadata["doc_id"] for b in store.collection("c").iterate(include_vectors=False) for r in b}
    assert ids == {f"doc{i}" for i in range(6)} and report.targets[0].deleted > 0


def test_other_model_is_refused(tmp_path, cache):
    url = f"faiss://{tmp_path}/f"
    vecstore.ingest(docs(3), [url], "c", embedder=HashEmbedder(32), cache=cache)
    with pytest.raises(EmbeddingModelMismatchError, match="hash-trigram-32"):
        vecstore.ingest(docs(3), [url], "c", embedder=HashEmbedder(32, normalize=False), cache=cache)
    with pytest.raises(vecstore.CollectionConfigError):  # another dimension
        vecstore.ingest(docs(3), [url], "c", embedder=HashEmbedder(16), cache=cache)
    with pytest.raises(EmbeddingModelMismatchError):
        vecstore.open(url, "c", embedder=HashEmbedder(32, normalize=False))


def test_documents_stream_in_batches(emb, cache):
    consumed = []

    def stream():
        for i in range(500):
            consumed.append(i)
            yield Document(f"s{i}", f"streamed document {i}")

    seen_at_first_batch = []
    vecstore.ingest(stream(), ["faiss://"], "c", embedder=emb, cache=cache, batch_docs=50,
                    progress=lambda n: seen_at_first_batch.append(len(consumed)))
    assert seen_at_first_batch[0] <= 51 and len(seen_at_first_batch) == 10


def test_text_search_uses_the_collection_model(tmp_path, emb, cache):
    url = f"faiss://{tmp_path}/f"
    vecstore.ingest(docs(), [url], "c", embedder=emb, cache=cache)
    with vecstore.open(url, "c") as col:  # the model named in info: the hash embedder
        hits = col.search("Body of document 7 about topic 3", k=3, filter={"lang": "en"})
        assert hits[0].metadata["doc_id"] == "doc7" and all(h.metadata["lang"] == "en" for h in hits)


def test_copy_between_backends_keeps_vectors(tmp_path, emb, cache):
    src, dst = f"faiss://{tmp_path}/f", f"qdrant://{tmp_path}/q"
    vecstore.ingest(docs(), [src], "c", embedder=emb, cache=cache)
    calls = emb.calls
    query = emb.embed_queries(["topic 2"])[0]
    with vecstore.connect(src) as a:
        n = a.collection("c").count()
        want = [(h.id, round(h.score, 4)) for h in a.collection("c").search(query, k=5, exact=True)]
    assert vecstore.copy_collection(src, "c", dst, "copy") == n
    with vecstore.connect(dst) as b:
        copy = b.collection("copy")
        assert copy.count() == n and copy.info == {"embedding": emb.fingerprint()}
        assert [(h.id, round(h.score, 4)) for h in copy.search(query, k=5, exact=True)] == want
    assert emb.calls == calls + 1  # only the query above: nothing re-embedded


def test_cli_ingest_search_copy(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VECSTORE_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "docs").mkdir()
    for i in range(5):
        (tmp_path / "docs" / f"{i}.md").write_text(f"# Doc {i}\n\nThis is document {i} about subject {i}.")
    url = f"faiss://{tmp_path}/store"
    assert cli.main(["ingest", str(tmp_path / "docs"), "--to", url, "--collection", "cli",
                     "--model", "vecstore/hash-trigram-32", "-q", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["documents"] == 5 and report["targets"][0]["written"] == 5
    assert cli.main(["search", "document 3 about subject 3", "--in", url, "--collection", "cli", "-k", "2", "--json"]) == 0
    lines = json.loads(capsys.readouterr().out)
    assert len(lines) == 2 and lines[0]["id"].startswith("3.md#0") and set(lines[0]) == {"id", "score", "text", "metadata"}
    assert cli.main(["copy", url, "cli", "chroma:" + str(tmp_path / "chroma"), "-q"]) == 0
    assert "copied 5 records" in capsys.readouterr().out
    assert cli.main(["collections", "chroma:" + str(tmp_path / "chroma"), "-v"]) == 0
    assert "count=5" in capsys.readouterr().out
    assert cli.main(["search", "x", "--in", url, "--collection", "cli", "--filter", "{bad"]) == 1
    assert "--filter is not valid JSON" in capsys.readouterr().err


def test_pdf_loader(tmp_path):
    pytest.importorskip("pypdf", reason="pip install 'vecstore[pdf]'")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    fig.text(0.1, 0.5, "Vector search inside a PDF page")
    fig.savefig(tmp_path / "page.pdf")
    plt.close(fig)
    (doc,) = load(str(tmp_path), patterns=["*.pdf"])
    assert doc.id == "page.pdf" and "Vector search inside a PDF page" in doc.text and doc.metadata["format"] == "pdf"
