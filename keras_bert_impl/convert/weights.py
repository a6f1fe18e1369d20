"""Our canonical weight names, and putting a dict of arrays into a model with full checks.

Every reader (Hugging Face, Google checkpoint, our own preset) turns its file into one flat
dict `{canonical_name: np.ndarray}` in *our* layout (Dense kernels `[in, out]`, Q/K/V fused
into one `[H, 3H]` kernel). `assign_weights(model, weights)` then checks everything before it
writes anything, so a failed load never leaves a half-loaded model behind:

* every encoder weight the model needs is present (missing ones are named, in the source's
  own spelling when the reader gave it);
* every shape matches (both shapes named);
* no encoder weight of the checkpoint is left unused (a checkpoint with more layers than the
  config is an error, not a silent truncation);
* heads (pooler, MLM, NSP, classifier, span) that the model has but the checkpoint lacks keep
  their initial values, with a warning naming them — loading a `BertForMaskedLM` into a
  `BertPretrainer` gives a trained MLM head and a fresh NSP head, as fine-tuning expects.

Canonical names:

```
embeddings/token_embeddings            [vocab, H]
embeddings/segment_embeddings          [type_vocab, H]
embeddings/position_embeddings         [max_positions, H]
embeddings/layer_norm/{gamma,beta}
layer_{i}/qkv/{kernel [H, 3H], bias [3H]}        (q, k, v along the last axis)
layer_{i}/attention_output/{kernel,bias}
layer_{i}/attention_layer_norm/{gamma,beta}
layer_{i}/intermediate/{kernel,bias}
layer_{i}/output/{kernel,bias}
layer_{i}/output_layer_norm/{gamma,beta}
pooler/dense/{kernel,bias}
mlm/transform/{kernel,bias}   mlm/layer_norm/{gamma,beta}   mlm/output_bias
mlm/decoder                            (only read to check it is tied to the embeddings)
nsp/dense/{kernel [H, 2],bias}
classifier/dense/{kernel,bias}         span/dense/{kernel [H, 2],bias}
```

Example:

```python
import numpy as np
from keras_bert_impl import BertEncoder
from keras_bert_impl.convert.weights import assign_weights, extract_weights

source = BertEncoder({"vocab_size": 50, "hidden_size": 8, "num_layers": 1, "num_heads": 2})
target = BertEncoder(source.config)
assign_weights(target, extract_weights(source))
np.array_equal(target.token_embeddings.numpy(), source.token_embeddings.numpy())  # True
```
"""

import re
import warnings

import numpy as np

from keras_bert_impl.layers.initializers import bert_initializer

_LAYER = re.compile(r"^layer_(\d+)/")
HEAD_PREFIXES = ("pooler/", "mlm/", "nsp/", "classifier/", "span/")


class WeightLoadError(ValueError):
    """A checkpoint does not fit the model: names every missing, unused or mis-shaped weight.

    A `ValueError`, raised before any weight is written, so no half-loaded model escapes.

    Example:

    ```python
    import numpy as np
    from keras_bert_impl import BertEncoder
    encoder = BertEncoder({"vocab_size": 50, "hidden_size": 8, "num_layers": 1, "num_heads": 2})
    try:
        assign_weights(encoder, {"embeddings/token_embeddings": np.zeros((3, 8))})
    except WeightLoadError as error:
        print(error)  # names (3, 8) vs (50, 8) and every missing weight
    ```
    """


def _dense(prefix, layer):
    return {f"{prefix}/kernel": layer.kernel, f"{prefix}/bias": layer.bias}


def _norm(prefix, layer):
    return {f"{prefix}/gamma": layer.gamma, f"{prefix}/beta": layer.beta}


def find_encoder(model):
    """The `BertEncoder` inside `model` (the model itself, or its `.encoder`)."""
    from keras_bert_impl.models.encoder import BertEncoder

    if isinstance(model, BertEncoder):
        return model
    encoder = getattr(model, "encoder", None)
    if isinstance(encoder, BertEncoder):
        return encoder
    raise TypeError(
        f"Expected a BertEncoder or a model with an `.encoder` BertEncoder, got "
        f"{type(model).__name__}."
    )


def model_variables(model):
    """`{canonical_name: keras.Variable}` of every weight of `model` (encoder and heads)."""
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
    return {name: np.asarray(v.numpy()) for name, v in model_variables(model).items()}


def fuse_qkv(weights, source_names=None, source="the checkpoint"):
    """Replaces `layer_i/{query,key,value}/{kernel,bias}` by the fused `layer_i/qkv/...`.

    A layer with only some of the three raises `WeightLoadError` naming the absent ones.
    """
    source_names = source_names if source_names is not None else {}
    out = dict(weights)
    layers = {int(m.group(1)) for m in map(_LAYER.match, weights) if m}
    absent = []
    for i in sorted(layers):
        for kind in ("kernel", "bias"):
            parts = [f"layer_{i}/{p}/{kind}" for p in ("query", "key", "value")]
            present = [p for p in parts if p in out]
            if present and len(present) < 3:
                # Name the absent ones in the source's spelling (swap the part's name).
                known = source_names.get(present[0], present[0])
                word = present[0].split("/")[1]
                for p in parts:
                    if p not in out:
                        absent.append(known.replace(word, p.split("/")[1]))
            if all(p in out for p in parts):
                shapes = [out[p].shape for p in parts]
                if len(set(shapes)) != 1:
                    raise WeightLoadError(
                        f"Query/key/value {kind}s of layer {i} differ in shape: "
                        + ", ".join(
                            f"{source_names.get(p, p)} {s}" for p, s in zip(parts, shapes)
                        )
                    )
                fused = f"layer_{i}/qkv/{kind}"
                out[fused] = np.concatenate([out.pop(p) for p in parts], axis=-1)
                source_names[fused] = " + ".join(source_names.get(p, p) for p in parts)
    if absent:
        raise WeightLoadError(
            f"Attention projections missing from {source} ({len(absent)}): "
            + ", ".join(absent)
        )
    return out


def rename_to_canonical(tensors, rules, source, what, skip=None, normalise=None):
    """Maps `{source_name: array}` to `({canonical: array}, {canonical: source_name})`.

    `rules` are `(compiled pattern, template, transpose)`: the first pattern that matches a
    (normalised) name gives its canonical name (`{i}` = layer index, `{p}` = parameter) and
    whether the array is transposed. Names matched by `skip` are ignored; any other name no
    rule matches raises `WeightLoadError` saying `source` "holds `what`", listing them.
    Q/K/V are fused at the end (`fuse_qkv`).
    """
    weights, names, unknown = {}, {}, []
    for original, array in tensors.items():
        if skip is not None and skip.match(original):
            continue
        name = normalise(original) if normalise else original
        for pattern, template, transpose in rules:
            match = pattern.match(name)
            if match:
                groups = match.groups()
                canonical = template.format(
                    i=groups[0] if groups else "", p=groups[1] if len(groups) > 1 else ""
                )
                array = np.asarray(array)
                weights[canonical] = np.ascontiguousarray(array.T) if transpose else array
                names[canonical] = original
                break
        else:
            unknown.append(f"{original} {tuple(np.shape(array))}")
    if unknown:
        raise WeightLoadError(
            f"{source} holds {what} ({len(unknown)}): " + ", ".join(sorted(unknown)[:20])
            + (" ..." if len(unknown) > 20 else "")
        )
    return fuse_qkv(weights, names, source), names


def _is_head(name):
    return name.startswith(HEAD_PREFIXES)


def assign_weights(model, weights, source="checkpoint", source_names=None, warn=True):
    """Checks `weights` against `model` and assigns them; raises before writing anything.

    Args:
        model: a `BertEncoder`, `BertPretrainer` or task model.
        weights: `{canonical_name: array}` (see the module docstring).
        source: the file the weights came from, named in errors and warnings.
        source_names: optional `{canonical_name: name in the source file}` for messages.
        warn: warn about model heads the checkpoint lacks (left at their initial values).

    Returns:
        A dict with `loaded`, `missing_heads` and `unused` canonical names.
    """
    source_names = source_names or {}

    def named(name):
        original = source_names.get(name)
        return f"{original} (ours: {name})" if original and original != name else name

    targets = model_variables(model)
    weights = dict(weights)
    decoder = weights.pop("mlm/decoder", None)

    missing = [n for n in targets if n not in weights and not _is_head(n)]
    missing_heads = [n for n in targets if n not in weights and _is_head(n)]
    unused = [n for n in weights if n not in targets]
    unused_body = [n for n in unused if not _is_head(n)]
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
    return {
        "loaded": [n for n in targets if n in weights],
        "missing_heads": missing_heads,
        "unused": unused,
    }
