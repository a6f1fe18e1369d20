"""LoRA adapter files: the adapters (and the task head) of a fine-tuning on their own.

A `.lora.safetensors` file is a safetensors file like a preset's `model.safetensors`, small
(about 0.1-1% of the model): `{name: array}` with

* `layer_{i}/{target}/lora_kernel_a` `[in, rank]` and `.../lora_kernel_b` `[rank, out]` for
  each Transformer block `i` and LoRA target (`query`, `value`, ...);
* the task head's weights under their canonical names (`classifier/dense/kernel`, ...),
  which fine-tuning trains too;

and its metadata `{"format": "keras_bert_impl.lora", "format_version": "1", "lora":
'{"rank": 4, "targets": ["query", "value"], "alpha": 4}', "model_class": "BertClassifier"}`.
Loading it onto the base model it was trained from (`model.load_lora_weights`) gives back the
fine-tuned model; `keras_bert_impl.models` checks the settings and shapes.

Example:

```python
import os, tempfile
import numpy as np
path = os.path.join(tempfile.mkdtemp(), "run.lora.safetensors")
write_lora_file(path, {"layer_0/query/lora_kernel_a": np.zeros((8, 2), "float32")},
                {"rank": 2, "targets": ["query"], "alpha": 2}, "BertEncoder")
weights, info = read_lora_file(path)
info["lora"], info["model_class"]  # ({'rank': 2, 'targets': ['query'], 'alpha': 2}, 'BertEncoder')
```
"""

import json
import os

import numpy as np

from keras_bert_impl.presets.ours import _publish

LORA_FILE = "lora.safetensors"  # the name `keras-bert finetune --lora-rank` writes in a run
LORA_FORMAT = "keras_bert_impl.lora"
LORA_FORMAT_VERSION = 1


def write_lora_file(path, weights, lora, model_class):
    """Writes `weights` (`{name: array}`) with the LoRA settings `lora` (`{"rank", "targets",
    "alpha"}`) and the writing model's class to `path`, through a temp file and a rename."""
    from safetensors.numpy import save_file

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot write {path}: the directory {folder} does not exist.")
    tmp = f"{path}.tmp-{os.getpid()}"
    metadata = {"format": LORA_FORMAT, "format_version": str(LORA_FORMAT_VERSION),
                "lora": json.dumps(lora, sort_keys=True), "model_class": model_class}
    try:
        save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, tmp,
                  metadata=metadata)
        _publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_lora_file(path):
    """`({name: array}, {"lora": settings, "model_class": name})` of a LoRA adapter file;
    a missing, unreadable or foreign file is a clear error."""
    from safetensors import SafetensorError, safe_open
    from safetensors.numpy import load_file

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No LoRA adapter file at {path} (written by "
                                "model.save_lora_weights or keras-bert finetune --lora-rank).")
    try:
        with safe_open(path, framework="numpy") as f:
            metadata = f.metadata() or {}
        weights = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"Cannot read {path} as a safetensors file (truncated?): {e}") from e
    if metadata.get("format") != LORA_FORMAT:
        raise ValueError(
            f"{path} is not a LoRA adapter file of keras_bert_impl (its metadata format is "
            f"{metadata.get('format')!r}, expected {LORA_FORMAT!r}); a preset's "
            "model.safetensors loads with from_preset, not load_lora_weights.")
    if int(metadata.get("format_version", 0)) > LORA_FORMAT_VERSION:
        raise ValueError(f"{path} has LoRA format_version {metadata['format_version']}; this "
                         f"keras_bert_impl reads up to {LORA_FORMAT_VERSION}. Upgrade it.")
    try:
        lora = json.loads(metadata["lora"])
    except (KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} has no valid LoRA settings in its metadata: {e}") from e
    return weights, {"lora": lora, "model_class": metadata.get("model_class")}
