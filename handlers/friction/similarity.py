"""Text similarity for friction: duplicate suggestions and the category suggestion share one function.

TF-IDF over word unigrams/bigrams and character 3–5-grams, cosine in numpy. `similarities()` is the single
switch point: when the FAQ matcher (handlers/faq/matcher.py) is on main, it can answer here instead.
"""

from __future__ import annotations

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


def features(text: str) -> Counter[str]:
    """Word unigrams and bigrams (stop words dropped) plus character 3–5-grams inside words."""
    words = [w for w in _WORD.findall(_normalise(text)) if w not in STOP]
    feats: Counter[str] = Counter(f"w:{w}" for w in words)
    feats.update(f"b:{a}_{b}" for a, b in itertools.pairwise(words))
    for w in words:
        padded = f" {w} "
        for n in (3, 4, 5):
            feats.update(f"c:{padded[i : i + n]}" for i in range(max(0, len(padded) - n + 1)))
    return feats


def similarities(query: str, docs: list[str]) -> list[float]:
    """Cosine similarity (0..1) of `query` to each document, with idf fitted on the documents and the query."""
    if not docs:
        return []
    bags = [features(d) for d in docs]
    qbag = features(query)
    vocab: dict[str, int] = {}
    for bag in (*bags, qbag):
        for term in bag:
            vocab.setdefault(term, len(vocab))
    n_docs = len(bags) + 1
    df = np.zeros(len(vocab))
    for bag in (*bags, qbag):
        df[[vocab[t] for t in bag]] += 1
    idf = np.log((1 + n_docs) / (1 + df)) + 1.0

    def vector(bag: Counter[str]) -> np.ndarray:
        v = np.zeros(len(vocab))
        for term, count in bag.items():
            v[vocab[term]] = 1.0 + math.log(count)
        v *= idf
        norm = np.linalg.norm(v)
        return v / norm if norm else v

    q = vector(qbag)
    matrix = np.stack([vector(b) for b in bags])
    return [float(x) for x in matrix @ q]
