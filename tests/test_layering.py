"""The package reads one way down: no upward import (module level or inside a function) and
no import circle between files. The layers, bottom to top:

    user_files                                          users' text files, read for all
    config, flags, xla_flags, _moved, metrics           the ground
    layers/, optimizers                                 Keras building blocks
    presets/                                            files: our format, readers, names
    text/                                               TF-Text preprocessing
    models/ | data/                                     side by side, never importing each other
    training/
    export/
    cli, convert/, demo                                 the commands

`keras_bert_impl/__init__.py` is the lazy front door above all of them (it imports nothing by
statement); modules inside the package import from the defining module, never from it.
"""

import ast
import os

import pytest

import keras_bert_impl

ROOT = os.path.dirname(keras_bert_impl.__file__)
PACKAGE = "keras_bert_impl"
RANKS = {
    "config": 0, "flags": 0, "_moved": 0, "metrics": 0, "keras_private": 0, "xla_flags": 0,
    "user_files": -1,
    "layers": 1, "optimizers": 1,
    "presets": 2,
    "text": 3,
    "models": 4, "data": 4,
    "training": 5,
    "export": 6,
    "cli": 7, "convert": 7, "demo": 7,
}


def _modules():
    """`{module name: path}` of every file of the package."""
    modules = {}
    for folder, _, files in os.walk(ROOT):
        for file in files:
            if not file.endswith(".py"):
                continue
            path = os.path.join(folder, file)
            parts = os.path.relpath(path, os.path.dirname(ROOT))[:-3].split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imports(path):
    """`(line, target module)` of every import of our package in `path`, at any depth."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield node.lineno, submodule if submodule in MODULES else node.module


def _layer(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE


def _edges():
    edges = []
    for module, path in MODULES.items():
        if module == PACKAGE:
            continue
        for line, target in _imports(path):
            edges.append((module, target, f"{os.path.relpath(path, ROOT)}:{line}"))
    return edges


def test_every_folder_has_a_rank():
    assert {_layer(m) for m in MODULES} - {PACKAGE} <= set(RANKS), (
        "a new top-level module or folder needs its place in RANKS (and in DESIGN.md)"
    )


def test_no_upward_or_sideways_import():
    problems = []
    for source, target, where in _edges():
        if target == PACKAGE:
            problems.append(f"{where}: {source} imports from the package front door; import "
                            "from the module that defines the name")
            continue
        if target not in MODULES:
            problems.append(f"{where}: {source} imports {target}, which does not exist")
            continue
        a, b = _layer(source), _layer(target)
        if a != b and RANKS[b] >= RANKS[a]:
            problems.append(f"{where}: {source} (layer {a}, rank {RANKS[a]}) imports {target} "
                            f"(layer {b}, rank {RANKS[b]})")
    assert not problems, "\n".join(problems)


def _cycles(graph):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_between_files():
    graph = {}
    for source, target, _ in _edges():
        if target in MODULES and target != source:
            graph.setdefault(source, set()).add(target)
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("old", [
    "keras_bert_impl.convert.presets",
    "keras_bert_impl.convert.huggingface",
    "keras_bert_impl.convert.google_checkpoint",
    "keras_bert_impl.convert.weights",
    "keras_bert_impl.training.optimizers",
])
def test_old_module_paths_name_the_new_one(old):
    import importlib
    import sys

    sys.modules.pop(old, None)
    with pytest.raises(ImportError, match=r"moved: use keras_bert_impl\.(presets|models|optim)"):
        importlib.import_module(old)


def test_old_names_name_the_new_one():
    with pytest.raises(ImportError, match=r"load_preset moved: use Model\.from_preset"):
        from keras_bert_impl.convert import load_preset  # noqa: F401
    with pytest.raises(ImportError, match="make_pretraining_dataset"):
        from keras_bert_impl.text import pretraining_dataset  # noqa: F401
