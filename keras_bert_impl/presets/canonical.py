"""Canonical weight names: the one layout every checkpoint reader produces.

Every reader of `keras_bert_impl.presets` (Hugging Face, Google, our own format) turns its
file into one flat dict `{canonical_name: np.ndarray}` in our layout (Dense kernels
`[in, out]`, Q/K/V fused into one `[H, 3H]` kernel). `keras_bert_impl.models.weights` maps
these names onto the variables of a built model.

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
import re
import numpy as np
rules = [(re.compile(r"emb$"), "embeddings/token_embeddings", False)]
weights, names = rename_to_canonical({"emb": np.zeros((5, 4))}, rules, "demo.bin", "extras")
sorted(weights)  # ['embeddings/token_embeddings']
```
"""

import re

import numpy as np

_LAYER = re.compile(r"^layer_(\d+)/")
HEAD_PREFIXES = ("pooler/", "mlm/", "nsp/", "classifier/", "span/")


class WeightLoadError(ValueError):
    """A checkpoint does not fit the model: names every missing, unused or mis-shaped weight.

    A `ValueError`, raised before any weight is written, so no half-loaded model escapes.

    Example:

    ```python
    try:
        raise WeightLoadError("missing from model.safetensors (1): layer_0/qkv/kernel")
    except ValueError as error:  # a WeightLoadError is a ValueError
        print(error)
    ```
    """


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
    (normalised) name gives its canonical name (`{i}`, `{p}`, `{k}`: its first, second and
    third groups, e.g. layer index, projection, kernel or bias) and whether the array is
    transposed. Names matched by `skip` are ignored; any other name no
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
                    i=groups[0] if groups else "", p=groups[1] if len(groups) > 1 else "",
                    k=groups[2] if len(groups) > 2 else "",
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


def is_head(name):
    """Whether canonical `name` belongs to a head (pooler, MLM, NSP, classifier, span)."""
    return name.startswith(HEAD_PREFIXES)
