"""Reader of Google's original BERT checkpoints (google-research/bert).

The published directories (`uncased_L-12_H-768_A-12/`, ...) hold `bert_config.json`,
`bert_model.ckpt.{index,data-*}` and `vocab.txt`. Variables are read with
`tf.train.load_checkpoint`; their names are those of the reference's `modeling.py`,
`run_pretraining.py`, `run_classifier.py` and `run_squad.py`:

```
bert/embeddings/{word,token_type,position}_embeddings, bert/embeddings/LayerNorm/{gamma,beta}
bert/encoder/layer_N/attention/self/{query,key,value}/{kernel,bias}
bert/encoder/layer_N/attention/output/{dense/kernel,dense/bias,LayerNorm/gamma,LayerNorm/beta}
bert/encoder/layer_N/intermediate/dense/{kernel,bias}
bert/encoder/layer_N/output/{dense/kernel,dense/bias,LayerNorm/gamma,LayerNorm/beta}
bert/pooler/dense/{kernel,bias}
cls/predictions/transform/{dense/kernel,dense/bias,LayerNorm/gamma,LayerNorm/beta}
cls/predictions/output_bias
cls/seq_relationship/{output_weights [2, H], output_bias}     (run_pretraining.py)
output_weights [num_labels, H], output_bias                    (run_classifier.py)
cls/squad/{output_weights [2, H], output_bias}                 (run_squad.py)
```

TF kernels are already `[in, out]`; only the `output_weights` matrices are `[out, in]` and are
transposed. Optimizer slots (`*/adam_m`, `*/adam_v`) and `global_step` are skipped.

On the activation: the reference's TF code computes `"gelu"` as the tanh approximation, while
Hugging Face and keras-hub load these checkpoints with the exact erf GELU (the difference in
outputs is ~1e-3 at most). We follow Hugging Face and keras-hub — the simpler choice, as one
checkpoint then gives the same numbers in all three — and `config_overrides={"hidden_act":
"gelu_approximate"}` reproduces the reference TF code exactly.

Example (`path` is a directory in the layout above):

```python
import numpy as np
weights, names = google_to_canonical(
    {"bert/pooler/dense/kernel": np.zeros((4, 4)), "global_step": np.array(7)})
names  # {'pooler/dense/kernel': 'bert/pooler/dense/kernel'}
# weights, names, prefix = read_weights("uncased_L-2_H-128_A-2")
```
"""

import glob
import os
import re

from keras_bert_impl.config import BertConfig
from keras_bert_impl.presets.canonical import WeightLoadError, rename_to_canonical
from keras_bert_impl.presets.model_garden import is_model_garden, model_garden_to_canonical

CONFIG_FILE = "bert_config.json"

_L = r"bert/encoder/layer_(\d+)/"
_RULES = [
    (r"bert/embeddings/word_embeddings", "embeddings/token_embeddings", False),
    (r"bert/embeddings/token_type_embeddings", "embeddings/segment_embeddings", False),
    (r"bert/embeddings/position_embeddings", "embeddings/position_embeddings", False),
    (r"bert/embeddings/LayerNorm/gamma", "embeddings/layer_norm/gamma", False),
    (r"bert/embeddings/LayerNorm/beta", "embeddings/layer_norm/beta", False),
    (_L + r"attention/self/(query|key|value)/kernel", "layer_{i}/{p}/kernel", False),
    (_L + r"attention/self/(query|key|value)/bias", "layer_{i}/{p}/bias", False),
    (_L + r"attention/output/dense/kernel", "layer_{i}/attention_output/kernel", False),
    (_L + r"attention/output/dense/bias", "layer_{i}/attention_output/bias", False),
    (_L + r"attention/output/LayerNorm/gamma", "layer_{i}/attention_layer_norm/gamma", False),
    (_L + r"attention/output/LayerNorm/beta", "layer_{i}/attention_layer_norm/beta", False),
    (_L + r"intermediate/dense/kernel", "layer_{i}/intermediate/kernel", False),
    (_L + r"intermediate/dense/bias", "layer_{i}/intermediate/bias", False),
    (_L + r"output/dense/kernel", "layer_{i}/output/kernel", False),
    (_L + r"output/dense/bias", "layer_{i}/output/bias", False),
    (_L + r"output/LayerNorm/gamma", "layer_{i}/output_layer_norm/gamma", False),
    (_L + r"output/LayerNorm/beta", "layer_{i}/output_layer_norm/beta", False),
    (r"bert/pooler/dense/kernel", "pooler/dense/kernel", False),
    (r"bert/pooler/dense/bias", "pooler/dense/bias", False),
    (r"cls/predictions/transform/dense/kernel", "mlm/transform/kernel", False),
    (r"cls/predictions/transform/dense/bias", "mlm/transform/bias", False),
    (r"cls/predictions/transform/LayerNorm/gamma", "mlm/layer_norm/gamma", False),
    (r"cls/predictions/transform/LayerNorm/beta", "mlm/layer_norm/beta", False),
    (r"cls/predictions/output_bias", "mlm/output_bias", False),
    (r"cls/seq_relationship/output_weights", "nsp/dense/kernel", True),
    (r"cls/seq_relationship/output_bias", "nsp/dense/bias", False),
    (r"output_weights", "classifier/dense/kernel", True),
    (r"output_bias", "classifier/dense/bias", False),
    (r"cls/squad/output_weights", "span/dense/kernel", True),
    (r"cls/squad/output_bias", "span/dense/bias", False),
]
_COMPILED = [(re.compile(pattern + "$"), template, t) for pattern, template, t in _RULES]
_SKIPPED = re.compile(r"(.*/adam_[mv]|global_step|.*/Momentum|.*/LAMB.*)$")


def find_checkpoint(path):
    """The checkpoint prefix in `path` (`bert_model.ckpt`, or the only `*.ckpt*.index`)."""
    preferred = os.path.join(path, "bert_model.ckpt")
    if os.path.isfile(preferred + ".index"):
        return preferred
    indexes = sorted(glob.glob(os.path.join(path, "*.index")))
    if len(indexes) == 1:
        return indexes[0][: -len(".index")]
    if not indexes:
        raise FileNotFoundError(
            f"No TensorFlow checkpoint in {path}: expected bert_model.ckpt.index and "
            f"bert_model.ckpt.data-00000-of-00001."
        )
    raise ValueError(
        f"Several checkpoints in {path} ({[os.path.basename(i) for i in indexes]}); name one "
        f"as bert_model.ckpt or pass a directory holding a single checkpoint."
    )


def google_to_canonical(variables, source="checkpoint"):
    """Maps `{google_name: array}` to `({canonical: array}, {canonical: google_name})`."""
    return rename_to_canonical(
        variables, _COMPILED, source, "variables that are not part of Google's BERT",
        skip=_SKIPPED,
    )


def read_variables(prefix):
    """`{name: np.ndarray}` of every variable in the checkpoint at `prefix`."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
        return {name: reader.get_tensor(name) for name in shapes if not _SKIPPED.match(name)}
    except (tf.errors.OpError, ValueError) as e:
        raise WeightLoadError(f"Cannot read the TensorFlow checkpoint {prefix}: {e}") from e


def read_config(path):
    config_path = os.path.join(path, CONFIG_FILE)
    return BertConfig.from_json_file(config_path)


def read_weights(path):
    """`({canonical: array}, {canonical: checkpoint_name}, checkpoint_prefix)` of `path`: a
    google-research/bert name-based checkpoint, or an object-based one of TensorFlow Model
    Garden (`keras_bert_impl.presets.model_garden`), which publishes its TF2 BERT checkpoints
    in the same directory layout."""
    prefix = find_checkpoint(path)
    variables = read_variables(prefix)
    if is_model_garden(variables):
        weights, names = model_garden_to_canonical(variables, source=prefix)
    else:
        weights, names = google_to_canonical(variables, source=prefix)
    return weights, names, prefix


def task_kwargs(weights):
    """`num_classes` of a `run_classifier.py` checkpoint (the rows of `output_weights`)."""
    kernel = weights.get("classifier/dense/kernel")
    return {} if kernel is None else {"num_classes": int(kernel.shape[-1])}
