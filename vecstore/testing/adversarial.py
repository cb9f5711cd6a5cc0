"""The contract under attack: suites that hunt for data loss, hangs and semantic drift.

:mod:`vecstore.testing.conformance` checks the contract on hand-picked cases.
These suites generate the cases, kill processes and race threads, so that a
bug shows up without anyone having guessed it.  Each is a mixin class, like the
conformance suite, and needs fixtures from the backend's test module:

``DifferentialTests`` (fixture ``store_factory``)
    Hypothesis draws records with mixed-type metadata (ints up to ±(2**53-1),
    floats, ``True`` beside ``1`` beside ``1.0``, empty and hostile strings,
    missing fields) and filter trees of every operator and combinator over a
    few keys.  Each example takes its values from one or two groups of values
    a backend might confuse (:data:`CONFUSABLE`), so that filters hit and near
    misses meet; six to twelve single comparisons per example are checked by
    ``count`` alone.  Every read is compared with the reference matcher
    (:func:`vecstore.filters.matches`) and numpy scores: ``count``,
    ``iterate`` (each match exactly once, data exact), exact search (the
    reference top-k, ties allowed to swap), approximate search (``min(k,
    matches)`` hits, all matching, scores right) and ``search_batch`` (the
    same answers).  Proves: the backend's filter compiler, type handling and
    score conversion mean what the reference means.
``HostileStringTests`` (``store_factory``)
    Valid but hostile strings (quotes, backslashes, newlines, injection
    attempts, unicode, a 1,000-character id, a 100,000-character text)
    round-trip exactly through every read and filter; invalid ones (NUL, lone
    surrogates, bad keys, ints past 2**53-1) are refused with
    ``InvalidInputError``/``FilterError`` and write nothing.
``ThreadTests`` (``store_factory``)
    One store shared by writer and reader threads for a few seconds: no
    exception, no hang, reads never go backwards, and everything written is
    there, exact, at the end.
``CrashTests`` (``location_url``: a fresh URL of a persistent store)
    A child process (:mod:`vecstore.testing.crashproc`) ingests acknowledged
    batches and is SIGKILLed at a random point (at a batch boundary or inside
    an ``upsert``), or exits without ``close()``; a *new* interpreter then
    finds every acknowledged record (``get``, ``search``, ``iterate``),
    writes more, and a third interpreter sees those writes.
``TwoProcessTests`` (``location_url`` and ``second_client``)
    While process A holds the store, process B opens it.  ``second_client`` is
    :data:`LOCKED` for embedded single-writer stores (B gets
    ``StoreLockedError``, promptly, A is unharmed, and once A closes or dies B
    opens it and finds A's data) or :data:`SHARED` for servers (both write,
    both see everything).

Failing Hypothesis examples are saved in Hypothesis's example database (by
default ``.hypothesis/`` in the working directory) and replayed first on the
next run; ``print_blob=True`` prints a ``@reproduce_failure`` line as well.
``VECSTORE_ADVERSARIAL_EXAMPLES`` raises the example budget (e.g. nightly);
``VECSTORE_ADVERSARIAL_SEED`` replays the random kill points of the process suites.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import queue
import random
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import vecstore
from vecstore import filters
from vecstore.errors import FilterError, InvalidInputError, UnsupportedOperationError
from vecstore.types import SCHEMA_TYPES, Hit, Record

from .conformance import StoreFixtures, reference_scores
from .crashproc import EXIT_LOCKED, record_problems, same_metadata, same_value

__all__ = [
    "HOSTILE",
    "INVALID",
    "LOCKED",
    "SHARED",
    "Case",
    "CrashTests",
    "DifferentialTests",
    "HostileStringTests",
    "StoreProcess",
    "ThreadTests",
    "TwoProcessTests",
    "cases",
    "check_case",
    "crash_scenario",
    "filter_trees",
    "run_differential",
    "run_threads",
    "two_process_scenario",
]

#: ``second_client``: a second process gets StoreLockedError while the first holds the store.
LOCKED = "locked"
#: ``second_client``: several processes use the store at once (a server).
SHARED = "shared"

TOLERANCE = 1e-4


def _new_name(prefix: str = "adv") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# == the differential test: generated data and filters against the reference ==================

KEYS = ("a", "b", "k-1", "_z")
#: Values a backend may confuse with each other (by type, rounding, case, quoting); an
#: example draws its values from one or two of these groups, so that the confusions meet.
CONFUSABLE: tuple[tuple[Any, ...], ...] = (
    (True, 1, 1.0, "1", "true", 2),
    (False, 0, 0.0, -0.0, "", "0", -1),
    (2**53 - 1, 2**53 - 2, -(2**53 - 1), 1e300, 9007199254740990.0),
    (0.5, 1e-7, 0.1, -1, 2, -2.5, 7),
    ("a", "A", " a", "a ", "ünï", "😀"),
    ('x" or id != "', "'; DROP TABLE x; --", "back\\slash", "new\nline", "x"),
)
VALUES: tuple[Any, ...] = tuple(v for group in CONFUSABLE for v in group)
_VALID_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)


@dataclasses.dataclass
class Case:
    """One generated example: records, the filters to check, queries and ``k``."""

    metric: str
    ids: list[str]
    texts: list[str | None]
    metadata: list[dict[str, Any]]
    filters: list[dict[str, Any] | None]
    probes: list[dict[str, Any]]  # single comparisons, checked by count() alone
    k: int
    batch_size: int
    vector_recipe: tuple[int, bool, tuple[tuple[int, int], ...]]  # seed, integer coordinates, copies
    query_picks: tuple[int, ...]  # a record's vector (< n) or a random one
    vectors: np.ndarray = dataclasses.field(repr=False)
    queries: np.ndarray = dataclasses.field(repr=False)
    #: versions written before the records' final ones: (record index, text, metadata), upserted
    #: with another record's vector; the final upsert must replace every part of them
    earlier: list[tuple[int, str | None, dict[str, Any]]] = dataclasses.field(default_factory=list)
    #: the collection's schema (:data:`SCHEMAS`): every record, earlier versions too, holds these
    schema: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def stored_metadata(self) -> list[dict[str, Any]]:
        """The metadata as the contract stores it (``-0.0`` becomes ``0.0``)."""
        return [{k: (0.0 if isinstance(v, float) and v == 0 else v) for k, v in m.items()} for m in self.metadata]

    def stored_vector(self, i: int) -> np.ndarray:
        v = self.vectors[i].astype(np.float64)
        return v / np.linalg.norm(v) if self.metric == "cosine" else v

    def record(self, i: int) -> Record:
        return Record(self.ids[i], self.stored_vector(i), self.texts[i], self.stored_metadata[i])


def _leaf(values: st.SearchStrategy[Any], numbers: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """``{key: value}`` or ``{key: {op: operand, ...}}`` with one to three operators."""

    def operand(op: str) -> st.SearchStrategy[Any]:
        if op in filters.RANGE_OPS:
            return numbers
        return st.lists(values, min_size=1, max_size=3) if op in ("$in", "$nin") else values

    ops = st.lists(st.sampled_from(filters.COMPARISONS), min_size=1, max_size=2, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({op: operand(op) for op in names})
    )
    key = st.sampled_from(KEYS)
    return st.one_of(st.builds(lambda k, v: {k: v}, key, values), st.builds(lambda k, o: {k: o}, key, ops))


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        out.update(part)
    return out


def filter_trees(values: st.SearchStrategy[Any], numbers: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Filters of every operator, ``$and``/``$or``/``$not`` and several fields in one dict."""

    def extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        some = st.lists(children, min_size=1, max_size=3)
        return st.one_of(
            some.map(lambda xs: {"$and": xs}),
            some.map(lambda xs: {"$or": xs}),
            children.map(lambda x: {"$not": x}),
            st.lists(children, min_size=2, max_size=3).map(_merge),
        )

    return st.recursive(_leaf(values, numbers), extend, max_leaves=6)


#: Schemas the schema variant of the differential draws from: every type, on fields that other
#: examples fill with anything, so that filters meet values of the other types there too.
SCHEMAS: tuple[dict[str, str], ...] = (
    {"a": "int", "b": "float", "k-1": "str"},
    {"a": "bool", "b": "int", "_z": "float"},
)
_TYPED_DEFAULTS: dict[str, st.SearchStrategy[Any]] = {
    "int": st.integers(-3, 3), "float": st.sampled_from([0.5, -1.5, 2.0, 0.1, -0.0]),
    "str": st.sampled_from(["a", "A", "", "1"]), "bool": st.booleans(),
}


def _typed(chosen: list[Any], kind: str) -> st.SearchStrategy[Any]:
    """Values of one schema type: the example's own where it has some (so filters meet them)."""
    mine = [v for v in chosen if type(v) is SCHEMA_TYPES[kind]]
    return st.sampled_from(mine) | _TYPED_DEFAULTS[kind] if mine else _TYPED_DEFAULTS[kind]


def _palette(draw: st.DrawFn) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any], list[Any]]:
    """A few values per example, from one or two :data:`CONFUSABLE` groups (so that filters hit
    and near-misses meet), and the numbers among them (for the range operators)."""
    groups = draw(st.lists(st.sampled_from(CONFUSABLE), min_size=1, max_size=2))
    pool = [v for g in groups for v in g]
    chosen = draw(st.lists(st.sampled_from(pool), min_size=3, max_size=6, unique_by=lambda v: (type(v), repr(v))))
    # arbitrary floats beside their neighbour one ulp up: rounding a backend does in storage or comparison
    for x in draw(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=2)):
        chosen += [x, math.nextafter(x, math.inf)] if math.isfinite(math.nextafter(x, math.inf)) else [x]
    nums = [v for v in chosen if isinstance(v, (int, float)) and not isinstance(v, bool)] or [0, 1.5]
    return st.sampled_from(chosen), st.sampled_from(nums), chosen


def _vectors(recipe: tuple[int, bool, tuple[tuple[int, int], ...]], n: int, dim: int) -> np.ndarray:
    seed, coarse, copies = recipe
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    if coarse:  # small integer coordinates: many exact ties
        x = np.round(x * 1.5)
        x[np.abs(x).sum(axis=1) == 0, 0] = 1.0
    for src, dst in copies:
        if src < n and dst < n:
            x[dst] = x[src]
    return x.astype(np.float32)


@st.composite
def cases(draw: st.DrawFn, dim: int = 6, max_records: int = 30, schemas: bool = False) -> Case:
    """A :class:`Case`: up to ``max_records`` records, two to five filter trees and six to twelve probes;
    ``schemas``: in a collection with one of :data:`SCHEMAS`, every record holding its fields."""
    values, numbers, chosen = _palette(draw)
    n = draw(st.integers(0, max_records))
    schema = draw(st.sampled_from(SCHEMAS)) if schemas else {}
    record_meta = st.fixed_dictionaries({k: _typed(chosen, t) for k, t in schema.items()},
                                        optional={k: values for k in KEYS if k not in schema})
    metas = draw(st.lists(record_meta, min_size=n, max_size=n))
    texts = draw(st.lists(st.none() | _VALID_TEXT, min_size=n, max_size=n))
    pair = st.tuples(st.integers(0, max_records - 1), st.integers(0, max_records - 1))
    recipe = (draw(st.integers(0, 2**16)), draw(st.booleans()), tuple(draw(st.lists(pair, max_size=3))))
    picks = tuple(draw(st.lists(st.integers(0, max_records + 5), min_size=1, max_size=3)))
    flts = draw(st.lists(st.one_of(filter_trees(values, numbers), filter_trees(values, numbers),
                                   st.sampled_from([None, {}])), min_size=2, max_size=5))
    probes = draw(st.lists(_leaf(values, numbers), min_size=6, max_size=12))
    earlier = draw(st.lists(st.tuples(st.integers(0, max(n - 1, 0)), st.none() | _VALID_TEXT, record_meta),
                            max_size=min(n, 8), unique_by=lambda e: e[0]))
    vectors = _vectors(recipe, n, dim)
    extra = _vectors((recipe[0] + 1, recipe[1], ()), len(picks), dim)
    queries = np.stack([vectors[p] if p < n else extra[i] for i, p in enumerate(picks)])
    return Case(draw(st.sampled_from(("cosine", "dot", "l2"))), [f"r{i}" for i in range(n)], texts, metas, flts,
                probes, draw(st.integers(1, 12)), draw(st.integers(1, 8)), recipe, picks, vectors, queries,
                earlier, dict(schema))


class _Scorer:
    """Compares contract scores with float32 slack: l2 in squared space, where the rounding lives."""

    def __init__(self, metric: str, queries: np.ndarray, vectors: np.ndarray) -> None:
        self.metric = metric
        qn = float(np.linalg.norm(queries, axis=1).max()) if len(queries) else 1.0
        xn = float(np.linalg.norm(vectors, axis=1).max()) if len(vectors) else 1.0
        scale = {"cosine": 1.0, "dot": qn * xn, "l2": (qn + xn) ** 2}[metric]
        self.tol = TOLERANCE * max(1.0, scale)

    def key(self, score: float) -> float:
        return -score * score if self.metric == "l2" else score

    def close(self, a: float, b: float) -> bool:
        return abs(self.key(a) - self.key(b)) <= self.tol


def _describe(case: Case, ids: Sequence[str] | set[str]) -> str:
    meta = case.stored_metadata
    shown = [f"{i}: {meta[int(i[1:])]!r}" for i in sorted(ids, key=lambda s: int(s[1:]))[:6]]
    return "; ".join(shown) + (f" (+{len(ids) - 6} more)" if len(ids) > 6 else "")


def _check_hits(hits: list[Hit], truth: dict[str, float], case: Case, scorer: _Scorer, ranked: bool, where: str) -> None:
    """``min(k, matches)`` distinct matching hits with the right scores, best first; ``ranked``: the true top-k."""
    ids = [h.id for h in hits]
    want = min(case.k, len(truth))
    assert len(hits) == want, f"{where}: {len(hits)} hits, expected {want} ({len(truth)} match): {ids}"
    assert len(set(ids)) == len(ids), f"{where}: an id returned twice: {ids}"
    stray = [i for i in ids if i not in truth]
    assert not stray, f"{where}: hits that do not match the filter: {_describe(case, stray)}"
    best = sorted(truth.values(), key=scorer.key, reverse=True)
    for rank, hit in enumerate(hits):
        i = int(hit.id[1:])
        assert scorer.close(hit.score, truth[hit.id]), f"{where}: {hit.id} scored {hit.score}, reference {truth[hit.id]}"
        assert hit.text == case.texts[i] and same_metadata(hit.metadata, case.stored_metadata[i]), (
            f"{where}: {hit.id} came back as text={hit.text!r} metadata={hit.metadata!r}")
        if rank and scorer.key(hit.score) > scorer.key(hits[rank - 1].score) + scorer.tol:
            raise AssertionError(f"{where}: hits not best first: {[(h.id, h.score) for h in hits]}")
        if ranked and not scorer.close(truth[hit.id], best[rank]):
            raise AssertionError(f"{where}: rank {rank} is {hit.id} (reference score {truth[hit.id]}), the true "
                                 f"top-{want} scores are {best[:want]}; got {ids}")


def _check_iterate(col: vecstore.Collection, case: Case, flt: dict[str, Any] | None, match: set[str], where: str) -> None:
    seen: Counter[str] = Counter()
    for batch in col.iterate(batch_size=case.batch_size, filter=flt):
        assert 0 < len(batch) <= case.batch_size, f"{where}: iterate batch of {len(batch)} (batch_size={case.batch_size})"
        for rec in batch:
            seen[rec.id] += 1
            if rec.id in match:
                problems = record_problems(case.record(int(rec.id[1:])), rec, atol=1e-5)
                assert not problems, f"{where}: iterate returned {problems}"
    twice = sorted(i for i, c in seen.items() if c > 1)
    assert not twice, f"{where}: iterate returned {twice} more than once"
    extra, missing = set(seen) - match, match - set(seen)
    assert not (extra or missing), (f"{where}: iterate returned records that do not match: {_describe(case, extra)}; "
                                    f"missed matching ones: {_describe(case, missing)}")


def _check_searches(col: vecstore.Collection, case: Case, flt: dict[str, Any] | None, match: list[int], where: str) -> None:
    stored = np.stack([case.stored_vector(i) for i in match]) if match else np.empty((0, col.dim))
    ref = reference_scores(case.metric, case.queries, stored) if match else np.empty((len(case.queries), 0))
    scorer = _Scorer(case.metric, case.queries, stored)
    truth = [{case.ids[i]: float(ref[qi, j]) for j, i in enumerate(match)} for qi in range(len(case.queries))]
    exact = col.store.capabilities.exact_search
    singles = []
    for qi, query in enumerate(case.queries):
        _check_hits(col.search(query, case.k, filter=flt), truth[qi], case, scorer, False, f"search q{qi} {where}")
        if exact:
            singles.append(col.search(query, case.k, filter=flt, exact=True))
            _check_hits(singles[-1], truth[qi], case, scorer, True, f"exact search q{qi} {where}")
    if not exact:
        with pytest.raises(UnsupportedOperationError):
            col.search(case.queries[0], case.k, filter=flt, exact=True)
    rows = col.search_batch(case.queries, case.k, filter=flt, exact=exact)
    assert len(rows) == len(case.queries), f"search_batch {where}: {len(rows)} rows for {len(case.queries)} queries"
    for qi, row in enumerate(rows):
        _check_hits(row, truth[qi], case, scorer, exact, f"search_batch q{qi} {where}")
        if exact:
            got, single = [truth[qi][h.id] for h in row], [truth[qi][h.id] for h in singles[qi]]
            assert all(scorer.close(a, b) for a, b in zip(got, single)), (
                f"search_batch q{qi} {where}: {[h.id for h in row]} but search gave {[h.id for h in singles[qi]]}")


def _check_filter(col: vecstore.Collection, case: Case, flt: dict[str, Any] | None) -> None:
    node = filters.parse(flt)
    match = [i for i, m in enumerate(case.stored_metadata) if filters.matches(node, m)]
    where = f"(filter={flt!r}, metric={case.metric}, k={case.k}, {len(case.ids)} records)"
    ids = {case.ids[i] for i in match}
    _check_iterate(col, case, flt, ids, where)
    got = col.count(flt)
    assert got == len(match), f"count {where}: {got}, the reference matcher says {len(match)}: {_describe(case, ids)}"
    _check_searches(col, case, flt, match, where)


def check_case(col: vecstore.Collection, case: Case) -> None:
    """Write the case's records into the (empty) collection, check every filter, delete them again."""
    left = col.count()
    assert left == 0, f"{left} records left over from the previous example: delete() did not delete them"
    try:
        if case.earlier:
            col.upsert(ids=[case.ids[i] for i, _, _ in case.earlier],
                       vectors=case.vectors[[(i + 1) % len(case.ids) for i, _, _ in case.earlier]],
                       texts=[text for _, text, _ in case.earlier], metadata=[meta for _, _, meta in case.earlier])
        if case.ids:
            col.upsert(ids=case.ids, vectors=case.vectors, texts=case.texts, metadata=case.metadata)
        for flt in case.filters:
            _check_filter(col, case, flt)
        for probe in case.probes:
            node = filters.parse(probe)
            want = [case.ids[i] for i, m in enumerate(case.stored_metadata) if filters.matches(node, m)]
            got = col.count(probe)
            assert got == len(want), f"count({probe!r}) is {got}, the reference matcher says {len(want)}: " + (
                _describe(case, case.ids))
    finally:
        if case.ids:
            col.delete(case.ids)


class _Collections:
    """One collection per metric, made on first use and reused by every example."""

    def __init__(self, store: vecstore.VectorStore, dim: int) -> None:
        self.store, self.dim = store, dim
        self.made: dict[tuple[str, str], vecstore.Collection] = {}

    def get(self, metric: str, schema: dict[str, str] | None = None) -> vecstore.Collection:
        key = (metric, repr(schema or {}))
        if key not in self.made:
            self.made[key] = self.store.collection(_new_name(f"adv-{metric}"), dim=self.dim, metric=metric,
                                                   schema=schema or None)
        return self.made[key]

    def drop(self) -> None:
        for col in self.made.values():
            with contextlib.suppress(vecstore.VecstoreError):
                self.store.drop_collection(col.name)


def run_differential(store: vecstore.VectorStore, max_examples: int = 40, dim: int = 6, schemas: bool = False,
                     **overrides: Any) -> None:
    """Run the property on ``store``: Hypothesis draws ``max_examples`` :class:`Case` s and shrinks a failure;
    ``schemas``: in collections with a schema (:data:`SCHEMAS`).
    ``overrides`` are more Hypothesis settings (``database=None``, ``derandomize=True``, ...)."""
    cols = _Collections(store, dim)
    options: dict[str, Any] = {
        "max_examples": max_examples, "deadline": None, "print_blob": True,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
        # one bug, shrunk to a minimal example, is the report; shrinking a second one doubles the time
        "report_multiple_bugs": False,
        "phases": [p for p in Phase if p is not Phase.explain],
        **overrides,
    }

    @settings(**options)
    @given(case=cases(dim, schemas=schemas))
    def reads_agree_with_reference(case: Case) -> None:
        check_case(cols.get(case.metric, case.schema), case)

    try:
        reads_agree_with_reference()
    finally:
        cols.drop()


# == hostile and invalid strings ===========================================================

HOSTILE = [
    'x" or id != "', "'; DROP TABLE x; --", 'quote"', "single'", "back\\slash", "trailing\\", "new\nline",
    "tab\tcr\r", "ünï©ødé", "😀 emoji", "\u200bzero width", "\ufeffbom", "$eq", '{"a": 1}', "%s %d {}",
    "../../etc/passwd", " spaced ", "*", "\\x00 (not a NUL)", "ctrl\x01\x1f", "中文", "a" * 200,
]
LONG_ID = ("id-é\"'\\" * 200)[:1000]
LONG_TEXT = ("long text ünï \"q\" \\ \n 😀 " * 5000)[:100_000]
INVALID = ["bad\ud800", "\udfff", "nul\x00byte", "\x00"]
VALID_KEYS = ["_", "A", "a-b", "_1", "x" * 64, "Z9_-"]
INVALID_KEYS = ["1a", "a b", "é", "x" * 65, "-a", "a.b", "$a", ""]


def _rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def check_hostile_round_trip(col: vecstore.Collection) -> None:
    """Hostile but valid ids, texts and values come back exactly through every read and filter."""
    vectors = _rows(len(HOSTILE) + 1, col.dim)
    recs = [Record(s, vectors[i], s, {"s": s, "i": i}) for i, s in enumerate(HOSTILE)]
    recs.append(Record("empty", vectors[-1], "", {"s": "", "i": len(HOSTILE)}))
    col.upsert(recs)
    ids = [r.id for r in recs]
    got = col.get(ids)
    assert [r.id for r in got] == ids, f"get lost or reordered ids: {sorted(set(ids) - {r.id for r in got})}"
    assert not [p for want, rec in zip(recs, got) for p in record_problems(want, rec)]
    seen = [r for batch in col.iterate(batch_size=5) for r in batch]
    assert sorted(r.id for r in seen) == sorted(ids)
    for i, rec in enumerate(recs):
        (hit,) = col.search(vectors[i], k=1)
        assert (hit.id, hit.text) == (rec.id, rec.text) and same_metadata(hit.metadata, rec.metadata), hit
        value = rec.metadata["s"]
        assert col.count({"s": value}) == 1, f"count({{'s': {value!r}}})"
        assert [r.id for b in col.iterate(filter={"s": {"$in": [value]}}) for r in b] == [rec.id], value
        assert col.count({"s": {"$ne": value}}) == len(recs) - 1, f"$ne {value!r}"
    half = ids[: len(ids) // 2]
    assert col.delete(half) == len(half)
    assert [r.id for r in col.get(ids)] == ids[len(half):]


def check_long_string(col: vecstore.Collection, id_: str, text: str) -> str:
    """A long id or text round-trips exactly, or is refused with InvalidInputError writing nothing."""
    vec = _rows(2, col.dim)
    try:
        col.upsert([Record("short", vec[0], "x"), Record(id_, vec[1], text)])
    except InvalidInputError:
        assert col.count() == 0 and col.get(["short", id_]) == [], "a refused batch was partly written"
        return "refused"
    got = col.get([id_])
    assert got and got[0].id == id_ and got[0].text == text, "long string changed on the way"
    (hit,) = col.search(vec[1], k=1)
    assert hit.id == id_ and hit.text == text
    assert col.delete([id_]) == 1 and col.get([id_]) == []
    return "stored"


def _refused_cases(dim: int) -> Iterator[tuple[str, Record]]:
    vec = _rows(1, dim, seed=5)[0]
    for bad in INVALID:
        yield f"id {bad!r}", Record(bad, vec)
        yield f"text {bad!r}", Record("t", vec, bad)
        yield f"value {bad!r}", Record("v", vec, None, {"s": bad})
        yield f"key {bad!r}", Record("k", vec, None, {bad: 1})
    for key in INVALID_KEYS:
        yield f"key {key!r}", Record("k", vec, None, {key: 1})
    for n in (2**53, -(2**53), 2**63 - 1):
        yield f"int {n}", Record("n", vec, None, {"n": n})


def check_invalid_input_refused(col: vecstore.Collection) -> None:
    """Every invalid string, key or int is refused with InvalidInputError, and nothing of the batch is written."""
    good = [Record(f"g{i}", v) for i, v in enumerate(_rows(3, col.dim))]
    for what, record in _refused_cases(col.dim):
        with pytest.raises(InvalidInputError):
            col.upsert([*good, record])
            raise AssertionError(f"{what} was accepted")
        assert col.count() == 0, f"{what}: refused, but {col.count()} records were written"
    for bad in INVALID:  # reading by an impossible id: nothing, or InvalidInputError; never a backend error
        for op in (col.get, col.delete):
            try:
                assert not op([bad]), f"{op.__name__}([{bad!r}]) found something"
            except InvalidInputError:
                pass


def _bad_filters() -> Iterator[dict[str, Any]]:
    for bad in INVALID:
        yield {"s": bad}
        yield {"s": {"$in": ["x", bad]}}
        yield {"s": {"$ne": bad}}
        yield {"$or": [{"s": "x"}, {"s": bad}]}
        yield {bad: 1}
    yield {"n": 2**53}  # beyond the ints metadata may hold
    yield {"n": {"$gt": -(2**53)}}


def check_invalid_filters_refused(col: vecstore.Collection) -> None:
    """NUL, lone surrogates and ints past ±(2**53-1) in filters raise FilterError on every operation, deleting nothing."""
    col.upsert([Record(f"r{i}", v, None, {"s": "x"}) for i, v in enumerate(_rows(4, col.dim))])
    query = np.ones(col.dim, dtype=np.float32)
    ops: dict[str, Callable[[dict[str, Any]], Any]] = {
        "count": col.count,
        "search": lambda f: col.search(query, k=2, filter=f),
        "search_batch": lambda f: col.search_batch(query[None], k=2, filter=f),
        "iterate": lambda f: list(col.iterate(filter=f)),
        "delete": lambda f: col.delete(filter=f),
    }
    for flt in _bad_filters():
        for name, op in ops.items():
            with pytest.raises(FilterError):
                op(flt)
                raise AssertionError(f"{name}(filter={flt!r}) did not raise FilterError")
    assert col.count() == 4


def check_key_and_number_edges(col: vecstore.Collection) -> None:
    """Valid odd keys, ±(2**53-1), tiny and huge floats round-trip and filter exactly; ``-0.0`` is stored as ``0.0``."""
    vec = _rows(4, col.dim, seed=9)
    meta: dict[str, Any] = {key: i for i, key in enumerate(VALID_KEYS)}
    meta.update(big=2**53 - 1, small=-(2**53 - 1), tiny=1e-300, huge=1e300, z=-0.0, one=1, onef=1.0, t=True)
    col.upsert([Record("m", vec[0], None, meta), Record("other", vec[1], None, {"big": 2**53 - 2, "one": 2})])
    want = {**meta, "z": 0.0}
    (rec,) = col.get(["m"])
    bad = {k: rec.metadata.get(k, "<missing>") for k in want if not same_value(rec.metadata.get(k), want[k])}
    assert not bad, f"came back changed: {bad} (sent {({k: want[k] for k in bad})})"
    for key in VALID_KEYS:
        assert col.count({key: meta[key]}) == 1, f"filter on key {key!r}"
    checks: dict[str, list[tuple[dict[str, Any], int]]] = {"big": [({"$eq": 2**53 - 1}, 1), ({"$gt": 2**53 - 2}, 1), ({"$gte": 2**53 - 2}, 2)],
              "small": [({"$lt": -(2**53 - 2)}, 1)], "z": [({"$eq": 0}, 1), ({"$eq": -0.0}, 1)],
              "tiny": [({"$gt": 0}, 1)], "one": [({"$eq": True}, 0), ({"$eq": 1.0}, 1)], "t": [({"$eq": 1}, 0)]}
    for key, pairs in checks.items():
        for spec, n in pairs:
            assert col.count({key: spec}) == n, f"count({{{key!r}: {spec!r}}}) should be {n}"


def check_floats_bit_exact(col: vecstore.Collection) -> None:
    """Ordinary floats (``random.random()``-like, ``normal(scale=1e3)``) and extreme ones, each
    beside its neighbour one ulp up, come back bit for bit and filter exactly.  Chroma 1.5 and
    Qdrant's engine parse stored floats with serde_json's default, rounding parser: about one
    in ten came back one ulp off, and ``$eq`` on the value written missed it."""
    rng = np.random.default_rng(13)
    base = [float(x) for x in rng.normal(scale=1e3, size=60)] + [float(x) for x in rng.uniform(-1, 1, 60)]
    base += [9007199254740990.0, 0.1, 1e-300, -1e300, 5e-324, 1.7976931348623157e308]
    values: dict[str, float] = {}
    for i, x in enumerate(base):
        up = math.nextafter(x, math.inf)
        values[f"a{i}"], values[f"b{i}"] = x, up if math.isfinite(up) else math.nextafter(x, 0.0)
    vecs = _rows(len(values), col.dim, seed=13)
    col.upsert([Record(id_, vecs[j], None, {"c": v}) for j, (id_, v) in enumerate(values.items())])
    back = {r.id: r.metadata.get("c") for batch in col.iterate() for r in batch}
    wrong = {i: (back.get(i), v) for i, v in values.items() if not same_value(back.get(i), v)}
    assert not wrong, f"{len(wrong)} of {len(values)} floats not read back exactly (got, sent): {list(wrong.items())[:3]}"
    picks = [base[i] for i in (0, 7, 61, 120, 121)] + [2**53 - 1]
    flts: list[dict[str, Any]] = [{"c": {op: v}} for op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte") for v in picks]
    flts.append({"c": {"$in": [picks[0], math.nextafter(picks[1], math.inf)]}})
    for flt in flts:
        node = filters.parse(flt)
        want = {i for i, v in values.items() if filters.matches(node, {"c": v})}
        got = {r.id for batch in col.iterate(filter=flt) for r in batch}
        assert got == want, f"filter {flt}: {len(got ^ want)} records differ, e.g. {sorted(got ^ want)[:3]}"
        assert col.count(flt) == len(want), f"count({flt})"


# == threads ===================================================================================


def thread_record(writer: int, batch: int, j: int, dim: int) -> Record:
    """The record writer ``writer`` puts at position ``j`` of its batch ``batch`` (a pure function)."""
    vec = np.random.default_rng([writer, batch, j]).normal(size=dim).astype(np.float32)
    return Record(f"w{writer}-{batch}-{j}", vec, f"w{writer} b{batch} \"{j}\"", {"w": writer, "b": batch, "j": j})


def _expected(id_: str, dim: int) -> Record:
    w, b, j = (int(x) for x in id_[1:].split("-"))
    return thread_record(w, b, j, dim)


class _Shared:
    """What the threads share: acknowledged ids, errors, the stop flag."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.written: list[str] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def snapshot(self) -> list[str]:
        with self.lock:
            return list(self.written)

    def guard(self, name: str, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # every failure is a finding: record it, stop everyone
                with self.lock:
                    self.errors.append(f"{name}: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}")
                self.stop.set()
        return run


def _writer(col: vecstore.Collection, shared: _Shared, w: int, batch: int, max_batches: int) -> None:
    for b in range(max_batches):
        if shared.stop.is_set():
            return
        records = [thread_record(w, b, j, col.dim) for j in range(batch)]
        col.upsert(records)
        with shared.lock:
            shared.written.extend(r.id for r in records)


def _read_once(col: vecstore.Collection, shared: _Shared, rng: random.Random, op: int, last: list[int]) -> None:
    known = shared.snapshot()
    if not known:
        return
    if op == 0:
        n = col.count()
        assert n >= max(len(known), last[0]), f"count() went back: {n} after {last[0]}, {len(known)} acknowledged"
        last[0] = n
    elif op == 1:
        ids = rng.sample(known, min(5, len(known)))
        got = col.get(ids)
        assert [r.id for r in got] == ids, f"get({ids}) returned {[r.id for r in got]}"
        assert not [p for r in got for p in record_problems(_expected(r.id, col.dim), r)]
    elif op == 2:
        id_ = rng.choice(known)
        hits = col.search(_expected(id_, col.dim).vector, k=3, exact=col.store.capabilities.exact_search)
        assert hits and hits[0].id == id_, f"search by {id_}'s own vector gave {[h.id for h in hits]}"
    else:
        w = rng.randrange(2)
        seen = Counter(r.id for b in col.iterate(batch_size=50, filter={"w": w}, include_vectors=False) for r in b)
        assert all(c == 1 for c in seen.values()), f"iterate returned duplicates: {[i for i, c in seen.items() if c > 1][:5]}"
        missing = {i for i in known if i.startswith(f"w{w}-")} - set(seen)
        assert not missing, f"iterate(filter={{'w': {w}}}) missed acknowledged {sorted(missing)[:5]}"


def _reader(col: vecstore.Collection, shared: _Shared, r: int) -> None:
    rng, last = random.Random(r), [0]
    op = r
    while not shared.stop.is_set():
        _read_once(col, shared, rng, op % 4, last)
        op += 1


def run_threads(store: vecstore.VectorStore, seconds: float = 3.0, writers: int = 2, readers: int = 3,
                batch: int = 20, max_batches: int = 60) -> None:
    """Share ``store`` between writer and reader threads for ``seconds``; then everything written must be there."""
    col = store.collection(_new_name("thr"), dim=8, metric="l2")
    shared = _Shared()
    threads = [threading.Thread(target=shared.guard(f"writer {w}", functools.partial(
        _writer, col, shared, w, batch, max_batches))) for w in range(writers)]
    threads += [threading.Thread(target=shared.guard(f"reader {r}", functools.partial(_reader, col, shared, r)))
                for r in range(readers)]
    try:
        for t in threads:
            t.start()
        shared.stop.wait(seconds)
        shared.stop.set()
        for t in threads:
            t.join(timeout=60)
        hung = [t.name for t in threads if t.is_alive()]
        assert not hung, f"threads still running 60 s after stop: {hung} (a hang or deadlock)"
        assert not shared.errors, "\n".join(shared.errors)
        _check_all_written(col, shared.written)
    finally:
        with contextlib.suppress(vecstore.VecstoreError):
            store.drop_collection(col.name)


def _check_all_written(col: vecstore.Collection, written: list[str]) -> None:
    assert written, "the writers wrote nothing"
    assert col.count() == len(written), f"count() is {col.count()}, {len(written)} records were written"
    got = {r.id: r for r in col.get(written)}
    assert len(got) == len(written), f"{len(written) - len(got)} written records missing"
    problems = [p for id_ in written for p in record_problems(_expected(id_, col.dim), got[id_])]
    assert not problems, problems[:5]
    seen = Counter(r.id for b in col.iterate(batch_size=333, include_vectors=False) for r in b)
    assert set(seen) == set(written) and max(seen.values()) == 1, "iterate() disagrees with what was written"


# == other processes: crashes, exits without close(), a second client =======================

BATCH_SIZE = 40


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(vecstore.__file__)))


class StoreProcess:
    """A ``python -m vecstore.testing.crashproc serve`` child: send it commands, read its lines, kill it."""

    def __init__(self, url: str, collection: str, *, seed: int, batch_size: int = BATCH_SIZE,
                 timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.transcript: list[str] = []
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (_package_root(), os.environ.get("PYTHONPATH")) if p)}
        self.args = [sys.executable, "-m", "vecstore.testing.crashproc", "serve", url, collection,
                     "--seed", str(seed), "--batch-size", str(batch_size)]
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     text=True, encoding="utf-8", start_new_session=True, env=env)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def send(self, command: str) -> None:
        self.transcript.append(f"> {command}")
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError):
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()

    def line(self, timeout: float | None = None) -> str | None:
        """The child's next line; ``None`` once it has exited."""
        try:
            line = self._lines.get(timeout=self.timeout if timeout is None else timeout)
        except queue.Empty:
            self.fail(f"no answer within {self.timeout:.0f} s: a hang")
        self.transcript.append(f"< {line}" if line is not None else f"< (exited, code {self.proc.wait()})")
        return line

    def expect(self, prefix: str) -> str:
        """Read until a line starting with ``prefix``; anything alarming on the way fails."""
        while True:
            line = self.line()
            if line is None:
                self.fail(f"exited before answering {prefix!r}")
            if line.startswith(prefix):
                return line
            if not line.startswith(("BEGIN", "ACK")):
                self.fail(f"expected {prefix!r}")

    def drain(self) -> list[str]:
        """Every line left (after a kill or an exit)."""
        out = []
        while (line := self.line()) is not None:
            out.append(line)
        return out

    def wait(self) -> int:
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"did not exit within {self.timeout:.0f} s")

    def kill(self) -> None:
        """SIGKILL the child and anything it started."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def fail(self, message: str) -> NoReturn:
        self._stderr.seek(0)
        err = self._stderr.read()[-3000:]
        self.kill()
        raise AssertionError(f"{message}\n  child: {' '.join(self.args[2:])}\n  "
                             + "\n  ".join(self.transcript[-30:]) + (f"\n  stderr: {err}" if err.strip() else ""))

    def close(self) -> None:
        """Ask for a clean close and expect exit code 0."""
        self.send("close")
        self.expect("CLOSED")
        code = self.wait()
        if code != 0:
            self.fail(f"exit code {code} after close")

    def __enter__(self) -> StoreProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()  # a no-op for a child that exited, but it also ends anything the child left behind
        self._stderr.close()


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[random.Random]:
    """A random source whose seed is named in any failure (replay: ``VECSTORE_ADVERSARIAL_SEED``)."""
    try:
        yield random.Random(seed)
    except AssertionError as exc:
        raise AssertionError(f"[VECSTORE_ADVERSARIAL_SEED={seed}] {exc}") from None


def _joined(batches: Sequence[int]) -> str:
    return ",".join(map(str, sorted(batches))) or "-"


def _verify_in_new_process(url: str, name: str, seed: int, acked: list[int], maybe: list[int], more: int) -> None:
    """A fresh interpreter finds ``acked``, writes batch ``more``; another fresh one finds both."""
    with StoreProcess(url, name, seed=seed) as proc:
        proc.expect("READY")
        proc.send(f"check {_joined(acked)} {_joined(maybe)}")
        proc.expect("OK")
        proc.send(f"write {more}")
        proc.expect(f"ACK {more}")
        proc.close()
    with StoreProcess(url, name, seed=seed) as proc:
        proc.expect("READY")
        proc.send(f"check {_joined([*acked, more])} {_joined(maybe)}")
        proc.expect("OK")
        proc.close()


def _kill_during_writes(proc: StoreProcess, how: str, rng: random.Random, batches: int) -> tuple[list[int], list[int]]:
    """Kill the writer after a random number of ACKs or inside a random upsert; return (acked, in flight)."""
    stop = rng.randrange(batches)
    if how == "kill-mid-batch":  # the child kills itself inside upsert number ``stop``
        if stop:
            proc.send(f"write 0 {stop}")
        proc.send(f"die-in {stop} {rng.uniform(0.0, 0.8):.3f}")
    elif stop == 0:
        proc.kill()  # before any write: the created collection alone must survive
    else:
        proc.send(f"write 0 {batches}")
        proc.expect(f"ACK {stop - 1}")
        proc.kill()  # the child may be inside the next upsert by now
    lines = proc.transcript + [f"< {x}" for x in proc.drain()]
    acked = sorted({int(x.split()[2]) for x in lines if x.startswith("< ACK")})
    begun = {int(x.split()[2]) for x in lines if x.startswith("< BEGIN")}
    return acked, sorted(begun - set(acked))


def crash_scenario(url: str, how: str, seed: int, batches: int = 6) -> None:
    """``how``: ``kill-at-ack``, ``kill-mid-batch``, ``exit-open`` (``sys.exit`` with the store open) or
    ``drop-unclosed`` (the store garbage collected without ``close()``, then a normal exit)."""
    name = _new_name("crash")
    with _seeded(seed) as rng:
        with StoreProcess(url, name, seed=seed) as proc:
            proc.expect("READY")
            if how in ("kill-at-ack", "kill-mid-batch"):
                acked, maybe = _kill_during_writes(proc, how, rng, batches)
            else:
                proc.send(f"write 0 {batches}")
                proc.expect(f"ACK {batches - 1}")
                proc.send("exit-open" if how == "exit-open" else "drop")
                code = proc.wait()
                if code != 0:
                    proc.fail(f"exit code {code}")
                acked, maybe = list(range(batches)), []
        _verify_in_new_process(url, name, seed, acked, maybe, more=100)


def _expect_locked(proc: StoreProcess) -> None:
    line = proc.line()
    if line != "LOCKED":
        proc.fail("the second process should get StoreLockedError while the first holds the store")
    code = proc.wait()
    if code != EXIT_LOCKED:
        proc.fail(f"exit code {code} after LOCKED")


def two_process_scenario(url: str, second_client: str, release: str, seed: int) -> None:
    """Process A holds the store (and has written) while process B opens it; see :class:`TwoProcessTests`."""
    name = _new_name("two")
    with _seeded(seed), StoreProcess(url, name, seed=seed) as a:
        a.expect("READY")
        a.send("write 0")
        a.expect("ACK 0")
        with StoreProcess(url, name, seed=seed) as b:
            if second_client == LOCKED:
                _expect_locked(b)
            else:
                b.expect("READY")
                b.send("write 1")
                b.expect("ACK 1")
                b.send("check 0,1")
                b.expect("OK")
                b.close()
            a.send("write 2")
            a.expect("ACK 2")
            a.send(f"check {'0,2' if second_client == LOCKED else '0,1,2'}")
            a.expect("OK")
            if release == "close":
                a.close()
            else:
                a.kill()
        with StoreProcess(url, name, seed=seed) as c:
            c.expect("READY")
            c.send("write 1" if second_client == LOCKED else "write 3")
            c.expect("ACK")
            c.send(f"check {'0,1,2' if second_client == LOCKED else '0,1,2,3'}")
            c.expect("OK")
            c.close()


# == the mixins ===============================================================================


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


class _StoreFixture(StoreFixtures):
    """The conformance suite's ``store`` and ``new_collection`` fixtures, and ``scratch``."""

    @pytest.fixture
    def scratch(self, new_collection: Callable[..., vecstore.Collection]) -> vecstore.Collection:
        """A fresh ``l2`` collection of dim 4, dropped afterwards."""
        return new_collection(dim=4, metric="l2")


class DifferentialTests(_StoreFixture):
    """Generated data and filters: every read agrees with the reference matcher and numpy."""

    @pytest.fixture
    def differential_examples(self) -> int:
        """Examples per run (override per backend; ``VECSTORE_ADVERSARIAL_EXAMPLES`` overrides all)."""
        return 40

    def test_reads_agree_with_reference(self, store: vecstore.VectorStore, differential_examples: int) -> None:
        run_differential(store, max_examples=_env_int("VECSTORE_ADVERSARIAL_EXAMPLES", differential_examples))

    def test_reads_agree_with_reference_under_a_schema(self, store: vecstore.VectorStore,
                                                       differential_examples: int) -> None:
        """The same, in collections whose schema requires typed fields (which Chroma stores untagged)."""
        run_differential(store, schemas=True,
                         max_examples=_env_int("VECSTORE_ADVERSARIAL_EXAMPLES", max(10, differential_examples // 2)))


class HostileStringTests(_StoreFixture):
    """Hostile valid strings round-trip exactly; invalid strings, keys and ints are refused, writing nothing."""

    def test_hostile_strings_round_trip(self, scratch: vecstore.Collection) -> None:
        check_hostile_round_trip(scratch)

    @pytest.mark.parametrize("what", ["id", "text"])
    def test_long_strings_round_trip_or_are_refused(self, scratch: vecstore.Collection, what: str) -> None:
        check_long_string(scratch, LONG_ID if what == "id" else "long", LONG_TEXT if what == "text" else "t")

    def test_invalid_input_is_refused(self, scratch: vecstore.Collection) -> None:
        check_invalid_input_refused(scratch)

    def test_invalid_strings_in_filters_are_refused(self, scratch: vecstore.Collection) -> None:
        check_invalid_filters_refused(scratch)

    def test_key_and_number_edges(self, scratch: vecstore.Collection) -> None:
        check_key_and_number_edges(scratch)

    def test_floats_bit_exact(self, scratch: vecstore.Collection) -> None:
        check_floats_bit_exact(scratch)


class ThreadTests(_StoreFixture):
    """One store object shared by writer and reader threads."""

    @pytest.fixture
    def thread_seconds(self) -> float:
        return 3.0

    def test_threads_share_one_store(self, store: vecstore.VectorStore, thread_seconds: float) -> None:
        run_threads(store, seconds=thread_seconds)


def _seed() -> int:
    return _env_int("VECSTORE_ADVERSARIAL_SEED", random.randrange(2**31))


class CrashTests:
    """Acknowledged writes survive SIGKILL and exits without ``close()`` (fixture ``location_url``)."""

    @pytest.mark.parametrize("how", ["kill-at-ack", "kill-mid-batch", "exit-open", "drop-unclosed"])
    def test_acknowledged_writes_survive(self, location_url: str, how: str) -> None:
        crash_scenario(location_url, how, _seed())


class TwoProcessTests:
    """A second process while the first holds the store (fixtures ``location_url`` and ``second_client``)."""

    @pytest.mark.parametrize("release", ["close", "kill"])
    def test_second_process(self, location_url: str, second_client: str, release: str) -> None:
        assert second_client in (LOCKED, SHARED), f"second_client must be {LOCKED!r} or {SHARED!r}"
        two_process_scenario(location_url, second_client, release, _seed())

