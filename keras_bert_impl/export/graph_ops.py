"""Which ops a traced function or a SavedModel signature runs, and which ops TF-Text adds.

A TF Serving binary built without TF-Text fails on any graph that names one of TF-Text's
ops, so the `serve_ids` signature must hold only core TensorFlow ops. `graph_op_names` lists
every op of a concrete function (its graph and every function of its library: `tf.function`
calls, `while`/`cond` bodies), `saved_model_op_names` the ops one signature of a written
SavedModel reaches (read from `saved_model.pb`), and `tf_text_op_names` the ops that importing
`tensorflow_text` registers, found by comparing TensorFlow's op registry before and after the
import in a fresh Python process (the only way to see the difference once TF-Text is loaded).
"""

import functools
import json
import os
import subprocess
import sys

_REGISTRY_DIFF = """
import json
from tensorflow.core.framework import op_def_pb2
from tensorflow.python.client import pywrap_tf_session as c_api


def registered():
    buffer = c_api.TF_GetAllOpList()
    try:
        data = c_api.TF_GetBuffer(buffer)
    finally:
        c_api.TF_DeleteBuffer(buffer)
    ops = op_def_pb2.OpList()
    ops.ParseFromString(data)
    return {op.name for op in ops.op}


core = registered()
import tensorflow_text  # noqa: E402,F401  (registers its ops)
print(json.dumps(sorted(registered() - core)))
"""


@functools.lru_cache(maxsize=1)
def tf_text_op_names():
    """The names of the ops TF-Text registers (e.g. `FastWordpieceTokenizeWithOffsets`,
    `TFText>RoundRobinTrim`), as a frozenset. Runs one short Python process (cached).

    Example:

    ```python
    "FastWordpieceTokenizeWithOffsets" in tf_text_op_names()  # True
    "MatMul" in tf_text_op_names()  # False
    ```
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-c", _REGISTRY_DIFF], capture_output=True,
                            text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError("Could not list TF-Text's ops: importing tensorflow_text in a fresh "
                           f"process failed:\n{result.stderr[-2000:]}")
    names = frozenset(json.loads(result.stdout.strip().splitlines()[-1]))
    if not names:
        raise RuntimeError("Importing tensorflow_text registered no op; is the installed "
                           "tensorflow-text built for this TensorFlow version?")
    return names


def graph_op_names(function):
    """Every op type in `function` (a concrete function, a `tf.Graph` or a `GraphDef`): its
    nodes and those of every function in its library, as a sorted list.

    Example:

    ```python
    import tensorflow as tf

    @tf.function(autograph=False)
    def square_plus_one(x):
        return tf.square(x) + 1.0

    ops = graph_op_names(square_plus_one.get_concrete_function(tf.TensorSpec([None])))
    "Square" in ops, "AddV2" in ops  # (True, True)
    ```
    """
    graph_def = function
    if hasattr(graph_def, "graph"):  # a ConcreteFunction
        graph_def = graph_def.graph
    if hasattr(graph_def, "as_graph_def"):  # a tf.Graph / FuncGraph
        graph_def = graph_def.as_graph_def()
    ops = {node.op for node in graph_def.node}
    for function_def in graph_def.library.function:
        ops.update(node.op for node in function_def.node_def)
    # A node may call a library function by name; that is a function, not an op.
    ops -= {function_def.signature.name for function_def in graph_def.library.function}
    return sorted(ops)


def saved_model_op_names(path, signature_name):
    """Every op type that the signature `signature_name` of the SavedModel at `path` can run,
    read from `saved_model.pb` without loading it (so TF-Text need not be importable): the
    nodes its outputs depend on, and every function they call, recursively.

    Example:

    ```python
    import os, tempfile
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)], autograph=False)
    def square(x):
        return {"y": tf.square(x)}

    module = tf.Module()
    module.square = square
    path = os.path.join(tempfile.mkdtemp(), "m")
    tf.saved_model.save(module, path, signatures={"serving_default": square})
    "Square" in saved_model_op_names(path, "serving_default")  # True
    ```
    """
    from tensorflow.core.protobuf import saved_model_pb2

    with open(os.path.join(os.fspath(path), "saved_model.pb"), "rb") as f:
        saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    meta_graph = saved_model.meta_graphs[0]
    if signature_name not in meta_graph.signature_def:
        raise KeyError(f"{path!r} has no signature {signature_name!r}; it has "
                       f"{sorted(meta_graph.signature_def)}.")
    graph = meta_graph.graph_def
    library = {function.signature.name: function for function in graph.library.function}
    nodes = {node.name: node for node in graph.node}
    outputs = meta_graph.signature_def[signature_name].outputs.values()
    pending = [_node_name(tensor.name) for tensor in outputs]
    seen_nodes, seen_functions, ops = set(), set(), set()

    def visit_function(name):
        if name in seen_functions:
            return
        seen_functions.add(name)
        for node in library[name].node_def:
            visit_node(node)

    def visit_node(node):
        if node.op in library:  # a direct call of a library function
            visit_function(node.op)
        else:
            ops.add(node.op)
        for value in node.attr.values():
            called = [value.func] if value.HasField("func") else list(value.list.func)
            for function in called:
                visit_function(function.name)

    while pending:
        name = pending.pop()
        if name in seen_nodes:
            continue
        seen_nodes.add(name)
        node = nodes[name]
        visit_node(node)
        pending.extend(_node_name(source) for source in node.input)
    return sorted(ops)


def _node_name(tensor_name):
    """`"^name"`, `"name:0"` -> `"name"`."""
    return tensor_name.lstrip("^").split(":")[0]
