"""`benchmarks/attention_forms.py` on a tiny size: the three attention forms it times and
Hugging Face's on PyTorch (SDPA, with the same weights and padding; where torch is installed)
agree (float32), and it returns one record per form of ours, in ms, against Keras' op and
PyTorch's."""

import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import attention_forms  # noqa: E402


def test_the_forms_agree_and_are_recorded_against_keras_op():
    seconds, difference = attention_forms.measure("bert_tiny", batch=2, seq=16, rounds=1,
                                                  repeat=2, dtype="float32")
    assert difference < 1e-5
    has_torch = importlib.util.find_spec("torch") is not None
    assert set(seconds) == {"keras dot_product_attention", "heads-first (ours, TensorFlow)",
                            "einsums (ours, training)"} | ({attention_forms.TORCH} if has_torch
                                                          else set())
    assert all(0 < s < 1 for s in seconds.values())
    records = attention_forms.results(["bert_tiny"], batch=2, seq=16, rounds=1, repeat=1)
    assert [r["name"] for r in records] == ["attention: heads-first (ours, TensorFlow)",
                                            "attention: einsums (ours, training)"]
    for record in records:
        assert record["unit"] == "ms" and not record["higher_is_better"]
        assert record["ours"] > 0 and record["peers"]["keras dot_product_attention"] > 0
        assert (record["peers"][attention_forms.TORCH] > 0) if has_torch else (
            record["peers"][attention_forms.TORCH] is None)
