"""Turn a results document into a terminal table, Markdown, PNG plots and a
self-contained HTML report (the PNGs embedded, nothing fetched)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from .._plot import off_diagonal_range, pyplot, save

#: marker shapes of the backends in recall_vs_qps.png, in turn
MARKERS = ("*", "D", "s", "^", "v", "P", "X", "o", "<", ">")

COLUMNS = [
    ("backend", lambda b, k: b["label"]),
    ("ingest s", lambda b, k: _f(b, "ingest", "seconds", 1)),
    ("vec/s", lambda b, k: _f(b, "ingest", "vectors_per_s", 0)),
    ("p50 ms", lambda b, k: _f(b, "latency", "p50_ms", 2)),
    ("p95 ms", lambda b, k: _f(b, "latency", "p95_ms", 2)),
    ("p99 ms", lambda b, k: _f(b, "latency", "p99_ms", 2)),
    ("QPS", lambda b, k: _f(b, "latency", "qps", 0)),
    ("QPS xN", lambda b, k: _f(b, "concurrent", "qps", 0)),
    ("recall@k", lambda b, k: _f(b, f"recall@{k}", None, 3)),
    ("nDCG@10", lambda b, k: _f(b, "quality", "ndcg@10", 4)),
    ("MRR@10", lambda b, k: _f(b, "quality", "mrr@10", 4)),
    ("R@100", lambda b, k: _f(b, "quality", "recall@100", 4)),
    ("filt. p50", lambda b, k: _f(b, "filtered", "p50_ms", 2)),
    ("filt. recall", lambda b, k: _f(b, "filtered", f"recall@{k}", 3)),
    ("disk MB", lambda b, k: f"{b['disk_bytes'] / 1e6:.1f}" if b.get("disk_bytes") else "-"),
]


def _f(b: dict[str, Any], key: str, sub: str | None, digits: int) -> str:
    value = b.get(key)
    if sub is not None:
        value = (value or {}).get(sub)
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    k = results["config"]["k"]
    levels = results["config"]["concurrency"]
    top = max(levels) if isinstance(levels, list) else levels
    header = [name.replace("recall@k", f"recall@{k}").replace("xN", f"x{top}") for name, _ in COLUMNS]
    body = []
    for b in results["backends"]:
        if b["status"] != "ok":
            body.append([b["label"], f"FAILED: {b['error'][:80]}"] + [""] * (len(COLUMNS) - 2))
        else:
            body.append([fn(b, k) for _, fn in COLUMNS])
    ref = results.get("reference", {})
    if ref.get("quality"):
        q = ref["quality"]
        line = ["exact (numpy)"] + ["-"] * (len(COLUMNS) - 1)
        line[8] = "1.000"
        line[9], line[10], line[11] = (f"{q['ndcg@10']:.4f}", f"{q['mrr@10']:.4f}", f"{q['recall@100']:.4f}")
        body.append(line)
    return header, body


def table(results: dict[str, Any]) -> str:
    header, body = rows(results)
    measured = [r for r in body if not r[1].startswith("FAILED")]
    widths = [max(len(r[i]) for r in [header, *measured]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for r in body:
        if r[1].startswith("FAILED"):
            lines.append(f"{r[0].ljust(widths[0])}  {r[1]}")
        else:
            lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def markdown(results: dict[str, Any], plots: list[str] | None = None) -> str:
    header, body = rows(results)
    ds, emb, env = results["dataset"], results["embedding"], results["environment"]
    out = [
        "# vecstore backend comparison",
        "",
        f"{ds['documents']:,} documents, {ds['queries']} queries ({ds['judged_queries']} judged) from `{ds['path']}`;"
        f" model `{emb['model']}` ({emb['dim']}-d); k = {results['config']['k']}, {results['config']['repeat']}"
        f" repetitions, {results['config']['warmup']} warm-up queries excluded.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |",
        *("| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in body),
        "",
        f"Documents embedded once in {emb['documents_seconds']:.1f} s ({emb['documents_embedded']} computed,"
        f" {emb['documents_from_cache']} from the cache); ingest times above exclude embedding.",
    ]
    if ds.get("filter"):
        kind = "synthetic " if ds.get("synthetic_filter") else ""
        out.append(f"Filtered columns: {kind}filter `{json.dumps(ds['filter'])}` matching {ds['filter_matches']:,} documents.")
    ok = [b for b in results["backends"] if b["status"] == "ok"]
    if len(ok) > 1:
        labels = [b["label"] for b in ok]
        out += ["", f"Top-{results['config']['k']} overlap between backends:", "",
                "| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
        for a in labels:
            out.append(f"| {a} | " + " | ".join(f"{results['overlap'][a][b]:.3f}" for b in labels) + " |")
    sweeps = [(b["label"], s) for b in ok for s in b.get("sweep", [])]
    if sweeps:
        k = results["config"]["k"]
        out += ["", "Parameter sweeps:", "", f"| backend | parameter | value | recall@{k} | QPS | p50 ms |",
                "|---|---|---:|---:|---:|---:|"]
        out += [f"| {label} | {s['param']} | {s['value']} | {s[f'recall@{k}']:.3f} | {s['qps']:.0f} | {s['p50_ms']:.2f} |"
                for label, s in sweeps]
    out += level_lines(results)
    out += filter_lines(results)
    out += mode_lines(results)
    out += embedder_lines(results)
    out += ["", f"Environment: {env['platform']}, {env['cpu_count']} CPUs, Python {env['python']}, {env['date']}.",
            "Packages: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items()) + "."]
    for p in plots or []:
        out += ["", f"![{Path(p).stem}]({Path(p).name})"]
    return "\n".join(out) + "\n"


def level_lines(results: dict[str, Any]) -> list[str]:
    """Throughput and latency at each concurrency level, and while the corpus is rewritten."""
    ok = [b for b in results["backends"] if b["status"] == "ok" and b.get("levels")]
    if not ok:
        return []
    k = results["config"]["k"]
    out = ["", "Queries from several clients at once (identical top-k: share of queries whose top-k equals the"
           " sequential run's):", "",
           f"| backend | clients | as | QPS | p50 ms | p95 ms | p99 ms | recall@{k} | identical top-k |",
           "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for b in ok:
        rows_ = [(str(lv["clients"]), lv) for lv in b["levels"]]
        if b.get("while_ingesting"):
            w = b["while_ingesting"]
            rows_.append((f"{w['clients']}, writing {w['writes_per_s']:,.0f} records/s", w))
        for clients, lv in rows_:
            out.append(f"| {b['label']} | {clients} | {lv['kind']} | {_f(lv, 'qps', None, 0)} | {lv['p50_ms']:.2f} |"
                       f" {lv['p95_ms']:.2f} | {lv['p99_ms']:.2f} | {lv[f'recall@{k}']:.3f} |"
                       f" {_f(lv, 'identical_topk', None, 3)} |")
    return out


def filter_lines(results: dict[str, Any]) -> list[str]:
    """Filtered search at each selectivity (only where more than one filter was measured)."""
    filters = results["dataset"].get("filters") or {}
    if len(filters) < 2:
        return []
    k = results["config"]["k"]
    out = ["", "Filtered search by selectivity:", "",
           f"| backend | filter | matches | p50 ms | p99 ms | QPS | recall@{k} | short results |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for b in results["backends"]:
        for label, f in (b.get("filters") or {}).items() if b["status"] == "ok" else ():
            out.append(f"| {b['label']} | {label} `{json.dumps(f['filter'])}` | {f['matches']:,} | {f['p50_ms']:.2f} |"
                       f" {f['p99_ms']:.2f} | {f['qps']:.0f} | {f[f'recall@{k}']:.3f} | {f['short_results']} |")
    return out


def mode_lines(results: dict[str, Any]) -> list[str]:
    """The search modes table (dense, lexical, hybrid per backend) and the lexical agreement."""
    modes = results["config"].get("modes") or ["dense"]
    if modes == ["dense"]:
        return []
    k = results["config"]["k"]
    out = ["", "Search modes (lexical: the backend's own keyword index; hybrid: reciprocal rank fusion, k = 60):", "",
           "| backend | mode | nDCG@10 | MRR@10 | R@100 | p50 ms | p95 ms | p99 ms | QPS | lexical engine (analyzer) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for b in results["backends"]:
        if b["status"] != "ok":
            continue
        engine = f"{b.get('lexical_engine') or '-'} ({b.get('analyzer') or '-'})"
        for mode in modes:
            m = b if mode == "dense" else b.get("modes", {}).get(mode, {})
            if mode != "dense" and m.get("status") != "ok":
                out.append(f"| {b['label']} | {mode} | unsupported: {m.get('error', '?')[:90].replace('|', '/')} |"
                           " | | | | | | |")
                continue
            q, lat = m.get("quality") or {}, m["latency"]
            cells = [f"{q[x]:.4f}" if x in q else "-" for x in ("ndcg@10", "mrr@10", "recall@100")]
            cells += [f"{lat['p50_ms']:.2f}", f"{lat['p95_ms']:.2f}", f"{lat['p99_ms']:.2f}", f"{lat['qps']:.0f}"]
            out.append(f"| {b['label']} | {mode} | " + " | ".join(cells) + f" | {engine if mode != 'dense' else ''} |")
    for mode, matrix in (results.get("mode_overlap") or {}).items():
        labels = list(matrix)
        if len(labels) < 2:
            continue
        out += ["", f"Top-{k} overlap of {mode} rankings between backends:", "",
                "| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
        out += [f"| {a} | " + " | ".join(f"{matrix[a][b]:.3f}" for b in labels) + " |" for a in labels]
    return out


def embedder_lines(results: dict[str, Any]) -> list[str]:
    """The embedding variants' table and their top-k agreement (Markdown lines; none without variants)."""
    rows_ = results.get("embedders")
    if not rows_:
        return []
    k = results["config"]["k"]
    out = ["", "Embedding variants (exact cosine search over each variant's own vectors; texts/s on a sample,"
           " the variants taking turns):", "",
           f"| variant | model | runtime, precision | texts/s | vs reference | nDCG@10 | recall@{k} vs reference |"
           " mean cosine to reference |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows_:
        cos = "—" if r["mean_cosine_to_reference"] is None else f"{r['mean_cosine_to_reference']:.4f}"
        ndcg = f"{r['ndcg@10']:.4f}" if "ndcg@10" in r else "—"
        out.append(f"| {r['label']} | {r['model']} | {r['variant']} | {r['texts_per_s']:.1f} |"
                   f" {r['speed_vs_reference']:.2f}× | {ndcg} | {r[f'recall@{k}_vs_reference']:.3f} | {cos} |")
    labels = [r["label"] for r in rows_]
    out += ["", f"Top-{k} agreement between embedding variants:", "",
            "| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for a in labels:
        out.append(f"| {a} | " + " | ".join(f"{results['embedder_overlap'][a][b]:.3f}" for b in labels) + " |")
    return out


def plots(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """recall_vs_qps.png, latency.png, quality.png, overlap.png (those that have data)."""
    plt = pyplot()
    ok = [b for b in results["backends"] if b["status"] == "ok"]
    k = results["config"]["k"]
    paths: list[Path] = []
    if not ok:
        return paths

    fig, ax = plt.subplots(figsize=(7, 4.5))
    palette = plt.get_cmap("tab10")
    for i, b in enumerate(ok):
        color, marker = palette(i % 10), MARKERS[i % len(MARKERS)]
        pts = sorted(((s[f"recall@{k}"], s["qps"]) for s in b.get("sweep", [])), key=lambda t: t[0])
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", alpha=0.6, color=color)
        # one marker shape per backend, outlined and translucent: two at the same spot both show
        ax.scatter([b[f"recall@{k}"]], [b["latency"]["qps"]], s=90, marker=marker, color=color, label=b["label"],
                   zorder=3 + i, alpha=0.8, edgecolors="black", linewidths=0.6)
    ax.set_yscale("log")
    _label(ax, f"recall@{k} vs exact search", "queries per second (sequential)",
           "Recall vs throughput (markers: default settings; lines: sweeps)")
    paths.append(save(fig, out_dir / "recall_vs_qps.png"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.boxplot([b["latencies_ms"] for b in ok], showfliers=False)
    ax.set_xticks(range(1, len(ok) + 1), [b["label"] for b in ok], rotation=20, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("latency per query (ms, log)")
    ax.set_title(f"Query latency, k={k} (box: p25–p75, whiskers: 1.5 IQR)")
    ax.grid(alpha=0.3, axis="y")
    paths.append(save(fig, out_dir / "latency.png"))

    judged = [b for b in ok if b.get("quality")]
    if judged:
        import numpy as np

        names = ["ndcg@10", "mrr@10", "recall@100"]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        width = 0.8 / len(judged)
        for i, b in enumerate(judged):
            ax.bar(np.arange(3) + i * width, [b["quality"][n] for n in names], width, label=b["label"])
        ref = results.get("reference", {}).get("quality")
        if ref:
            for j, n in enumerate(names):
                ax.hlines(ref[n], j - width / 2, j + 0.8 - width / 2, colors="black", linestyles="dashed")
        ax.set_xticks(np.arange(3) + 0.4 - width / 2, ["nDCG@10", "MRR@10", "Recall@100"])
        ax.set_ylim(0, 1)
        ax.set_title("Retrieval quality against relevance judgments (dashed: exact search)")
        ax.legend(fontsize=8, loc="lower right")
        paths.append(save(fig, out_dir / "quality.png"))

    if len(ok) > 1:
        labels = [b["label"] for b in ok]
        matrix = [[results["overlap"][a][b] for b in labels] for a in labels]
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        vmin, vmax = off_diagonal_range(matrix)  # scaled to the pairs, not the 1.000 diagonal
        im = ax.imshow(matrix, vmin=vmin, vmax=vmax, cmap="viridis")
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        for i in range(len(labels)):
            for j in range(len(labels)):
                dark = matrix[i][j] < vmin + 0.5 * (vmax - vmin)  # viridis is dark at the low end
                ax.text(j, i, f"{matrix[i][j]:.3f}", ha="center", va="center", color="white" if dark else "black",
                        fontsize=7)
        fig.colorbar(im)
        ax.set_title(f"Top-{k} agreement between backends")
        paths.append(save(fig, out_dir / "overlap.png"))
    curves = [b for b in ok if len(b.get("levels", [])) > 1]
    if curves:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for i, b in enumerate(curves):
            ax.plot([lv["clients"] for lv in b["levels"]], [lv["qps"] for lv in b["levels"]],
                    marker=MARKERS[i % len(MARKERS)], label=f"{b['label']} ({b['levels'][0]['kind']})")
        ax.set_xscale("log", base=2)
        _label(ax, "clients at once", "queries per second", "Throughput by number of clients")
        paths.append(save(fig, out_dir / "qps_vs_clients.png"))
    if results.get("embedders"):
        paths.append(_quality_vs_speed(plt, results, out_dir))
    return paths


def _label(ax: Any, xlabel: str, ylabel: str, title: str) -> None:
    """Axis labels, title, a light grid and the legend of a line or scatter plot."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _quality_vs_speed(plt: Any, results: dict[str, Any], out_dir: Path) -> Path:
    """Each embedding variant: texts/s against nDCG@10 (or recall of the reference's top-k)."""
    rows_ = results["embedders"]
    k = results["config"]["k"]
    key = "ndcg@10" if all("ndcg@10" in r for r in rows_) else f"recall@{k}_vs_reference"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    palette = plt.get_cmap("tab10")
    for i, r in enumerate(rows_):
        ax.scatter([r["texts_per_s"]], [r[key]], s=90, marker=MARKERS[i % len(MARKERS)], color=palette(i % 10),
                   label=f"{r['label']} ({r['variant']})", alpha=0.85, edgecolors="black", linewidths=0.6)
    ax.set_xlabel("texts embedded per second")
    ax.set_ylabel("nDCG@10" if key == "ndcg@10" else f"recall@{k} vs the reference")
    ax.set_title("Embedding variants: quality vs speed")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, out_dir / "quality_vs_speed.png")


def html_report(results: dict[str, Any], pngs: list[Path]) -> str:
    header, body = rows(results)
    md = markdown(results)
    intro = html.escape(md.split("\n")[2])
    table_html = "<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>"
    for r in body:
        table_html += "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
    table_html += "</tbody></table>"
    images = "".join(
        f'<figure><img alt="{p.stem}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
        f"<figcaption>{p.stem.replace('_', ' ')}</figcaption></figure>"
        for p in pngs
    )
    lines = md.split("\n")
    table_end = max(i for i, line in enumerate(lines[:40]) if line.startswith("| ")) if any(
        line.startswith("| ") for line in lines) else 0
    rest = "\n".join(lines[table_end + 1 :])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vecstore comparison</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: 1rem; }}
pre {{ background: #f6f6f6; padding: 1rem; white-space: pre-wrap; }}
</style></head><body>
<h1>vecstore backend comparison</h1>
<p>{intro}</p>
{table_html}
{images}
<h2>Details</h2>
<pre>{html.escape(rest)}</pre>
</body></html>
"""


def write_all(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """results.json, summary.md, report.html and the PNGs into ``out_dir``."""
    from .run import write_results

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {"json": write_results(results, out)}
    pngs = plots(results, out)
    (out / "summary.md").write_text(markdown(results, [str(p) for p in pngs]), encoding="utf-8")
    (out / "report.html").write_text(html_report(results, pngs), encoding="utf-8")
    written.update({"markdown": out / "summary.md", "html": out / "report.html"})
    written.update({p.stem: p for p in pngs})
    return written
