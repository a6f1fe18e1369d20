"""`keras-bert convert` (see `keras_bert_impl.convert.command`).

The checkpoint readers and our preset format moved to `keras_bert_impl.presets`, and loading
into a model is `Model.from_preset(path)`; the names this package used to export raise an
`ImportError` that says where each one went.
"""

from keras_bert_impl._moved import CONVERT_NAMES


def __getattr__(name):
    if name in CONVERT_NAMES:
        raise ImportError(f"keras_bert_impl.convert.{name} moved: use {CONVERT_NAMES[name]}.")
    raise AttributeError(f"module 'keras_bert_impl.convert' has no attribute {name!r}")
