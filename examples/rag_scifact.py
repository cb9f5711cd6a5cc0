"""A small RAG retriever on BEIR SciFact with LangChain, on any vecstore backend: change the URL.

    python examples/rag_scifact.py ../shared/datasets/scifact --url faiss:///tmp/scifact-faiss \\
        --url chroma:///tmp/scifact-chroma --url qdrant:///tmp/scifact-qdrant

For each URL it builds the same LangChain retriever (``VecstoreVectorStore.as_retriever``) over
SciFact's abstracts, embedded once with all-MiniLM-L6-v2 (vecstore's default model; the corpus
is embedded the first time and reused for the next URL), asks SciFact's test questions, and
prints nDCG@10 / MRR@10 against SciFact's relevance judgments, then the passages retrieved for
one question: what an LLM would be given as context.  A second run against a persistent URL
finds the collection filled and skips the writing.

Needs ``pip install 'vecstore[langchain,embed]'`` plus the backend's extra.  SciFact is
CC BY-NC: get it from BEIR (https://github.com/beir-cellar/beir); it is not shipped with vecstore.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from vecstore.compare.metrics import mrr_at_k, ndcg_at_k
from vecstore.integrations.langchain import VecstoreEmbeddings, VecstoreVectorStore
from vecstore.pipeline.loaders import BeirDataset


class MemoEmbeddings(Embeddings):
    """Embeds each text once, whichever store asks (the pipeline's embed-once, in five lines)."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner, self.memo = inner, {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        todo = [t for t in dict.fromkeys(texts) if t not in self.memo]
        self.memo.update(zip(todo, self.inner.embed_documents(todo)))
        return [self.memo[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scifact", type=Path, help="a BEIR SciFact directory (corpus.jsonl.gz, queries, qrels)")
    parser.add_argument("--url", action="append", default=None, help="a vecstore URL (repeat to compare)")
    parser.add_argument("--collection", default="scifact")
    parser.add_argument("--limit-docs", type=int, default=None, help="only the first N abstracts (a quick try)")
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args(argv)

    data = BeirDataset(args.scifact)
    corpus = list(itertools.islice(data.corpus(), args.limit_docs))
    docs = [Document(id=d.id, page_content=d.text, metadata={"title": d.metadata.get("title", "")}) for d in corpus]
    have = {d.id for d in docs}
    # with --limit-docs, only the questions whose relevant abstracts are all in the subset
    qrels = {q: r for q, r in data.qrels("test").items() if set(r) <= have}
    queries = {q: t for q, t in data.queries("test").items() if q in qrels}
    embeddings = MemoEmbeddings(VecstoreEmbeddings())

    results = {}
    for url in args.url or ["faiss://"]:
        with VecstoreVectorStore(url, args.collection, embeddings) as store:
            if store.collection is None or store.collection.count() != len(docs):
                started = time.perf_counter()
                store.add_documents(docs)
                print(f"{url}: wrote {len(docs)} abstracts in {time.perf_counter() - started:.1f} s")
            retriever = store.as_retriever(search_kwargs={"k": args.k})
            run = {}
            for qid, text in queries.items():
                found = retriever.invoke(text)
                run[qid] = {d.id: float(args.k - rank) for rank, d in enumerate(found)}
            results[url] = {"nDCG@10": ndcg_at_k(run, qrels, 10), "MRR@10": mrr_at_k(run, qrels, 10)}
            print(f"{url}: {len(queries)} questions, nDCG@10 {results[url]['nDCG@10']:.4f},"
                  f" MRR@10 {results[url]['MRR@10']:.4f}")
            question = next(iter(queries.values()))
            print(f"  context for {question!r}:")
            for doc in retriever.invoke(question)[:3]:
                print(f"   - [{doc.id}] {doc.metadata['title'][:90]}")
    return results


if __name__ == "__main__":
    main()
