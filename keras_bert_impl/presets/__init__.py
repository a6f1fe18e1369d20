"""Checkpoint files, not models: our preset format, preset names, and the Hugging Face,
Google and TF Model Garden checkpoint readers.

Everything here reads or writes files and returns plain data (a `BertConfig`, NumPy arrays
under canonical names, a `TokenizerSpec`); it builds no model and no tokenizer and needs no
TensorFlow (except to read a Google TF checkpoint). `keras_bert_impl.models` builds models
from a `Checkpoint` (`BertEncoder.from_preset`, ...), `keras_bert_impl.text` builds the
tokenizer (`BertTokenizer.from_preset`).

Example:

```python
from keras_bert_impl import presets
"bert_base_en_uncased" in presets.list_presets()  # True
```
"""

from keras_bert_impl.presets.canonical import WeightLoadError
from keras_bert_impl.presets.checkpoint import Checkpoint, read_checkpoint
from keras_bert_impl.presets.detect import detect_format
from keras_bert_impl.presets.hub import HUB_PRESETS, list_presets, resolve_preset_path
from keras_bert_impl.presets.ours import write_preset
from keras_bert_impl.presets.tokenizer_spec import (
    TokenizerSpec,
    as_tokenizer_spec,
    resolve_tokenizer_spec,
)

__all__ = [
    "HUB_PRESETS",
    "Checkpoint",
    "TokenizerSpec",
    "WeightLoadError",
    "as_tokenizer_spec",
    "detect_format",
    "list_presets",
    "read_checkpoint",
    "resolve_preset_path",
    "resolve_tokenizer_spec",
    "write_preset",
]
