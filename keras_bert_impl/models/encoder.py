"""`BertEncoder`: the BERT backbone as a functional Keras model."""

import keras

from keras_bert_impl.config import BertConfig
from keras_bert_impl.layers import BertEmbeddings, Pooler, TransformerEncoderBlock
from keras_bert_impl.layers.initializers import weights_will_be_loaded
from keras_bert_impl.models.base import BertModelBase


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertEncoder(BertModelBase):
    """BERT encoder: embeddings, `num_layers` post-LN Transformer blocks and the pooler.

    A functional model built in `__init__` (like keras-hub backbones). Inputs are a dict with
    keras-hub's names; outputs a dict:

    * `sequence_output`: `[batch, seq_len, hidden]`, the last block's output;
    * `pooled_output`: `[batch, hidden]`, `tanh(dense([CLS]))`;
    * `encoder_outputs`: list of every block's output (`num_layers` tensors).

    Args:
        config: a `BertConfig`, a dict of its fields, or a preset name.
        dtype: optional dtype policy (e.g. `"mixed_bfloat16"`); defaults to the global one.
            The heads of a task model follow it (`encoder.dtype_policy`). After
            `quantize("int8")` it is a `keras.dtype_policies.DTypePolicyMap` of the quantized
            layers (see `keras_bert_impl.models.quantize`).
        lora: `None`, or LoRA settings `{"rank", "targets", "alpha"}` to enable at once (what
            `get_config` stores once `enable_lora` was called; see
            `keras_bert_impl.models.lora`).

    Example:

    ```python
    import numpy as np
    encoder = BertEncoder.from_preset("bert_tiny")
    outputs = encoder({
        "token_ids": np.array([[101, 2023, 2003, 102, 0]]),
        "segment_ids": np.zeros((1, 5), "int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 0]]),
    })
    outputs["sequence_output"].shape  # (1, 5, 128)
    outputs["pooled_output"].shape  # (1, 128)
    len(outputs["encoder_outputs"])  # 2
    ```
    """

    def __init__(self, config, dtype=None, lora=None, **kwargs):
        config = _as_config(config)
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")

        embeddings = BertEmbeddings(
            vocab_size=config.vocab_size,
            hidden_size=config.hidden_size,
            max_position_embeddings=config.max_position_embeddings,
            type_vocab_size=config.type_vocab_size,
            dropout=config.dropout,
            initializer_range=config.initializer_range,
            layer_norm_epsilon=config.layer_norm_epsilon,
            dtype=dtype,
            name="embeddings",
        )
        x = embeddings(token_ids, segment_ids)
        blocks = []
        encoder_outputs = []
        for i in range(config.num_layers):
            block = TransformerEncoderBlock(
                hidden_size=config.hidden_size,
                num_heads=config.num_heads,
                intermediate_size=config.intermediate_size,
                hidden_act=config.hidden_act,
                dropout=config.dropout,
                attention_dropout=config.attention_dropout,
                initializer_range=config.initializer_range,
                layer_norm_epsilon=config.layer_norm_epsilon,
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            x = block(x, padding_mask)
            blocks.append(block)
            encoder_outputs.append(x)
        pooler = Pooler(
            config.hidden_size,
            initializer_range=config.initializer_range,
            dtype=dtype,
            name="pooler",
        )
        pooled_output = pooler(x)
        super().__init__(
            inputs={
                "token_ids": token_ids,
                "segment_ids": segment_ids,
                "padding_mask": padding_mask,
            },
            outputs={
                "sequence_output": x,
                "pooled_output": pooled_output,
                "encoder_outputs": encoder_outputs,
            },
            **kwargs,
        )
        if dtype is not None:
            # The model's own policy is the one its layers got: `get_config` stores it, and
            # the heads built around the encoder take it (`encoder.dtype_policy`).
            self.dtype_policy = dtype
        self.config = config
        self.embeddings = embeddings
        self.transformer_layers = blocks
        self.pooler = pooler
        if lora is not None:
            self.enable_lora(**lora)

    @property
    def token_embeddings(self):
        """The `[vocab_size, hidden_size]` token table (the variable the MLM head ties to)."""
        return self.embeddings.token_embeddings

    def get_encoder(self):
        return self

    def last_block_at(self, inputs, outputs, positions):
        """The last block's output at `positions` only, `[batch, count, hidden]`, each row
        attending to every token: in a task model whose heads read a few rows (the pooler
        `[CLS]`, the masked-LM head the masked positions), where the block's other rows would
        feed nothing.

        `inputs` are the encoder's symbolic inputs (a dict with keras-hub's names), `outputs`
        what calling the encoder on them returned, `positions` an int tensor `[batch,
        count]`. The block takes the output of the block before it from `outputs` (the
        embeddings' output with one layer) and runs its attention output, feed-forward and
        LayerNorms on `count` rows instead of `seq_len`; the encoder's own last block and
        pooler then feed nothing and are left out of the compiled step (TensorFlow's graph
        pruning, XLA's dead-code elimination). Same values as the whole block's output at
        those rows, up to float rounding. On 2 CPU cores (batch 8 x 128, 19 predictions;
        `benchmarks/last_block_rows.py`) the BERT-base pretraining step runs 1.027-1.039x
        faster (3,141 -> 3,057 ms), its classifier's forward 1.055x; `bert_tiny`'s 1.12-1.18x
        and 1.48x.

        Example:

        ```python
        import keras
        encoder = BertEncoder({"vocab_size": 100, "hidden_size": 16, "num_layers": 2,
                               "num_heads": 2})
        inputs = dict(encoder.input)
        cls_row = encoder.last_block_at(inputs, encoder(inputs),
                                        keras.ops.zeros_like(inputs["token_ids"][:, :1]))
        cls_row.shape  # (None, 1, 16)
        ```
        """
        if len(self.transformer_layers) > 1:
            hidden = outputs["encoder_outputs"][-2]
        else:
            hidden = self.embeddings(inputs["token_ids"], inputs["segment_ids"])
        return self.transformer_layers[-1](hidden, inputs["padding_mask"],
                                           query_positions=positions)

    def constructor_arguments(self):
        arguments = {
            "config": self.config.to_dict(),
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }
        if self.lora_config() is not None:
            arguments["lora"] = self.lora_config()
        return arguments

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)

    @classmethod
    def from_bert_config(cls, config, encoder_weights_follow=False, **kwargs):
        if not encoder_weights_follow:
            return cls(config, **kwargs)
        with weights_will_be_loaded():
            return cls(config, **kwargs)


def _as_config(config):
    if isinstance(config, BertConfig):
        return config
    if isinstance(config, str):
        return BertConfig.from_preset(config)
    if isinstance(config, dict):
        return BertConfig.from_dict(config)
    raise TypeError(
        f"config must be a BertConfig, a dict of its fields or a preset name; got {config!r}."
    )
