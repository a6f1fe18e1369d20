"""Reader of TensorFlow Model Garden's object-based BERT checkpoints (official/nlp, TF2).

Model Garden saves its Keras models with `tf.train.Checkpoint(<root>=model)`: its published
TF2 BERT checkpoints (`bert_config.json`, `bert_model.ckpt.*`, `vocab.txt`, as
`official/nlp/tools/tf2_bert_encoder_checkpoint_converter.py` writes them from Google's) and
the checkpoints of its own pretraining runs. Variable names are object paths ending in
`/.ATTRIBUTES/VARIABLE_VALUE` under one root (`model/`, `encoder/`, ...), in three forms:

```
BertEncoder (functional; layers numbered in creation order):
  layer_with_weights-0/embeddings      word      layer_with_weights-1/embeddings   position
  layer_with_weights-2/embeddings      segment   layer_with_weights-3/{gamma,beta} embedding LN
  layer_with_weights-{4..L+3}/...      the L Transformer blocks (below)
  layer_with_weights-{L+4}/{kernel,bias}         pooler
BertEncoderV2 (attribute names):
  _embedding_layer/embeddings, _position_embedding_layer/embeddings,
  _type_embedding_layer/embeddings, _embedding_norm_layer/{gamma,beta},
  _transformer_layers/{i}/...,  _pooler_layer/{kernel,bias}
a Transformer block:
  _attention_layer/_{query,key,value}_dense/{kernel [H, heads, head_size], bias [heads, head_size]}
  _attention_layer/_output_dense/{kernel [heads, head_size, H], bias}
  _attention_layer_norm/{gamma,beta}, _intermediate_dense/{kernel,bias},
  _output_dense/{kernel,bias}, _output_layer_norm/{gamma,beta}
BertPretrainerV2 (encoder_network/ + masked_lm/):
  encoder_network/<an encoder above>;  masked_lm/dense/{kernel,bias} (the transform),
  masked_lm/layer_norm/{gamma,beta}, masked_lm/output_bias.Sbias,
  masked_lm/embedding_table            the word embeddings (tied; saved once, here)
BertClassifier (functional, on the encoder's pooled output):
  layer_with_weights-0/<an encoder above>;  layer_with_weights-1/out_proj/{kernel,bias}
```

The einsum kernels are reshaped to our `[in, out]` Dense layout; optimizer slots,
`save_counter` and `global_step` are skipped. On the activation: Model Garden computes
`"gelu"` as the tanh approximation, as google-research/bert does; we load with the exact GELU
as for Google's checkpoints (`keras_bert_impl.presets.google`), and
`config_overrides={"hidden_act": "gelu_approximate"}` reproduces Model Garden's outputs.

Example:

```python
import numpy as np
variables = {"model/layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE":
             np.zeros((8, 4)), "save_counter/.ATTRIBUTES/VARIABLE_VALUE": np.array(1)}
weights, names = model_garden_to_canonical(variables)
sorted(weights)  # ['embeddings/token_embeddings']
```
"""

import re

import numpy as np

from keras_bert_impl.presets.canonical import rename_to_canonical

_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_SKIPPED = re.compile(r"(_CHECKPOINTABLE_OBJECT_GRAPH|(?:[^/]+/)?(save_counter|global_step)"
                      r"(/.*)?|(?:[^/]+/)?optimizer/.*|.*/\.OPTIMIZER_SLOT/.*)$")
_EMBEDDINGS_V1 = {0: "_embedding_layer", 1: "_position_embedding_layer",
                  2: "_type_embedding_layer", 3: "_embedding_norm_layer"}
_NUMBERED = re.compile(r"layer_with_weights-(\d+)/(.*)$")
_BLOCK = r"_transformer_layers/(\d+)/"
_RULES = [
    (r"_embedding_layer/embeddings", "embeddings/token_embeddings"),
    (r"masked_lm/embedding_table", "embeddings/token_embeddings"),
    (r"_position_embedding_layer/embeddings", "embeddings/position_embeddings"),
    (r"_type_embedding_layer/embeddings", "embeddings/segment_embeddings"),
    (r"_embedding_norm_layer/(gamma|beta)", "embeddings/layer_norm/{i}"),
    (_BLOCK + r"_attention_layer/_(query|key|value)_dense/(kernel|bias)", "layer_{i}/{p}/{k}"),
    (_BLOCK + r"_attention_layer/_output_dense/(kernel|bias)", "layer_{i}/attention_output/{p}"),
    (_BLOCK + r"_attention_layer_norm/(gamma|beta)", "layer_{i}/attention_layer_norm/{p}"),
    (_BLOCK + r"_intermediate_dense/(kernel|bias)", "layer_{i}/intermediate/{p}"),
    (_BLOCK + r"_output_dense/(kernel|bias)", "layer_{i}/output/{p}"),
    (_BLOCK + r"_output_layer_norm/(gamma|beta)", "layer_{i}/output_layer_norm/{p}"),
    (r"_pooler_layer/(kernel|bias)", "pooler/dense/{i}"),
    (r"masked_lm/dense/(kernel|bias)", "mlm/transform/{i}"),
    (r"masked_lm/layer_norm/(gamma|beta)", "mlm/layer_norm/{i}"),
    (r"masked_lm/output_bias\.Sbias", "mlm/output_bias"),
    (r"classifier_model/layer_with_weights-\d+/out_proj/(kernel|bias)", "classifier/dense/{i}"),
]
# A BertClassifier holds its encoder as its first layer with weights.
_NESTED_ENCODER = re.compile(r"layer_with_weights-0/(layer_with_weights-\d+|_embedding_layer)/")
_CLASSIFIER = "classifier_model/"


def _path(name):
    """The object path below the checkpoint's root (and a pretrainer's `encoder_network`)."""
    path = name[: -len(_SUFFIX)] if name.endswith(_SUFFIX) else name
    path = path.split("/", 1)[1] if "/" in path else path
    return path[len("encoder_network/"):] if path.startswith("encoder_network/") else path


def _v1_roles(paths):
    """`{layer_with_weights index: V2 path prefix}` of a functional `BertEncoder`: 0-3 the
    embeddings, the indices holding attention the blocks in order, the next one the pooler."""
    numbered = {}
    for path in paths:
        match = _NUMBERED.match(path)
        if match:
            numbered.setdefault(int(match.group(1)), set()).add(match.group(2))
    blocks = sorted(i for i, rest in numbered.items()
                    if any(r.startswith("_attention_layer/") for r in rest))
    roles = {i: prefix for i, prefix in _EMBEDDINGS_V1.items() if i in numbered}
    roles.update({index: f"_transformer_layers/{i}" for i, index in enumerate(blocks)})
    if blocks and blocks[-1] + 1 in numbered:
        roles[blocks[-1] + 1] = "_pooler_layer"
    return roles


def _reshaped(path, array):
    """Einsum kernels and biases in our Dense layout: `[H, heads, size]` -> `[H, H]`,
    `[heads, size]` -> `[H]`, the output's `[heads, size, H]` -> `[H, H]`."""
    if re.search(r"_attention_layer/_(query|key|value)_dense/kernel$", path) and array.ndim == 3:
        return array.reshape(array.shape[0], -1)
    if re.search(r"_attention_layer/_(query|key|value)_dense/bias$", path) and array.ndim == 2:
        return array.reshape(-1)
    if re.search(r"_attention_layer/_output_dense/kernel$", path) and array.ndim == 3:
        return array.reshape(-1, array.shape[-1])
    return array


def is_model_garden(variables):
    """Whether `{name: array}` holds an object-based checkpoint (what Model Garden writes)."""
    return "_CHECKPOINTABLE_OBJECT_GRAPH" in variables


def model_garden_to_canonical(variables, source="checkpoint"):
    """Maps `{checkpoint name: array}` of a Model Garden BERT to `({canonical: array},
    {canonical: checkpoint name})`; names that are not BERT's raise `WeightLoadError`."""
    kept = {name: array for name, array in variables.items() if not _SKIPPED.match(name)}
    paths = {name: _path(name) for name in kept}
    if any(_NESTED_ENCODER.match(path) for path in paths.values()):
        nested = "layer_with_weights-0/"
        paths = {name: path[len(nested):] if path.startswith(nested) else _CLASSIFIER + path
                 for name, path in paths.items()}
    roles = _v1_roles(path for path in paths.values() if not path.startswith(_CLASSIFIER))

    def v2_path(name):
        path = paths[name]
        match = _NUMBERED.match(path)
        if match and int(match.group(1)) in roles:
            return f"{roles[int(match.group(1))]}/{match.group(2)}"
        return path

    tensors = {name: _reshaped(v2_path(name), np.asarray(array)) for name, array in kept.items()}
    rules = [(re.compile(pattern + "$"), template, False) for pattern, template in _RULES]
    return rename_to_canonical(
        tensors, rules, source,
        "variables that are not part of Model Garden's BERT encoder or masked LM",
        normalise=v2_path,
    )
