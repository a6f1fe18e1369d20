"""Task models on raw text: fit/evaluate/predict through their preprocessors, the compile
defaults (AdamW, warmup + linear decay sized by fit, the task's loss and metrics), regression,
and `.keras` / preset round trips with the preprocessor and label names (the preset one in a
fresh process). Runs on TensorFlow and on JAX (preprocessing stays in tf.data), except the
tests marked `tensorflow_only`: their tf.data paths are the same on every backend, and the task
models' fit on JAX is test_task_models."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_bert_impl.models import BertClassifier, BertSpanLabeler, BertTokenClassifier
from keras_bert_impl.models.text_inputs import split_off_validation
from keras_bert_impl.optimizers import FitLengthWarmupDecay
from keras_bert_impl.text import (
    BertClassifierPreprocessor,
    BertSpanPreprocessor,
    BertTokenClassifierPreprocessor,
    BertTokenizer,
)
from tests.models.tiny_text import QUICK, TINY, VOCAB

SENTENCES = ["good film", "bad film", "good", "bad"] * 4
LABELS = [1, 0, 1, 0] * 4
tensorflow_only = pytest.mark.tensorflow_only


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(VOCAB)


def _classifier(tokenizer, num_classes=2, label_names=("negative", "positive")):
    keras.utils.set_random_seed(0)
    return BertClassifier.from_preset(
        "bert_tiny", num_classes=num_classes, label_names=label_names,
        preprocessor=BertClassifierPreprocessor(tokenizer, sequence_length=8), **TINY)


def test_classifier_learns_from_raw_strings_with_compile_defaults(tokenizer):
    classifier = _classifier(tokenizer)
    classifier.compile()
    schedule = classifier.optimizer._learning_rate
    assert isinstance(schedule, FitLengthWarmupDecay) and not schedule.is_set
    assert classifier.optimizer.exclude_from_decay  # AdamW without decay on LN / biases
    history = classifier.fit(SENTENCES, LABELS, batch_size=4, epochs=3, verbose=0,
                             validation_data=(["good", "bad"], [1, 0]))
    # 16 examples / batch 4 = 4 steps per epoch, 3 epochs: 12 updates, 10% warmup.
    assert (schedule.decay_steps, schedule.warmup_steps) == (12, 1)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    logits = classifier.predict(["good film", "bad film"], verbose=0)
    assert logits.shape == (2, 2)
    loss, accuracy = classifier.evaluate(SENTENCES, LABELS, verbose=0)
    assert 0.0 <= accuracy <= 1.0 and np.isfinite(loss)


def test_raw_text_and_token_ids_give_the_same_logits(tokenizer):
    classifier = _classifier(tokenizer)
    x = classifier.preprocessor(np.array(["good film", "bad"]))
    ids = {k: np.asarray(v) for k, v in x.items()}
    np.testing.assert_allclose(classifier.predict(["good film", "bad"], verbose=0),
                               classifier.predict(ids, verbose=0), atol=1e-6)


@tensorflow_only
def test_sentence_pairs_and_batched_tf_data(tokenizer):
    import tensorflow as tf

    classifier = _classifier(tokenizer)
    classifier.compile(**QUICK)
    pairs = (["good film", "bad film"], ["good", "bad"])
    assert classifier.predict(pairs, verbose=0).shape == (2, 2)
    dataset = tf.data.Dataset.from_tensor_slices((pairs, [1, 0])).batch(2)
    classifier.fit(dataset, epochs=1, verbose=0)
    assert classifier.optimizer._learning_rate.decay_steps == 1


@tensorflow_only
def test_an_unbatched_tf_data_of_text_is_refused_naming_batch(tokenizer):
    import tensorflow as tf

    classifier = _classifier(tokenizer)
    single = tf.data.Dataset.from_tensor_slices((SENTENCES, LABELS))
    with pytest.raises(ValueError, match=r"one example at a time \(shape \(\), .*"
                                         r"dataset.batch\(32\)"):
        classifier.fit(single, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"one example at a time"):
        classifier.predict(single.map(lambda x, y: x), verbose=0)
    tagger = BertTokenClassifier.from_preset(
        "bert_tiny", num_classes=2,
        preprocessor=BertTokenClassifierPreprocessor(tokenizer, sequence_length=8), **TINY)
    words = tf.ragged.constant([["good", "film"], ["bad"]])
    tags = tf.ragged.constant([[1, 0], [0]])
    with pytest.raises(ValueError, match=r"one example at a time \(shape \(None,\)"):
        tagger.fit(tf.data.Dataset.from_tensor_slices((words, tags)), verbose=0)
    history = tagger.fit(tf.data.Dataset.from_tensor_slices((words, tags)).batch(2), verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_regression_uses_mse_and_pearson(tokenizer):
    regressor = _classifier(tokenizer, num_classes=1, label_names=None)
    regressor.compile(**QUICK)
    history = regressor.fit(SENTENCES, [4.5, 0.5, 4.0, 1.0] * 4, batch_size=8, epochs=1,
                            verbose=0)
    assert {"loss", "pearson"} <= set(history.history)
    with pytest.raises(ValueError, match="regression"):
        _classifier(tokenizer, num_classes=1, label_names=("a",))


def test_fit_and_evaluate_on_texts_without_labels_say_so(tokenizer):
    classifier = _classifier(tokenizer)
    for method in ("fit", "evaluate"):
        with pytest.raises(ValueError, match=rf"BertClassifier.{method} needs the labels of "
                                             rf"the texts: {method}\(texts, labels\)"):
            getattr(classifier, method)(SENTENCES, verbose=0)


def test_raw_text_without_a_preprocessor_says_how_to_get_one():
    classifier = BertClassifier.from_preset("bert_tiny", num_classes=2, **TINY)
    with pytest.raises(ValueError, match="no preprocessor.*from_preset"):
        classifier.predict(["good film"], verbose=0)


def _tiny_tagger(tokenizer):
    """A compiled tiny tagger of O, B-PER, B-LOC at sequence length 8 (6 piece positions)."""
    keras.utils.set_random_seed(0)
    tagger = BertTokenClassifier.from_preset(
        "bert_tiny", num_classes=3, label_names=["O", "B-PER", "B-LOC"],
        preprocessor=BertTokenClassifierPreprocessor(tokenizer, sequence_length=8), **TINY)
    tagger.compile(optimizer=keras.optimizers.Adam(1e-2), **QUICK)
    return tagger


@tensorflow_only
def test_token_classifier_trains_on_words_and_tags_back_to_words(tokenizer):
    tagger = _tiny_tagger(tokenizer)
    words = [["john", "lives", "in", "paris"], ["paris", "good"]] * 64
    tags = [[1, 0, 0, 2], [2, 0]] * 64
    history = tagger.fit(words, tags, batch_size=8, epochs=3, verbose=0)
    assert history.history["accuracy"][-1] == 1.0  # weighted: first wordpieces only
    assert tagger.tag([["john", "lives", "in", "paris"]]) == [["B-PER", "O", "O", "B-LOC"]]
    assert tagger.tag(["paris good"]) == [["B-LOC", "O"]]  # space-joined words
    assert tagger.tag("paris good") == ["B-LOC", "O"]  # one sentence: its tags alone
    tags, scores = tagger.tag("john lives", return_scores=True)
    assert tags == ["B-PER", "O"] and len(scores) == 2
    # sequence_length 8: [CLS] + 6 words + [SEP]; a longer sentence is read in windows of 6
    sentence = ["john", "lives", "in", "paris", "good", "film"] * 2 + ["john", "lives"]
    tags, scores = tagger.tag([sentence, ["paris"]], return_scores=True)
    windows = tagger.tag([sentence[:6], sentence[6:12], sentence[12:]], return_scores=True)
    assert tags[0] == windows[0][0] + windows[0][1] + windows[0][2]
    assert tags[0][12:] == ["B-PER", "O"] and tags[1] == ["B-LOC"]
    np.testing.assert_allclose(scores[0], sum(windows[1], []), rtol=1e-6)
    assert tagger.tag(" ".join(sentence)) == tags[0]  # a string splits into the same words
    # "paris." is two pieces: 5 of the 6 positions are used when the next "paris." does not
    # fit, so the cut leaves the sequence short of full; the rest is still read.
    sentence = ["john", "lives", "in", "paris.", "paris.", "good"]
    tags, scores = tagger.tag([sentence], return_scores=True)
    windows = tagger.tag([sentence[:4], sentence[4:]], return_scores=True)
    assert tags[0] == windows[0][0] + windows[0][1] and min(scores[0]) > 0
    np.testing.assert_allclose(scores[0], sum(windows[1], []), rtol=1e-6)
    assert tagger.tag([" ".join(sentence).encode()]) == tags  # UTF-8 bytes too
    # Tensors, ragged tensors, arrays and pandas columns of sentences or of word lists.
    import pandas as pd
    import tensorflow as tf

    pair = [sentence, ["paris", "good"]]
    expected = tagger.tag(pair)
    joined = [" ".join(words) for words in pair]
    for given in (tf.constant(joined), np.array(joined, dtype=object), pd.Series(joined),
                  tf.ragged.constant(pair), pd.Series(pair), [np.array(w) for w in pair]):
        assert tagger.tag(given) == expected, type(given)
    assert tagger.tag(tf.constant(joined[1])) == expected[1]  # a scalar: one sentence


def test_token_classifier_learns_words_past_its_sequence(tokenizer):
    """Sentences longer than the sequence train in windows: the only entities stand after
    six filler words (6 piece positions at sequence length 8), so a tagger that truncated
    them away would never see one and tag every word "O". On every backend: tag() feeds the
    model batch by batch (it failed on JAX with TensorFlow tensors)."""
    tagger = _tiny_tagger(tokenizer)
    words = [["good"] * 6 + ["john", "lives"], ["film"] * 6 + ["paris"]] * 32
    tags = [[0] * 6 + [1, 0], [0] * 6 + [2]] * 32
    history = tagger.fit(words, tags, batch_size=8, epochs=2, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    assert tagger.tag([["john", "lives"], ["paris"]]) == [["B-PER", "O"], ["B-LOC"]]
    assert tagger.tag(words[:2]) == [["O"] * 6 + ["B-PER", "O"], ["O"] * 6 + ["B-LOC"]]
    # evaluate reads the windows too: its accuracy counts all 8 + 7 words of each pair.
    assert tagger.evaluate(words, tags, verbose=0, return_dict=True)["accuracy"] == 1.0


@tensorflow_only
def test_span_labeler_trains_on_raw_question_and_context(tokenizer):
    keras.utils.set_random_seed(0)
    labeler = BertSpanLabeler.from_preset(
        "bert_tiny", preprocessor=BertSpanPreprocessor(
            tokenizer, sequence_length=16, doc_stride=4, max_query_length=4), **TINY)
    labeler.compile(optimizer=keras.optimizers.Adam(1e-2), **QUICK)
    context = "John lives in Paris."
    x = {"question": ["Where does John live?"] * 128, "context": [context] * 128}
    y = {"answer_start": [context.index("Paris")] * 128, "answer_text": ["Paris"] * 128}
    history = labeler.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert history.history["start_accuracy"][-1] == 1.0
    answers = labeler.answer(["Where does John live?"], [context], ids=["q1"])
    assert answers["q1"].text == "Paris"
    assert labeler.answer("Where does John live?", context)["0"].text == "Paris"  # one pair
    assert (answers["q1"].start_char, answers["q1"].end_char) == (14, 19)
    # UTF-8 bytes (one pair too), tensors and arrays; bytes that are not UTF-8 are named.
    import tensorflow as tf

    question = "Where does John live?"
    for q, c in ((question.encode(), context.encode()),
                 (tf.constant([question]), tf.constant([context])),
                 (np.array([question]), np.array([context], dtype=object))):
        assert labeler.answer(q, c)["0"].text == "Paris"
    with pytest.raises(ValueError, match=r"contexts\[1\] is not valid UTF-8 \(invalid "
                                         r"start byte at byte 5\)"):
        labeler.answer([question] * 2, [context, b"John \xff"])
    with pytest.raises(ValueError, match="computes the span loss"):
        labeler.compile(metrics=["accuracy"])


@tensorflow_only  # the .keras round trip with optimizer state on JAX: test_encoder_and_pretrainer
def test_keras_file_round_trip_keeps_preprocessor_and_labels(tokenizer, tmp_path):
    classifier = _classifier(tokenizer)
    classifier.compile(**QUICK)
    classifier.fit(SENTENCES, LABELS, batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "classifier.keras")
    classifier.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.preprocessor, BertClassifierPreprocessor)
    assert loaded.label_names == ["negative", "positive"]
    assert loaded.optimizer._learning_rate.decay_steps == 2
    np.testing.assert_allclose(loaded.predict(["good film"], verbose=0),
                               classifier.predict(["good film"], verbose=0), atol=1e-6)


@tensorflow_only
def test_preset_round_trip_in_a_fresh_process(tokenizer, tmp_path):
    classifier = _classifier(tokenizer)
    tagger = BertTokenClassifier.from_preset(
        "bert_tiny", num_classes=3, label_names=["O", "B-PER", "B-LOC"],
        preprocessor=BertTokenClassifierPreprocessor(tokenizer, sequence_length=8), **TINY)
    labeler = BertSpanLabeler.from_preset(
        "bert_tiny", preprocessor=BertSpanPreprocessor(
            tokenizer, sequence_length=16, doc_stride=4, max_query_length=4), **TINY)
    presets = {name: str(tmp_path / name) for name in ("classifier", "tagger", "labeler")}
    for name, model in zip(presets, (classifier, tagger, labeler)):
        model.save_to_preset(presets[name], tokenizer=tokenizer)
    stored = json.load(open(os.path.join(presets["classifier"], "preset.json")))["model_kwargs"]
    assert stored["label_names"] == ["negative", "positive"]
    assert stored["preprocessor"]["class_name"] == "BertClassifierPreprocessor"
    assert stored["preprocessor"]["sequence_length"] == 8
    question, context = ["Where does John live?"], ["John lives in Paris."]
    expected = {
        "classifier": classifier.predict(["good film", "bad"], verbose=0).tolist(),
        "tagger": tagger.tag([["john", "lives", "in", "paris"]]),
        "labeler": labeler.answer(question, context, ids=["q"])["q"].text,
    }
    code = (
        "import json\n"
        "from keras_bert_impl.models import BertClassifier, BertSpanLabeler, "
        "BertTokenClassifier\n"
        f"presets = {presets!r}\n"
        "classifier = BertClassifier.from_preset(presets['classifier'])\n"
        "tagger = BertTokenClassifier.from_preset(presets['tagger'])\n"
        "labeler = BertSpanLabeler.from_preset(presets['labeler'])\n"
        "print(json.dumps({\n"
        "    'classifier': classifier.predict(['good film', 'bad'], verbose=0).tolist(),\n"
        "    'tagger': tagger.tag([['john', 'lives', 'in', 'paris']]),\n"
        f"    'labeler': labeler.answer({question!r}, {context!r}, ids=['q'])['q'].text,\n"
        "    'labels': classifier.label_names, 'stride': labeler.preprocessor.doc_stride}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    reloaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert reloaded["labels"] == ["negative", "positive"] and reloaded["stride"] == 4
    np.testing.assert_allclose(np.array(reloaded["classifier"]),
                               np.array(expected["classifier"]), atol=1e-5)
    assert reloaded["tagger"] == expected["tagger"]
    assert reloaded["labeler"] == expected["labeler"]


def test_from_preset_attaches_the_presets_tokenizer(tokenizer, tmp_path):
    from keras_bert_impl.models import BertEncoder

    preset = str(tmp_path / "encoder")
    BertEncoder.from_preset("bert_tiny", **TINY).save_to_preset(preset, tokenizer=tokenizer)
    classifier = BertClassifier.from_preset(preset, num_classes=3, sequence_length=16)
    assert isinstance(classifier.preprocessor, BertClassifierPreprocessor)
    assert classifier.preprocessor.sequence_length == 16
    assert classifier.preprocessor.tokenizer.vocabulary == VOCAB
    tagger = BertTokenClassifier.from_preset(preset, num_classes=3)
    assert isinstance(tagger.preprocessor, BertTokenClassifierPreprocessor)
    assert tagger.preprocessor.sequence_length == 128
    labeler = BertSpanLabeler.from_preset(preset)
    assert labeler.preprocessor.sequence_length == 384
    bare = BertClassifier.from_preset(preset, num_classes=3, preprocessor=None)
    assert bare.preprocessor is None


def test_a_model_without_a_vocabulary_saves_its_preprocessors(tokenizer, tmp_path):
    classifier = _classifier(tokenizer)  # from an architecture name: no vocabulary of its own
    assert classifier.tokenizer_spec is None
    classifier.save_to_preset(str(tmp_path / "run"))
    assert (tmp_path / "run" / "vocab.txt").read_text().split() == VOCAB
    reloaded = BertClassifier.from_preset(str(tmp_path / "run"))
    assert reloaded.preprocessor.tokenizer.vocabulary == VOCAB
    assert reloaded.preprocessor.sequence_length == 8
    np.testing.assert_allclose(reloaded.predict(SENTENCES[:4], verbose=0),
                               classifier.predict(SENTENCES[:4], verbose=0), atol=1e-6)


def test_label_names_must_match_the_classes(tokenizer):
    with pytest.raises(ValueError, match="3 classes but 2 label_names"):
        _classifier(tokenizer, num_classes=3)


def test_an_uncompiled_task_model_trains_with_the_compile_defaults(tokenizer):
    # keras-hub's tasks compile with their defaults when built; ours at the first fit.
    classifier = _classifier(tokenizer)
    assert not classifier.compiled
    history = classifier.fit(SENTENCES, LABELS, batch_size=4, epochs=3, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    schedule = classifier.optimizer._learning_rate
    assert isinstance(schedule, FitLengthWarmupDecay)
    assert (schedule.decay_steps, schedule.warmup_steps) == (12, 1)  # set by the first fit
    assert classifier.optimizer.exclude_from_decay
    # evaluate alone compiles too; a user's compile() is kept as it was given.
    evaluated = _classifier(tokenizer)
    loss, accuracy = evaluated.evaluate(SENTENCES, LABELS, verbose=0)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0
    chosen = _classifier(tokenizer)
    chosen.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                   metrics=[])
    chosen.fit(SENTENCES, LABELS, batch_size=4, verbose=0)
    assert isinstance(chosen.optimizer, keras.optimizers.SGD)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_the_default_schedule_counts_updates_with_accumulation_and_loss_scaling(tokenizer,
                                                                               policy):
    from keras_bert_impl.models.text_task import default_optimizer
    from keras_bert_impl.training.precision import training_precision

    with training_precision(policy):
        classifier = _classifier(tokenizer)
        classifier.compile(optimizer=default_optimizer(1e-3, gradient_accumulation_steps=2))
        classifier.fit(SENTENCES, LABELS, batch_size=4, epochs=2, verbose=0)
    # mixed_float16: compile() wrapped the optimizer in a LossScaleOptimizer
    optimizer = getattr(classifier.optimizer, "inner_optimizer", classifier.optimizer)
    assert (policy == "mixed_float16") == (optimizer is not classifier.optimizer)
    # 16 examples in batches of 4 for 2 epochs: 8 batches, 4 updates, and the rate at 0
    assert optimizer._learning_rate.decay_steps == 4
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 4
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == 0.0


def test_fit_length_schedule_warms_up_and_decays():
    schedule = FitLengthWarmupDecay(1e-3, warmup_fraction=0.1)
    assert float(schedule(5)) == pytest.approx(1e-3)
    schedule.set_total_steps(100)
    assert float(schedule(5)) == pytest.approx(5e-4)
    assert float(schedule(55)) == pytest.approx(4.5e-4)  # decay runs on the global step
    assert float(schedule(100)) == 0.0
    restored = FitLengthWarmupDecay.from_config(schedule.get_config())
    assert (restored.decay_steps, restored.warmup_steps) == (100, 10)
    schedule.set_total_steps(20, start_step=100)  # a fit after the first one's end
    assert (schedule.end_step, schedule.warmup_steps) == (120, 2)
    assert [float(schedule(step)) for step in (100, 101, 102, 111, 120)] == pytest.approx(
        [0.0, 5e-4, 9e-4, 4.5e-4, 0.0])
    restored = FitLengthWarmupDecay.from_config(schedule.get_config())
    assert float(restored(111)) == pytest.approx(4.5e-4)


def test_a_fit_after_the_schedule_ended_warms_up_again_and_trains(tokenizer, caplog):
    classifier = _classifier(tokenizer)
    classifier.fit(SENTENCES, LABELS, batch_size=4, epochs=1, verbose=0)
    schedule = classifier.optimizer._learning_rate
    assert (schedule.start_step, schedule.end_step) == (0, 4)
    assert float(classifier.optimizer.learning_rate) == 0.0  # where the first fit left it
    before = [w.copy() for w in classifier.get_weights()]
    classifier.fit(SENTENCES, LABELS, batch_size=8, epochs=1, verbose=0)
    assert "ended at update 4 (rate 0); this fit warms up and decays again over its 2" in \
        caplog.text
    assert (schedule.start_step, schedule.end_step) == (4, 6)
    moved = [np.abs(a - b).max() for a, b in zip(before, classifier.get_weights())]
    assert max(moved) > 1e-5  # the second fit trained (at rate 0 nothing would move)
    # a fit that starts before the schedule's end (here the first stopped after 3 of its 8
    # updates) continues it
    classifier = _classifier(tokenizer)
    stop = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: setattr(
        classifier, "stop_training", batch == 2))
    classifier.fit(SENTENCES, LABELS, batch_size=4, epochs=2, verbose=0, callbacks=[stop])
    assert int(classifier.optimizer.iterations.numpy()) == 3
    classifier.fit(SENTENCES, LABELS, batch_size=4, epochs=1, verbose=0)
    assert (classifier.optimizer._learning_rate.end_step,
            int(classifier.optimizer.iterations.numpy())) == (8, 7)


@tensorflow_only
def test_label_names_train_as_their_ids(tokenizer):
    named = ["positive" if label else "negative" for label in LABELS]
    curves = []
    for labels in (LABELS, named, np.array(named)):
        classifier = _classifier(tokenizer)
        classifier.compile(**QUICK)
        history = classifier.fit(SENTENCES, labels, batch_size=4, epochs=2, shuffle=False,
                                 validation_data=(SENTENCES[:4], labels[:4]), verbose=0)
        curves.append(history.history["loss"] + history.history["val_loss"]
                      + [classifier.evaluate(SENTENCES, labels, verbose=0)[0]])
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-6)
    np.testing.assert_allclose(curves[2], curves[0], rtol=1e-6)


def test_validation_split_holds_out_the_last_texts_as_keras_does_with_arrays(tokenizer):
    classifier = _classifier(tokenizer)
    classifier.compile()
    sentences = np.array(SENTENCES[:-1] + ["good film good"])
    history = classifier.fit(sentences, LABELS, batch_size=4, epochs=2, verbose=0,
                             validation_split=0.25)
    # 16 examples: the last 4 validate, 12 train in 3 batches of 4 for 2 epochs.
    assert classifier.optimizer._learning_rate.decay_steps == 6
    assert classifier.optimizer.iterations.numpy() == 6
    loss, accuracy = classifier.evaluate(sentences[12:], LABELS[12:], verbose=0)
    np.testing.assert_allclose([history.history["val_loss"][-1],
                                history.history["val_accuracy"][-1]], [loss, accuracy],
                               rtol=1e-5)


def test_split_off_validation_splits_pairs_dicts_and_weights_column_by_column():
    pairs = (["a", "b", "c", "d", "e"], np.array(["v", "w", "x", "y", "z"]))
    train, validation = split_off_validation(pairs, [0, 1, 2, 3, 4], None, 0.4)
    assert train[0][0] == ["a", "b", "c"] and validation[0][1].tolist() == ["y", "z"]
    assert (train[1], validation[1], validation[2]) == ([0, 1, 2], [3, 4], None)
    questions = {"question": ["q1", "q2"], "context": ["c1", "c2"]}
    answers = {"answer_start": [0, 3], "answer_text": ["c", "2"]}
    train, validation = split_off_validation(questions, answers, [1.0, 0.5], 0.5)
    assert train == ({"question": ["q1"], "context": ["c1"]},
                     {"answer_start": [0], "answer_text": ["c"]}, [1.0])
    assert validation[0]["context"] == ["c2"] and validation[2] == [0.5]
    with pytest.raises(ValueError, match=r"x has 5 examples but y has 4; give one label"):
        split_off_validation(pairs, [0, 1, 2, 3], None, 0.2)
    with pytest.raises(ValueError, match=r"x has 2 examples but sample_weight has 1"):
        split_off_validation(questions, answers, [1.0], 0.5)
    with pytest.raises(ValueError, match=r"validation_split=1e-17 of 5 example\(s\) leaves "
                                         r"none to validate on; pass more examples"):
        split_off_validation(pairs, [0, 1, 2, 3, 4], None, 1e-17)
    with pytest.raises(ValueError, match="leaves no examples to train on"):
        split_off_validation("one text", [1], None, 0.5)
    with pytest.raises(ValueError, match=r"between 0 and 1 \(e.g. 0.1\), got 10"):
        split_off_validation(pairs, [0] * 5, None, 10)


@tensorflow_only
@pytest.mark.parametrize("labels, message", [
    (["negative", "neutral"] * 8, r"y\[1\] = 'neutral' is not one of this BertClassifier's "
                                  r"label_names \['negative', 'positive'\]\.$"),
    ([0, 1] * 7 + [2, 0], r"y\[14\] = 2 is outside this BertClassifier's class ids 0\.\.1 "
                          r"\(num_classes=2\); build it with num_classes=3 or more"),
    (np.array([0, -1] * 8), r"y\[1\] = -1 is outside .* fix the labels\.$"),
    ([0.0, 0.5] * 8, r"y\[1\] = 0\.5 is not a class id: .* integers 0\.\.1"),
], ids=["unknown name", "id past the classes", "negative id", "fraction"])
def test_bad_labels_fail_before_the_graph_naming_label_and_position(tokenizer, labels, message):
    classifier = _classifier(tokenizer)
    classifier.compile(**QUICK)
    with pytest.raises(ValueError, match=message):
        classifier.fit(SENTENCES, labels, batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        classifier.fit(SENTENCES, LABELS, epochs=1, verbose=0,
                       validation_data=(SENTENCES, labels))
    with pytest.raises(ValueError, match=message):
        classifier.evaluate(SENTENCES, labels, verbose=0)
    ids = {k: np.asarray(v) for k, v in classifier.preprocessor(np.array(SENTENCES)).items()}
    for on_batch in (classifier.train_on_batch, classifier.test_on_batch):
        with pytest.raises(ValueError, match=message):
            on_batch(ids, labels)
    assert classifier.optimizer.iterations.numpy() == 0  # nothing trained


@tensorflow_only
def test_names_without_label_names_and_tags_by_name(tokenizer):
    classifier = _classifier(tokenizer, label_names=None)
    classifier.compile(**QUICK)
    with pytest.raises(ValueError, match=r"y\[0\] = 'negative' is a label name, but this "
                                         r"BertClassifier has no label_names: pass class ids"):
        classifier.fit(SENTENCES, ["negative"] * 16, verbose=0)
    names = ["O", "B-PER", "B-LOC"]
    tagger = BertTokenClassifier.from_preset(
        "bert_tiny", num_classes=3, label_names=names,
        preprocessor=BertTokenClassifierPreprocessor(tokenizer, sequence_length=8), **TINY)
    tagger.compile(**QUICK)
    words = [["john", "lives", "in", "paris"], ["paris", "good"]]
    by_id = tagger.evaluate(words, [[1, 0, 0, 2], [2, 0]], verbose=0)
    by_name = tagger.evaluate(words, [["B-PER", "O", "O", "B-LOC"], ["B-LOC", "O"]], verbose=0)
    np.testing.assert_allclose(by_name, by_id, rtol=1e-6)
    with pytest.raises(ValueError, match=r"y\[1, 1\] = 'I-PER' is not one of this "
                                         r"BertTokenClassifier's label_names"):
        tagger.evaluate(words, [["B-PER", "O", "O", "B-LOC"], ["B-LOC", "I-PER"]], verbose=0)


@pytest.mark.parametrize("texts", [[], (), np.array([], str)], ids=["list", "tuple", "array"])
def test_no_texts_is_named_instead_of_a_keras_internal_error(tokenizer, texts):
    classifier = _classifier(tokenizer)
    classifier.compile(**QUICK)
    message = r"^x holds no examples \(an empty list or array\); pass at least one text\.$"
    for call in (lambda: classifier.predict(texts, verbose=0),
                 lambda: classifier.fit(texts, [], verbose=0),
                 lambda: classifier.evaluate(texts, [], verbose=0)):
        with pytest.raises(ValueError, match=message):
            call()


def test_a_preprocessor_longer_than_the_positions_is_refused(tokenizer, tmp_path):
    small = dict(TINY, max_position_embeddings=32)
    message = (r"^sequence_length=48 is longer than the 32 positions of this {}'s encoder "
               r"\(max_position_embeddings=32\); pass sequence_length=32 or less, or a model "
               r"with more positions\.$")
    with pytest.raises(ValueError, match=message.format("BertClassifier")):
        BertClassifier.from_preset("bert_tiny", num_classes=2, **small,
                                   preprocessor=BertClassifierPreprocessor(tokenizer, 48))
    with pytest.raises(ValueError, match=message.format("BertSpanLabeler")):
        BertSpanLabeler.from_preset("bert_tiny", **small, preprocessor=BertSpanPreprocessor(
            tokenizer, sequence_length=48, doc_stride=8, max_query_length=8))
    preset = str(tmp_path / "preset")
    BertClassifier.from_preset(
        "bert_tiny", num_classes=2, **small,
        preprocessor=BertClassifierPreprocessor(tokenizer, 32)).save_to_preset(preset)
    with pytest.raises(ValueError, match=message.format("BertTokenClassifier")):
        BertTokenClassifier.from_preset(preset, num_classes=3, sequence_length=48)


@tensorflow_only
def test_one_hot_and_soft_labels_pass_to_a_compiled_loss(tokenizer):
    # One more axis than the task's class ids is a label per class, for a loss the user
    # compiled (here with label smoothing): passed on as it is, not checked as ids.
    classifier = _classifier(tokenizer)
    classifier.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(
        from_logits=True), metrics=["categorical_accuracy"], **QUICK)
    soft = np.array([[0.9, 0.1] if label == 0 else [0.1, 0.9] for label in LABELS], "float32")
    for labels in (soft, np.eye(2, dtype="float32")[LABELS]):
        history = classifier.fit(SENTENCES, labels, batch_size=8, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
    # The same soft labels as Python lists: rows of one length, not a tagger's ragged labels.
    np.testing.assert_allclose(classifier.evaluate(SENTENCES, soft.tolist(), verbose=0),
                               classifier.evaluate(SENTENCES, soft, verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="^y has rows of different lengths; give one label"):
        classifier.evaluate(SENTENCES, [[0.5, 0.5]] * 15 + [[1.0]], verbose=0)
    sparse = _classifier(tokenizer)
    sparse.compile(**QUICK)
    column = np.array(LABELS)[:, None]  # Keras' [batch, 1] sparse labels: still checked
    assert np.isfinite(sparse.evaluate(SENTENCES, column, verbose=0)[0])
    with pytest.raises(ValueError, match=r"y\[1, 0\] = 2 is outside"):
        sparse.evaluate(SENTENCES, np.array([[0], [2]] * 8), verbose=0)


@tensorflow_only
def test_dataframe_columns_are_taken_as_the_lists_they_hold(tokenizer):
    """pandas columns (3.x's `str` dtype, the object dtype of 2.x, label names, a tagger's
    word lists, a span labeler's dict of columns) give the numbers the same lists give; a
    whole DataFrame is refused with the columns to pass."""
    pd = pytest.importorskip("pandas")
    classifier = _classifier(tokenizer)
    classifier.compile(**QUICK)
    frame = pd.DataFrame({"text": SENTENCES, "label": LABELS, "weight": [1.0, 0.5] * 8})
    assert frame["text"].dtype.name == "str"  # pandas 3: not object, not NumPy
    expected = classifier.evaluate(SENTENCES, LABELS, sample_weight=[1.0, 0.5] * 8, verbose=0)
    for texts in (frame["text"], frame["text"].astype(object)):
        np.testing.assert_allclose(
            classifier.evaluate(texts, frame["label"], sample_weight=frame["weight"],
                                verbose=0), expected, rtol=1e-6)
        np.testing.assert_allclose(classifier.predict(texts, verbose=0),
                                   classifier.predict(SENTENCES, verbose=0), rtol=1e-6)
    names = frame["label"].map({0: "negative", 1: "positive"})
    history = classifier.fit(frame["text"], names, epochs=1, batch_size=8, verbose=0,
                             validation_data=(frame["text"], names))
    assert np.isfinite(history.history["val_loss"][0])
    pairs = pd.DataFrame({"a": ["good", "bad"], "b": ["film", "film"]})
    np.testing.assert_allclose(classifier.predict((pairs["a"], pairs["b"]), verbose=0),
                               classifier.predict((["good", "bad"], ["film"] * 2), verbose=0),
                               rtol=1e-6)
    with pytest.raises(ValueError, match=r"^x is a table with columns \['a', 'b'\]; pass its "
                                         r"columns: x=df\['a'\] .*x=\(df\['a'\], df\['b'\]\)"):
        classifier.predict(pairs, verbose=0)

    tagger = BertTokenClassifier.from_preset(
        "bert_tiny", num_classes=3, label_names=["O", "B-PER", "B-LOC"],
        preprocessor=BertTokenClassifierPreprocessor(tokenizer, sequence_length=8), **TINY)
    tagger.compile(**QUICK)
    words = [["john", "lives", "in", "paris"], ["paris", "good"]]
    tags = [["B-PER", "O", "O", "B-LOC"], ["B-LOC", "O"]]
    np.testing.assert_allclose(
        tagger.evaluate(pd.Series(words), pd.Series(tags), verbose=0),
        tagger.evaluate(words, tags, verbose=0), rtol=1e-6)

    labeler = BertSpanLabeler.from_preset("bert_tiny", preprocessor=BertSpanPreprocessor(
        tokenizer, sequence_length=16, doc_stride=4, max_query_length=4), **TINY)
    labeler.compile(**QUICK)
    squad = pd.DataFrame({"question": ["Where does John live?"] * 2,
                          "context": ["John lives in Paris."] * 2})
    np.testing.assert_allclose(
        labeler.predict({"question": squad["question"], "context": squad["context"]},
                        verbose=0)["start_logits"],
        labeler.predict({"question": squad["question"].tolist(),
                         "context": squad["context"].tolist()}, verbose=0)["start_logits"],
        rtol=1e-6)


@pytest.mark.parametrize("texts, message", [
    (["good film", None], r"^X\[1\] is None, not a string: every example needs its text .*"
                          r"df\.dropna\(subset=\[column\]\)"),
    (np.array([float("nan"), "bad"], dtype=object), r"^X\[0\] is NaN, not a string"),
    (["good", 3], r"^X\[1\] is 3 \(int\), not a string"),
    ([None, None], r"^X\[0\] is None, not a string"),
    ([["good", "film"]], r"^X is a list whose item 0 is a list .*one text per example.*"
                         r"\(first_texts, second_texts\)"),
    (np.array([["good", "film"]]), r"^X is a 2-D array: this model takes one text per example"),
    ((["good"], ["film", "bad"]), r"^The parts of X hold different numbers of examples "
                                  r"\(X\[0\] 1, X\[1\] 2\)"),
], ids=["none", "nan", "number", "all missing", "nested list", "2-D array",
        "pair lengths"])
def test_texts_that_are_not_text_are_named_before_the_graph(tokenizer, texts, message):
    # X: where the texts were given, x or validation_data[0].
    classifier = _classifier(tokenizer)
    classifier.compile(**QUICK)
    with pytest.raises(ValueError, match=message.replace("X", "x")):
        classifier.predict(texts, verbose=0)
    with pytest.raises(ValueError, match=message.replace("X", r"validation_data\[0\]")):
        classifier.fit(SENTENCES, LABELS, verbose=0, validation_data=(texts, [0] * 2))


def test_a_tagger_names_a_word_that_is_not_text(tokenizer):
    tagger = BertTokenClassifier.from_preset(
        "bert_tiny", num_classes=3,
        preprocessor=BertTokenClassifierPreprocessor(tokenizer, sequence_length=8), **TINY)
    with pytest.raises(ValueError, match=r"^x\[1\]\[0\] is None, not a string"):
        tagger.predict([["john", "lives"], [None, "paris"]], verbose=0)


@pytest.mark.parametrize("length, query, stride", [(512, 64, 128), (384, 64, 128), (128, 64, 61),
                                                   (32, 16, 13)])
def test_the_span_labeler_default_windows_fit_their_length(tokenizer, length, query, stride):
    # The reference's 64-piece questions and 128-token stride where they fit; a shorter
    # window gives the question at most half of itself and never strides past the context a
    # window holds (length - question - [CLS] [SEP] [SEP]), so no context token is skipped.
    preprocessor = BertSpanLabeler.default_preprocessor(tokenizer, length)
    assert (preprocessor.max_query_length, preprocessor.doc_stride) == (query, stride)
    assert stride <= length - query - 3
