"""Reader of TensorFlow Model Garden's object-based BERT checkpoints (official/nlp, TF2) and
of the TF Hub BERT encoders it exports.

Model Garden saves its Keras models with `tf.train.Checkpoint(<root>=model)`: its published
TF2 BERT checkpoints (`bert_config.json`, `bert_model.ckpt.*`, `vocab.txt`, as
`official/nlp/tools/tf2_bert_encoder_checkpoint_converter.py` writes them from Google's) and
the checkpoints of its own runs. A TF Hub encoder (`export_tfhub_lib`) is a Keras SavedModel:
`saved_model.pb`, `variables/variables.*` (an object-based checkpoint whose variables are
named `variables/N`), `assets/vocab.txt` and a `do_lower_case` variable. Either way each
variable's object path (its attribute names from the root) is read from the checkpoint's
object graph (`object_paths`); the encoder is found under whatever holds it (a root `model/`
or `encoder/`, a classifier, a pretrainer, a SavedModel's model) by its position embeddings,
and its paths take one of these forms:

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
  masked_lm/layer_norm/{gamma,beta}, masked_lm/output_bias/bias,
  masked_lm/embedding_table            the word embeddings (tied; saved once, here)
BertClassifier (functional, on the encoder's pooled output):
  layer_with_weights-0/<an encoder above>;  layer_with_weights-1/out_proj/{kernel,bias}
a TF Hub encoder exported with its masked LM (TF Hub's BERTs since version 4):
  layer_with_weights-0/<an encoder above>;  mlm/layer_with_weights-0/masked_lm/...
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
             np.zeros((8, 4)),
             "model/layer_with_weights-1/embeddings/.ATTRIBUTES/VARIABLE_VALUE":
             np.zeros((16, 4)), "save_counter/.ATTRIBUTES/VARIABLE_VALUE": np.array(1)}
weights, names = model_garden_to_canonical(variables)
sorted(weights)  # ['embeddings/position_embeddings', 'embeddings/token_embeddings']
```
"""

import collections
import os
import re

import numpy as np

from keras_bert_impl.presets.canonical import WeightLoadError, rename_to_canonical

_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
# What every object-based (TF2 `tf.train.Checkpoint`) checkpoint holds, and google-research/
# bert's name-based (TF1 `tf.compat.v1.train.Saver`) ones never do.
OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"
_SKIPPED = re.compile(rf"({OBJECT_GRAPH}|(?:[^/]+/)?(save_counter|global_step)"
                      r"(/.*)?|(?:[^/]+/)?optimizer/.*|.*/\.OPTIMIZER_SLOT/.*)$")
_EMBEDDINGS_V1 = {0: "_embedding_layer", 1: "_position_embedding_layer",
                  2: "_type_embedding_layer", 3: "_embedding_norm_layer"}
_NUMBERED = re.compile(r"layer_with_weights-(\d+)/(.*)$")
_BLOCK = r"_transformer_layers/(\d+)/"
_RULES = [
    (r"_embedding_layer/embeddings", "embeddings/token_embeddings"),
    (r"head:(?:.+/)?masked_lm/embedding_table", "embeddings/token_embeddings"),
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
    (r"head:(?:.+/)?masked_lm/dense/(kernel|bias)", "mlm/transform/{i}"),
    (r"head:(?:.+/)?masked_lm/layer_norm/(gamma|beta)", "mlm/layer_norm/{i}"),
    # A local name "output_bias/bias": its "/" is ".S" in checkpoint keys.
    (r"head:(?:.+/)?masked_lm/output_bias(?:/|\.S)bias", "mlm/output_bias"),
    (r"head:layer_with_weights-\d+/out_proj/(kernel|bias)", "classifier/dense/{i}"),
]
# The position embeddings sit right under the encoder, whatever holds it.
_POSITIONS = re.compile(r"(layer_with_weights-1|_position_embedding_layer)/embeddings$")
# Object-graph edges that are not a layer's own attribute: Keras' lists and aliases.
_ALIASES = ("variables", "trainable_variables", "non_trainable_variables", "_variables",
            "trainable_weights", "non_trainable_weights", "weights", "regularization_losses",
            "keras_api", "signatures", "_default_save_signature", "__call__",
            "call_and_return_all_conditional_losses", "_self_saveable_object_factories")
# Saved beside a TF Hub encoder: its casing and vocabulary, not weights.
HUB_EXTRAS = ("do_lower_case", "vocab_file")


def object_paths(variables):
    """`{checkpoint name: object path}`: each variable's path of attribute names from the
    checkpoint's root, read from its object graph (`_CHECKPOINTABLE_OBJECT_GRAPH`). A Keras 2
    SavedModel names its variables `variables/N`; the graph also holds the path through the
    layers (`layer_with_weights-0/_attention_layer/_query_dense/kernel`), which is kept."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    serialized = variables[OBJECT_GRAPH]
    if isinstance(serialized, np.ndarray):  # not np.asarray(bytes): it drops trailing NULs
        serialized = serialized.item()
    graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(serialized)
    found, queue = {0: ()}, collections.deque([0])
    while queue:  # breadth first: the shortest path through layer attributes
        node = queue.popleft()
        for child in graph.nodes[node].children:
            name = child.local_name
            if name in _ALIASES or name.startswith("layer-") or child.node_id in found:
                continue
            found[child.node_id] = found[node] + (name,)
            queue.append(child.node_id)
    paths = {}
    for node, proto in enumerate(graph.nodes):
        for attribute in proto.attributes:
            if attribute.checkpoint_key in variables and node in found:
                paths[attribute.checkpoint_key] = "/".join(found[node])
    return paths


def _relative_paths(paths):
    """Object paths relative to the encoder (found by its position embeddings), and the
    heads' (`head:` + the path under whatever holds the encoder: a pretrainer's
    `masked_lm/...`, a classifier's `layer_with_weights-1/out_proj/...`)."""
    encoder = next((path[:found.start()] for path in paths.values()
                    for found in [_POSITIONS.search(path)] if found), "")
    holder = encoder.rstrip("/").rpartition("/")[0]
    holder = holder + "/" if holder else ""
    relative = {}
    for name, path in paths.items():
        if path.startswith(encoder):
            relative[name] = path[len(encoder):]
        elif path.startswith(holder):
            relative[name] = "head:" + path[len(holder):]
        else:
            relative[name] = path
    return relative


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
    return OBJECT_GRAPH in variables


def model_garden_to_canonical(variables, source="checkpoint"):
    """Maps `{checkpoint name: array}` of a Model Garden BERT to `({canonical: array},
    {canonical: checkpoint name})`; names that are not BERT's raise `WeightLoadError`."""
    paths = object_paths(variables) if OBJECT_GRAPH in variables else {
        name: name[: -len(_SUFFIX)] if name.endswith(_SUFFIX) else name for name in variables}
    kept = {name: array for name, array in variables.items()
            if not _SKIPPED.match(name) and paths.get(name) not in HUB_EXTRAS}
    paths = _relative_paths({name: paths.get(name, name) for name in kept})
    roles = _v1_roles(path for path in paths.values() if not path.startswith("head:"))

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


# A TF Hub BERT encoder (Model Garden's `export_tfhub`, e.g. bert_en_uncased_L-12_H-768_A-12):
# a Keras SavedModel whose variables are an object-based checkpoint, its vocabulary an asset.
SAVED_MODEL_VARIABLES = os.path.join("variables", "variables")
SAVED_MODEL_VOCAB = os.path.join("assets", "vocab.txt")


def is_saved_model(path):
    """Whether directory `path` is a SavedModel with variables (`saved_model.pb` +
    `variables/variables.index`)."""
    return (os.path.isfile(os.path.join(path, "saved_model.pb"))
            and os.path.isfile(os.path.join(path, SAVED_MODEL_VARIABLES + ".index")))


def saved_model_lowercase(path):
    """The `do_lower_case` a TF Hub encoder in directory `path` stores beside its weights,
    or `None` (read alone: not the weights)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(os.path.join(path, SAVED_MODEL_VARIABLES))
    key = "do_lower_case" + _SUFFIX
    return bool(reader.get_tensor(key)) if reader.has_tensor(key) else None


def infer_config(weights, variables):
    """A `BertConfig` from the canonical `weights` and the raw `variables` (a TF Hub encoder
    has no `bert_config.json`): sizes from the shapes, heads from the einsum q/k/v kernels
    `[H, heads, size]`; the rest BERT's (exact GELU, as for a `bert_config.json`'s "gelu")."""
    from keras_bert_impl.config import BertConfig

    vocab_size, hidden_size = weights["embeddings/token_embeddings"].shape
    heads = {shape[1] for shape in map(np.shape, variables.values())
             if len(shape) == 3 and shape[0] == hidden_size and shape[1] * shape[2] == hidden_size}
    if len(heads) != 1:
        raise WeightLoadError("Cannot tell the number of attention heads: no einsum query "
                              "kernel [hidden, heads, head_size] among the variables.")
    layers = {int(m.group(1)) for m in map(re.compile(r"layer_(\d+)/").match, weights) if m}
    return BertConfig(
        vocab_size=int(vocab_size), hidden_size=int(hidden_size), num_layers=len(layers),
        num_heads=int(heads.pop()),
        intermediate_size=int(weights["layer_0/intermediate/kernel"].shape[-1]),
        max_position_embeddings=int(weights["embeddings/position_embeddings"].shape[0]),
        type_vocab_size=int(weights["embeddings/segment_embeddings"].shape[0]))
