"""Support for the package's tests and benchmarks (no test code of its own): tiny tasks
with a known optimum, small training budgets."""
