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
"""

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

SUBPACKAGES = (
    "config", "layers", "optimizers", "presets", "text", "models", "data", "training",
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
}
# Modules that define our registered Keras classes (none imports TensorFlow at import time).
SERIALIZABLE_MODULES = (
    "keras_bert_impl.layers",
    "keras_bert_impl.optimizers",
    "keras_bert_impl.models",
    "keras_bert_impl.text",
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


class _RegisterAfterKeras(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Runs `register_keras_classes()` right after `keras` finishes importing."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)  # one shot; the real finders locate keras
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
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
