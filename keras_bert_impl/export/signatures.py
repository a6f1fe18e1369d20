"""The serving module: a `tf.Module` holding a task model's variables, its label names and its
vocabulary, with the two signatures a SavedModel exports (the preprocessor's tables are
constants of the `serving_default` graph).

- `serving_default`: raw `tf.string` batches in, the task's own preprocessor layer (the same
  TF-Text graph as training) inside the function, answers out;
- `serve_ids`: `token_ids`, `segment_ids`, `padding_mask` (int32 `[batch, length]`) in, the
  same answers minus those that need text; core TensorFlow ops only, so a server without
  TF-Text's ops can run it with client-side tokenization (`assets/vocab.txt`).

Both cut each batch to its longest example (rounded up to the model's `padding_multiple`)
before the encoder, as `fit` and `tag()` do: padding never changes the real tokens' outputs,
and per-token outputs come back at the length they were given.

What each task takes and gives:

- classifier: `serving_default` takes `text` `[B]` (pairs: `text_a` and `text_b`) and gives
  `probabilities` float32 `[B, C]`, `label_id` int64 `[B]` and `label` string `[B]`;
  `serve_ids` gives `probabilities` and `label_id`;
- regression (a classifier with `num_classes=1`): both give `score` float32 `[B]`;
- tagger: `serving_default` takes `text` `[B]` (words joined by whitespace) and gives
  `labels` string `[B, W]` and `scores` float32 `[B, W]`; `serve_ids` gives the per-token
  `probabilities` float32 `[B, L, C]`;
- span labeler (question answering): `serving_default` takes `question` and `context`
  `[B]` and gives `answer_text` string `[B]`, `start_char` and `end_char` int64 `[B]`
  (Unicode code points of the original context, end exclusive: `context[start_char:end_char]
  == answer_text`) and `score` float32 `[B]` (start logit + end logit of the span);
  `serve_ids` gives `start_logits` and `end_logits` float32 `[B, L]` (`-1e9` at padding).

The tagger answers per input word (split at whitespace, as `BertTokenClassifierPreprocessor`
does): the tag predicted at the word's first wordpiece and its softmax probability. Rows are
padded to the longest sentence of the batch with `""` and 0.0. A sentence longer than
`sequence_length` is read in consecutive windows of the words that fit, as
`BertTokenClassifier.tag` reads it (`pack_in_windows` of the preprocessor, in the graph),
so every word is tagged; a word without any wordpiece (e.g. only control characters) or with
more pieces than one sequence holds gets `"O"` and 0.0, as `decode_tags` gives. A model
without `label_names` answers with its class ids as strings (`"0"`, `"1"`, ...).

The span labeler answers as `labeler.answer(...)` (`decode_spans` with the export's
`max_answer_length` and `n_best_size`), every window of a long context included (`doc_stride`
windows built in the graph); an example without an answer (empty or token-less question or
context) gets `""`, `-1`, `-1` and a score of `-inf`. See `keras_bert_impl.export.span_serving`.
"""

from keras_bert_impl.export.span_serving import answer_spans

SERVING_DEFAULT = "serving_default"
SERVE_IDS = "serve_ids"
ID_INPUTS = ("token_ids", "segment_ids", "padding_mask")
SINGLE_TEXT_INPUTS = ("text",)
PAIR_TEXT_INPUTS = ("text_a", "text_b")
SPAN_TEXT_INPUTS = ("question", "context")
KINDS = ("classification", "regression", "tagging", "span")
OUTSIDE_TAG = "O"


def serving_module(model, preprocessor, kind, label_names, vocab_file, text_inputs,
                   max_answer_length=30, n_best_size=20):
    """A `tf.Module` with `serve_text` and `serve_ids` `tf.function`s (see the module
    docstring); `signatures(module)` maps them to their signature names.

    Args:
        model: a `BertClassifier`, `BertTokenClassifier` or `BertSpanLabeler` (TensorFlow
            backend).
        preprocessor: its text layer (`BertClassifierPreprocessor`,
            `BertTokenClassifierPreprocessor` or `BertSpanPreprocessor`).
        kind: `"classification"`, `"regression"`, `"tagging"` or `"span"`.
        label_names: one string per class (ids as strings when the model has none; empty
            for regression and span models).
        vocab_file: the path of a `vocab.txt`, saved as the asset `assets/vocab.txt`.
        text_inputs: the names of `serving_default`'s string inputs (`("text",)`,
            `("text_a", "text_b")` or `("question", "context")`); empty: no `serve_text` (an
            ids-only module, which needs no `preprocessor`).
        max_answer_length, n_best_size: span models: the decoding of `decode_spans` (longest
            answer in pieces; starts and ends paired per window).

    Example:

    ```python
    import tensorflow as tf
    from keras_bert_impl.models import BertClassifier
    from keras_bert_impl.text import BertClassifierPreprocessor, BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film"]
    model = BertClassifier.from_preset("bert_tiny", vocab_size=len(vocab), num_classes=2,
                                       num_layers=1, hidden_size=16, num_heads=2)
    preprocessor = BertClassifierPreprocessor(BertTokenizer(vocab), sequence_length=8)
    module = serving_module(model, preprocessor, "classification", ["neg", "pos"],
                            None, ("text",))
    outputs = module.serve_text(tf.constant(["good film", ""]))
    sorted(outputs)  # ['label', 'label_id', 'probabilities']
    outputs["probabilities"].shape  # (2, 2)
    ```
    """
    import tensorflow as tf

    from keras_bert_impl.models.text_inputs import trim_padding

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    module = tf.Module(name="bert_serving")
    # The module tracks the model's tf.Variables, not the Keras model or its Keras variables:
    # tracked those ways, the variables are written twice and the functions read copies that
    # the SavedModel's restore op never fills, so a session-based loader (TF Serving,
    # `saved_model_cli run`) fails with "Could not find variable ..." (TF2's
    # `tf.saved_model.load` does not notice). Keras' own ExportArchive tracks them the same way.
    module.model_variables = [variable.value for variable in model.variables]
    if vocab_file is not None:
        module.vocab_file = tf.saved_model.Asset(vocab_file)
    with tf.init_scope():
        labels = tf.constant([str(name) for name in label_names], tf.string)
    outputs = _tag_outputs if kind == "tagging" else _class_outputs
    ids_outputs = _tag_id_outputs if kind == "tagging" else _class_id_outputs
    regression = kind == "regression"

    # The SavedModel runs in TensorFlow's graph executor (TF Serving: no XLA), where a batch
    # of any length costs what its length costs: "auto" cuts to the exact longest.
    multiple = model.padding_multiple(compiled=False) if hasattr(model, "padding_multiple") \
        else None
    cut = trim_padding(multiple) if multiple else (lambda inputs: inputs)
    per_token = getattr(model, "per_token_outputs", False)
    padding_output = getattr(model, "padding_output", 0.0)

    def model_outputs(features, training=False):
        # Cut to the batch's longest example, as fit and tag() cut theirs: padding never
        # changes the real tokens' outputs (measured, MiniLM at sequence length 128 on SST-2:
        # 2.7x the throughput at batch 32, 2.5x less latency for one sentence). Per-token
        # outputs are padded back with what the model gives at padding (the span head's
        # -1e9; a tagger's 0), to the length they were given.
        inputs = {name: tf.cast(features[name], tf.int32) for name in ID_INPUTS}
        length = tf.shape(inputs["token_ids"])[1]
        outputs = model(cut(inputs), training=training)
        return tf.nest.map_structure(
            lambda value: _pad_positions(tf.cast(value, tf.float32), length, padding_output)
            if per_token else tf.cast(value, tf.float32), outputs)

    def answer_text(texts):
        if kind == "span":
            # Plain TensorFlow ops, no Python control flow on tensors: AutoGraph would only
            # slow the tracing (a Python loop over the vocabulary, ~10x).
            answer = tf.autograph.experimental.do_not_convert(answer_spans)
            return answer(span_logits, preprocessor, *texts,
                          max_answer_length=max_answer_length, n_best_size=n_best_size)
        segments = texts[0] if len(texts) == 1 else tuple(texts)
        if kind == "tagging":
            features, word_starts, words = preprocessor.pack_in_windows(segments)
            return outputs(model_outputs(features), word_starts, words, labels)
        return outputs(model_outputs(preprocessor(segments)), labels, regression)

    def span_logits(features, training=False):
        logits = model_outputs(features, training=training)
        return {name: logits[name] for name in ("start_logits", "end_logits")}

    def answer_ids(token_ids, segment_ids, padding_mask):
        features = {"token_ids": token_ids, "segment_ids": segment_ids,
                    "padding_mask": padding_mask}
        if kind == "span":
            return span_logits(features)
        return ids_outputs(model_outputs(features), labels, regression)

    if text_inputs:
        module.serve_text = tf.function(_text_function(answer_text, text_inputs),
                                        input_signature=[tf.TensorSpec([None], tf.string, name=n)
                                                         for n in text_inputs])
    module.serve_ids = tf.function(answer_ids, input_signature=[
        tf.TensorSpec([None, None], tf.int32, name=name) for name in ID_INPUTS])
    return module


def signatures(module):
    """`{signature name: concrete function}` of a `serving_module`."""
    functions = {SERVE_IDS: module.serve_ids.get_concrete_function()}
    if hasattr(module, "serve_text"):
        functions[SERVING_DEFAULT] = module.serve_text.get_concrete_function()
    return functions


def _text_function(answer_text, names):
    """A function of one string batch per name in `names`, calling `answer_text(list)`; its
    arguments carry those names, which become the signature's input names."""
    import inspect

    def serve_text(*texts):
        return answer_text(list(texts))

    serve_text.__signature__ = inspect.Signature([
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names])
    return serve_text


def _class_outputs(logits, labels, regression):
    """Classifier answers from float32 logits `[B, C]`."""
    import tensorflow as tf

    if regression:
        return {"score": logits[:, 0]}
    probabilities = tf.nn.softmax(logits, axis=-1)
    label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
    return {"probabilities": probabilities, "label_id": label_id,
            "label": tf.gather(labels, label_id)}


def _class_id_outputs(logits, labels, regression):
    """`_class_outputs` without the label strings (`serve_ids` answers in numbers)."""
    outputs = _class_outputs(logits, labels, regression)
    outputs.pop("label", None)
    return outputs


def _tag_id_outputs(logits, labels, regression):
    import tensorflow as tf

    del labels, regression
    return {"probabilities": tf.nn.softmax(logits, axis=-1)}


def _pad_positions(values, length, value):
    """Per-token `values` `[B, L', ...]` padded with `value` to `length` positions."""
    import tensorflow as tf

    widths = [[0, 0], [0, length - tf.shape(values)[1]]] + [[0, 0]] * (values.shape.rank - 2)
    return tf.pad(values, widths, constant_values=value)


def _tag_outputs(logits, word_starts, words, labels):
    """One tag and score per word of `words` (ragged `[B, (words)]`) from the token logits
    `[windows, L, C]` of its windows and the packed position of each word's first piece in
    its window (ragged `[windows, (words)]`, -1: no piece)."""
    import tensorflow as tf

    probabilities = tf.nn.softmax(logits, axis=-1)
    starts = word_starts.flat_values
    kept = starts >= 0
    at = tf.stack([tf.cast(word_starts.value_rowids(), tf.int32), tf.maximum(starts, 0)],
                  axis=1)
    chosen = tf.gather_nd(probabilities, at)  # [words, C]
    tag_id = tf.argmax(chosen, axis=-1, output_type=tf.int32)
    tags = tf.where(kept, tf.gather(labels, tag_id), OUTSIDE_TAG)
    scores = tf.where(kept, tf.reduce_max(chosen, axis=-1), 0.0)
    return {"labels": words.with_flat_values(tags).to_tensor(default_value=""),
            "scores": words.with_flat_values(scores).to_tensor(default_value=0.0)}
