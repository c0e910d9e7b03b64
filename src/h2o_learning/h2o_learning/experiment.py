"""``h2o-experiment``: placeholder replaced below."""


def main() -> int:
    return 0
