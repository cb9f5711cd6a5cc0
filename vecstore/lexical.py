"""Lexical (keyword) search: the analyzer vecstore applies where it controls tokenisation,
and the fusion of a dense and a lexical ranking into one hybrid ranking.

Search modes (``Collection.search(..., mode=)``):

* ``dense`` — nearest vectors (the default);
* ``lexical`` — the backend's own keyword index ranks the records whose text holds at least
  one query term, best first, by its BM25 score (a record without any query term is not a hit);
* ``hybrid`` — both rankings, each cut at ``candidates`` (default ``max(k, 100)``) and
  computed under the same filter, fused:

  - ``rrf_k`` (default 60): reciprocal rank fusion, ``score = Σ 1 / (rrf_k + rank)`` over the
    rankings a record appears in (rank 1 = best);
  - ``alpha`` in [0, 1] instead: a weighted score, ``alpha · dense + (1 - alpha) · lexical``,
    each side min-max normalised to [0, 1] over its own candidates (a record missing from a
    side scores 0 there; a side whose candidates all score the same gives them 1).

  Because the dense side returns ``k`` hits whenever ``k`` records match the filter, so does
  hybrid search.  Ties are broken by the dense rank, then the lexical rank.

Who tokenises: Elasticsearch, Milvus and PostgreSQL analyse text with their own analyzers
(named per adapter); for Faiss (``bm25s``) and Qdrant (sparse vectors) vecstore does, with
:class:`Analyzer`.  Its default, ``english``: Unicode word split (``\\w+``), lowercase
(``casefold``), the 33 English stop words of Lucene/Elasticsearch's ``_english_`` list, and
the Snowball English stemmer (PyStemmer).  Other names: ``simple`` (split and lowercase only),
``english-nostem`` (no stemmer); the class also takes any Snowball language of PyStemmer
(``french``, ``german``, …: split, lowercase, that stemmer, no stop words), which adapters do
not offer yet.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .errors import ConfigError, InvalidInputError

MODES = ("dense", "lexical", "hybrid")
DEFAULT_ANALYZER = "english"
DEFAULT_RRF_K = 60
#: Candidates taken from each side of a hybrid search, at least (or ``k`` if larger).
DEFAULT_CANDIDATES = 100

_WORD = re.compile(r"\w+")

#: Lucene's / Elasticsearch's ``_english_`` stop words (the list bm25s uses too).
ENGLISH_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then"
    " there these they this to was will with".split()
)


class Analyzer:
    """Text → terms, as described in the module docstring."""

    def __init__(self, name: str = DEFAULT_ANALYZER) -> None:
        self.name = name
        language: str | None
        if name == "simple":
            language, self.stop_words = None, frozenset[str]()
        elif name == "english":
            language, self.stop_words = "english", ENGLISH_STOP_WORDS
        elif name == "english-nostem":
            language, self.stop_words = None, ENGLISH_STOP_WORDS
        else:
            language, self.stop_words = name, frozenset()
        self._stem: Any = None
        if language is not None:
            try:
                import Stemmer
            except ImportError as exc:  # pragma: no cover - a dependency of every extra with a lexical side
                from .errors import BackendNotInstalledError

                raise BackendNotInstalledError("the lexical analyzer needs PyStemmer: pip install PyStemmer") from exc
            if language not in Stemmer.algorithms():
                raise ConfigError(f"unknown analyzer {name!r}: use {', '.join(analyzer_names())}")
            self._stem = Stemmer.Stemmer(language).stemWords
        self._lock = threading.Lock()  # a PyStemmer stemmer "must not be called concurrently"

    def terms(self, text: str | None) -> list[str]:
        """The text's terms in order, repeats kept."""
        if not text:
            return []
        words = [w for w in _WORD.findall(text.casefold()) if w not in self.stop_words]
        if self._stem is None or not words:
            return words
        with self._lock:
            return list(self._stem(words))

    def query_terms(self, text: str) -> list[str]:
        """A query's distinct terms, in first-seen order."""
        return list(dict.fromkeys(self.terms(text)))


def analyzer_names() -> list[str]:
    try:
        import Stemmer

        languages = [a for a in Stemmer.algorithms() if a != "english"]
    except ImportError:  # pragma: no cover
        languages = []
    return ["english", "english-nostem", "simple", *languages]


@functools.lru_cache(maxsize=16)
def analyzer(name: str) -> Analyzer:
    return Analyzer(name)


# -- term weights for engines that take sparse vectors (Qdrant) --------------------------------

#: BM25's term-frequency saturation and length normalisation, as Lucene's defaults.
BM25_K1, BM25_B = 1.2, 0.75
#: The average document length (in terms) BM25's length normalisation assumes where the engine
#: keeps no corpus statistics of its own (Qdrant computes IDF, not lengths); FastEmbed's default.
BM25_AVG_LEN = 256.0


def term_id(term: str) -> int:
    """A stable 31-bit id of a term (CRC-32): the sparse vector's dimension for it."""
    return zlib.crc32(term.encode("utf-8")) & 0x7FFFFFFF


def document_weights(terms: Sequence[str], avg_len: float = BM25_AVG_LEN) -> dict[int, float]:
    """BM25's term-frequency part per term of a document, ``tf·(k1+1) / (tf + k1·(1-b+b·len/avg))``;
    the engine multiplies it by the term's IDF (Qdrant's ``Modifier.IDF``).  Two terms whose ids
    collide add up (one in ~4·10⁹ pairs)."""
    if not terms:
        return {}
    norm = BM25_K1 * (1 - BM25_B + BM25_B * len(terms) / avg_len)
    out: dict[int, float] = {}
    for term, tf in Counter(terms).items():
        tid = term_id(term)
        out[tid] = out.get(tid, 0.0) + tf * (BM25_K1 + 1) / (tf + norm)
    return out


def query_weights(terms: Sequence[str]) -> dict[int, float]:
    """Each distinct query term weighs 1 (the IDF comes from the engine)."""
    return {term_id(t): 1.0 for t in dict.fromkeys(terms)}


# -- fusion ------------------------------------------------------------------------------------

def check_mode(mode: str, rrf_k: Any, alpha: Any, candidates: Any) -> None:
    if mode not in MODES:
        raise InvalidInputError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
    if isinstance(rrf_k, bool) or not isinstance(rrf_k, (int, float)) or not 0 <= rrf_k < math.inf:
        raise InvalidInputError(f"rrf_k must be a finite number >= 0, got {rrf_k!r}")
    if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float))
                              or not 0.0 <= alpha <= 1.0):
        raise InvalidInputError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if candidates is not None and (isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1):
        raise InvalidInputError(f"candidates must be a positive int, got {candidates!r}")


def fuse(dense: Sequence[Any], lexical: Sequence[Any], k: int, rrf_k: float = DEFAULT_RRF_K,
         alpha: float | None = None) -> list[tuple[Any, float]]:
    """Fuse two best-first lists of hits (objects with ``id`` and ``score``) into the ``k`` best
    ``(hit, fused score)`` pairs; the hit object is the dense side's where it has one."""
    ranks: dict[str, list[float]] = {}
    hit_of: dict[str, Any] = {}
    for side, hits in enumerate((dense, lexical)):
        for rank, hit in enumerate(hits, 1):
            ranks.setdefault(hit.id, [math.inf, math.inf])[side] = rank
            hit_of.setdefault(hit.id, hit)
    if alpha is None:
        fused = {i: sum(1.0 / (rrf_k + r) for r in rs if r != math.inf) for i, rs in ranks.items()}
    else:
        dn, ln = _normalised(dense), _normalised(lexical)
        fused = {i: alpha * dn.get(i, 0.0) + (1 - alpha) * ln.get(i, 0.0) for i in ranks}
    order = sorted(ranks, key=lambda i: (-fused[i], ranks[i][0], ranks[i][1], i))
    return [(hit_of[i], fused[i]) for i in order[:k]]


def _normalised(hits: Sequence[Any]) -> dict[str, float]:
    if not hits:
        return {}
    scores = [h.score for h in hits]
    low, high = min(scores), max(scores)
    if high == low:
        return {h.id: 1.0 for h in hits}
    return {h.id: (h.score - low) / (high - low) for h in hits}
