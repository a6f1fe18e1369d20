"""`BertPretrainer`: the encoder with BERT's masked-LM and next-sentence heads.

Batches are `(x, y)` with keras-hub's names:

* `x = {"token_ids", "segment_ids", "padding_mask", "mask_positions"}`
* `y = {"mask_ids", "mask_weights", "next_sentence_labels"}`

The heads read the last encoder block at `[CLS]` and the `mask_positions` only, so that block
computes those rows alone (`BertEncoder.last_block_at`): the same logits, up to float
rounding, as the heads on the encoder's whole outputs.

The loss is the reference's: MLM cross-entropy averaged over the real predictions
(weighted by `mask_weights`, divided by their sum) plus NSP cross-entropy averaged over the
batch. `compile()` has defaults (AdamW, BERT's weight-decay rule) so `fit(dataset)` just works.
"""

import keras
from keras import ops

from keras_bert_impl.keras_private import scale_loss_for_replicas
from keras_bert_impl.layers import MaskedLMHead, NextSentenceHead
from keras_bert_impl.models.fill_mask import fill_mask
from keras_bert_impl.models.task import BertTask
from keras_bert_impl.optimizers import create_adamw


def cross_entropy_and_correct(labels, logits):
    """Per example: the softmax cross-entropy of integer `labels` `[...]` under `logits`
    `[..., classes]`, and whether the label has the top logit (1.0 or 0.0), both float32.

    The values of `keras.losses.sparse_categorical_crossentropy(labels, logits,
    from_logits=True)` and of `SparseCategoricalAccuracy` (up to exact ties of the top logit,
    which `argmax` gives to the first class), computed from one max, one exp-sum and one
    one-hot product: `max + log(sum(exp(logits - max))) - logits[label]` and `logits[label]
    >= max`. For BERT's 152 x 30,522 masked-LM logits on a 2-core CPU, TensorFlow's fused
    `SparseSoftmaxCrossEntropyWithLogits` takes 21 ms forward and backward (these ops: 12),
    and Keras' `argmax` (which first rewrites -0.0 for JAX parity) another 15 ms of passes
    over the logits. Picking the label's logit by a gather would be slow too: its gradient is
    a scatter into the whole logits tensor (DESIGN rule 6).

    Example:

    ```python
    import numpy as np
    loss, correct = cross_entropy_and_correct(np.array([1]), np.log([[0.25, 0.75]]))
    float(loss[0]), float(correct[0])  # (0.2877, 1.0)
    ```
    """
    logits = ops.cast(logits, "float32")
    top = ops.stop_gradient(ops.max(logits, axis=-1))
    one_hot = ops.one_hot(ops.cast(labels, "int32"), ops.shape(logits)[-1], dtype="float32")
    picked = ops.sum(logits * one_hot, axis=-1)
    log_sum_exp = top + ops.log(ops.sum(ops.exp(logits - ops.expand_dims(top, -1)), axis=-1))
    return log_sum_exp - picked, ops.cast(picked >= top, "float32")


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertPretrainer(BertTask):
    """BERT pretraining model: encoder + masked LM head (tied) + next-sentence head.

    Inputs: the encoder's `token_ids`, `segment_ids`, `padding_mask` plus `mask_positions`
    (`[batch, max_predictions_per_seq]`). Outputs: `mlm_logits`
    (`[batch, max_predictions_per_seq, vocab_size]`, float32) and `nsp_logits`
    (`[batch, 2]`, float32).

    Args:
        encoder: a `BertEncoder`.

    Example:

    ```python
    import numpy as np
    pretrainer = BertPretrainer.from_preset("bert_tiny")
    x = {
        "token_ids": np.random.randint(5, 30522, (4, 16)),
        "segment_ids": np.zeros((4, 16), "int32"),
        "padding_mask": np.ones((4, 16), "int32"),
        "mask_positions": np.array([[1, 2, 3]] * 4),
    }
    y = {
        "mask_ids": np.random.randint(5, 30522, (4, 3)),
        "mask_weights": np.ones((4, 3), "float32"),
        "next_sentence_labels": np.array([0, 1, 0, 1]),
    }
    pretrainer.compile()
    pretrainer.fit(x, y, batch_size=4, epochs=1, verbose=0)
    ```
    """

    def __init__(self, encoder, **kwargs):
        config = encoder.config
        inputs = dict(encoder.input)
        inputs["mask_positions"] = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
        encoder_outputs = encoder(
            {name: inputs[name] for name in ("token_ids", "segment_ids", "padding_mask")}
        )
        mlm_head = MaskedLMHead(
            encoder.embeddings,
            hidden_act=config.hidden_act,
            initializer_range=config.initializer_range,
            layer_norm_epsilon=config.layer_norm_epsilon,
            dtype=encoder.dtype_policy,
            name="mlm_head",
        )
        nsp_head = NextSentenceHead(
            initializer_range=config.initializer_range,
            dtype=encoder.dtype_policy,
            name="nsp_head",
        )
        # The heads read the last block at [CLS] (the pooler's) and the masked positions
        # only; it computes those rows alone (`BertEncoder.last_block_at`).
        cls_position = ops.zeros_like(inputs["mask_positions"][:, :1])
        predicted = encoder.last_block_at(
            inputs, encoder_outputs, ops.concatenate([cls_position, inputs["mask_positions"]],
                                                     axis=1))
        outputs = {
            "mlm_logits": mlm_head(predicted[:, 1:]),
            "nsp_logits": nsp_head(encoder.pooler(predicted)),
        }
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.encoder = encoder
        self.mlm_head = mlm_head
        self.nsp_head = nsp_head
        # Per-head losses are tracked from the values `compute_loss` already computed (the
        # cross-entropy over the vocabulary is not recomputed for the progress bar).
        self.mlm_loss = keras.metrics.Mean(name="mlm_loss")
        self.nsp_loss = keras.metrics.Mean(name="nsp_loss")
        # Accuracies too: `cross_entropy_and_correct` gives them with the losses.
        self.mlm_accuracy = keras.metrics.Mean(name="mlm_accuracy")
        self.nsp_accuracy = keras.metrics.Mean(name="nsp_accuracy")

    def compile(self, optimizer=None, **kwargs):
        """Compiles with BERT's losses; `optimizer` defaults to `create_adamw(1e-4)`.

        Losses and metrics are fixed by the task (MLM + NSP); passing `loss` or `metrics`
        is an error rather than being silently ignored.
        """
        for name in ("loss", "metrics", "loss_weights", "weighted_metrics"):
            if kwargs.get(name) is not None:
                raise ValueError(
                    f"BertPretrainer.compile() computes the MLM+NSP loss and metrics itself; "
                    f"do not pass `{name}`."
                )
        super().compile(optimizer=optimizer or create_adamw(1e-4), **kwargs)

    def get_compile_config(self):
        """What `.keras` files store of `compile()`: the optimizer (with its schedule)."""
        if not self.compiled:
            return None
        return {
            "optimizer": keras.saving.serialize_keras_object(self.optimizer),
            "steps_per_execution": self.steps_per_execution,
        }

    def compile_from_config(self, config):
        """Re-compiles a loaded model with its saved optimizer (its state loads after)."""
        optimizer = keras.saving.deserialize_keras_object(config["optimizer"])
        self.compile(optimizer=optimizer, steps_per_execution=config["steps_per_execution"])
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def fill_mask(self, texts, top_k=5, batch_size=32, tokenizer=None):
        """The `top_k` most probable tokens at each `[MASK]` of raw `texts` (Hugging Face's
        fill-mask pipeline): for a string, one list per mask of `Guess(token, id, score)`,
        best first; for a list of strings, a list of those. The tokenizer defaults to the
        preset's (`build_tokenizer()`). See `keras_bert_impl.models.fill_mask`."""
        return fill_mask(self, texts, top_k=top_k, batch_size=batch_size, tokenizer=tokenizer)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        mask_weights = ops.cast(y["mask_weights"], "float32")
        mlm_per_prediction, mlm_correct = cross_entropy_and_correct(
            y["mask_ids"], y_pred["mlm_logits"])
        # The reference's normalisation: sum over real predictions / their count.
        mlm = ops.sum(mlm_per_prediction * mask_weights) / (ops.sum(mask_weights) + 1e-5)
        nsp_per_example, nsp_correct = cross_entropy_and_correct(
            y["next_sentence_labels"], y_pred["nsp_logits"])
        nsp = ops.mean(nsp_per_example)
        self.mlm_loss.update_state(mlm_per_prediction, sample_weight=mask_weights)
        self.nsp_loss.update_state(nsp_per_example)
        self.mlm_accuracy.update_state(mlm_correct, sample_weight=mask_weights)
        self.nsp_accuracy.update_state(nsp_correct)
        total = mlm + nsp
        # `add_loss` terms and weight regularizers (each a scalar, or summed to one).
        for extra in self.losses:
            total = total + ops.sum(ops.cast(extra, "float32"))
        # Per-replica losses are summed across replicas by tf.distribute: scale by 1/replicas
        # (a no-op on one device and on JAX), as Keras' own losses do.
        return scale_loss_for_replicas(total)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        # Every metric was updated by `compute_loss`, which Keras runs first in each step.
        return self.get_metrics_result()
