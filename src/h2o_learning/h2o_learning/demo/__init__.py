"""``h2o-demo`` (``make demo``): collect over DDS, train, export, deploy, report."""
