"""TF Serving warmup requests: `assets.extra/tf_serving_warmup_requests` in a SavedModel
folder, which TF Serving replays when it loads the version, before it answers anyone, so the
first real request does not pay for graph initialisation (TF-Text's tables, memory).

The file is a TFRecord of serialized `tensorflow_serving.apis.PredictionLog` protos, each a
`predict_log.request`: the model's name, a signature name and its inputs as `TensorProto`s.
Every signature of the SavedModel is warmed (`serving_default` and `serve_ids`), each with
one request of batch 1 and one of batch 3, from real-looking examples chosen by input name:
`text` (sentences of space-separated words, which classifiers and taggers both read),
`text_a`/`text_b` (MRPC pairs), `question`/`context` (SQuAD), and for `serve_ids` the same
sentences tokenized by whole words with `assets/vocab.txt` (a word not in it is `[UNK]`).

The requests are encoded here from the protobuf wire format (`encode_prediction_log`), so that
`tensorflow-serving-api` is not a runtime dependency; the tests parse them back with it and
run them against the SavedModel. The fields used:

```
PredictionLog  { predict_log = 6: PredictLog }
PredictLog     { request = 1: PredictRequest }
PredictRequest { model_spec = 1: ModelSpec; inputs = 2: map<string, TensorProto> }
ModelSpec      { name = 1: string; signature_name = 3: string }
```

Example:

```python
import numpy as np
record = encode_prediction_log("sst2", "serving_default",
                               {"text": np.array([b"a good film"], dtype=object)})
record[:1]  # b'2'
```
"""

import os

import numpy as np

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
VOCAB_ASSET = os.path.join("assets", "vocab.txt")
MAX_WARMUP_TOKENS = 16

# Real lines in the shape each input takes: SST-2 and CoNLL-2003 sentences (words joined by
# spaces), MRPC pairs, SQuAD questions with their paragraphs.
EXAMPLES = {
    "text": (
        "a stirring , funny and finally transporting re-imagining of beauty and the beast",
        "EU rejects German call to boycott British lamb .",
        "Peter Blackburn lives in Brussels and works for the European Commission .",
    ),
    "text_a": (
        "Amrozi accused his brother , whom he called \" the witness \" , of deliberately "
        "distorting his evidence .",
        "Yucaipa owned Dominick 's before selling the chain to Safeway in 1998 for $ 2.5 "
        "billion .",
        "They had published an advertisement on the Internet on June 10 , offering the cargo "
        "for sale , he added .",
    ),
    "text_b": (
        "Referring to him as only \" the witness \" , Amrozi accused his brother of "
        "deliberately distorting his evidence .",
        "Yucaipa bought Dominick 's in 1995 for $ 693 million and sold it to Safeway for "
        "$ 1.8 billion in 1998 .",
        "On June 10 , the ship 's owners had published an advertisement on the Internet , "
        "offering the explosives for sale .",
    ),
    "question": (
        "To whom did the Virgin Mary allegedly appear in 1858 in Lourdes France?",
        "What is in front of the Notre Dame Main Building?",
        "When did the Scholastic Magazine of Notre dame begin publishing?",
    ),
    "context": (
        "Next to the Main Building is the Grotto, a Marian place of prayer and reflection. It "
        "is a replica of the grotto at Lourdes, France where the Virgin Mary reputedly "
        "appeared to Saint Bernadette Soubirous in 1858.",
        "Immediately in front of the Main Building and facing it, is a copper statue of "
        "Christ with arms upraised with the legend \"Venite Ad Me Omnes\".",
        "As at most other universities, Notre Dame's students run a number of news media "
        "outlets. The Scholastic magazine began publishing in September 1876 and is issued "
        "twice monthly.",
    ),
}
BATCH_SIZES = (1, 3)


def signature_inputs(saved_model_dir):
    """`{signature name: {input name: tf.DType}}` of the SavedModel in `saved_model_dir`, read
    from `saved_model.pb` (nothing is loaded, so TF-Text's ops need not be registered).

    Example:

    ```python
    import tempfile
    import tensorflow as tf
    module = tf.Module()
    module.f = tf.function(lambda text: {"n": tf.strings.length(text)}, autograph=False,
                           input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    folder = tempfile.mkdtemp()
    tf.saved_model.save(module, folder, signatures={"serving_default": module.f})
    inputs = signature_inputs(folder)
    list(inputs), inputs["serving_default"]["text"].name  # (['serving_default'], 'string')
    ```
    """
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(os.fspath(saved_model_dir), "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    signatures = {}
    for meta_graph in saved_model.meta_graphs:
        for name, signature in meta_graph.signature_def.items():
            if not name.startswith("__"):  # __saved_model_init_op
                signatures[name] = {key: tf.dtypes.as_dtype(info.dtype)
                                    for key, info in signature.inputs.items()}
    return dict(sorted(signatures.items()))


def warmup_requests(saved_model_dir):
    """`[(signature name, {input name: np.ndarray})]`: the requests `write_warmup_requests`
    writes for the SavedModel in `saved_model_dir` (see the module docstring). A signature
    input this module has no example for raises a `ValueError` naming it.

    Example:

    ```python
    import tempfile
    import tensorflow as tf
    module = tf.Module()
    module.f = tf.function(lambda text: {"n": tf.strings.length(text)}, autograph=False,
                           input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    folder = tempfile.mkdtemp()
    tf.saved_model.save(module, folder, signatures={"serving_default": module.f})
    requests = warmup_requests(folder)
    [name for name, _ in requests]  # ['serving_default', 'serving_default']
    [inputs["text"].shape for _, inputs in requests]  # [(1,), (3,)]
    ```
    """
    requests = []
    for signature, inputs in signature_inputs(saved_model_dir).items():
        columns = {name: _example_column(saved_model_dir, signature, name, dtype)
                   for name, dtype in inputs.items()}
        for size in BATCH_SIZES:
            requests.append((signature, {name: column[:size]
                                         for name, column in columns.items()}))
    return requests


def encode_prediction_log(model_name, signature_name, inputs):
    """One serialized `PredictionLog` (a `predict_log.request` for `model_name`'s
    `signature_name` with `inputs`, `{name: array}`), encoded from the wire format.

    Example:

    ```python
    import numpy as np
    record = encode_prediction_log("ner", "serving_default",
                                   {"text": np.array([b"EU rejects German call"], dtype=object)})
    b"serving_default" in record, len(record) > 40  # (True, True)
    ```
    """
    import tensorflow as tf

    spec = _field(1, model_name.encode()) + _field(3, signature_name.encode())
    request = _field(1, spec)
    for name in sorted(inputs):
        tensor = tf.make_tensor_proto(inputs[name]).SerializeToString()
        request += _field(2, _field(1, name.encode()) + _field(2, tensor))
    return _field(6, _field(1, request))


def write_warmup_requests(saved_model_dir, model_name):
    """Writes `saved_model_dir/assets.extra/tf_serving_warmup_requests` (through a temp file
    and a rename) for TF Serving's model `model_name`; returns its path.

    Example:

    ```python
    import os, tempfile
    import tensorflow as tf
    module = tf.Module()
    module.f = tf.function(lambda text: {"n": tf.strings.length(text)}, autograph=False,
                           input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    folder = tempfile.mkdtemp()
    tf.saved_model.save(module, folder, signatures={"serving_default": module.f})
    path = write_warmup_requests(folder, "lengths")
    sum(1 for _ in tf.data.TFRecordDataset(path))  # 2
    ```
    """
    import tensorflow as tf

    saved_model_dir = os.fspath(saved_model_dir)
    records = [encode_prediction_log(model_name, signature, inputs)
               for signature, inputs in warmup_requests(saved_model_dir)]
    path = os.path.join(saved_model_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temp = f"{path}.tmp-{os.getpid()}"
    try:
        with tf.io.TFRecordWriter(temp) as writer:
            for record in records:
                writer.write(record)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    return path


def _example_column(saved_model_dir, signature, name, dtype):
    """The examples (a batch of `max(BATCH_SIZES)`) for input `name` of `signature`."""
    if dtype.name == "string":
        texts = EXAMPLES.get(name, EXAMPLES["text"])
        return np.array([text.encode() for text in texts], dtype=object)
    if dtype.is_integer and name in ("token_ids", "segment_ids", "padding_mask"):
        return _id_examples(saved_model_dir)[name].astype(dtype.as_numpy_dtype)
    raise ValueError(f"No warmup example for input {name!r} ({dtype.name}) of signature "
                     f"{signature!r}; export without warmup requests (warmup=False, "
                     "keras-bert export --no-warmup).")


def _id_examples(saved_model_dir):
    """`EXAMPLES["text"]` packed as `[CLS] words [SEP]` with whole-word ids of the SavedModel's
    `assets/vocab.txt`, `MAX_WARMUP_TOKENS` long."""
    path = os.path.join(os.fspath(saved_model_dir), VOCAB_ASSET)
    vocabulary = []
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            vocabulary = [line.rstrip("\n") for line in f]
    ids = {token: i for i, token in reversed(list(enumerate(vocabulary)))}
    unknown = ids.get("[UNK]", 0)
    rows = []
    for text in EXAMPLES["text"]:
        words = [ids.get(w, ids.get(w.lower(), unknown)) for w in text.split()]
        rows.append([ids.get("[CLS]", 0), *words[:MAX_WARMUP_TOKENS - 2], ids.get("[SEP]", 0)])
    token_ids = np.zeros((len(rows), MAX_WARMUP_TOKENS), np.int64)
    padding_mask = np.zeros_like(token_ids)
    for i, row in enumerate(rows):
        token_ids[i, :len(row)] = row
        padding_mask[i, :len(row)] = 1
    return {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids),
            "padding_mask": padding_mask}


def _varint(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number, payload):
    """A length-delimited protobuf field (wire type 2): strings and messages."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload
