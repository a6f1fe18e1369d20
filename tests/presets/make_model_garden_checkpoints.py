"""Writes `tests/presets/model_garden/`: TensorFlow Model Garden BERT checkpoints and their
outputs, the reference `test_model_garden_checkpoint.py` loads them against.

Model Garden (`tf-models-official`) pins `tensorflow~=2.20` and so is not a dependency of
ours (TensorFlow 2.21); this script ran once with its code on the path, beside our venv:

    pip download --no-deps -d /tmp/tfm tf-models-official==2.20.0 tf-keras==2.21.0 gin-config
    pip install --no-deps --target /tmp/tfm_site /tmp/tfm/*.whl
    PYTHONPATH=/tmp/tfm_site .venv/bin/python tests/presets/make_model_garden_checkpoints.py

Three checkpoints of one tiny config, each in the layout Model Garden publishes
(`bert_config.json` + `bert_model.ckpt.*`), every variable drawn at random (so no weight is a
zero bias or a unit LayerNorm the test could miss):

* `encoder_v1`: `networks.BertEncoder` (functional, `layer_with_weights-N` names), saved as
  `tf.train.Checkpoint(model=encoder)`, the root of Model Garden's published TF2 checkpoints;
* `encoder_v2`: `networks.BertEncoderV2` (attribute names), as `Checkpoint(encoder=...)`;
* `pretrainer`: `models.BertPretrainerV2` over a `BertEncoder` with its masked LM (the
  embedding table tied), as `Checkpoint(model=pretrainer)`;
* `classifier`: `models.BertClassifier` (3 classes on the pooled output) over a
  `BertEncoder`, as `Checkpoint(model=classifier)`: what Model Garden's fine-tuning saves;
* `tf_hub_encoder`: `pretrainer`'s weights as Model Garden exports a TF Hub encoder with its
  masked LM (a Keras SavedModel with `assets/vocab.txt` and `do_lower_case`; no
  `bert_config.json`).

`outputs.npz` holds the inputs and Model Garden's outputs for each: `sequence_output`,
`pooled_output`, the pretrainer's `mlm_logits` and the classifier's `classifier_logits`
(the TF Hub encoder's are the pretrainer's).
"""

import json
import os

import numpy as np
import tensorflow as tf
from official.modeling import tf_utils
from official.nlp.modeling import models, networks

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_garden")
CONFIG = {
    "vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
    "intermediate_size": 32, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 32,
    "type_vocab_size": 2, "initializer_range": 0.02,
}


def encoder_arguments():
    return dict(vocab_size=CONFIG["vocab_size"], hidden_size=CONFIG["hidden_size"],
                num_layers=CONFIG["num_hidden_layers"],
                num_attention_heads=CONFIG["num_attention_heads"],
                max_sequence_length=CONFIG["max_position_embeddings"],
                type_vocab_size=CONFIG["type_vocab_size"])


def functional_encoder(activation):
    """Model Garden's functional `BertEncoder` of CONFIG's sizes."""
    return networks.BertEncoder(intermediate_size=CONFIG["intermediate_size"],
                                activation=activation, dict_outputs=True,
                                **encoder_arguments())


def randomise(model, rng):
    for variable in model.variables:
        variable.assign(rng.normal(0.0, 0.3, variable.shape).astype("float32"))


def save(name, root, model):
    directory = os.path.join(OUT, name)
    os.makedirs(directory, exist_ok=True)
    tf.train.Checkpoint(**{root: model}).write(os.path.join(directory, "bert_model.ckpt"))
    with open(os.path.join(directory, "bert_config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)


def export_tf_hub_encoder(pretrainer_checkpoint):
    """`tf_hub_encoder/`: the pretrainer's weights exported as Model Garden exports the TF Hub
    BERT encoders (`export_tfhub_lib.export_model(..., with_mlm=True)`, as TF Hub's BERTs
    since version 4: a Keras SavedModel with an `mlm` sub-model, `assets/vocab.txt` and a
    `do_lower_case` variable, set to False here against what the all-lowercase vocabulary
    would suggest, so that a test sees it read)."""
    import tempfile

    from official.legacy.bert import configs
    from official.nlp.tools import export_tfhub_lib

    bert_config = configs.BertConfig.from_dict(CONFIG)
    with tempfile.TemporaryDirectory() as scratch:
        # export_model restores the pretrainer's checkpoint items from a `.save()`.
        pretrainer = models.BertPretrainerV2(
            encoder_network=export_tfhub_lib.get_bert_encoder(bert_config),
            mlm_activation=tf_utils.get_activation(CONFIG["hidden_act"]))
        pretrainer(pretrainer.inputs)
        tf.train.Checkpoint(model=pretrainer).read(
            pretrainer_checkpoint).assert_existing_objects_matched()
        saved = tf.train.Checkpoint(**pretrainer.checkpoint_items).save(
            os.path.join(scratch, "ckpt"))
        vocab = os.path.join(scratch, "vocab.txt")
        with open(vocab, "w") as f:
            f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                              + [f"w{i}" for i in range(CONFIG["vocab_size"] - 5)]) + "\n")
        export_tfhub_lib.export_model(os.path.join(OUT, "tf_hub_encoder"),
                                      bert_config=bert_config, model_checkpoint_path=saved,
                                      with_mlm=True, vocab_file=vocab, do_lower_case=False)


def main():
    rng = np.random.default_rng(0)
    inputs = {
        "input_word_ids": rng.integers(5, CONFIG["vocab_size"], (2, 12)).astype("int32"),
        "input_type_ids": np.array([[0] * 6 + [1] * 6, [0] * 12], "int32"),
        "input_mask": np.array([[1] * 12, [1] * 8 + [0] * 4], "int32"),
    }
    positions = np.array([[1, 4, 9], [2, 3, 7]], "int32")
    outputs = {"token_ids": inputs["input_word_ids"], "segment_ids": inputs["input_type_ids"],
               "padding_mask": inputs["input_mask"], "mask_positions": positions}
    gelu = tf_utils.get_activation(CONFIG["hidden_act"])  # tanh approximation

    encoder = functional_encoder(gelu)
    randomise(encoder, rng)
    result = encoder(inputs, training=False)
    outputs.update(encoder_v1_sequence_output=result["sequence_output"].numpy(),
                   encoder_v1_pooled_output=result["pooled_output"].numpy())
    save("encoder_v1", "model", encoder)

    encoder = networks.BertEncoderV2(inner_dim=CONFIG["intermediate_size"],
                                     inner_activation=gelu, dict_outputs=True,
                                     **encoder_arguments())
    encoder(inputs)  # builds the variables
    randomise(encoder, rng)
    result = encoder(inputs, training=False)
    outputs.update(encoder_v2_sequence_output=result["sequence_output"].numpy(),
                   encoder_v2_pooled_output=result["pooled_output"].numpy())
    save("encoder_v2", "encoder", encoder)

    pretrainer = models.BertPretrainerV2(encoder_network=functional_encoder(gelu),
                                         mlm_activation=gelu)
    pretrainer(dict(inputs, masked_lm_positions=positions))
    randomise(pretrainer, rng)
    result = pretrainer(dict(inputs, masked_lm_positions=positions), training=False)
    outputs.update(pretrainer_sequence_output=result["sequence_output"].numpy(),
                   pretrainer_pooled_output=result["pooled_output"].numpy(),
                   pretrainer_mlm_logits=result["mlm_logits"].numpy())
    save("pretrainer", "model", pretrainer)

    classifier = models.BertClassifier(network=functional_encoder(gelu), num_classes=3)
    randomise(classifier, rng)
    outputs["classifier_logits"] = classifier(inputs, training=False).numpy()
    save("classifier", "model", classifier)

    export_tf_hub_encoder(os.path.join(OUT, "pretrainer", "bert_model.ckpt"))

    np.savez(os.path.join(OUT, "outputs.npz"), **outputs)
    print(f"wrote {OUT}: " + ", ".join(sorted(os.listdir(OUT))))


if __name__ == "__main__":
    main()
