"""Pipeline embedding throughput vs. calling SentenceTransformer.encode directly.

Same texts (the chunks of the first N SciFact documents), same model object,
same process; the two are run alternately REPEAT times and the median of each
is compared.  The pipeline side is ``Ingestor`` fed document batches exactly
as ``vecstore ingest`` does (cache disabled, so every text is embedded).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/embed_throughput.py [N_DOCS] [REPEAT]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from itertools import islice

from _common import SCIFACT, machine

from vecstore.embed import SentenceTransformerEmbedder
from vecstore.pipeline.ingest import Ingestor, IngestReport, _batches, make_chunker
from vecstore.pipeline.loaders import BeirDataset


def main() -> None:
    n_docs = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    embedder = SentenceTransformerEmbedder()
    chunker = make_chunker(embedder)
    docs = list(islice(BeirDataset(SCIFACT).corpus(), n_docs))
    ingestor = Ingestor(embedder, chunker, cache=None)
    batches = [[c.text for d in batch for c in chunker.chunk(d)] for batch in _batches(docs, 256)]
    texts = [t for b in batches for t in b]
    model = embedder._model
    model.encode(texts[:64], batch_size=32)  # warm-up

    def direct() -> float:
        start = time.perf_counter()
        model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        return time.perf_counter() - start

    def pipeline() -> float:
        report = IngestReport("bench", embedder.name)
        start = time.perf_counter()
        for batch in batches:
            ingestor.embed(batch, report)
        return time.perf_counter() - start

    runs: dict[str, list[float]] = {"direct": [], "pipeline": []}
    for _ in range(repeat):
        runs["direct"].append(direct())
        runs["pipeline"].append(pipeline())
    med = {k: statistics.median(v) for k, v in runs.items()}
    result = {
        "texts": len(texts),
        "documents": len(docs),
        "direct_texts_per_s": len(texts) / med["direct"],
        "pipeline_texts_per_s": len(texts) / med["pipeline"],
        "ratio": med["direct"] / med["pipeline"],
        "runs_s": runs,
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
