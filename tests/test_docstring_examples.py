"""Every public class documents a runnable example: run each ```python block of the
model-side docstrings (layers, models, config, optimizers) so examples cannot rot."""

import inspect
import re

import pytest

import keras_bert_impl
import keras_bert_impl.layers as layers
import keras_bert_impl.models as models
from keras_bert_impl import config as config_module
from keras_bert_impl.models.xla import XlaByDefault

CODE_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _documented_objects():
    for module in (layers, models):
        for name in module.__all__:
            yield f"{module.__name__}.{name}", getattr(module, name)
    yield "keras_bert_impl.config", config_module
    yield "keras_bert_impl.BertConfig", keras_bert_impl.BertConfig
    yield "keras_bert_impl.models.xla.XlaByDefault", XlaByDefault


def _examples():
    for name, obj in _documented_objects():
        blocks = CODE_BLOCK.findall(inspect.getdoc(obj) or "")
        yield pytest.param(name, obj, blocks, id=name)


@pytest.mark.parametrize("name, obj, blocks", list(_examples()))
def test_docstring_example_runs(name, obj, blocks):
    assert blocks, f"{name} has no ```python example in its docstring"
    namespace = {}
    if inspect.isclass(obj):
        namespace.update(vars(inspect.getmodule(obj)))
    else:
        namespace.update(vars(obj))
    for block in blocks:
        exec(compile(inspect.cleandoc(block), f"<docstring of {name}>", "exec"), namespace)
