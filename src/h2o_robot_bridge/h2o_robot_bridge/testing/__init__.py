"""Support for tests, benchmarks and the demo: processes, a fake robot, synthetic data."""
