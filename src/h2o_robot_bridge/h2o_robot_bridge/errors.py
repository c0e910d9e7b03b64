"""Exception hierarchy shared by all h2o packages.

Every error the stack raises on bad input derives from :class:`H2OError`, so a caller (a node,
a CLI) can catch one type and print one clear message.
"""


class H2OError(Exception):
    """Base class of every error raised on purpose by h2o."""


class ConfigError(H2OError, ValueError):
    """A configuration, parameter or profile is missing, unknown or out of range."""


class ContractMismatchError(H2OError):
    """An artifact (dataset, policy, checkpoint) was made for another robot contract."""


class DatasetError(H2OError):
    """A dataset or bag is missing, corrupt, or has the wrong shape, dtype or values."""


class PolicyLoadError(H2OError):
    """An ONNX policy file is missing, corrupt, or does not match the contract."""
