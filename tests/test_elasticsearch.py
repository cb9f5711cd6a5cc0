"""Elasticsearch: unit tests of our request building (mapping, kNN,
script_score, filters, score conversion) — tests of the translation, not a
stand-in for the server — and the conformance suite against a real server
where one is reachable (ELASTICSEARCH_URL or Docker)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

import vecstore
from vecstore.filters import parse
from vecstore.testing.conformance import ConformanceSuite

pytest.importorskip("elasticsearch", reason="the elasticsearch client is not installed: pip install 'vecstore[elasticsearch]'")

from vecstore.adapters.elasticsearch import requests as rq  # noqa: E402


def _settings(**kw):
    base = {"name": "c", "dim": 4, "metric": "cosine", "index": "hnsw", "index_options": {}, "info": {}}
    return {**base, **kw}


def test_mapping_is_explicit():
    m = rq.mapping(_settings(index_options={"m": 24, "ef_construction": 150}))
    vec = m["properties"]["vector"]
    assert vec == {"type": "dense_vector", "dims": 4, "index": True, "similarity": "cosine",
                   "index_options": {"type": "hnsw", "m": 24, "ef_construction": 150}}
    assert m["properties"]["id"] == {"type": "keyword"} and m["dynamic"] == "strict"
    assert m["_meta"]["vecstore"]["dim"] == 4
    assert m["properties"]["metadata"] == {"type": "object", "enabled": False}  # stored, never typed by ES
    kinds = {next(iter(t.values()))["path_match"]: next(iter(t.values()))["mapping"]["type"] for t in m["dynamic_templates"]}
    assert kinds == {"vs_s.*": "keyword", "vs_n.*": "double", "vs_b.*": "boolean"}
    assert all(m["properties"][f] == {"type": "object", "dynamic": True} for f in ("vs_s", "vs_n", "vs_b"))
    assert rq.has_typed_layout(m["properties"]) and not rq.has_typed_layout({"metadata": {}})


@pytest.mark.parametrize("metric, similarity", [("cosine", "cosine"), ("dot", "max_inner_product"), ("l2", "l2_norm")])
def test_similarity_per_metric(metric, similarity):
    assert rq.mapping(_settings(metric=metric))["properties"]["vector"]["similarity"] == similarity


def test_flat_and_quantized_index_types():
    assert rq.mapping(_settings(index="flat"))["properties"]["vector"]["index_options"] == {"type": "flat"}
    assert rq.mapping(_settings(index_options={"quantization": "int8"}))["properties"]["vector"]["index_options"]["type"] == "int8_hnsw"


def _es_score(metric, u, v):
    """Elasticsearch's documented _score for each similarity."""
    if metric == "cosine":
        return (1 + u @ v / (np.linalg.norm(u) * np.linalg.norm(v))) / 2
    if metric == "dot":
        d = u @ v
        return d + 1 if d >= 0 else 1 / (1 - d)
    return 1 / (1 + np.sum((u - v) ** 2))


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_score_conversion_inverts_elasticsearch(metric):
    rng = np.random.default_rng(0)
    for _ in range(200):
        u, v = rng.normal(size=8) * 3, rng.normal(size=8) * 3
        want = {"cosine": u @ v / (np.linalg.norm(u) * np.linalg.norm(v)), "dot": u @ v,
                "l2": -np.linalg.norm(u - v)}[metric]
        s = float(np.float32(_es_score(metric, u, v)))  # ES reports float32 scores
        assert math.isclose(rq.to_score(metric, s), want, rel_tol=1e-4, abs_tol=1e-4)


def test_knn_body_puts_filter_inside_knn():
    body = rq.knn_search([0.1, 0.2], 5, 50, {"term": {"metadata.lang": "es"}}, include_vectors=False)
    assert body["knn"] == {"field": "vector", "query_vector": [0.1, 0.2], "k": 5, "num_candidates": 50,
                           "filter": {"term": {"metadata.lang": "es"}}}
    assert body["size"] == 5 and "query" not in body
    assert rq.knn_search([0.1], 20, 10, None, False)["knn"]["num_candidates"] == 20  # never below k
    assert body["_source"] == {"includes": ["id", "text", "metadata"]}
    assert rq.knn_search([0.1], 1, 10, None, True)["_source"]["exclude_vectors"] is False


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_exact_body_is_script_score_over_the_filter(metric):
    body = rq.exact_search(metric, [1.0, 0.0], 3, {"range": {"metadata.year": {"gte": 2020}}}, False)
    ss = body["query"]["script_score"]
    assert ss["query"] == {"bool": {"filter": [{"range": {"metadata.year": {"gte": 2020}}}]}}
    assert ss["script"]["params"] == {"q": [1.0, 0.0]} and "vector" in ss["script"]["source"]
    assert rq.exact_search(metric, [1.0], 3, None, False)["query"]["script_score"]["query"] == {"match_all": {}}


@pytest.mark.parametrize(
    "flt, dsl",
    [
        ({"lang": "es"}, {"term": {"vs_s.lang": "es"}}),
        ({"year": "2020"}, {"term": {"vs_s.year": "2020"}}),  # a string never meets the numbers
        ({"year": 2020}, {"term": {"vs_n.year": 2020}}),
        ({"flag": True}, {"term": {"vs_b.flag": True}}),
        ({"year": {"$gte": 2020}}, {"range": {"vs_n.year": {"gte": 2020}}}),
        ({"lang": {"$in": ["a", "b"]}}, {"terms": {"vs_s.lang": ["a", "b"]}}),
        ({"v": {"$in": ["1", 1, True, 2.5]}},
         {"bool": {"should": [{"terms": {"vs_s.v": ["1"]}}, {"terms": {"vs_n.v": [1, 2.5]}},
                              {"terms": {"vs_b.v": [True]}}], "minimum_should_match": 1}}),
        ({"lang": {"$ne": "es"}}, {"bool": {"must_not": [{"term": {"vs_s.lang": "es"}}]}}),
        ({"lang": {"$nin": ["a"]}}, {"bool": {"must_not": [{"terms": {"vs_s.lang": ["a"]}}]}}),
        ({"$not": {"year": {"$lt": 5}}}, {"bool": {"must_not": [{"range": {"vs_n.year": {"lt": 5}}}]}}),
        ({"flag": True, "n": 2}, {"bool": {"filter": [{"term": {"vs_b.flag": True}}, {"term": {"vs_n.n": 2}}]}}),
        ({"$or": [{"a": 1}, {"b": "x"}]},
         {"bool": {"should": [{"term": {"vs_n.a": 1}}, {"term": {"vs_s.b": "x"}}], "minimum_should_match": 1}}),
        ({"$not": {"$or": [{"a": 1}, {"b": "x"}]}},
         {"bool": {"filter": [{"bool": {"must_not": [{"term": {"vs_n.a": 1}}]}},
                              {"bool": {"must_not": [{"term": {"vs_s.b": "x"}}]}}]}}),
    ],
)
def test_filter_compiler(flt, dsl):
    assert rq.compile_filter(parse(flt)) == dsl


def test_mixed_type_metadata_is_indexed_per_type():
    """The same key holds a string, a number and a boolean in three records: each value goes to
    the field of its type, so no record's bulk item can fail on a type fixed by an earlier one."""
    metas = [{"year": "2020", "x": 1}, {"year": 2020, "x": 1.5}, {"year": True}, {}]
    sources = [a["_source"] for a in rq.bulk_upsert_actions("c", ["a", "b", "c", "d"], [[1.0]] * 4, [None] * 4, metas)]
    assert sources[0]["vs_s"] == {"year": "2020"} and sources[0]["vs_n"] == {"x": 1}
    assert sources[1]["vs_n"] == {"year": 2020, "x": 1.5} and "vs_s" not in sources[1]
    assert sources[2]["vs_b"] == {"year": True}
    assert [s["metadata"] for s in sources] == metas  # returned as written
    assert not {"vs_s", "vs_n", "vs_b"} & set(sources[3])


# -- the compiled DSL, evaluated the way Elasticsearch evaluates these queries --------------------

def _field(doc, path):
    group, key = path.split(".", 1)
    return doc.get(group, {}).get(key, _MISSING)


_MISSING = object()
_RANGE = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}


def _same(path, have, want):
    if path.startswith("vs_n."):  # a double field: the query value is parsed as a number
        return float(have) == float(want)
    return type(have) is type(want) and have == want  # keyword: exact string; boolean: exact


def es_matches(query, doc):
    """term / terms / range / bool (filter, should + minimum_should_match 1, must_not) on a _source."""
    kind, body = next(iter(query.items()))
    if kind == "bool":
        ok = all(es_matches(q, doc) for q in body.get("filter", []))
        if "should" in body:
            ok = ok and any(es_matches(q, doc) for q in body["should"])
        return ok and not any(es_matches(q, doc) for q in body.get("must_not", []))
    path, want = next(iter(body.items()))
    have = _field(doc, path)
    if have is _MISSING:
        return False
    if kind == "term":
        return _same(path, have, want)
    if kind == "terms":
        return any(_same(path, have, w) for w in want)
    assert kind == "range" and path.startswith("vs_n.")
    return all(_RANGE[op](float(have), float(v)) for op, v in want.items())


def test_compiled_filters_agree_with_the_reference_semantics():
    """Hypothesis: mixed-type records and random filter trees (the adversarial suite's generators);
    the DSL, evaluated as Elasticsearch does, selects exactly what the contract's reference selects."""
    from hypothesis import HealthCheck, given, settings

    from vecstore.filters import matches
    from vecstore.testing.adversarial import cases

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(cases(max_records=25))
    def check(case):
        stored = case.stored_metadata
        docs = [a["_source"] for a in rq.bulk_upsert_actions("c", case.ids, [[1.0]] * len(case.ids),
                                                             case.texts, stored)]
        for flt in [*case.filters, *case.probes]:
            node = parse(flt)
            if node is None:
                continue
            dsl = rq.compile_filter(node)
            got = [i for i, doc in enumerate(docs) if es_matches(dsl, doc)]
            want = [i for i, meta in enumerate(stored) if matches(node, meta)]
            assert got == want, (flt, dsl)

    check()


def test_long_keyword_values_are_refused_before_writing():
    from vecstore.adapters.elasticsearch.store import ElasticsearchCollection
    from vecstore.store import Batch
    from vecstore.types import CollectionSettings

    store = vecstore.connect("es://localhost:9200")  # never contacted: validation comes first
    col = ElasticsearchCollection(store, CollectionSettings("c", 2))
    ok = Batch(["a"], np.zeros((1, 2), np.float32), [None], [{"k": "é" * 16_000}])
    col._validate_batch(ok)
    with pytest.raises(vecstore.InvalidInputError, match="32766 bytes"):
        col._validate_batch(Batch(["a"], np.zeros((1, 2), np.float32), [None], [{"k": "é" * 17_000}]))


def test_long_ids_are_hashed_short_ids_kept():
    assert rq.doc_id("doc-1#0") == "doc-1#0"
    long_id = "ü" * 300  # 600 bytes
    assert rq.doc_id(long_id).startswith("vs-sha256-") and rq.doc_id(long_id) == rq.doc_id(long_id)
    action = rq.bulk_upsert_actions("c", [long_id], [[1.0]], [None], [{}])[0]
    assert action["_source"]["id"] == long_id and action["_op_type"] == "index"


def test_registered_with_alias():
    assert type(vecstore.connect("es://localhost:9200")).__name__ == "ElasticsearchStore"
    with pytest.raises(vecstore.UnsupportedModeError):
        vecstore.connect("elasticsearch://")


def test_unreachable_server_raises_unavailable_without_password():
    start = time.monotonic()
    with pytest.raises(vecstore.BackendUnavailableError) as err:
        vecstore.connect("elasticsearch://u:secret@127.0.0.1:1").collection("x", dim=4)
    assert time.monotonic() - start < 10
    assert "secret" not in str(err.value) and "127.0.0.1:1" in str(err.value)


@pytest.fixture(scope="module")
def es_server(vecstore_url_for):
    """A real elasticsearch server: ELASTICSEARCH_URL or a testcontainers one (vecstore's pytest plugin)."""
    return vecstore_url_for("elasticsearch", server=True)


@pytest.mark.integration
class TestElasticsearchServer(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, es_server):
        return lambda: vecstore.connect(es_server)
