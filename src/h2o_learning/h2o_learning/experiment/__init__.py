"""``h2o-experiment``: the grid of methods x gaps x datasets x seeds, and its report."""
