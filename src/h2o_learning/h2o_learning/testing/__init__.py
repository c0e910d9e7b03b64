"""Support for tests and benchmarks of the learners: tiny tasks with a known optimum."""
