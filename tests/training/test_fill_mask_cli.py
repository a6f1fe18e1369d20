"""`keras-bert fill-mask`: the guesses of `BertPretrainer.fill_mask` on the command line (text
lines and JSON), and one `error:` line for a text without a mask or a model without a
masked-LM head."""

import json

from keras_bert_impl.cli import main
from keras_bert_impl.models import BertPretrainer
from tests.presets.helpers import bert_tiny_mlm_dir, minilm_dir

TEXT = "The capital of France is [MASK]."


def test_prints_the_guesses_of_the_masked_lm_head(capsys):
    model = str(bert_tiny_mlm_dir())
    assert main(["fill-mask", "--model", model, TEXT, "a [MASK] and a [MASK]", "--top-k", "2",
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = BertPretrainer.from_preset(model).fill_mask([TEXT, "a [MASK] and a [MASK]"],
                                                           top_k=2)
    assert [[[g["token"] for g in mask] for mask in text] for text in printed] == \
        [[[g.token for g in mask] for mask in text] for text in expected]
    assert printed[0][0][0]["score"] == expected[0][0][0].score
    assert main(["fill-mask", "--model", model, TEXT, "--top-k", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [TEXT, f"  [MASK] 1: {expected[0][0][0].token} "
                           f"{expected[0][0][0].score:.4f}"]


def test_bad_input_is_one_error_line(capsys):
    model = str(bert_tiny_mlm_dir())
    assert main(["fill-mask", "--model", model, "no mask here"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: texts[0] = 'no mask here' has no [MASK]")
    assert len(error.splitlines()) == 1
    assert main(["fill-mask", "--model", str(minilm_dir()), TEXT]) == 2  # an encoder alone
    error = capsys.readouterr().err
    assert error.startswith("error: This model's masked-LM head was not in its checkpoint")
    assert len(error.splitlines()) == 1
