# h2o: two commands for a fresh machine (see README.md).
#   make demo   set up the venv, then run the main job
#   make test   set up the venv, then run every test
VENV ?= .venv
export VENV

.PHONY: setup demo test lint bench bench-setup parity clean

setup:
	@bash scripts/setup_venv.sh

test: setup
	@bash scripts/run_tests.sh

demo: setup
	@bash scripts/demo.sh

lint: setup
	@$(VENV)/bin/ruff check .

# Every speed benchmark (the learner parity study is long and has its own target).
bench: setup
	@for b in bench/*.py; do [ "$$b" = bench/learner_parity.py ] && continue; \
	  echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

bench-setup:
	@bash scripts/setup_venv.sh --bench

# Our CQL/SAC against d3rlpy's (~45 min on 2 cores): docs/results/learner_parity.md.
parity: bench-setup
	@$(VENV)/bin/python bench/learner_parity.py $(PARITY_ARGS)

clean:
	rm -rf build install log
