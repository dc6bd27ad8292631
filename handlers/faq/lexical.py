"""Default matcher: word and character n-grams plus static word-piece vectors, no heavy dependency (numpy only).

Each entry is scored by the cosine to the centroid of its phrasings plus half the cosine to its closest
phrasing; character n-grams make it robust to typos. Inverse document frequency is computed over entries,
not phrasings, so words that every entry shares count for little. The same centroid + nearest score is computed
on sentence vectors built from word-piece vectors distilled from MiniLM (static_vectors.py), which know that
"top up" and "add money" mean the same, after whitening them with the content's own within-entry covariance
(so directions in which phrasings of one entry differ count for little); that score weighs four times the n-gram
score. The best few entries then get a bonus for a soft word alignment: how well each word of the question finds a
close word among the entry's phrasings, which a sum of word vectors blurs. Raw scores are calibrated on held-out
phrasings (see calibration.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np

from handlers.faq.scoring import CalibratedMatcher
from handlers.faq.static_vectors import StaticVectors, default_vectors

_WORD = re.compile(r"\w+", re.UNICODE)
_SUFFIXES = ("ing", "ed", "es", "s", "ly")
NEAREST_WEIGHT = 0.5
DENSE_WEIGHT = 4.0  # static-vector score against the n-gram score (cross-validated on the FAQ files)
WHITEN_SHRINK = 1.0  # ridge added to the (trace-normalised) within-entry covariance before whitening
ALIGN_WEIGHT = 0.25  # soft word alignment bonus of the best entries (cross-validated on the FAQ files)
ALIGN_TOP = 5  # how many of the best entries get it (5, 10 and 20 cross-validate the same; 5 costs least)
ALIGN_WORDS = 16  # at most this many of a question's words (the heaviest) are aligned


@lru_cache(maxsize=100_000)
def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=100_000)
def _word_grams(word: str) -> tuple[str, ...]:
    """The stem as a word feature, then character 3–5-grams of the padded stem."""
    stem = _stem(word)
    padded = f" {stem} "
    grams = [f"w:{stem}"]
    for n in range(3, 6):
        grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return tuple(grams)


def words_of(text: str) -> list[str]:
    """Casefolded words of a text."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def _bigrams(words: Sequence[str]) -> list[str]:
    return [f"{a} {b}" for a, b in pairwise(_stem(w) for w in words)]


@dataclass(frozen=True)
class _Postings:
    """Column-major sparse matrix: for each feature, the items that have it and their weights."""

    ptr: np.ndarray
    item: np.ndarray
    weight: np.ndarray
    n_items: int

    @classmethod
    def from_sorted(
        cls, items: np.ndarray, feats: np.ndarray, weights: np.ndarray, n_feats: int, n_items: int
    ) -> _Postings:
        """Postings from triples already sorted by feature."""
        ptr = np.zeros(n_feats + 1, dtype=np.int64)
        np.cumsum(np.bincount(feats, minlength=n_feats), out=ptr[1:])
        return cls(ptr, items.astype(np.int32), weights.astype(np.float32), n_items)

    def dot(self, query_ptr: np.ndarray, feats: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Dense (queries x items) product with a batch of sparse queries given in CSR form."""
        n_queries = query_ptr.size - 1
        starts = self.ptr[feats]
        lengths = self.ptr[feats + 1] - starts
        total = int(lengths.sum())
        if total == 0:
            return np.zeros((n_queries, self.n_items))
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        query_of_feat = np.repeat(np.arange(n_queries), np.diff(query_ptr))
        cells = np.repeat(query_of_feat, lengths) * self.n_items + self.item[offsets]
        values = self.weight[offsets] * np.repeat(weights, lengths)
        return np.bincount(cells, values, minlength=n_queries * self.n_items).reshape(n_queries, -1)


@dataclass(frozen=True)
class _Index:
    idf: np.ndarray
    centroids: _Postings
    phrasings: _Postings
    class_starts: np.ndarray  # phrasings are grouped by entry, so per-entry maxima are a reduceat
    dense_mean: np.ndarray | None  # mean phrasing vector, subtracted before whitening
    dense_whiten: np.ndarray | None  # dims x dims: within-entry whitening of the content's sentence vectors
    dense_centroids: np.ndarray | None  # entries x dims, L2-normalised (None without static vectors)
    dense_phrasings: np.ndarray | None  # dims x phrasings, so a question's cosines are one product
    word_units: np.ndarray | None  # the content's distinct words, whitened and L2-normalised (rows)
    entry_words: list[np.ndarray] | None  # per entry, its phrasings' distinct rows in word_units


class LexicalMatcher(CalibratedMatcher):
    """Fast default matcher; see the module docstring for how it scores and calibrates."""

    def __init__(self, n_folds: int = 5, seed: int = 0, static: StaticVectors | bool | None = True) -> None:
        super().__init__(n_folds, seed)
        self._vocab: dict[str, int] = {}
        self._index: _Index | None = None
        # True: the shipped vectors (if the data file is there); False/None: n-grams alone.
        self._static = default_vectors() if static is True else (static or None)
        self._dense: np.ndarray | None = None
        self._words: np.ndarray | None = None  # distinct words x dims: summed piece vectors (not normalised)
        self._text_words: tuple[np.ndarray, np.ndarray] = (np.zeros(1, np.int64), np.zeros(0, np.int64))

    def _prepare(self, texts: Sequence[str], labels: Sequence[int]) -> None:
        self._vocab = {}
        self._row_ptr, self._feats, self._tfs = self._vectorise(texts, grow=True)
        self._labels = np.asarray(labels, dtype=np.int64)
        self._sort_by_feature()
        self._dense = self._words = None
        if self._static is not None:
            self._dense, self._words, self._text_words = self._static.encode_with_words(texts)

    def _build_final(self, train: np.ndarray) -> None:
        self._index = self._build(train, distinct_words=True)

    def raw_scores(self, text: str) -> np.ndarray:
        """Uncalibrated score in [0, 1] for every entry (the hybrid matcher mixes these)."""
        if self._index is None:
            return np.zeros(len(self._ids))
        ptr, feats, tfs = self._vectorise([text], grow=False)
        if self._static is None:
            return self._scores(self._index, ptr, feats, tfs)[0]
        dense, words, (_, word_rows) = self._static.encode_with_words([text])
        return self._scores(self._index, ptr, feats, tfs, dense, [words[word_rows]])[0]

    def _vectorise(self, texts: Sequence[str], grow: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR rows of sublinear term frequencies; `grow` adds unseen n-grams to the vocabulary."""
        word_ids: dict[str, np.ndarray] = {}
        parts: list[np.ndarray] = []
        rows: list[int] = []
        for text in texts:
            words = words_of(text)
            grams_ids = []
            for word in words:
                ids = word_ids.get(word)
                if ids is None:
                    ids = word_ids[word] = self._ids_of(_word_grams(word), grow)
                grams_ids.append(ids)
            grams_ids.append(self._ids_of(_bigrams(words), grow))
            ids = np.concatenate(grams_ids)
            parts.append(ids)
            rows.append(ids.size)
        n_feats = max(len(self._vocab), 1)
        flat = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        row_of = np.repeat(np.arange(len(texts)), rows)
        keys, counts = np.unique(row_of * n_feats + flat, return_counts=True)
        key_rows = keys // n_feats
        ptr = np.searchsorted(key_rows, np.arange(len(texts) + 1))
        return ptr, keys % n_feats, 1.0 + np.log(counts)

    def _ids_of(self, grams: Sequence[str], grow: bool) -> np.ndarray:
        vocab = self._vocab
        if grow:
            return np.fromiter((vocab.setdefault(g, len(vocab)) for g in grams), np.int64, len(grams))
        return np.fromiter((vocab[g] for g in grams if g in vocab), np.int64)

    def _sort_by_feature(self) -> None:
        """One global sort, so every fold's index is built by linear passes instead of sorting again."""
        rows = np.repeat(np.arange(self._row_ptr.size - 1), np.diff(self._row_ptr))
        order = np.lexsort((rows, self._feats))
        self._by_feat = (rows[order], self._feats[order], self._tfs[order])

    def _build(self, train: np.ndarray, distinct_words: bool = False) -> _Index:
        """Index over the given phrasings (ascending, so grouped by entry as training_texts emits them)."""
        all_rows, all_feats, all_tfs = self._by_feat
        selected = np.zeros(self._row_ptr.size - 1, dtype=bool)
        selected[train] = True
        keep = selected[all_rows]
        local_row = np.cumsum(selected) - 1
        rows, feats, tfs = local_row[all_rows[keep]], all_feats[keep], all_tfs[keep]
        entries, local_entry = np.unique(self._labels[train], return_inverse=True)
        entry = local_entry[rows]
        n_feats, n_entries = len(self._vocab), entries.size
        class_starts = np.searchsorted(local_entry, np.arange(n_entries))
        # Sorted by (feature, row) and rows grouped by entry, so each (feature, entry) pair is one run.
        starts_run = np.ones(rows.size, dtype=bool)
        starts_run[1:] = (feats[1:] != feats[:-1]) | (entry[1:] != entry[:-1])
        run_id = np.cumsum(starts_run) - 1
        run_feat, run_entry = feats[starts_run], entry[starts_run]
        # Document frequency over entries, not phrasings.
        df = np.bincount(run_feat, minlength=n_feats)
        idf = np.where(df > 0, np.log((1.0 + n_entries) / (1.0 + df)) + 1.0, 0.0)
        weights = tfs * idf[feats]
        weights /= np.sqrt(np.bincount(rows, weights**2, minlength=train.size))[rows]
        sums: np.ndarray = np.bincount(run_id, weights).astype(np.float64)
        sums /= np.sqrt(np.bincount(run_entry, sums**2, minlength=n_entries))[run_entry]
        dense_mean = dense_whiten = dense_centroids = dense_phrasings = word_units = entry_words = None
        if self._dense is not None and self._words is not None:
            dense_mean, dense_whiten = _whitening(self._dense[train], class_starts)
            dense_phrasings = _project(self._dense[train], dense_mean, dense_whiten)
            dense_centroids = np.add.reduceat(dense_phrasings, class_starts, axis=0)
            norms = np.linalg.norm(dense_centroids, axis=1, keepdims=True)
            np.divide(dense_centroids, norms, out=dense_centroids, where=norms > 0)
            dense_phrasings = np.ascontiguousarray(dense_phrasings.T)
            text_ptr, text_ids = self._text_words
            _, ids, _ = _gather_rows(text_ptr, text_ids, text_ids, train)
            used = np.zeros(self._words.shape[0], dtype=bool)
            used[ids] = True  # only the indexed phrasings' words (a question's own are whitened as it comes)
            word_units = np.zeros(self._words.shape, dtype=np.float32)
            word_units[used] = _unit_rows(self._words[used] @ dense_whiten)
            # Phrasings are grouped by entry, so an entry's words are one run of `ids`. A maximum over repeated
            # words is the same maximum: only the index that answers questions pays to drop the repeats.
            entry_starts = np.append(0, np.cumsum(np.diff(text_ptr)[train]))[class_starts[1:]]
            entry_words = [np.unique(part) if distinct_words else part for part in np.split(ids, entry_starts)]
        return _Index(
            idf=idf,
            centroids=_Postings.from_sorted(run_entry, run_feat, sums, n_feats, n_entries),
            phrasings=_Postings.from_sorted(rows, feats, weights, n_feats, train.size),
            class_starts=class_starts,
            dense_mean=dense_mean,
            dense_whiten=dense_whiten,
            dense_centroids=dense_centroids,
            dense_phrasings=dense_phrasings,
            word_units=word_units,
            entry_words=entry_words,
        )

    @staticmethod
    def _scores(
        index: _Index,
        ptr: np.ndarray,
        feats: np.ndarray,
        tfs: np.ndarray,
        dense: np.ndarray | None = None,
        words: Sequence[np.ndarray] = (),
    ) -> np.ndarray:
        """Raw scores (queries x entries) for a batch of vectorised queries (their sentence and word vectors)."""
        lexical = ngram_score(index, ptr, feats, tfs)
        if dense is None or index.dense_centroids is None or index.dense_phrasings is None:
            return lexical
        scores = (lexical + DENSE_WEIGHT * dense_score(index, dense)) / (1.0 + DENSE_WEIGHT)
        top = min(ALIGN_TOP, scores.shape[1])
        for row, query_words in enumerate(words if top else ()):
            best = np.argpartition(-scores[row], top - 1)[:top]
            scores[row, best] += ALIGN_WEIGHT * _alignment(index, query_words, best)
        return scores / (1.0 + ALIGN_WEIGHT)

    def _score_fold(self, train: np.ndarray, queries: np.ndarray) -> list[np.ndarray]:
        index = self._build(train)
        out: list[np.ndarray] = []
        for chunk in np.array_split(queries, max(1, queries.size // 64)):
            rows, feats, tfs = _gather_rows(self._row_ptr, self._feats, self._tfs, chunk)
            ptr = np.searchsorted(rows, np.arange(chunk.size + 1))
            if self._dense is None or self._words is None:
                out.extend(self._scores(index, ptr, feats, tfs))
                continue
            text_ptr, text_ids = self._text_words
            words = [self._words[text_ids[text_ptr[q] : text_ptr[q + 1]]] for q in chunk]
            out.extend(self._scores(index, ptr, feats, tfs, self._dense[chunk], words))
        return out


def ngram_score(index: _Index, ptr: np.ndarray, feats: np.ndarray, tfs: np.ndarray) -> np.ndarray:
    """The n-gram half (queries x entries): centroid + nearest-phrasing cosines of the queries' TF-IDF rows."""
    weights = tfs * index.idf[feats]
    rows = np.repeat(np.arange(ptr.size - 1), np.diff(ptr))
    norms = np.sqrt(np.bincount(rows, weights**2, minlength=ptr.size - 1))
    weights = np.divide(weights, norms[rows], out=np.zeros_like(weights), where=norms[rows] > 0)
    centroid = index.centroids.dot(ptr, feats, weights)
    nearest = np.maximum.reduceat(index.phrasings.dot(ptr, feats, weights), index.class_starts, axis=1)
    return np.clip((centroid + NEAREST_WEIGHT * nearest) / (1.0 + NEAREST_WEIGHT), 0.0, 1.0)


def dense_score(index: _Index, dense: np.ndarray) -> np.ndarray:
    """The static-vector half (queries x entries): the same form on the whitened sentence vectors."""
    assert index.dense_centroids is not None and index.dense_phrasings is not None
    dense = _project(dense, index.dense_mean, index.dense_whiten)
    if dense.size * index.dense_phrasings.shape[1] < 5_000_000:
        # A question or a small batch: numpy's own loops, not BLAS, whose threads cost more than the product.
        d_centroid = np.einsum("qd,ed->qe", dense, index.dense_centroids)
        d_all = np.einsum("qd,dp->qp", dense, index.dense_phrasings)
    else:
        d_centroid = dense @ index.dense_centroids.T
        d_all = dense @ index.dense_phrasings
    d_nearest = np.maximum.reduceat(d_all, index.class_starts, axis=1)
    return np.clip((d_centroid + NEAREST_WEIGHT * d_nearest) / (1.0 + NEAREST_WEIGHT), 0.0, 1.0)


def _alignment(index: _Index, words: np.ndarray, entries: np.ndarray) -> np.ndarray:
    """Per entry: the weighted mean, over the question's words, of the cosine to the closest word of its phrasings.

    `words` are the question's summed piece vectors; their length (the SIF weight) weighs them, so "the" counts
    for little. Cosines are taken in the content's whitened space, like the sentence vectors.
    """
    out = np.zeros(entries.size)
    if index.word_units is None or index.entry_words is None or index.dense_whiten is None or not words.size:
        return out
    weight = np.linalg.norm(words, axis=1)
    if weight.size > ALIGN_WORDS:  # a long question: its heaviest words decide, and its cost stays bounded
        heaviest = np.argpartition(-weight, ALIGN_WORDS)[:ALIGN_WORDS]
        words, weight = words[heaviest], weight[heaviest]
    if weight.sum() <= 1e-9:
        return out
    query = _unit_rows(words @ index.dense_whiten)
    parts = [index.entry_words[e] for e in entries]
    keep = np.array([part.size > 0 for part in parts])  # an entry with no known word aligns with nothing
    if not keep.any():
        return out
    lengths = np.array([part.size for part in parts if part.size])
    cosines = np.einsum("qd,wd->qw", query, index.word_units[np.concatenate(parts)])
    closest = np.maximum.reduceat(cosines, np.cumsum(lengths) - lengths, axis=1)
    out[keep] = weight @ closest / weight.sum()
    return np.clip(out, 0.0, 1.0)


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), float32."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 1e-9).astype(np.float32, copy=False)


def _whitening(vectors: np.ndarray, class_starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and a shrunk within-entry whitening matrix of the content's sentence vectors.

    Static vectors spread much of their variance over directions that differ between phrasings of the same
    entry (wording, not intent); dividing those out (an LDA-like metric learned from the content itself) lifted
    held-out top-1 of the vectors alone by about 9 points on BANKING77's own phrasings. Shrinkage keeps it stable
    with few phrasings per entry, where the covariance has low rank.
    """
    mean = vectors.mean(axis=0)
    lengths = np.diff(np.append(class_starts, vectors.shape[0]))
    centroids = np.add.reduceat(vectors, class_starts, axis=0) / np.maximum(lengths, 1)[:, None]
    residual = (vectors - np.repeat(centroids, lengths, axis=0)).astype(np.float64)
    covariance = residual.T @ residual
    dims = vectors.shape[1]
    trace = float(np.trace(covariance))
    if trace <= 1e-12:  # one phrasing per entry: nothing to learn
        return mean, np.eye(dims, dtype=np.float32)
    covariance *= dims / trace
    covariance[np.diag_indices(dims)] += WHITEN_SHRINK
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    whiten = (eigenvectors / np.sqrt(eigenvalues)) @ eigenvectors.T
    return mean, whiten.astype(np.float32)


def _project(vectors: np.ndarray, mean: np.ndarray | None, whiten: np.ndarray | None) -> np.ndarray:
    """Centred, whitened and L2-normalised sentence vectors; a text with no known piece stays all zeros."""
    if mean is None or whiten is None:
        return vectors
    out = (vectors - mean) @ whiten if vectors.shape[0] > 1 else np.einsum("qd,de->qe", vectors - mean, whiten)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 1e-6)
    out[~vectors.any(axis=1)] = 0.0
    return out.astype(np.float32, copy=False)


def _gather_rows(
    ptr: np.ndarray, feats: np.ndarray, values: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COO (local row, feature, value) of the selected CSR rows, in the order given."""
    starts = ptr[rows]
    lengths = ptr[rows + 1] - starts
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
    return np.repeat(np.arange(rows.size), lengths), feats[offsets], values[offsets]
