"""Issue 18, "first run and everyday CLI": nothing half-made, output people can act on."""

from __future__ import annotations

import importlib.util
import json
import logging

import pytest

import vecstore
from vecstore import cli

from .targets import pgvector_unusable

HASH_MODEL = "vecstore/hash-trigram-32"  # deterministic, no download


@pytest.fixture
def docs(tmp_path, monkeypatch):
    monkeypatch.setenv("VECSTORE_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i}.md").write_text(f"# Doc {i}\n\nThis is document {i} about subject {i}.")
    return folder


def _ingest(source, *targets, collection="notes"):
    args = ["ingest", str(source), "--collection", collection, "--model", HASH_MODEL, "-q"]
    for t in targets:
        args += ["--to", t]
    return cli.main(args)


def test_ingest_checks_every_target_before_creating_anything(docs, tmp_path, capsys):
    url = f"faiss://{tmp_path}/x"
    assert _ingest(docs, url, "qdrant://127.0.0.1:1?timeout=1") == 1
    err = capsys.readouterr().err
    assert "BackendUnavailable" in err or "cannot reach" in err
    with vecstore.connect(url) as store:
        assert store.list_collections() == []  # the reachable target got nothing either


def test_ingest_refuses_a_mismatched_target_before_writing_the_others(docs, tmp_path, capsys):
    a, b = f"faiss://{tmp_path}/a", f"faiss://{tmp_path}/b"
    with vecstore.connect(b) as store:
        store.collection("notes", dim=8)  # another dimension than the model's 32
    assert _ingest(docs, a, b) == 1
    assert "dim=8" in capsys.readouterr().err
    with vecstore.connect(a) as store:
        assert store.list_collections() == []


@pytest.mark.parametrize("source", ["/dev/null", "empty-dir"])
def test_no_documents_is_an_error_with_the_reason(source, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VECSTORE_CACHE_DIR", str(tmp_path / "cache"))
    if source == "empty-dir":
        source = str(tmp_path / "empty")
        (tmp_path / "empty").mkdir()
    url = f"faiss://{tmp_path}/y"
    assert _ingest(source, url, collection="x") == 1
    err = capsys.readouterr().err
    assert "nothing to ingest" in err and ("without text" in err or "no documents" in err)
    with vecstore.connect(url) as store:
        assert store.list_collections() == []


def test_search_without_hits_says_so(docs, tmp_path, capsys):
    url = f"faiss://{tmp_path}/s"
    assert _ingest(docs, url) == 0
    capsys.readouterr()
    flt = json.dumps({"format": "no-such-format"})
    assert cli.main(["search", "document", "--in", url, "--collection", "notes", "--filter", flt]) == 0
    assert capsys.readouterr().out.strip() == "no results (the filter matches 0 records)"
    assert cli.main(["search", "document", "--in", url, "--collection", "notes", "--filter", flt, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli.main(["search", "document 2", "--in", url, "--collection", "notes", "-k", "2", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 2 and hits[0]["id"].startswith("2.md#0")


def test_library_log_lines_stay_hidden_unless_verbose(capfd):
    noisy = logging.getLogger("pymilvus.test")
    noisy.addHandler(logging.StreamHandler())  # as pymilvus does for its own logger

    def run(*flags):
        real = cli._run
        cli._run = lambda args: (noisy.error("[ERROR][_log_rpc_error] from an SDK"), real(args))[1]
        try:
            assert cli.main([*flags, "backends"]) == 0
        finally:
            cli._run = real
        return capfd.readouterr().err

    assert "_log_rpc_error" not in run()
    assert "_log_rpc_error" in run("--verbose")
    noisy.error("after the command")  # logging is restored for the rest of the process
    assert "after the command" in capfd.readouterr().err


def test_open_gives_the_read_methods(docs, tmp_path):
    url = f"faiss://{tmp_path}/o"
    assert _ingest(docs, url) == 0
    with vecstore.open(url, "notes") as col:
        assert col.count() == 5 and col.count({"format": "md"}) == 5
        first = col.get(["0.md#0"]) or [r for b in col.iterate(2) for r in b][:1]
        assert len(first) == 1 and col.info["embedding"]["model"] == HASH_MODEL
        assert sum(len(b) for b in col.iterate(2)) == 5 and col.name == "notes"


def test_copy_keeps_the_index_and_says_what_changed(docs, tmp_path, capsys):
    src = f"faiss://{tmp_path}/src"
    assert cli.main(["ingest", str(docs), "--to", src, "--collection", "notes", "--model", HASH_MODEL, "-q",
                     "--index", "hnsw", "--index-option", "m=8"]) == 0
    capsys.readouterr()
    dst = f"faiss://{tmp_path}/dst"
    assert cli.main(["copy", src, "notes", dst, "-q"]) == 0
    with vecstore.connect(dst) as store:
        col = store.collection("notes")
        assert col.index == "hnsw" and col.settings.index_options == {"m": 8}
    capsys.readouterr()
    assert cli.main(["copy", src, "notes", f"chroma://{tmp_path}/chroma", "-q"]) == 0
    # Chroma's hnsw takes m; what it cannot take is the keyword index, and the copy says so
    assert capsys.readouterr().err.strip() == "note: chroma has no 'english' lexical analyzer: the copy has no lexical search"
    with vecstore.connect(f"chroma://{tmp_path}/chroma") as store:
        col = store.collection("notes")
        assert col.index == "hnsw" and col.settings.index_options == {"m": 8}
    ivf = f"faiss://{tmp_path}/ivf"
    assert cli.main(["ingest", str(docs), "--to", ivf, "--collection", "v", "--model", HASH_MODEL, "-q",
                     "--index", "ivf", "--index-option", "nlist=2"]) == 0
    capsys.readouterr()
    assert cli.main(["copy", ivf, "v", f"chroma://{tmp_path}/chroma2", "-q"]) == 0
    assert "has no 'ivf' index: the copy uses 'hnsw' (the source's options ['nlist'] are left out)" in \
        capsys.readouterr().err
    if importlib.util.find_spec("psycopg") and pgvector_unusable() is None:
        assert cli.main(["copy", ivf, "v", f"pgvector://{tmp_path}/pg", "-q"]) == 0
        assert "'ivf' index has no option nlist: left out of the copy" in capsys.readouterr().err
        with vecstore.connect(f"pgvector://{tmp_path}/pg") as store:
            assert store.collection("v").index == "ivf"


def test_copy_of_a_missing_collection_draws_no_progress_bar(tmp_path, capfd):
    url = f"faiss://{tmp_path}/empty"
    with vecstore.connect(url) as store:
        store.list_collections()
    assert cli.main(["copy", url, "missing", f"faiss://{tmp_path}/other"]) == 1
    err = capfd.readouterr().err
    assert "does not exist" in err and "rec/s" not in err and "copy:" not in err


# -- pictures and text people read ---------------------------------------------------------------


def _emb(n=5, seed=0):
    import numpy as np

    from vecstore.explore import Embeddings

    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 6))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return Embeddings(v, [f"d{i}" for i in range(n)], [f"text {i}" for i in range(n)], [{} for _ in range(n)], "m")


def test_neighbour_scores_align_when_negative():
    import numpy as np

    from vecstore.explore import neighbours_text

    emb = _emb()
    matrix = np.array([[1.0, -0.5, -0.25, 0.1, -0.05]] * 5)
    np.fill_diagonal(matrix, 1.0)
    rows = [line for line in neighbours_text(emb, matrix, n=3).splitlines() if line.startswith("     ")]
    assert {line[5] for line in rows} <= {"+", "-"}  # every score signed
    assert len({line.index("  ", 6) for line in rows}) == 1  # the texts start in one column
    assert any("-0.2500" in r for r in rows) and any("+0.1000" in r for r in rows)


def test_colour_scales_follow_the_off_diagonal_values(monkeypatch, tmp_path):
    import numpy as np

    from vecstore import explore

    figures = []
    monkeypatch.setattr(explore, "save", lambda fig, path: figures.append(fig) or path)
    emb = _emb()
    matrix = emb.vectors @ emb.vectors.T
    explore.heatmap_png(emb, matrix, tmp_path / "h.png")
    off = matrix[~np.eye(5, dtype=bool)]
    assert figures[0].axes[0].images[0].get_clim() == pytest.approx((off.min(), off.max()))


def test_map_legend_reads_in_natural_order(monkeypatch, tmp_path):
    import numpy as np

    from vecstore import explore

    figures = []
    monkeypatch.setattr(explore, "save", lambda fig, path: figures.append(fig) or path)
    groups = ["1"] * 9 + ["2"] * 7 + ["4"] * 5 + ["0"] * 3 + ["3"] * 2 + ["10"] * 1
    emb = _emb(len(groups))
    explore.map_png(emb, {"pca": np.random.default_rng(0).normal(size=(len(groups), 2))}, groups, tmp_path / "m.png")
    labels = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    assert labels == ["0", "1", "2", "3", "4", "10"]


def test_map_numbers_do_not_overlap(monkeypatch, tmp_path):
    import numpy as np

    from vecstore import _plot, explore

    figures = []
    monkeypatch.setattr(explore, "save", lambda fig, path: figures.append(fig) or path)
    boxes = []
    real = _plot.place_labels
    monkeypatch.setattr(explore, "place_labels", lambda *a, **k: boxes.extend(real(*a, **k)) or boxes)
    # 25 points close together on a line, and two that coincide: "3, 3" offsets would overlap
    xy = np.c_[np.r_[np.arange(25) * 0.01, 0.1, 0.1], np.r_[np.zeros(25), 1.0, 1.0]]
    explore.map_png(_emb(27), {"pca": xy}, ["a"] * 27, tmp_path / "m.png")
    texts = [t.get_text() for t in figures[0].axes[0].texts]
    assert sorted(texts, key=int) == [str(i) for i in range(1, 28)]
    overlapping = [(i, j) for i in range(len(boxes)) for j in range(i) if _plot._overlap(boxes[i], boxes[j]) > 0]
    assert overlapping == []
    naive = [(x, y, x + 10, y + 8) for x, y in figures[0].axes[0].transData.transform(xy)]
    assert any(_plot._overlap(a, b) > 0 for a in naive for b in naive if a is not b)  # the data do crowd


def test_every_backend_has_its_own_marker_in_recall_vs_qps(monkeypatch, tmp_path):
    from vecstore.compare import report

    figures = []
    monkeypatch.setattr(report, "save", lambda fig, path: figures.append(fig) or path)
    same = {"status": "ok", "recall@10": 1.0, "latency": {"qps": 500.0, "p50_ms": 1, "p95_ms": 1, "p99_ms": 1},
            "sweep": [], "latencies_ms": [1.0]}
    results = {"config": {"k": 10}, "backends": [{**same, "label": name} for name in ("a", "b", "c")],
               "overlap": {a: {b: 1.0 for b in "abc"} for a in "abc"}}
    try:
        report.plots(results, tmp_path)
    except (KeyError, TypeError):
        pass  # only the first figure matters here
    markers = [c.get_paths()[0].vertices.tobytes() for c in figures[0].axes[0].collections]
    assert len(set(markers)) == 3  # three backends at one point: three shapes, all visible


