"""Text similarity for the category suggestion (a handful of category texts, scored per request).

TF-IDF over word unigrams/bigrams and character 3–5-grams, cosine in numpy. Duplicate suggestions over open
reports use the FAQ matcher's cached index instead (handlers/friction/duplicates.py); this is the baseline
that bench/friction_similarity.py compares it with.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import unicodedata
from collections import Counter

import numpy as np

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "which",
        "with",
        "you",
        "your",
    ]
)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


@functools.lru_cache(maxsize=20_000)
def features(text: str) -> Counter[str]:
    """Word unigrams and bigrams (stop words dropped) plus character 3–5-grams inside words (cached per text)."""
    words = [w for w in _WORD.findall(_normalise(text)) if w not in STOP]
    feats: Counter[str] = Counter(f"w:{w}" for w in words)
    feats.update(f"b:{a}_{b}" for a, b in itertools.pairwise(words))
    for w in words:
        padded = f" {w} "
        for n in (3, 4, 5):
            feats.update(f"c:{padded[i : i + n]}" for i in range(max(0, len(padded) - n + 1)))
    return feats


def similarities(query: str, docs: list[str]) -> list[float]:
    """Cosine similarity (0..1) of `query` to each document, with idf fitted on the documents and the query.

    Sparse (dicts): only the query's terms contribute to a dot product, so cost grows with the documents'
    total length, not with the vocabulary.
    """
    if not docs:
        return []
    bags = [features(d) for d in docs]
    qbag = features(query)
    df: Counter[str] = Counter()
    for bag in bags:
        df.update(bag.keys())
    df.update(qbag.keys())
    n_docs = len(bags) + 1
    log_n = math.log(1 + n_docs)

    def idf(term: str) -> float:
        return log_n - math.log(1 + df[term]) + 1.0

    qvec = {t: (1.0 + math.log(c)) * idf(t) for t, c in qbag.items()}
    qnorm = math.sqrt(sum(v * v for v in qvec.values())) or 1.0
    out: list[float] = []
    for bag in bags:
        weights = np.fromiter(((1.0 + math.log(c)) * idf(t) for t, c in bag.items()), float, len(bag))
        norm = float(np.sqrt(weights @ weights)) or 1.0
        dot = sum(qv * (1.0 + math.log(bag[t])) * idf(t) for t, qv in qvec.items() if t in bag)
        out.append(dot / (norm * qnorm))
    return out
