"""int8 weights for serving: `model.quantize("int8")` on every model of ours (issue 16).

Keras 3 quantizes `Dense`, `EinsumDense` and `Embedding` (`keras.Model.quantize`): each leaf
layer's kernel becomes int8 with a float32 scale per output channel (`kernel_scale`), its
dtype policy becomes `int8_from_<policy>`, and its int8 call quantizes the inputs per row on
the fly (an int8 x int8 matmul). Our models take that as it is, with two additions, so that
it is still one mechanism (Keras' dtype policies):

* Keras quantizes leaf layers only and skips subclasses of `Dense`: `LoraDense` (every
  projection of the Transformer blocks, the fused qkv included) opts in, and `BertEmbeddings`
  (not a leaf: it holds its LayerNorm) implements the same hooks as Keras' int8 `Embedding`
  (the token table int8 with a float32 scale per row; the tied MLM output projection reads it
  through `BertEmbeddings.token_logits`). `quantize` here calls both.
* Our models are built in `__init__` from a `BertConfig`, not from their layers' configs, so a
  layer's quantized policy would not survive `get_config`. As keras-hub's backbones do, the
  quantized layers' policies go into a `keras.dtype_policies.DTypePolicyMap` keyed by layer
  path, which becomes the encoder's `dtype` (its default: the encoder's policy before); every
  layer (the heads too, which take `encoder.dtype_policy`) looks its path up in it when built,
  so `from_config` and `.keras` files build the int8 variables and load them exactly.

Not supported: other modes (`int4`, `float8`, GPTQ), a model with LoRA adapters
(`merge_lora()` first), presets of a quantized model (`save_to_preset` writes float
checkpoints: quantize after `from_preset`), training a quantized model.

Example:

```python
import numpy as np
from keras_bert_impl.models import BertClassifier, BertEncoder
encoder = BertEncoder({"vocab_size": 50, "hidden_size": 8, "num_layers": 1, "num_heads": 2})
classifier = BertClassifier(encoder, num_classes=2)
x = {"token_ids": np.array([[2, 5, 7, 3]]), "segment_ids": np.zeros((1, 4), "int32"),
     "padding_mask": np.ones((1, 4), "int32")}
before = classifier.predict(x, verbose=0)
classifier.quantize("int8")
quantization_mode(classifier), encoder.embeddings.token_embeddings.dtype  # ('int8', 'int8')
bool(np.abs(classifier.predict(x, verbose=0) - before).max() < 0.05)  # True
```
"""

import warnings

import keras

from keras_bert_impl.keras_private import flatten_layers
from keras_bert_impl.models.weights import find_encoder

QUANTIZATION_MODES = ("int8",)


def check_quantization_mode(mode):
    """Returns `mode` if it is one of `QUANTIZATION_MODES`; a `ValueError` naming them
    otherwise.

    Example:

    ```python
    check_quantization_mode("int8")  # 'int8'
    ```
    """
    if mode not in QUANTIZATION_MODES:
        raise ValueError(f"Unknown quantization mode {mode!r}; the models quantize to "
                         f"{list(QUANTIZATION_MODES)} (Keras' int8: weights int8 with a float "
                         "scale per channel).")
    return mode


def quantization_mode(model):
    """The quantization mode of `model`'s layers (`"int8"`), or `None` for a float model.

    Example:

    ```python
    from keras_bert_impl.models import BertEncoder
    quantization_mode(BertEncoder({"vocab_size": 50, "hidden_size": 8, "num_layers": 1,
                                   "num_heads": 2}))  # None
    ```
    """
    for layer in flatten_layers(model):
        if layer.quantization_mode is not None:
            return layer.quantization_mode
    return None


def quantize(model, mode, config=None, keras_quantize=None):
    """Quantizes `model` in place (see the module docstring); `keras_quantize(mode, config)`
    is Keras' `Model.quantize` bound to `model`. `model.quantize(mode)` calls it.

    Example:

    ```python
    from keras_bert_impl.models import BertEncoder
    encoder = BertEncoder({"vocab_size": 50, "hidden_size": 8, "num_layers": 1,
                           "num_heads": 2})
    encoder.quantize("int8")  # this function, with Keras' Model.quantize
    encoder.dtype_policy["transformer_layer_0/qkv"].name  # 'int8_from_float32'
    ```
    """
    check_quantization_mode(mode)
    name = type(model).__name__
    if quantization_mode(model) is not None:
        raise ValueError(f"This {name} is already quantized ({quantization_mode(model)}); "
                         "quantize a float model (e.g. from_preset again).")
    if model.lora_config() is not None:
        raise ValueError(f"This {name} has LoRA adapters; call merge_lora() before "
                         "quantize() (the adapters are folded into the kernels, which are "
                         "then quantized).")
    encoder = find_encoder(model)
    with warnings.catch_warnings():
        # Keras warns once per layer that has no `quantize` (LayerNorm, Dropout, ...).
        warnings.filterwarnings("ignore", message=r".*does not have a `quantize` method")
        keras_quantize(mode, config=config)
    encoder.embeddings.quantize(mode, config=config)
    policies = keras.dtype_policies.DTypePolicyMap(default_policy=encoder.dtype_policy.name)
    for layer in flatten_layers(model):
        if layer.quantization_mode is not None and layer.path not in policies:
            policies[layer.path] = layer.dtype_policy
    encoder.dtype_policy = policies
