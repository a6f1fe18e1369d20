"""keras_bert_impl: BERT for Keras 3.

```python
import keras_bert_impl as kb
encoder = kb.models.BertEncoder.from_preset("bert_tiny")      # also kb.BertEncoder
kb.presets.list_presets()                                      # names with real weights
# kb.text.BertTokenizer, kb.layers.TransformerEncoderBlock, kb.optimizers.create_adamw, ...
```

The package reads one way down (each folder imports only those below it):
`config`, `layers`, `optimizers` -> `presets` -> `text` -> `models`, `data` -> `training` ->
`export` -> `cli`. Importing the package needs nothing heavy: subpackages and public names
load on first access, so `keras-bert --help` starts fast and the models run where TensorFlow
is absent (`text`, `data` and `training` import TensorFlow themselves when used).

Every Keras class of ours is registered as soon as Keras is imported (before or after this
package), so `keras.saving.load_model("model.keras")` works after `import keras_bert_impl`
with no other import.

Importing the package also adds the XLA flags of `xla_flags` (faster GPU matmuls) to the
`XLA_FLAGS` environment variable, unless it names them already.
"""

import importlib
import importlib.abc
import importlib.util
import sys

from keras_bert_impl.xla_flags import add_gpu_flags

add_gpu_flags()

__version__ = "0.1.0"

SUBPACKAGES = (
    "config", "layers", "optimizers", "metrics", "presets", "text", "models", "data",
    "training", "export",
)
# public name -> module that defines it
_EXPORTS = {
    "PRESETS": "keras_bert_impl.config",
    "BertConfig": "keras_bert_impl.config",
    "BertEncoder": "keras_bert_impl.models",
    "BertPretrainer": "keras_bert_impl.models",
    "BertClassifier": "keras_bert_impl.models",
    "BertTokenClassifier": "keras_bert_impl.models",
    "BertSpanLabeler": "keras_bert_impl.models",
    "BertTokenizer": "keras_bert_impl.text",
    "BertClassifierPreprocessor": "keras_bert_impl.text",
    "BertTokenClassifierPreprocessor": "keras_bert_impl.text",
    "BertSpanPreprocessor": "keras_bert_impl.text",
}
# Modules that define our registered Keras classes (none imports TensorFlow at import time).
SERIALIZABLE_MODULES = (
    "keras_bert_impl.layers",
    "keras_bert_impl.optimizers",
    "keras_bert_impl.models",
    "keras_bert_impl.text.tokenizer",
    "keras_bert_impl.text.packing",
    "keras_bert_impl.text.masking",
    "keras_bert_impl.text.preprocessors",
    "keras_bert_impl.text.classifier_preprocessor",
    "keras_bert_impl.text.token_classifier_preprocessor",
    "keras_bert_impl.text.span_preprocessor",
    "keras_bert_impl.metrics.keras_metrics",
)

__all__ = sorted(set(_EXPORTS) | set(SUBPACKAGES))


def __getattr__(name):
    if name in SUBPACKAGES:
        value = importlib.import_module(f"keras_bert_impl.{name}")
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'keras_bert_impl' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


def register_keras_classes():
    """Imports the modules that register our Keras classes (layers, models, optimizers,
    text layers). Runs by itself once Keras is imported; calling it again is free."""
    for module in SERIALIZABLE_MODULES:
        importlib.import_module(module)


class _Loading:
    """A loader that runs the real one, then tells the registration hook it finished."""

    def __init__(self, hook, loader, name):
        self.hook, self.loader, self.name = hook, loader, name

    def __getattr__(self, name):  # get_source, get_resource_reader, ... of the real loader
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.hook.depth += 1
        try:
            self.loader.exec_module(module)
        finally:
            self.hook.depth -= 1
            self.hook.finished(self.name)


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Runs `register_keras_classes()` once `keras` is imported and no module of ours is
    half-way through its own import (registering from inside one would meet it half-built,
    e.g. `import keras_bert_impl.optimizers` is what imports keras)."""

    def __init__(self):
        self.depth = 0
        self.keras_loaded = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" and not fullname.startswith("keras_bert_impl."):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loading(self, spec.loader, fullname)
        return spec

    def finished(self, name):
        if name == "keras":
            self.keras_loaded = True
        if not self.keras_loaded or self.depth or "keras" not in sys.modules:
            return
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        try:
            register_keras_classes()
        except Exception as error:  # never break `import keras` for its other users
            import warnings

            warnings.warn(
                f"keras_bert_impl could not register its Keras classes ({error!r}); call "
                f"keras_bert_impl.register_keras_classes() to see the full error.",
                stacklevel=2,
            )


if "keras" in sys.modules:
    register_keras_classes()
elif not any(isinstance(finder, _RegisterAfterKeras) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterKeras())
