"""The canonical weight names of a built model, and loading a dict of arrays into it.

Checkpoint readers (`keras_bert_impl.presets`) return `{canonical_name: np.ndarray}` in the
layout described in `keras_bert_impl.presets.canonical`. Here those names meet the model:
`model_variables(model)` maps every canonical name to its `keras.Variable`, and
`assign_weights(model, weights)` checks everything before it writes anything, so a failed
load never leaves a half-loaded model behind:

* every encoder weight the model needs is present (missing ones are named, in the source's
  own spelling when the reader gave it);
* every shape matches (both shapes named);
* no encoder weight of the checkpoint is left unused (a checkpoint with more layers than the
  config is an error, not a silent truncation);
* heads (pooler, MLM, NSP, classifier, span) that the model has but the checkpoint lacks keep
  their initial values, with a warning naming them — loading a `BertForMaskedLM` into a
  `BertPretrainer` gives a trained MLM head and a fresh NSP head, as fine-tuning expects.

Example:

```python
import numpy as np
from keras_bert_impl.models import BertEncoder
from keras_bert_impl.models.weights import assign_weights, extract_weights

source = BertEncoder({"vocab_size": 50, "hidden_size": 8, "num_layers": 1, "num_heads": 2})
target = BertEncoder(source.config)
assign_weights(target, extract_weights(source))
np.array_equal(target.token_embeddings.numpy(), source.token_embeddings.numpy())  # True
```
"""

import warnings

import numpy as np
from keras import ops

from keras_bert_impl.layers.initializers import bert_initializer
from keras_bert_impl.presets.canonical import WeightLoadError, is_head


def _dense(prefix, layer):
    return {f"{prefix}/kernel": layer.kernel, f"{prefix}/bias": layer.bias}


def _norm(prefix, layer):
    return {f"{prefix}/gamma": layer.gamma, f"{prefix}/beta": layer.beta}


def find_encoder(model):
    """The `BertEncoder` inside `model` (each of our models returns it from `get_encoder`)."""
    get_encoder = getattr(model, "get_encoder", None)
    if get_encoder is None:
        raise TypeError(
            f"Expected one of keras_bert_impl's models (a BertEncoder or a model built around "
            f"one), got {type(model).__name__}."
        )
    return get_encoder()


def model_variables(model):
    """`{canonical_name: keras.Variable}` of every weight of `model` (encoder and heads).

    A kernel with LoRA adapters enabled is a tensor instead: the merged kernel (see
    `keras_bert_impl.models.lora`), which `extract_weights` reads and `assign_weights`
    refuses to write."""
    encoder = find_encoder(model)
    emb = encoder.embeddings
    targets = {
        "embeddings/token_embeddings": emb.token_embeddings,
        "embeddings/segment_embeddings": emb.segment_embeddings,
        "embeddings/position_embeddings": emb.position_embeddings,
        **_norm("embeddings/layer_norm", emb.layer_norm),
    }
    for i, block in enumerate(encoder.transformer_layers):
        p = f"layer_{i}"
        targets.update(_dense(f"{p}/qkv", block.qkv_dense))
        targets.update(_dense(f"{p}/attention_output", block.attention_output_dense))
        targets.update(_norm(f"{p}/attention_layer_norm", block.attention_layer_norm))
        targets.update(_dense(f"{p}/intermediate", block.intermediate_dense))
        targets.update(_dense(f"{p}/output", block.output_dense))
        targets.update(_norm(f"{p}/output_layer_norm", block.output_layer_norm))
    targets.update(_dense("pooler/dense", encoder.pooler.dense))
    mlm = getattr(model, "mlm_head", None)
    if mlm is not None:
        targets.update(_dense("mlm/transform", mlm.transform))
        targets.update(_norm("mlm/layer_norm", mlm.layer_norm))
        targets["mlm/output_bias"] = mlm.output_bias
    nsp = getattr(model, "nsp_head", None)
    if nsp is not None:
        targets.update(_dense("nsp/dense", nsp.dense))
    for head in ("classifier", "span"):
        layer = getattr(model, f"{head}_dense", None)
        if layer is not None:
            targets.update(_dense(f"{head}/dense", layer))
    return targets


def extract_weights(model):
    """`{canonical_name: np.ndarray}` of `model` (the inverse of `assign_weights`)."""
    return {name: np.asarray(ops.convert_to_numpy(v))
            for name, v in model_variables(model).items()}


def assign_weights(model, weights, source="checkpoint", source_names=None, warn=True,
                   replace_mismatched_heads=False):
    """Checks `weights` against `model` and assigns them; raises before writing anything.

    Args:
        model: a `BertEncoder`, `BertPretrainer` or task model.
        weights: `{canonical_name: array}` (see the module docstring).
        source: the file the weights came from, named in errors and warnings.
        source_names: optional `{canonical_name: name in the source file}` for messages.
        warn: warn about model heads the checkpoint lacks (left at their initial values).
        replace_mismatched_heads: a head whose weights in `weights` have other shapes than
            the model's (a classifier asked for another `num_classes`) keeps its initial
            values, with a warning, instead of failing the load.

    Returns:
        A dict with `loaded`, `missing_heads`, `replaced_heads` and `unused` canonical
        names.
    """
    source_names = source_names or {}

    def named(name):
        original = source_names.get(name)
        return f"{original} (ours: {name})" if original and original != name else name

    targets = model_variables(model)
    merged = [n for n, v in targets.items() if not hasattr(v, "assign")]
    if merged:
        raise ValueError(
            f"This {type(model).__name__} has LoRA adapters enabled, so its kernels "
            f"({', '.join(merged[:3])}{', ...' if len(merged) > 3 else ''}) cannot take "
            f"{source}'s weights: load the weights first, then enable_lora(); or merge_lora() "
            f"first.")
    weights = dict(weights)
    decoder = weights.pop("mlm/decoder", None)
    replaced = {}
    if replace_mismatched_heads:
        replaced = {n: (tuple(weights[n].shape), tuple(v.shape)) for n, v in targets.items()
                    if is_head(n) and n in weights
                    and tuple(weights[n].shape) != tuple(v.shape)}
        for name in replaced:
            del weights[name]

    missing = [n for n in targets if n not in weights and not is_head(n)]
    missing_heads = [n for n in targets if n not in weights and is_head(n) and n not in replaced]
    unused = [n for n in weights if n not in targets]
    unused_body = [n for n in unused if not is_head(n)]
    mismatched = []
    for name, variable in targets.items():
        if name in weights and tuple(weights[name].shape) != tuple(variable.shape):
            mismatched.append(
                f"{named(name)}: {tuple(weights[name].shape)} in {source}, model expects "
                f"{tuple(variable.shape)}"
            )
    problems = []
    if mismatched:
        problems.append("shape mismatches:\n  " + "\n  ".join(mismatched))
    if missing:
        problems.append(
            f"missing from {source} ({len(missing)}):\n  "
            + "\n  ".join(named(n) for n in missing)
        )
    if unused_body:
        problems.append(
            f"in {source} but not in the model ({len(unused_body)}):\n  "
            + "\n  ".join(named(n) for n in unused_body)
        )
    if problems:
        raise WeightLoadError(
            f"The weights in {source} do not fit the {type(model).__name__} built from its "
            f"config (check num_hidden_layers / hidden_size / vocab_size in the config "
            f"file):\n" + "\n".join(problems)
        )
    if decoder is not None and "mlm/output_bias" in targets:
        table = weights["embeddings/token_embeddings"]
        if decoder.shape != table.shape or not np.array_equal(decoder, table):
            diff = (
                float(np.max(np.abs(decoder - table)))
                if decoder.shape == table.shape
                else f"shape {decoder.shape} vs {table.shape}"
            )
            raise WeightLoadError(
                f"{named('mlm/decoder')} in {source} is not tied to the word embeddings "
                f"(max abs difference {diff}); our MaskedLMHead ties its output projection to "
                f"the token embeddings, so this MLM head cannot be loaded exactly. Load a "
                f"BertEncoder instead to use the encoder weights."
            )
    for name, variable in targets.items():
        if name in weights:
            variable.assign(np.asarray(weights[name], dtype=variable.dtype))
    if "pooler/dense/kernel" in missing_heads:
        # The pooler is built with the encoder, whose random start a loader may have skipped
        # (`weights_will_be_loaded`): draw it now that the checkpoint turned out to lack it.
        kernel = targets["pooler/dense/kernel"]
        initializer = bert_initializer(find_encoder(model).config.initializer_range)
        kernel.assign(initializer(kernel.shape, dtype=kernel.dtype))
    if missing_heads and warn:
        groups = sorted({n.split("/")[0] for n in missing_heads})
        warnings.warn(
            f"{source} has no weights for the {', '.join(groups)} head(s) of this "
            f"{type(model).__name__}; they keep their random initial values "
            f"({len(missing_heads)} variables: {', '.join(missing_heads)}).",
            stacklevel=3,
        )
    if replaced and warn:
        shapes = ", ".join(f"{n} {there} there, {here} here" for n, (there, here)
                           in replaced.items())
        warnings.warn(
            f"{source} has a {'/'.join(sorted({n.split('/')[0] for n in replaced}))} head of "
            f"other shapes than this {type(model).__name__}'s ({shapes}): its new head starts "
            f"from random initial values; the other weights are loaded.",
            stacklevel=3,
        )
    return {
        "loaded": [n for n in targets if n in weights],
        "missing_heads": missing_heads,
        "replaced_heads": list(replaced),
        "unused": unused,
    }
