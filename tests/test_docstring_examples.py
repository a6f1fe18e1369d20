"""Every public class documents a runnable example: run each ```python block of the public
names' docstrings (layers, models, text, presets, config, optimizers, training) so examples
cannot rot, and compare every `expression  # value` line whose comment is a Python literal
with the value the expression gives (so the documented results cannot rot either)."""

import ast
import importlib
import inspect
import math
import re
import tokenize
from io import StringIO

import pytest

import keras_bert_impl
import keras_bert_impl.layers as layers
import keras_bert_impl.models as models
from keras_bert_impl import config as config_module

CODE_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _documented_objects():
    import keras_bert_impl.presets as presets
    import keras_bert_impl.text as text

    for module in (layers, models, text, presets):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):  # not constants
                yield f"{module.__name__}.{name}", obj
    for module_name in ("optimizers", "models.base", "models.input_checks", "models.task",
                        "models.labels", "models.weights", "models.lora", "models.quantize", "models.inference",
                        "models.fill_mask", "layers.lora", "layers.transformer",
                        "layers.pallas_layer_norm", "layers.pallas_attention", "layers.dropout",
                        "layers.normalization",
                        "presets.lora",
                        "presets.checkpoint", "presets.ours", "presets.hub",
                        "presets.tokenizer_spec", "presets.canonical", "presets.huggingface",
                        "presets.google", "presets.detect", "flags", "_moved", "keras_private", "user_files",
                        "training.callbacks", "training.distribute", "training.pretrain",
                        "training.precision",
                        "metrics.squad", "metrics.tagging", "metrics.glue",
                        "metrics.keras_metrics", "models.text_task", "models.text_inputs",
                        "data.classification", "data.table", "data.glue", "data.bbc_news",
                        "data.conll", "data.squad", "data.tfds_source", "text.offsets",
                        "text.span_preprocessor",
                        "text.span_decoding", "text.tag_decoding",
                        "training.finetune_tasks", "training.finetune_data",
                        "training.finetune", "training.finetune_cli", "training.fill_mask_cli",
                        "training.evaluate_cli", "export.atomic", "export.graph_ops",
                        "export.saved_model", "export.signatures", "export.layout",
                        "export.warmup", "export.export_cli", "export.predict_cli",
                        "export.span_serving"):
        module = importlib.import_module(f"keras_bert_impl.{module_name}")
        yield module.__name__, module
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and not name.startswith("_") \
                    and obj.__module__ == module.__name__ and name != "ReplicaGlobalClipMixin":
                yield f"{module.__name__}.{name}", obj
    yield "keras_bert_impl.config", config_module
    yield "keras_bert_impl.BertConfig", keras_bert_impl.BertConfig
    yield "keras_bert_impl", keras_bert_impl


def _examples():
    seen = set()
    for name, obj in _documented_objects():
        if id(obj) in seen:  # re-exported: `models.BertClassifier` is `models.classifier.…`
            continue
        seen.add(id(obj))
        blocks = CODE_BLOCK.findall(inspect.getdoc(obj) or "")
        yield pytest.param(name, obj, blocks, id=name)


def _plain(value):
    """`value` as plain Python (tensors, arrays, shapes and NumPy scalars unwrapped)."""
    if hasattr(value, "numpy") and not isinstance(value, type):
        value = value.numpy()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "as_list"):  # tf.TensorShape
        return tuple(value.as_list())
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _same(actual, expected):
    actual = _plain(actual)
    if isinstance(expected, float) or isinstance(actual, float):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return False
        digits = len(repr(expected).split(".")[-1]) if isinstance(expected, float) else 0
        return math.isclose(actual, expected, abs_tol=0.5 * 10 ** -digits + 1e-12)
    if isinstance(expected, (tuple, list)) and isinstance(actual, (tuple, list)):
        return len(actual) == len(expected) and all(map(_same, actual, expected))
    return actual == expected


def _documented_values(source):
    """`{line: expected}` for top-level expression lines ending in `# <Python literal>`."""
    comments = {}
    for token in tokenize.generate_tokens(StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string[1:].strip()
    expected = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Expr) and node.end_lineno in comments:
            try:
                expected[node.lineno] = (node, ast.literal_eval(comments[node.end_lineno]))
            except (ValueError, SyntaxError):
                pass  # prose, not a value
    return expected


def _run_block(block, name, namespace):
    """Runs `block` statement by statement, checking each documented value."""
    source = inspect.cleandoc(block)
    expected = _documented_values(source)
    tree = ast.parse(source)
    checked = 0
    for node in tree.body:
        module = ast.Module(body=[node], type_ignores=[])
        if node.lineno in expected:
            value = eval(compile(ast.Expression(node.value), f"<docstring of {name}>", "eval"),
                         namespace)
            want = expected[node.lineno][1]
            assert _same(value, want), (
                f"{name}, line {node.lineno}: `{ast.unparse(node)}` gives {_plain(value)!r}, "
                f"the docstring says {want!r}"
            )
            checked += 1
        else:
            exec(compile(module, f"<docstring of {name}>", "exec"), namespace)
    return checked


def test_documented_values_are_compared():
    checked = _run_block("x = 2 + 2\nx  # 4\nx * 0.5  # 2.0\n(x, 'a')  # (4, 'a')", "t", {})
    assert checked == 3
    with pytest.raises(AssertionError, match="gives 4, the docstring says 5"):
        _run_block("2 + 2  # 5", "t", {})
    assert _run_block("2 + 2  # four of them", "t", {}) == 0


@pytest.mark.parametrize("name, obj, blocks", list(_examples()))
def test_docstring_example_runs(name, obj, blocks):
    if inspect.isclass(obj):  # every public class shows one; functions run theirs if any
        assert blocks, f"{name} has no ```python example in its docstring"
    namespace = dict(vars(obj) if inspect.ismodule(obj) else vars(inspect.getmodule(obj)))
    for block in blocks:
        _run_block(block, name, namespace)
