"""Static word-piece vectors distilled from MiniLM (tools/distill_faq_vectors.py): meaning without torch.

A sentence vector is the sum of its word pieces' vectors (SIF-weighted at distillation), L2-normalised. Words are
split as BERT's uncased tokenizer does (lower case, accents stripped, punctuation apart) and then by greedy
longest-match WordPiece over the shipped vocabulary, in pure Python with a per-word cache. numpy only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "minilm_static.npz"
WHOLE_MARK = "\x00"
_MAX_WORD = 100  # BERT's limit: longer "words" are unknown
# Whitespace-separated runs split at punctuation (ASCII punctuation and Unicode P*), as BERT's basic tokenizer.
_PIECE = re.compile(r"[^\W_]+|[^\w\s]|_", re.UNICODE)


@dataclass(frozen=True)
class StaticVectors:
    """Token ids by word piece and their vectors (int8 times a per-token scale, expanded to float32 on load)."""

    ids: dict[str, int]
    vectors: np.ndarray
    whole: dict[str, int] = field(default_factory=dict)  # frequent words BERT splits, distilled as whole words
    _words: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)  # WordPiece cache per word

    @property
    def dims(self) -> int:
        return int(self.vectors.shape[1])

    def word_ids(self, word: str) -> tuple[int, ...]:
        """Word-piece ids of one basic word, cached (a content's vocabulary is small)."""
        found = self._words.get(word)
        if found is None:
            row = self.whole.get(word)
            found = (row,) if row is not None else _wordpiece(self.ids, word)
            if len(self._words) < 500_000:
                self._words[word] = found
        return found

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised sentence vectors (texts x dims); a text with no known piece is all zeros."""
        return self.encode_with_words(texts)[0]

    def encode_with_words(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Sentence vectors, the texts' distinct words (summed piece vectors, rows) and each text's words (CSR)."""
        local: dict[str, int] = {}  # each distinct word once: its pieces' vectors summed into one row
        rows: list[int] = []
        counts: list[int] = []
        for text in texts:
            words = basic_words(text)
            rows.extend(local.setdefault(w, len(local)) for w in words)
            counts.append(len(words))
        columns = np.zeros((self.dims, len(local) + 1), dtype=np.float64)  # words as columns: each dim contiguous
        for word, row in local.items():
            pieces = self.word_ids(word)
            if pieces:
                columns[:, row] = self.vectors[list(pieces)].sum(axis=0)
        # One bincount per dimension reads a small contiguous row per pass: far kinder to the cache (and several
        # times faster here) than gathering a tokens x dims matrix and reducing it.
        word_rows = np.asarray(rows, dtype=np.int64)
        text_of = np.repeat(np.arange(len(texts)), counts)
        out = np.empty((len(texts), self.dims), dtype=np.float32)
        if len(texts) == 1:  # a question: one gather and a sum
            out[0] = columns[:, word_rows].sum(axis=1)
        else:
            for d in range(self.dims):
                out[:, d] = np.bincount(text_of, columns[d, word_rows], minlength=len(texts))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 1e-6)
        out[norms[:, 0] <= 1e-6] = 0.0
        ptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        return out, np.ascontiguousarray(columns[:, : len(local)].T, dtype=np.float32), (ptr, word_rows)


def basic_words(text: str) -> list[str]:
    """Lower-cased, accent-stripped words and punctuation marks, as BERT's basic tokenizer splits them."""
    lowered = text.lower()
    if not lowered.isascii():
        lowered = "".join(c for c in unicodedata.normalize("NFD", lowered) if unicodedata.category(c) != "Mn")
    return _PIECE.findall(lowered)


def _wordpiece(vocab: dict[str, int], word: str) -> tuple[int, ...]:
    """Greedy longest-match-first WordPiece; a word with an unknown piece contributes nothing."""
    if len(word) > _MAX_WORD:
        return ()
    out: list[int] = []
    start = 0
    while start < len(word):
        end = len(word)
        found = None
        while start < end:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            found = vocab.get(piece)
            if found is not None:
                break
            end -= 1
        if found is None:
            return ()
        out.append(found)
        start = end
    return tuple(out)


@lru_cache(maxsize=1)
def _loaded() -> StaticVectors:
    return load(DATA)


def default_vectors() -> StaticVectors | None:
    """The shipped vectors, loaded once; None if the data file is missing (the matcher then uses n-grams alone)."""
    if not DATA.exists():
        return None
    return _loaded()


def load(path: Path) -> StaticVectors:
    with np.load(path) as data:
        tokens = data["tokens"].tobytes().decode("utf-8").split("\n")
        vectors = data["vectors"].astype(np.float32) * data["scale"].astype(np.float32)[:, None]
    # Whole words are stored after the word pieces, each marked by a leading NUL (no word piece starts with one).
    ids = {t: i for i, t in enumerate(tokens) if not t.startswith(WHOLE_MARK)}
    whole = {t[1:]: i for i, t in enumerate(tokens) if t.startswith(WHOLE_MARK)}
    return StaticVectors(ids, vectors, whole)
