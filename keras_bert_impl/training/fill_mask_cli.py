"""`keras-bert fill-mask`: what a pretraining run (or any checkpoint with a masked-LM head)
guesses at each `[MASK]` of a text.

Example:

```
keras-bert fill-mask --model runs/tiny "Shares fell after the bank's [MASK] fell." --top-k 3
```

Prints each text, then one line per mask: the `--top-k` tokens, best first, with their
probabilities (`BertPretrainer.fill_mask`; `--json` prints them as JSON instead).
"""

import json


def add_arguments(parser):
    """Adds the `fill-mask` flags (imports nothing heavy).

    Example:

    ```python
    import argparse
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parser.parse_args(["--model", "runs/tiny", "a [MASK] b"]).top_k  # 5
    ```
    """
    add = parser.add_argument
    add("texts", nargs="+", metavar="TEXT", help="texts with [MASK] where a token is to be "
        "guessed (upper case, as the tokenizer's special token)")
    add("--model", required=True, help="a pretraining run, or a checkpoint with a masked-LM "
        "head (Hugging Face BertForMaskedLM / BertForPreTraining, Google's original)")
    add("--top-k", type=int, default=5, help="guesses per mask")
    add("--json", action="store_true", help="print the guesses as JSON: per text, per mask, "
        "[{token, id, score}]")


def format_guesses(text, masks):
    """The text, then a line per mask: `  [MASK] 1: token 0.1234 | token 0.0567 ...`.

    Example:

    ```python
    from keras_bert_impl.models.fill_mask import Guess
    format_guesses("a [MASK]", [[Guess("cat", 7, 0.5), Guess("dog", 8, 0.25)]])
    # 'a [MASK]\\n  [MASK] 1: cat 0.5000 | dog 0.2500'
    ```
    """
    lines = [text]
    for i, guesses in enumerate(masks, start=1):
        lines.append(f"  [MASK] {i}: " + " | ".join(f"{g.token} {g.score:.4f}"
                                                     for g in guesses))
    return "\n".join(lines)


def run(args):
    """Loads `--model` as a `BertPretrainer` and prints its guesses for each text."""
    import warnings

    from keras_bert_impl.models.pretrainer import BertPretrainer

    with warnings.catch_warnings():  # the NSP head is not used; a missing MLM head is an error
        warnings.filterwarnings("ignore", message=r".*has no weights for the .* head\(s\)")
        pretrainer = BertPretrainer.from_preset(args.model)
    results = pretrainer.fill_mask(args.texts, top_k=args.top_k)
    if args.json:
        print(json.dumps([[[g._asdict() for g in guesses] for guesses in masks]
                          for masks in results]))
    else:
        print("\n".join(format_guesses(text, masks)
                        for text, masks in zip(args.texts, results, strict=True)))
    return 0
