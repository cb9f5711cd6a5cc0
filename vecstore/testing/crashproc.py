"""A store in a process of its own, driven line by line over stdin/stdout: the
child half of the crash and two-process suites (:mod:`vecstore.testing.adversarial`).

::

    python -m vecstore.testing.crashproc serve URL COLLECTION [--seed 0] [--batch-size 40] [--dim 8]

The child connects, opens COLLECTION (creating it, metric ``l2``, when it does
not exist) and prints ``READY``; or ``LOCKED`` and exits 3 when the store raises
:class:`~vecstore.errors.StoreLockedError`.  Then it reads one command a line:

``write I [J]``
    upsert batch ``I`` (``I`` up to ``J - 1``), one ``upsert`` call each,
    printing ``BEGIN i`` before the call and ``ACK i`` once it has returned.
    An ``ACK`` is a promise: the parent may kill the child right after it.
``die-in I F``
    upsert batch ``I`` but SIGKILL itself ``F`` times a typical upsert's duration
    after starting it: a crash inside ``upsert`` (it dies right after ``ACK I``
    if the upsert was quicker).
``check A [M]``
    verify that the batches in the comma list ``A`` are all there and exact
    (``get``, ``search``, ``iterate``, ``count``); batches in ``M`` were in
    flight when a writer died and may be partly there, but what is there must
    be exact; nothing else may be.  Prints ``OK <records>`` or ``FAIL <what>``
    (and exits 1).  A record that only ``exact=True`` search finds fails the
    check, unless the backend declares that defect of its index
    (:attr:`~vecstore.store.VectorStore.ann_unreachable`) and it is one of a
    few (at most 2, or 5 %); ``OK`` then says how many.
``close``, or the end of stdin
    ``close()`` the store, print ``CLOSED``, exit 0.
``exit-open``
    ``sys.exit(0)`` with the store still open (a module global holds it).
``drop``
    return from the function that holds the only reference to the store, so it
    is garbage collected without ``close()``, then exit normally.

Any other exception prints ``ERROR <type>: <message>`` and exits 2.  Every line
is flushed as it is written.  Batch ``i``'s records are a pure function of
``(seed, i)`` (:func:`batch_records`), so a verifier in a *new* interpreter
regenerates exactly what the writer acknowledged.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

import vecstore
from vecstore.errors import StoreLockedError
from vecstore.types import Record

__all__ = ["batch_records", "main", "record_problems", "same_metadata", "same_value"]

#: Exit codes of ``serve``.
EXIT_FAILED, EXIT_ERROR, EXIT_LOCKED = 1, 2, 3

_left_open: Any = None  # ``exit-open`` parks the store here so nothing closes it
#: records the last ``check`` found only by exact search, on a backend that declares it may happen
_unreachable: list[str] = []


def batch_records(seed: int, batch: int, size: int, dim: int) -> list[Record]:
    """Batch ``batch`` of the deterministic data set ``seed``: ids ``b<batch>-r<j>``."""
    rng = np.random.default_rng([seed, batch])
    vectors = rng.normal(size=(size, dim)).astype(np.float32)
    return [
        Record(
            f"b{batch}-r{j}",
            vectors[j],
            f'text {batch}/{j} "quoted" ünï\nline',
            {"batch": batch, "j": j, "even": j % 2 == 0, "f": j / 4, "s": f"s{j % 3}"},
        )
        for j in range(size)
    ]


def same_value(a: Any, b: Any) -> bool:
    """Equal *and* of the same type (``True`` is not ``1``, ``1.0`` is not ``1``, ``-0.0`` is not ``0.0``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def same_metadata(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return set(a) == set(b) and all(same_value(a[k], b[k]) for k in a)


def record_problems(want: Record, got: Record, atol: float = 1e-5) -> list[str]:
    """What differs between an expected and a stored record (empty when they are equal)."""
    out = []
    if got.id != want.id:
        out.append(f"id {got.id!r} != {want.id!r}")
    if got.text != want.text:
        out.append(f"{want.id!r}: text {_short(got.text)} != {_short(want.text)}")
    if not same_metadata(got.metadata, want.metadata):
        out.append(f"{want.id!r}: metadata {got.metadata!r} != {want.metadata!r}")
    if got.vector is not None and want.vector is not None:
        g, w = np.asarray(got.vector, dtype=np.float64), np.asarray(want.vector, dtype=np.float64)
        if g.shape != w.shape or not np.allclose(g, w, atol=atol, rtol=1e-5):
            out.append(f"{want.id!r}: vector {g.tolist()} != {w.tolist()}")
    return out


def _short(text: str | None) -> str:
    return repr(text) if text is None or len(text) <= 60 else f"{text[:40]!r}...({len(text)} chars)"


def check_batches(col: vecstore.Collection, acked: Iterable[int], maybe: Iterable[int], seed: int, size: int) -> list[str]:
    """Problems with the stored batches: ``acked`` must be there and exact, ``maybe`` may be partial."""
    want = {r.id: r for b in acked for r in batch_records(seed, b, size, col.dim)}
    optional = {r.id: r for b in maybe for r in batch_records(seed, b, size, col.dim)}
    problems = []
    got = {r.id: r for r in col.get(list(want))}
    missing = sorted(set(want) - set(got))
    if missing:
        problems.append(f"get: {len(missing)} of {len(want)} acknowledged records missing, e.g. {missing[:5]}")
    problems += [p for id_, rec in got.items() for p in record_problems(want[id_], rec)]
    problems += _check_iterate(col, want, optional)
    problems += _check_search(col, want)
    return problems


def _check_iterate(col: vecstore.Collection, want: dict[str, Record], optional: dict[str, Record]) -> list[str]:
    seen: Counter[str] = Counter()
    problems = []
    for batch in col.iterate(batch_size=97):
        for rec in batch:
            seen[rec.id] += 1
            expected = want.get(rec.id) or optional.get(rec.id)
            if expected is None:
                problems.append(f"iterate: unexpected record {rec.id!r}")
            elif rec.id in optional:
                problems += record_problems(expected, rec)
    if set(want) - set(seen):
        problems.append(f"iterate: {len(set(want) - set(seen))} acknowledged records missing")
    twice = [i for i, n in seen.items() if n > 1]
    if twice:
        problems.append(f"iterate: {len(twice)} records returned more than once, e.g. {twice[:5]}")
    if col.count() != len(seen):
        problems.append(f"count() is {col.count()}, iterate() returned {len(seen)} records")
    return problems


def _check_search(col: vecstore.Collection, want: dict[str, Record]) -> list[str]:
    if not want:
        return []
    ids = list(want)
    rows = col.search_batch(np.stack([want[i].vector for i in ids]), k=1)
    lost = [i for i, row in zip(ids, rows) if not row or row[0].id != i]
    problems = []
    if lost:
        # stored but unreachable by the index, or gone?  exact search tells them apart
        exact = col.search_batch(np.stack([want[i].vector for i in lost]), k=1, exact=True)
        gone = [i for i, row in zip(lost, exact) if not row or row[0].id != i]
        if gone:
            problems.append(f"exact search: {len(gone)} records not found by their own vector, e.g. {gone[:5]}")
        known = col.store.ann_unreachable
        if known is None or len(lost) > max(2, len(ids) // 20):
            problems.append(f"search: {len(lost)} records not found by their own vector, e.g. {lost[:5]}")
        else:
            _unreachable.extend(lost)
    hits = col.search(want[ids[0]].vector, k=1)
    if not hits or hits[0].id != ids[0] or hits[0].text != want[ids[0]].text:
        problems.append(f"search: {ids[0]!r} by its own vector gave {hits!r}")
    return problems


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _batches(spec: str) -> list[int]:
    return [int(x) for x in spec.split(",") if x.strip()] if spec and spec != "-" else []


def _write(col: vecstore.Collection, batch: int, args: argparse.Namespace, took: list[float]) -> None:
    records = batch_records(args.seed, batch, args.batch_size, col.dim)
    _say(f"BEGIN {batch}")
    start = time.perf_counter()
    col.upsert(records)
    took.append(time.perf_counter() - start)
    _say(f"ACK {batch}")


def _die_during(col: vecstore.Collection, batch: int, fraction: float, args: argparse.Namespace, took: list[float]) -> None:
    """SIGKILL this process ``fraction`` of a typical upsert's time into writing ``batch``."""
    typical = sorted(took)[len(took) // 2] if took else 0.005
    timer = threading.Timer(fraction * typical, os.kill, (os.getpid(), signal.SIGKILL))
    timer.start()
    _write(col, batch, args, took)
    time.sleep(60)  # the upsert beat the timer: die idle, right after the ACK


def _run(col: vecstore.Collection, words: list[str], args: argparse.Namespace, took: list[float]) -> int | None:
    """Run one command; an exit code ends the session, ``None`` continues."""
    if words[0] == "write":
        first = int(words[1])
        for i in range(first, int(words[2]) if len(words) > 2 else first + 1):
            _write(col, i, args, took)
        return None
    if words[0] == "die-in":
        _die_during(col, int(words[1]), float(words[2]), args, took)
        return None
    if words[0] == "check":
        problems = check_batches(col, _batches(words[1]), _batches(words[2] if len(words) > 2 else ""),
                                 args.seed, args.batch_size)
        if problems:
            _say(f"FAIL {'; '.join(problems)[:4000]}")
        else:
            known = f" ({len(_unreachable)} unreachable by the backend's index, a known defect)" if _unreachable else ""
            _say(f"OK {col.count()}{known}")
            _unreachable.clear()
        return EXIT_FAILED if problems else None
    raise ValueError(f"unknown command {words!r}")


def _session(args: argparse.Namespace) -> str | int:
    """Open the store, then obey stdin; returns how it ended (``"drop"``, ``"exit-open"``) or an exit code."""
    global _left_open
    store = vecstore.connect(args.url)
    col = store.collection(args.collection, dim=args.dim, metric="l2")  # StoreLockedError: see main()
    took: list[float] = []  # seconds per upsert, for die-in
    _say("READY")
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] in ("drop", "exit-open"):
            if words[0] == "exit-open":
                _left_open = store
            return words[0]
        if words[0] == "close":
            break
        code = _run(col, words, args, took)
        if code is not None:
            return code
    store.close()
    _say("CLOSED")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vecstore.testing.crashproc", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("url")
    parser.add_argument("collection")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=40)
    parser.add_argument("--dim", type=int, default=8)
    args = parser.parse_args(argv)
    try:
        ended = _session(args)
    except StoreLockedError:
        _say("LOCKED")
        return EXIT_LOCKED
    except Exception as exc:
        _say(f"ERROR {type(exc).__name__}: {str(exc)[:2000]!r}")
        return EXIT_ERROR
    if ended == "exit-open":
        sys.exit(0)  # the store is still open: whatever it needs must already be on disk, or done at exit
    if ended == "drop":
        gc.collect()  # the store is unreachable now and collected without close()
        return 0
    assert isinstance(ended, int)
    return ended


if __name__ == "__main__":
    sys.exit(main())
