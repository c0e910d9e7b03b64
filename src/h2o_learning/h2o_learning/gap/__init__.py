"""When to trust the simulator: the one-tick replay gap of real data, and calibration.

- :mod:`.state`: the simulator state behind an observation (and what it cannot hold);
- :mod:`.replay`: the sim's prediction of every real s' through the env's control tick;
- :mod:`.metrics`: per-element, per-transition and per-region gap numbers;
- :mod:`.discriminator`: H2O's u and w on the same transitions;
- :mod:`.report`, :mod:`.plots`: ``h2o-gap report``'s files;
- :mod:`.calibrate`: ``h2o-gap calibrate`` (CMA-ES on the replay gap);
- :mod:`.cli`: the ``h2o-gap`` console script.
"""
