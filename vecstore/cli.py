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


def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        from .errors import InvalidInputError

        raise InvalidInputError(f"{what} is not valid JSON: {exc}") from exc


def _index_options(pairs: list[str] | None) -> dict[str, Any]:
    """``--index-option m=16`` pairs; values parsed as JSON where they can be."""
    from .errors import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--index-option takes KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def cmd_ingest(args: argparse.Namespace) -> int:
    from .pipeline.ingest import ingest

    loader_options: dict[str, Any] = {}
    if args.glob:
        loader_options["patterns"] = args.glob
    if args.id_field:
        loader_options["id_field"] = args.id_field
    if args.text_field:
        loader_options["text_fields"] = [args.text_field]
    report = ingest(
        args.source,
        args.to,
        args.collection,
        model=args.model,
        metric=args.metric,
        index=args.index,
        index_options=_index_options(args.index_option),
        chunking=args.chunking,
        chunk_size=args.chunk_size,
        overlap=args.overlap,
        cache=False if args.no_cache else True,
        prune=args.prune,
        progress=not args.quiet,
        loader_options=loader_options,
        embedder_options=_embed_options(args),
        **_ray_options(args),
    )
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    print(
        f"{report.documents} documents, {report.chunks} chunks; embedded {report.embedded}"
        f" ({report.cache_hits} from cache) in {report.embed_seconds:.1f}s; total {report.seconds:.1f}s"
    )
    for t in report.targets:
        print(f"  {t.url}: wrote {t.written}, unchanged {t.skipped}, removed stale {t.deleted}")
    return 0


def _ray_options(args: argparse.Namespace) -> dict[str, Any]:
    """``ingest``'s engine and its Ray settings (given only with ``--engine ray``)."""
    options = {"ray_address": args.ray_address, "embed_actors": args.embed_actors,
               "gpus_per_actor": args.gpus_per_actor, "batch_size": args.batch_size}
    return {"engine": args.engine, **{k: v for k, v in options.items() if v is not None}}


def _embed_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("embedding inference (default: torch, fp32; see README \"Embedding variants\")")
    g.add_argument("--embed-backend", choices=["torch", "onnx", "openvino"], help="run the model on this runtime")
    g.add_argument("--quantize", choices=["int8"], help="int8 model (ONNX Runtime), exported once per CPU type")
    g.add_argument("--precision", choices=["fp32", "fp16"], help="fp16: torch on CUDA (with --device cuda)")
    g.add_argument("--device", help="torch device, e.g. cuda (default cpu)")


def _embed_options(args: argparse.Namespace) -> dict[str, Any]:
    """The embedder options the flags of :func:`_embed_flags` ask for (checked, nothing imported)."""
    from .embed import check_variant

    opts = {"backend": args.embed_backend, "quantize": args.quantize, "precision": args.precision,
            "device": args.device}
    opts = {k: v for k, v in opts.items() if v}
    if opts.get("quantize") and not opts.get("backend"):
        opts["backend"] = "onnx"  # int8 runs on ONNX Runtime
    check_variant(**{k: v for k, v in opts.items() if k != "device"})
    return opts


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def cmd_search(args: argparse.Namespace) -> int:
    from . import filters
    from .types import check_collection_name
    from .url import parse_url

    # every argument is checked before a backend SDK or the model is imported
    flt = _json_arg(args.filter, "--filter")
    filters.parse(flt)
    check_collection_name(args.collection)
    parse_url(args.url)

    from .textsearch import open_collection

    options = _embed_options(args)
    with open_collection(args.url, args.collection, model=args.model, accept_variant=args.accept_variant,
                         **options) as col:
        extra = {} if args.mode == "dense" else {"rrf_k": args.rrf_k, "alpha": args.alpha}
        hits = col.search(args.text, k=args.k, filter=flt, exact=args.exact, mode=args.mode, **extra)
        matched = col.count(flt) if not hits and flt is not None else None
    if args.json:
        print(json.dumps([hit.to_dict() for hit in hits], ensure_ascii=False))
        return 0
    if not hits:
        print("no results" + ("" if matched is None else f" (the filter matches {matched} records)"))
    for rank, hit in enumerate(hits, 1):
        text = " ".join((hit.text or "").split())
        print(f"{rank:>2}. {hit.score:+.4f}  {hit.id}\n    {text[:200]}")
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .textsearch import copy_collection

    bars: list[Any] = []

    def progress(n: int) -> None:  # the bar appears with the first records, not before an error
        if not bars:
            bars.append(tqdm(unit="rec", desc="copy", disable=args.quiet))
        bars[0].update(n)

    try:
        n = copy_collection(args.src_url, args.src_collection, args.dst_url, args.dst_collection,
                            index=args.index, progress=progress, on_change=lambda m: print(f"note: {m}", file=sys.stderr),
                            **_index_options(args.index_option))
    finally:
        for bar in bars:
            bar.close()
    print(f"copied {n} records to {args.dst_url} {args.dst_collection or args.src_collection}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare.config import CompareConfig, load_config, parse_backend, parse_sweep
    from .compare.report import table, write_all
    from .compare.run import run

    flags = {
        "k": args.k, "repeat": args.repeat, "warmup": args.warmup, "concurrency": args.concurrency,
        "model": args.model, "max_docs": args.max_docs, "max_queries": args.max_queries,
        "filter_field": args.filter_field, "queries": args.queries, "qrels": args.qrels,
        "sweep": parse_sweep(args.sweep) or None, "out": args.out,
        "embedding": _embed_options(args) or None, "embedders": args.embedder,
        "modes": args.mode, "engine": args.engine, "ray_address": args.ray_address,
        "while_ingesting": args.while_ingesting or None,
    }
    if args.no_filter:
        flags["filter_field"], flags["synthetic_filter"] = "", False
    backends = [parse_backend(b) for b in args.backend or []]
    if args.config:
        config = load_config(args.config, {**flags, **({"dataset": args.dataset} if args.dataset else {})})
        config.backends += backends
    else:
        from .errors import ConfigError

        if not args.dataset:
            raise ConfigError("compare needs a DATASET (or --config FILE)")
        config = CompareConfig(dataset=args.dataset, backends=backends,
                               **{k: v for k, v in flags.items() if v is not None})
    log = (lambda msg: None) if args.quiet else (lambda msg: print(f"[compare] {msg}", file=sys.stderr))
    results = run(config, log=log)
    written = write_all(results, config.out)
    print(table(results))
    from .compare.report import embedder_lines

    if results.get("embedders"):
        print("\n".join(embedder_lines(results)))
    print(f"\nwrote {', '.join(str(p) for p in written.values())}")
    return 0 if all(b["status"] == "ok" for b in results["backends"]) else 3


def _explore_embedder(args: argparse.Namespace) -> Any:
    options = _embed_options(args)
    if not options:
        return None
    from .embed import load_embedder

    return load_embedder(args.model, **options)


def cmd_explore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm.auto import tqdm

    from . import explore
    from .errors import ConfigError

    sources = sum(bool(x) for x in (args.texts or args.file, args.source, args.url))
    if sources != 1:
        raise ConfigError("explore takes one input: TEXT..., --file, --source PATH, or --from URL --collection NAME")
    if args.file:
        texts = [line.strip() for line in Path(args.file).read_text(encoding="utf-8").splitlines() if line.strip()]
        emb = explore.from_texts(texts, model=args.model, embedder=_explore_embedder(args))
    elif args.texts:
        emb = explore.from_texts(args.texts, model=args.model, embedder=_explore_embedder(args))
    elif args.source:
        emb = explore.from_source(args.source, model=args.model, embedder=_explore_embedder(args),
                                  max_items=args.max, seed=args.seed)
    else:
        if not args.collection:
            raise ConfigError("--from needs --collection NAME")
        emb = explore.from_collection(args.url, args.collection, max_items=args.max, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"items": len(emb), "model": emb.model, "seed": args.seed, "files": []}
    small = len(emb) <= 50
    if args.similarity or (small and not args.no_similarity):
        matrix = explore.similarity(emb)
        print(explore.similarity_table(emb, matrix))
        print()
        print(explore.neighbours_text(emb, matrix, n=min(3, len(emb) - 1)))
        report["files"] += [str(explore.write_similarity_csv(emb, matrix, out / "similarity.csv")),
                            str(explore.heatmap_png(emb, matrix, out / "similarity.png"))]
    clusters = None
    if args.clusters != "none" and len(emb) >= 3:
        k = None if args.clusters == "auto" else int(args.clusters)
        with tqdm(desc="k-means", unit="k", disable=args.quiet or k is not None) as bar:
            clusters = explore.kmeans(emb, k, seed=args.seed, progress=lambda _k: bar.update(1))
        print()
        print(explore.clusters_text(emb, clusters))
        report["clusters"] = {"k": clusters.k, "silhouette": clusters.silhouette, "scores": clusters.scores,
                              "summary": clusters.summary(emb)}
        if args.write_clusters:
            if not args.url:
                raise ConfigError("--write-clusters needs a collection (--from URL --collection NAME)")
            n = explore.write_cluster_labels(args.url, args.collection, emb, clusters, args.write_clusters)
            print(f"wrote {args.write_clusters!r} to {n} records")
    methods = [m for m in args.map.split(",") if m] if args.map else []
    if methods and len(emb) >= 3:
        with tqdm(total=len(methods), desc="projecting", disable=args.quiet) as bar:
            maps = explore.project_all(emb, methods, seed=args.seed, progress=lambda m: bar.set_postfix_str(m))
            bar.update(len(methods))
        colour_by = args.color_by or ("cluster" if clusters is not None else None)
        groups = explore.colours(emb, colour_by, clusters.labels if clusters is not None else None)
        report["files"] += [str(explore.map_png(emb, maps, groups, out / "map.png")),
                            str(explore.map_html(emb, maps, groups, out / "map.html"))]
        report["maps"] = {m: xy.round(5).tolist() for m, xy in maps.items()}
        report["ids"] = emb.ids
    explore.write_report(out / "explore.json", report)
    print(f"\nwrote {', '.join(report['files'] + [str(out / 'explore.json')])}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vecstore",
        description="One vector-store contract for Faiss, Chroma, Qdrant, Elasticsearch, Milvus and"
                    " PostgreSQL/pgvector.",
    )
    parser.add_argument("--version", action="version", version=f"vecstore {__version__}")
    parser.add_argument("--verbose", dest="show_logs", action="store_true",
                        help="let libraries' log lines and warnings through (hidden by default)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("backends", help="which backends are installed and usable")
    p.add_argument("--json", action="store_true", help="one JSON object per backend")
    p.set_defaults(func=cmd_backends)

    p = sub.add_parser("collections", help="list the collections at a store URL")
    p.add_argument("url", help="a store URL, e.g. faiss:///data/faiss")
    p.add_argument("-v", "--verbose", action="store_true", help="with dim, metric, index and count")
    p.set_defaults(func=cmd_collections)

    p = sub.add_parser("ingest", help="load, chunk, embed once and write to one or more stores")
    p.add_argument("source", help="a directory, a .jsonl/.csv file, a BEIR directory, or one document")
    p.add_argument("--to", action="append", required=True, metavar="URL", help="a store URL (repeatable)")
    p.add_argument("--collection", required=True)
    p.add_argument("--model", help="sentence-transformers model (default all-MiniLM-L6-v2)")
    p.add_argument("--metric", choices=["cosine", "dot", "l2"])
    p.add_argument("--index", choices=["flat", "hnsw", "ivf"])
    p.add_argument("--index-option", action="append", metavar="KEY=VALUE", help="e.g. m=32 (repeatable)")
    p.add_argument("--chunking", choices=["tokens", "chars"], default="tokens")
    p.add_argument("--chunk-size", type=int, help="tokens (default: the model's maximum) or characters (1000)")
    p.add_argument("--overlap", type=int)
    p.add_argument("--glob", action="append", help="file patterns for a directory (repeatable)")
    p.add_argument("--id-field", help="id field of .jsonl/.csv rows (default id)")
    p.add_argument("--text-field", help="text field of .jsonl/.csv rows (default text)")
    p.add_argument("--prune", action="store_true", help="also delete chunks of documents no longer in the source")
    p.add_argument("--no-cache", action="store_true", help="do not use the embedding cache")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ray = p.add_argument_group("Ray (--engine ray, needs vecstore[ray])")
    ray.add_argument("--engine", choices=["local", "ray"], default="local",
                     help="local: this process; ray: load, chunk and embed on a Ray cluster (default local)")
    ray.add_argument("--ray-address", help="the cluster to join, e.g. auto or ray://head:10001 (default: RAY_ADDRESS,"
                     " else a local Ray)")
    ray.add_argument("--embed-actors", type=int, help="embedding actors, each loading the model once (default 1)")
    ray.add_argument("--gpus-per-actor", type=float, help="GPUs per embedding actor (default 0: CPU)")
    ray.add_argument("--batch-size", type=int, help="chunks per embedding batch and per write (default 256)")
    _embed_flags(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", help="search a collection by text")
    p.add_argument("text")
    p.add_argument("--in", dest="url", required=True, metavar="URL")
    p.add_argument("--collection", required=True)
    p.add_argument("-k", type=_positive_int, default=5)
    p.add_argument("--filter", help='JSON, e.g. \'{"lang": "en"}\'')
    p.add_argument("--exact", action="store_true", help="exact (brute-force) search")
    p.add_argument("--mode", choices=["dense", "lexical", "hybrid"], default="dense",
                   help="dense (by embedding, the default), lexical (the backend's keyword index) or hybrid (both, fused)")
    p.add_argument("--rrf-k", type=float, default=60, help="hybrid: reciprocal rank fusion constant (default 60)")
    p.add_argument("--alpha", type=float, help="hybrid: weighted fusion alpha*dense + (1-alpha)*lexical instead of RRF")
    p.add_argument("--model", help="override the collection's recorded model (must match it)")
    p.add_argument("--json", action="store_true", help="one JSON object per hit")
    p.add_argument("--accept-variant", action="store_true",
                   help="search with another inference variant than the collection's (e.g. int8 on fp32 vectors)")
    _embed_flags(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("copy", help="copy a collection to another store without re-embedding")
    p.add_argument("src_url")
    p.add_argument("src_collection")
    p.add_argument("dst_url")
    p.add_argument("dst_collection", nargs="?")
    p.add_argument("--index", choices=["flat", "hnsw", "ivf"])
    p.add_argument("--index-option", action="append", metavar="KEY=VALUE")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_copy)

    p = sub.add_parser("compare", help="run identical queries on several backends and report quality and speed")
    p.add_argument("dataset", nargs="?", help="a BEIR directory, documents with --queries, or a generated"
                   " workload: 'synthetic:clustered?n=100000&dim=384&queries=200'")
    p.add_argument("--backend", action="append", metavar="[LABEL=]URL",
                   help="e.g. faiss:// or hnsw=faiss://?index=hnsw&m=32 (repeatable)")
    p.add_argument("--config", help="a TOML or YAML file with the whole comparison")
    p.add_argument("--out", help="output directory (default compare-out)")
    p.add_argument("-k", type=int, help="results per query (default 10)")
    p.add_argument("--repeat", type=int, help="timed repetitions of the query set (default 3)")
    p.add_argument("--warmup", type=int, help="warm-up queries, excluded (default 10)")
    p.add_argument("--concurrency", metavar="N[,N...]", help="clients sending the queries at once, one level each,"
                   " e.g. 1,4,16: processes (Ray actors with --engine ray) for a server, threads for a store in this"
                   " process (default 4)")
    p.add_argument("--engine", choices=["local", "ray"], help="local: client processes; ray: client actors on a Ray"
                   " cluster (needs vecstore[ray])")
    p.add_argument("--ray-address", help="the Ray cluster for --engine ray (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--while-ingesting", action="store_true",
                   help="also measure the highest level while the corpus is upserted again")
    p.add_argument("--sweep", action="append", metavar="PARAM=V1,V2", help="e.g. ef_search=16,32,64,128")
    p.add_argument("--model", help="embedding model (default all-MiniLM-L6-v2)")
    p.add_argument("--mode", help="search modes to measure, comma-separated: dense,lexical,hybrid (default dense)")
    p.add_argument("--max-docs", type=int, help="use only the first N documents")
    p.add_argument("--max-queries", type=int, help="use only the first N queries")
    p.add_argument("--filter-field", help="metadata field for the filtered run (default: a synthetic 10 %% bucket)")
    p.add_argument("--no-filter", action="store_true", help="skip the filtered run")
    p.add_argument("--queries", help="queries .jsonl (id, text) for a non-BEIR dataset")
    p.add_argument("--qrels", help="judgments .tsv (query-id, corpus-id, score) for a non-BEIR dataset")
    p.add_argument("--embedder", action="append", metavar="[LABEL=]BACKEND[:int8|:fp16][@MODEL]",
                   help="also compare this embedding variant, e.g. onnx:int8, openvino, torch@all-mpnet-base-v2")
    p.add_argument("-q", "--quiet", action="store_true")
    _embed_flags(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("explore", help="similarity matrix, 2-D maps and clusters of texts or a collection")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to embed and compare")
    p.add_argument("--file", help="a text file, one text per line")
    p.add_argument("--source", help="documents from a directory, .jsonl, .csv or BEIR directory")
    p.add_argument("--from", dest="url", metavar="URL", help="read vectors back from a collection at this store URL")
    p.add_argument("--collection")
    p.add_argument("--model", help="embedding model for texts (default all-MiniLM-L6-v2)")
    p.add_argument("--max", type=int, default=2000, help="sample at most this many items (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--similarity", action="store_true", help="similarity matrix even for more than 50 items")
    p.add_argument("--no-similarity", action="store_true")
    p.add_argument("--map", default="pca,tsne,umap", help="projections, comma-separated (default pca,tsne,umap)")
    p.add_argument("--color-by", help="metadata field to colour by (default: the cluster)")
    p.add_argument("--clusters", default="auto", help="k for k-means, 'auto' (silhouette) or 'none'")
    p.add_argument("--write-clusters", metavar="FIELD", help="store each record's cluster in this metadata field")
    p.add_argument("--out", default="explore-out", help="output directory (default explore-out)")
    p.add_argument("-q", "--quiet", action="store_true")
    _embed_flags(p)
    p.set_defaults(func=cmd_explore)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    import logging
    import warnings

    with warnings.catch_warnings():
        if not args.show_logs:  # the user sees vecstore's one line, not an SDK's log records and tracebacks
            logging.disable(logging.ERROR)
            warnings.simplefilter("ignore")
        try:
            return _run(args)
        finally:
            logging.disable(logging.NOTSET)


def _run(args: argparse.Namespace) -> int:
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
