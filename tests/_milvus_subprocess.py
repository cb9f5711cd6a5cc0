"""A Milvus Lite store in a process of its own, for tests/test_milvus.py (issue 13 items 2 and 13).

    python tests/_milvus_subprocess.py URL

Connects, opens collection ``c`` (creating it: dim 4, l2, hnsw) and prints ``READY``, or
``LOCKED <message>`` and exits 3 on :class:`vecstore.StoreLockedError`.  Then one command a line:

``write``      upsert :func:`records`, print ``ACK`` once ``upsert`` has returned
``check``      ``get``, ``iterate`` and ``search`` every record: ``OK <n>`` or ``FAIL <what>``
``close``      ``close()`` the store, print ``CLOSED``, and keep running (reading commands)
``exit-open``  ``sys.exit(0)`` with the store still open
``exit``       exit normally

Every line is flushed as it is written.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

import numpy as np

import vecstore

_open: list[Any] = []  # exit-open leaves the store here, unclosed


def records() -> list[vecstore.Record]:
    vectors = np.random.default_rng(0).normal(size=(24, 4)).astype(np.float32)
    ids = [f"r{i}" for i in range(20)] + ['x" or id != "', 'a"b', "back\\slash", "new\nline"]
    return [vecstore.Record(id_, vectors[i], f"text {i}", {"i": i}) for i, id_ in enumerate(ids)]


def check(col: vecstore.Collection) -> list[str]:
    want = {r.id: r for r in records()}
    got = {r.id: r for r in col.get(list(want))}
    problems = [f"get: {sorted(set(want) - set(got))} missing"] if set(got) != set(want) else []
    problems += [f"get: {i!r} differs" for i, r in got.items()
                 if r.metadata != want[i].metadata or r.text != want[i].text
                 or not np.allclose(r.vector, want[i].vector, atol=1e-5)]
    seen = [r.id for batch in itertools.islice(col.iterate(batch_size=7), len(want)) for r in batch]  # bounded
    if sorted(seen) != sorted(want):
        problems.append(f"iterate: {len(seen)} records, {len(set(seen))} distinct, of {len(want)}")
    lost = [r.id for r in want.values() if [h.id for h in col.search(r.vector, k=1)] != [r.id]]
    return problems + ([f"search: {lost} not found by their own vector"] if lost else [])


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def serve(url: str) -> int:
    try:
        store = vecstore.connect(url)
        col = store.collection("c", dim=4, metric="l2", index="hnsw")
    except vecstore.StoreLockedError as exc:
        say(f"LOCKED {exc}")
        return 3
    say("READY")
    for line in sys.stdin:
        command = line.strip()
        if command == "write":
            col.upsert(records())
            say("ACK")
        elif command == "check":
            problems = check(col)
            say(f"FAIL {'; '.join(problems)}" if problems else f"OK {col.count()}")
        elif command == "close":
            store.close()
            say("CLOSED")
        elif command == "exit-open":
            _open.append(store)
            sys.exit(0)
        elif command == "exit":
            break
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1]))
