"""The demo's closing summary, from a `summary.json` as `make demo` writes it (the demo itself
runs for minutes and is not part of `make test`)."""

from keras_bert_impl.demo import _print_summary


def _history(*accuracies):
    return [{"epoch": i, "accuracy": a, "loss": 1.0} for i, a in enumerate(accuracies, 1)]


def _summary(tiny, random):
    run = {"validation_examples": 75, "train_examples": 600, "train_seconds": 1.0,
           "learning_rate": 3e-4}
    return {
        "pretraining": {"steps": 3000, "global_batch_size": 16,
                        "start": {"mlm_loss": 8.96, "mlm_accuracy": 0.0, "nsp_accuracy": 0.538},
                        "end": {"mlm_loss": 6.40, "mlm_accuracy": 0.133, "nsp_accuracy": 0.525}},
        "bbc_topics": {
            "minilm": dict(run, accuracy=0.973, history=_history(0.973)),
            "tiny": dict(run, accuracy=tiny[-1], history=_history(*tiny)),
            "random": dict(run, accuracy=random[-1], history=_history(*random)),
        },
        "serving": {"version": 2, "agree": 5, "sentences": 5},
        "minutes": 11.5,
    }


def test_summary_prints_every_figure_and_both_learning_curves(capsys):
    _print_summary(_summary((0.373, 0.507, 0.573, 0.64), (0.2, 0.2, 0.387, 0.627)), "runs/demo")
    lines = capsys.readouterr().out.splitlines()
    assert ("[demo]   pretraining bert_tiny, 3,000 steps, held-back articles: MLM loss 8.96 -> "
            "6.40, MLM accuracy 0.0% -> 13.3%, NSP accuracy 53.8% -> 52.5%") in lines
    assert any(line.startswith("[demo]   NSP is below the 65% aimed for. What limits it:")
               for line in lines)
    assert ("[demo]   BBC topics on 75 held-out articles: MiniLM 97.3% | our pretrained "
            "bert_tiny 64.0% | bert_tiny from random weights 62.7% (same split, same budget: 4 "
            "epochs at lr 0.0003)") in lines
    assert ("[demo]   by epoch: ours 37.3% / 50.7% / 57.3% / 64.0% vs random 20.0% / 20.0% / "
            "38.7% / 62.7%") in lines
    assert "[demo]   our pretraining is worth +1.3% on BBC topics at this budget" in lines
    assert ("[demo]   SavedModel 2 in a fresh process agrees with the Keras model on 5 of 5 "
            "sentences") in lines


def test_summary_says_when_pretraining_does_not_help(capsys):
    _print_summary(_summary((0.5, 0.6), (0.6, 0.7)), "runs/demo")
    out = capsys.readouterr().out
    assert ("our pretraining is worth -10.0% on BBC topics at this budget; at this pretraining "
            "budget it does not help yet") in out
