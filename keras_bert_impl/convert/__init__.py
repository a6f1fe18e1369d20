"""Real weights in: Hugging Face and Google BERT checkpoints, and our own presets.

The front door is `load_preset(path_or_name, model_cls)` (also reached through
`BertEncoder.from_preset`, `BertPretrainer.from_preset` and the task models' `from_preset`);
`save_preset(model, dir)` writes our format. Submodules import heavy dependencies
(`safetensors`, TensorFlow, torch) only when they read a file.
"""

from keras_bert_impl.convert.presets import (
    HUB_PRESETS,
    TokenizerSpec,
    detect_format,
    load_preset,
    load_tokenizer,
    resolve_tokenizer_spec,
    save_preset,
)
from keras_bert_impl.convert.weights import WeightLoadError

__all__ = [
    "HUB_PRESETS",
    "TokenizerSpec",
    "WeightLoadError",
    "detect_format",
    "load_preset",
    "load_tokenizer",
    "resolve_tokenizer_spec",
    "save_preset",
]
