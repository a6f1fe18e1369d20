"""A model's inference variant: bfloat16 compute and/or int8 weights (issue 16: cheaper serving).

`inference_model(model, dtype=None, quantize=None)` is the one place that turns a trained model
into what `keras-bert export --dtype/--quantize` serves:

* `dtype="bfloat16"`: Keras' `bfloat16` policy: weights stored in bfloat16, matmuls in
  bfloat16, LayerNorm in float32 (our layers pin it, weights included) and the attention
  softmax too (Keras' `dot_product_attention` computes it so), logits and probabilities cast
  to float32 by every head. The outputs are bit for bit those of `mixed_bfloat16` (training's
  `--precision`), whose float32 variables are cast to bfloat16 at every call: here the
  weights are rounded once, so a call reads half the bytes and casts nothing (BERT-base on
  2 AMX cores, batch 1 x 32 tokens: 77.5 ms under `mixed_bfloat16`, 50.2 ms in float32,
  38.3 ms). A model's policy is fixed
  when its layers are built, so the variant is the same model rebuilt with the encoder's
  `dtype` set (`BertEncoder(config, dtype=...)`; the heads take `encoder.dtype_policy`) and
  the weights copied over, as keras-hub's `from_preset(..., dtype=...)` builds with a policy
  rather than converting a built model.
* `quantize="int8"`: `model.quantize("int8")` on that copy (see
  `keras_bert_impl.models.quantize`); with `dtype="bfloat16"` the layers become Keras'
  `int8_from_bfloat16`.

`model` itself is left as it is (a float model stays usable next to its variant). Preprocessor,
label names and vocabulary travel with the copy.

`keras-bert evaluate --dtype/--quantize` scores the same variant (`evaluate_run` calls
`inference_model` on the run it loads), so a variant can be measured before it is exported.

Example:

```python
import numpy as np
from keras_bert_impl.models import BertClassifier, BertEncoder
encoder = BertEncoder({"vocab_size": 50, "hidden_size": 8, "num_layers": 1, "num_heads": 2})
classifier = BertClassifier(encoder, num_classes=2)
fast = inference_model(classifier, dtype="bfloat16", quantize="int8")
fast.encoder.embeddings.dtype_policy.name  # 'int8_from_bfloat16'
x = {"token_ids": np.array([[2, 5, 7, 3]]), "segment_ids": np.zeros((1, 4), "int32"),
     "padding_mask": np.ones((1, 4), "int32")}
fast.predict(x, verbose=0).dtype  # dtype('float32')
classifier.encoder.embeddings.token_embeddings.dtype  # 'float32': the model is unchanged
```
"""


from keras_bert_impl.models.encoder import BertEncoder
from keras_bert_impl.models.quantize import check_quantization_mode, quantization_mode

# `--dtype` values and the Keras dtype policy each one runs the model under.
INFERENCE_DTYPES = {"float32": "float32", "bfloat16": "bfloat16"}


def inference_policy(dtype):
    """The Keras dtype policy name of an inference `dtype` (`INFERENCE_DTYPES`); a
    `ValueError` naming the allowed values otherwise.

    Example:

    ```python
    inference_policy("bfloat16")  # 'bfloat16'
    ```
    """
    if dtype not in INFERENCE_DTYPES:
        raise ValueError(f"Unknown inference dtype {dtype!r}; choose one of "
                         f"{list(INFERENCE_DTYPES)} (bfloat16: bfloat16 weights and matmuls, "
                         "LayerNorm and softmax in float32).")
    return INFERENCE_DTYPES[dtype]


def _policy_name(model):
    policy = model.get_encoder().dtype_policy
    return getattr(policy, "default_policy", policy).name


def inference_model(model, dtype=None, quantize=None):
    """`model` computing in `dtype` (`"float32"` or `"bfloat16"`; `None` keeps the model's)
    with its weights quantized to `quantize` (`"int8"` or `None`). Returns `model` itself
    when that changes nothing, else a new model with the same weights, preprocessor, label
    names and vocabulary (see the module docstring); `model` is not modified. Unknown values
    raise a `ValueError` naming the allowed ones; an already quantized model cannot change.

    Example:

    ```python
    from keras_bert_impl.models import BertEncoder
    encoder = BertEncoder({"vocab_size": 50, "hidden_size": 8, "num_layers": 1,
                           "num_heads": 2})
    inference_model(encoder) is encoder  # True
    inference_model(encoder, dtype="bfloat16").dtype_policy.name  # 'bfloat16'
    ```
    """
    current = _policy_name(model)
    policy = current if dtype is None else inference_policy(dtype)
    mode = None if quantize is None else check_quantization_mode(quantize)
    quantized = quantization_mode(model)
    if quantized is not None:
        if policy == current and mode in (None, quantized):
            return model
        raise ValueError(f"This {type(model).__name__} is already {quantized}-quantized and "
                         f"computes in {current}; build the variant from the float model.")
    if policy == current and mode is None:
        return model
    variant = _rebuilt(model, policy)
    if mode is not None:
        variant.quantize(mode)
    return variant


def _rebuilt(model, policy):
    """A new model of `model`'s class and arguments with the encoder under `policy`, and
    `model`'s weights."""
    encoder = model.get_encoder()
    rebuilt = BertEncoder(encoder.config, dtype=policy, lora=encoder.lora_config(),
                          name=encoder.name)
    if model is encoder:
        variant = rebuilt
    else:
        arguments = {**model.constructor_arguments(), "encoder": rebuilt}
        variant = type(model)(**arguments, name=model.name)
    variant.set_weights(model.get_weights())
    variant.tokenizer_spec = model.tokenizer_spec
    return variant
