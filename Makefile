# The two commands: `make demo` (train CPSN on the bundled digits) and `make test`.
# Each creates or updates the local virtual environment .venv from the pinned requirements.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test sanitize venv clean

venv: $(STAMP)

$(STAMP): requirements/torch.txt requirements/dev.txt setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements/torch.txt
	$(PY) -m pip install -q -r requirements/dev.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m spikingjelly_mulfree.train

test: $(STAMP)
	$(PY) -m pytest -q

# The kernel, integer, backend and neuron tests on host builds with AddressSanitizer and UBSan
# (a separate cached library); `make test` runs the direct kernel tests so
# (tests/kernels/test_kernel_sanitized.py). libasan must be loaded first, and libstdc++ before
# the C++ exceptions torch's imports throw; nvcc, run by one test, would inherit the preload.
SANITIZE_FLAGS := -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
sanitize: $(STAMP)
	SPIKINGJELLY_MULFREE_CXXFLAGS="$(SANITIZE_FLAGS)" ASAN_OPTIONS=detect_leaks=0 \
	UBSAN_OPTIONS=print_stacktrace=1 \
	LD_PRELOAD="$$(g++ -print-file-name=libasan.so) $$(g++ -print-file-name=libstdc++.so)" \
	$(PY) -m pytest -q -p no:cacheprovider tests/kernels tests/integer tests/backends \
	tests/neuron -k "not nvcc and not sanitizers"

clean:
	rm -rf $(VENV) build *.egg-info
