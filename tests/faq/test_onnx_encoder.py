"""ONNX Runtime path of the semantic matcher: same vectors as torch, exported once and reused from disk."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from handlers.faq.semantic import semantic_available

pytestmark = pytest.mark.skipif(
    not semantic_available() or find_spec("onnxruntime") is None,
    reason="needs the semantic and onnx extras: pip install 'uptake[onnx]'",
)


def test_onnx_vectors_equal_torch_and_the_export_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers.faq.onnx_encoder import CACHE_ENV, OnnxEncoder
    from handlers.faq.semantic import default_model_path, encode_one, load_encoder

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    model = load_encoder()
    encoder = OnnxEncoder(model, default_model_path())
    assert encoder.path.parent == tmp_path and encoder.path.exists()
    texts = ["How do I mute the bot?", "is the survey anonymous", "I pasted customer data into the AI by mistake"]
    batch = encoder.encode(texts)
    for text, vector in zip(texts, batch, strict=True):
        expected = encode_one(model, text)
        assert float(vector @ expected) > 0.9999
        assert float(encoder.encode_one(text) @ expected) > 0.9999
    exported_at = encoder.path.stat().st_mtime_ns
    again = OnnxEncoder(model, default_model_path())
    assert again.path == encoder.path and again.path.stat().st_mtime_ns == exported_at  # not exported twice
    assert list(tmp_path.glob("*.onnx")) == [encoder.path]  # no temporary file left behind
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
