# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates .venv on first use and installs into it; a stamp per extra keeps a second
# run from reinstalling anything unless pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test slow bench lint clean finetune-real

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed-%: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[$*]"
	touch $@

demo: $(VENV)/.installed-demo
	$(PY) -m keras_bert_impl.cli demo

# The model code is backend-agnostic: its layer and model tests run again on JAX (not the
# input checks and dynamic padding, which act on host data and tf.data before the backend, nor
# tests marked tensorflow_only: raw-text preprocessing, which runs in tf.data on every backend),
# and the GPU benchmark's own tests (its patches act on the JAX code paths).
BACKEND_TESTS := tests/layers $(filter-out %/test_input_checks.py %/test_dynamic_padding.py,\
	$(wildcard tests/models/test_*.py)) tests/benchmarks/test_gpu_train_step.py

# pytest-xdist: one worker per core (`-n auto`), tests handed out as workers free up.
XDIST := -n auto --dist worksteal

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q $(XDIST) --durations=25
	KERAS_BACKEND=jax $(PY) -m pytest -q $(XDIST) --durations=15 -m "not slow and not tensorflow_only" \
		$(BACKEND_TESTS)

slow: $(VENV)/.installed-dev
	$(PY) -m pytest -q $(XDIST) -m slow

# Every benchmark against its peers in one run; writes benchmarks/results/<machine>.json and .md
# (`$(PY) -m benchmarks --quick` for tiny sizes, or name some: `-m benchmarks encoder serving`).
bench: $(VENV)/.installed-bench
	$(PY) -m benchmarks

# Fine-tunes the real pretrained MiniLM on SST-2, MRPC, BBC News, CoNLL-2003 and SQuAD (about
# three to four hours on 2 CPU cores); figures go to runs/real/<task>/metrics.json.
finetune-real: $(VENV)/.installed-dev
	PATH=$(VENV)/bin:$$PATH examples/finetune_real_data.sh runs/real

# A real linter plus the layering test (one way down, no import circles).
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check keras_bert_impl tests benchmarks examples
	$(PY) -m pytest -q tests/test_layering.py

clean:
	rm -rf $(VENV) runs/demo
