"""The conformance suite on Milvus Lite (Milvus's engine in process, from one
file), the filter compiler's injection safety, and a Milvus server where one
is reachable (MILVUS_URL)."""

from __future__ import annotations

import os
import time

import pytest

import vecstore
from vecstore.filters import parse
from vecstore.testing.conformance import ConformanceSuite

pytest.importorskip("pymilvus", reason="pymilvus is not installed: pip install 'vecstore[milvus]'")
pytest.importorskip("milvus_lite", reason="milvus-lite is not installed: pip install 'vecstore[milvus]'")

from vecstore.adapters.milvus.filters import compile_expr, literal  # noqa: E402


class TestMilvusLiteMemory(ConformanceSuite):
    @pytest.fixture
    def store_factory(self):
        return lambda: vecstore.connect("milvus://")


class TestMilvusLiteFile(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, tmp_path):
        return lambda: vecstore.connect(f"milvus://{tmp_path}/milvus.db")


class TestMilvusLiteHnsw(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, tmp_path):
        return lambda: vecstore.connect(f"milvus://{tmp_path}/hnsw.db")

    @pytest.fixture
    def collection_defaults(self):
        return {"index": "hnsw"}


HOSTILE = ['" or 1==1 or "', 'a"]) or (metadata["x', "back\\slash", 'quote"', "new\nline", "'single'", "ü/ß", ""]


@pytest.mark.parametrize("value", HOSTILE)
def test_string_values_stay_one_literal(value):
    expr = compile_expr(parse({"lang": value}))
    assert expr == f'(vs_types["lang"] == "s" and metadata["lang"] == {literal(value)})'
    import json

    assert json.loads(literal(value)) == value  # the literal decodes to exactly the value


def test_injection_attempts_match_nothing_and_break_nothing(tmp_path):
    with vecstore.connect(f"milvus://{tmp_path}/inj.db") as store:
        col = store.collection("inj", dim=2)
        records = [{"id": f"r{i}", "vector": [1.0, float(i)], "metadata": {"lang": v}} for i, v in enumerate(HOSTILE)]
        records.append({"id": "plain", "vector": [1.0, 0.5], "metadata": {"lang": "en"}})
        col.upsert(records)
        for i, value in enumerate(HOSTILE):
            assert [h.id for h in col.search([1.0, 0.0], k=20, filter={"lang": value})] == [f"r{i}"]
            assert col.count({"lang": {"$ne": value}}) == len(records) - 1
        assert col.count({"lang": '" or 1==1 or "x'}) == 0
        hostile_key = {'k"]': 'v"'}
        col.upsert([{"id": "key", "vector": [0.0, 1.0], "metadata": hostile_key}])
        assert [r.id for b in col.iterate(filter=hostile_key) for r in b] == ["key"]


def test_typed_equality_true_is_not_one():
    with vecstore.connect("milvus://") as store:
        col = store.collection("types", dim=2)
        col.upsert([{"id": "b", "vector": [1, 0], "metadata": {"v": True}}, {"id": "i", "vector": [0, 1], "metadata": {"v": 1}}])
        assert [r.id for b in col.iterate(filter={"v": True}) for r in b] == ["b"]
        assert [r.id for b in col.iterate(filter={"v": 1}) for r in b] == ["i"]


def test_too_long_text_writes_nothing():
    with vecstore.connect("milvus://") as store:
        col = store.collection("long", dim=2)
        with pytest.raises(vecstore.InvalidInputError, match="65535 bytes"):
            col.upsert([{"id": "ok", "vector": [1, 0]}, {"id": "x", "vector": [0, 1], "text": "é" * 40_000}], batch_size=1)
        assert col.count() == 0


def test_temporary_file_is_removed_on_close():
    store = vecstore.connect("milvus://")
    store.list_collections()
    path = store._tmpdir
    assert path and os.path.isdir(path)
    store.close()
    assert not os.path.exists(path)


def test_unreachable_server_raises_unavailable():
    start = time.monotonic()
    with pytest.raises(vecstore.BackendUnavailableError, match="127.0.0.1:1") as err:
        vecstore.connect("milvus://u:s3cret@127.0.0.1:1", timeout=3).collection("x", dim=4)
    assert time.monotonic() - start < 15 and "s3cret" not in str(err.value)


@pytest.fixture(scope="module")
def milvus_server(vecstore_url_for):
    """MILVUS_URL (vecstore's pytest plugin); Milvus containers are not started automatically."""
    return vecstore_url_for("milvus", server=True)


@pytest.mark.integration
class TestMilvusServer(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, milvus_server):
        return lambda: vecstore.connect(milvus_server)


def test_compare_includes_milvus_lite(tmp_path):
    from tests.test_pipeline import make_beir
    from vecstore.compare import compare
    from vecstore.embed import HashEmbedder

    results = compare(make_beir(tmp_path / "beir", n=50), ["milvus-flat=milvus://", "milvus-hnsw=milvus://?index=hnsw"],
                      embedder=HashEmbedder(32), cache=False, repeat=1, warmup=1, concurrency=2,
                      sweep={"ef_search": [8, 32]})
    flat, hnsw = results["backends"]
    assert flat["status"] == hnsw["status"] == "ok", (flat.get("error"), hnsw.get("error"))
    assert flat["recall@10"] == 1.0 and flat["filtered"]["recall@10"] == 1.0
    assert [s["value"] for s in hnsw["sweep"]] == [8, 32] and flat["sweep"] == []


def test_optimize_seals_and_indexes_everything():
    import numpy as np

    vectors = np.random.default_rng(0).normal(size=(2000, 16)).astype(np.float32)
    with vecstore.connect("milvus://") as store:
        col = store.collection("opt", dim=16, index="hnsw")
        col.upsert(ids=[str(i) for i in range(2000)], vectors=vectors)
        col.optimize()
        info = store._client.describe_index("opt", "vector")
        assert info["indexed_rows"] == info["total_rows"] == 2000 and info["pending_index_rows"] == 0
        assert col.count() == 2000 and col.search(vectors[7], k=1, ef_search=64)[0].id == "7"
