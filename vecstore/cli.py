"""The ``vecstore`` command line.

Each command imports what it needs inside its function, so ``vecstore --help``
and ``vecstore backends`` start without torch or any backend SDK.  Errors print
one line on stderr and exit with status 1 (2 for bad usage).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .errors import VecstoreError

Command = Callable[[argparse.Namespace], int]


def cmd_backends(args: argparse.Namespace) -> int:
    from .registry import backends

    rows: list[dict[str, Any]] = []
    for entry in backends():
        missing = entry.missing()
        status = "installed" if not missing else f"missing {', '.join(missing)}: {entry.install_hint}"
        rows.append({"scheme": entry.scheme, "modes": list(entry.modes), "usable": not missing, "status": status})
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    width = max(len(r["scheme"]) for r in rows)
    for row in rows:
        modes = ",".join(row["modes"]) or "-"
        print(f"{row['scheme']:<{width}}  {modes:<18}  {row['status']}")
    return 0


def cmd_collections(args: argparse.Namespace) -> int:
    from .registry import connect

    with connect(args.url) as store:
        for name in store.list_collections():
            if args.verbose:
                col = store.collection(name)
                print(f"{name}\tdim={col.dim}\tmetric={col.metric}\tindex={col.index}\tcount={col.count()}")
            else:
                print(name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vecstore",
        description="One vector-store contract for Faiss, Chroma, Qdrant and Elasticsearch.",
    )
    parser.add_argument("--version", action="version", version=f"vecstore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("backends", help="which backends are installed and usable")
    p.add_argument("--json", action="store_true", help="one JSON object per backend")
    p.set_defaults(func=cmd_backends)

    p = sub.add_parser("collections", help="list the collections at a store URL")
    p.add_argument("url", help="a store URL, e.g. faiss:///data/faiss")
    p.add_argument("-v", "--verbose", action="store_true", help="with dim, metric, index and count")
    p.set_defaults(func=cmd_collections)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


#: Modules add their commands here (``register(subparsers)``), keeping this file small.
_EXTRA_COMMANDS: list[Callable[[Any], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except VecstoreError as exc:
        print(f"vecstore: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vecstore: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
