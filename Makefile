# h2o: two commands for a fresh machine (see README.md).
#   make demo   set up the venv, then run the main job
#   make test   set up the venv, then run every test
VENV ?= .venv
export VENV

.PHONY: setup demo test lint bench clean

setup:
	@bash scripts/setup_venv.sh

test: setup
	@bash scripts/run_tests.sh

demo: setup
	@bash scripts/demo.sh

lint: setup
	@$(VENV)/bin/ruff check .

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf build install log
