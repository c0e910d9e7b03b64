# h2o: two commands for a fresh machine (see README.md).
#   make demo   set up the venv, then run the main job
#   make test   set up the venv, then run every test
VENV ?= .venv
export VENV

.PHONY: setup demo test lint bench bench-setup parity stress clean

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

# The system tests STRESS_ROUNDS times under STRESS_HOGS busy processes: failures per test.
STRESS_ROUNDS ?= 5
STRESS_HOGS ?= 1
stress: setup
	@export PATH="$$PWD/$(VENV)/bin:$$PATH"; colcon build --symlink-install \
	  --event-handlers console_cohesion- 2>&1 | tail -n 1; \
	  $(VENV)/bin/python scripts/stress.py --rounds $(STRESS_ROUNDS) --hogs $(STRESS_HOGS) \
	  -- $(STRESS_ARGS)

clean:
	rm -rf build install log
