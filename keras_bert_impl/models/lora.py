"""LoRA fine-tuning of our models: the encoder frozen, low-rank adapters and the head trained.

Every model has (from `BertModelBase`, acting on its `BertEncoder`):

* `enable_lora(rank, targets=("query", "value"), alpha=None)`: adapters on the targeted
  projections of every Transformer block (`keras_bert_impl.layers.transformer.LORA_TARGETS`),
  everything else in the encoder frozen (embeddings, LayerNorms, other projections, biases,
  pooler); a task model's head stays trainable. keras-hub's `backbone.enable_lora(rank)` is
  our `model.enable_lora(rank)` or `model.encoder.enable_lora(rank)` (the encoder is what
  keras-hub calls the backbone). Call it before `compile()`.
* `lora_config()`: `{"rank", "targets", "alpha"}` or `None`. It is part of the encoder's
  config, so `get_config` / `from_config` and `.keras` files keep the adapters (saved as they
  are, next to the frozen kernels: weights and outputs come back exactly).
* `save_lora_weights(path)` / `load_lora_weights(path)`: the adapters and the head on their
  own, in a small safetensors file (`keras_bert_impl.presets.lora`); loading checks the LoRA
  settings, names and shapes before writing anything.
* `merge_lora()`: folds the adapters into the kernels and removes them (a plain model with the
  same outputs, for export). `save_to_preset` of a LoRA model writes the merged weights by
  itself (the model keeps its adapters), as keras-hub's presets do.

Example:

```python
import os, tempfile
import numpy as np
from keras_bert_impl.models import BertClassifier, BertEncoder
encoder = BertEncoder({"vocab_size": 50, "hidden_size": 8, "num_layers": 2, "num_heads": 2})
classifier = BertClassifier(encoder, num_classes=2)
classifier.enable_lora(rank=2)
len(classifier.trainable_weights)  # 10
path = os.path.join(tempfile.mkdtemp(), "sst2.lora.safetensors")
classifier.save_lora_weights(path)
x = {"token_ids": np.array([[2, 5, 7, 3]]), "segment_ids": np.zeros((1, 4), "int32"),
     "padding_mask": np.ones((1, 4), "int32")}
before = classifier.predict(x, verbose=0)
classifier.merge_lora()
bool(np.allclose(classifier.predict(x, verbose=0), before, atol=1e-6))  # True
```

(10 trainable weights: `A` and `B` for query and value in 2 blocks, the classifier's kernel
and bias.)
"""

from keras import ops

from keras_bert_impl.layers.transformer import lora_settings
from keras_bert_impl.models.weights import find_encoder, model_variables
from keras_bert_impl.presets.canonical import WeightLoadError
from keras_bert_impl.presets.lora import read_lora_file, write_lora_file


def enable_lora(model, rank, targets, alpha=None):
    """Enables LoRA on `model`'s encoder (see the module docstring)."""
    settings = lora_settings(rank, targets, alpha)
    encoder = find_encoder(model)
    if lora_config(model) is not None:
        raise ValueError(f"LoRA is already enabled on this {type(model).__name__} "
                         f"({lora_config(model)}); merge_lora() first to start again.")
    for block in encoder.transformer_layers:
        block.enable_lora(**settings)
    encoder.embeddings.trainable = False
    encoder.pooler.trainable = False


def lora_config(model):
    """`{"rank", "targets", "alpha"}` of `model`'s encoder, or `None` without LoRA."""
    blocks = find_encoder(model).transformer_layers
    return blocks[0].lora_config() if blocks else None


def merge_lora(model):
    """Folds every adapter into its kernel and makes the encoder trainable again."""
    if lora_config(model) is None:
        raise ValueError(f"This {type(model).__name__} has no LoRA adapters to merge (call "
                         "enable_lora(rank) to add some).")
    encoder = find_encoder(model)
    for block in encoder.transformer_layers:
        block.merge_lora()
    encoder.embeddings.trainable = True
    encoder.pooler.trainable = True


def lora_variables(model):
    """`{name: keras.Variable}` of what a LoRA fine-tuning trains: every adapter
    (`layer_{i}/{target}/lora_kernel_a|b`) and the head's weights (canonical names) of a task
    model or pretrainer."""
    encoder = find_encoder(model)
    variables = {}
    for i, block in enumerate(encoder.transformer_layers):
        for target, (a, b) in block.lora_adapters().items():
            variables[f"layer_{i}/{target}/lora_kernel_a"] = a
            variables[f"layer_{i}/{target}/lora_kernel_b"] = b
    if model is not encoder:
        body = set(model_variables(encoder))
        variables.update({n: v for n, v in model_variables(model).items() if n not in body})
    return variables


def save_lora_weights(model, path):
    """Writes the adapters and the head of `model` with its LoRA settings to `path`."""
    settings = lora_config(model)
    if settings is None:
        raise ValueError(f"This {type(model).__name__} has no LoRA adapters to save; call "
                         "model.enable_lora(rank) before fine-tuning it.")
    weights = {n: ops.convert_to_numpy(v) for n, v in lora_variables(model).items()}
    return write_lora_file(path, weights, settings, type(model).__name__)


def _call(settings):
    return (f"model.enable_lora(rank={settings['rank']}, targets={tuple(settings['targets'])!r}, "
            f"alpha={settings['alpha']!r})")


def _differs(key, theirs, ours):
    if key == "alpha":  # 4 and 4.0 are the same scale
        return float(theirs.get(key, 0)) != float(ours[key])
    return theirs.get(key) != ours[key]


def load_lora_weights(model, path):
    """Loads an adapter file written by `save_lora_weights` into `model`, whose LoRA settings
    must be the file's; checks every name and shape before assigning anything."""
    weights, info = read_lora_file(path)
    theirs, writer = info["lora"], info["model_class"]
    ours = lora_config(model)
    name = type(model).__name__
    if ours is None:
        raise ValueError(
            f"This {name} has no LoRA adapters, and {path} holds rank-{theirs['rank']} "
            f"adapters on {theirs['targets']} (alpha {theirs['alpha']}). Call {_call(theirs)} "
            f"on the base model first, then load_lora_weights.")
    differences = [f"{key} {theirs.get(key)!r} in the file, {ours[key]!r} in the model"
                   for key in ("rank", "targets", "alpha") if _differs(key, theirs, ours)]
    if differences:
        raise ValueError(
            f"{path} does not fit this {name}'s LoRA settings: {'; '.join(differences)}. "
            f"Build the base model again and call {_call(theirs)} before loading it.")
    targets = lora_variables(model)
    problems = []
    mismatched = [f"{n}: {tuple(weights[n].shape)} in the file, {tuple(v.shape)} in the model"
                  for n, v in targets.items()
                  if n in weights and tuple(weights[n].shape) != tuple(v.shape)]
    missing = [n for n in targets if n not in weights]
    unused = [n for n in weights if n not in targets]
    if mismatched:
        problems.append("shape mismatches:\n  " + "\n  ".join(mismatched))
    if missing:
        problems.append("missing from the file:\n  " + "\n  ".join(missing))
    if unused:
        problems.append("in the file but not in the model:\n  " + "\n  ".join(unused))
    if problems:
        raise WeightLoadError(
            f"{path} (written by a {writer}) does not fit this {name}:\n"
            + "\n".join(problems)
            + f"\nLoad it onto the base model it was trained from (same num_layers, "
            f"hidden_size and intermediate_size; a {writer} with the same head, e.g. "
            f"num_classes), with {_call(theirs)}.")
    for n, variable in targets.items():
        variable.assign(ops.cast(weights[n], variable.dtype))
