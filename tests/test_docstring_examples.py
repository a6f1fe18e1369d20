"""Every public class documents a runnable example: run each ```python block of the public
names' docstrings (layers, models, text, presets, config, optimizers, training) so examples
cannot rot."""

import importlib
import inspect
import re

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
    for module_name in ("optimizers", "models.base", "models.task", "models.weights",
                        "presets.checkpoint", "presets.ours", "presets.hub",
                        "presets.tokenizer_spec", "presets.canonical", "presets.huggingface",
                        "presets.google", "presets.detect", "flags", "_moved",
                        "training.callbacks", "training.distribute", "training.pretrain"):
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
    for name, obj in _documented_objects():
        blocks = CODE_BLOCK.findall(inspect.getdoc(obj) or "")
        yield pytest.param(name, obj, blocks, id=name)


@pytest.mark.parametrize("name, obj, blocks", list(_examples()))
def test_docstring_example_runs(name, obj, blocks):
    if inspect.isclass(obj):  # every public class shows one; functions run theirs if any
        assert blocks, f"{name} has no ```python example in its docstring"
    namespace = dict(vars(obj) if inspect.ismodule(obj) else vars(inspect.getmodule(obj)))
    for block in blocks:
        exec(compile(inspect.cleandoc(block), f"<docstring of {name}>", "exec"), namespace)
