"""Test support shared by the package's tests (no test code of its own)."""
