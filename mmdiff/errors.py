"""Errors raised by mmdiff.

Every error says what was expected and what was found, and names the file, key or shape at
fault, so that a learner can fix the input without reading the source.
"""


class MmdiffError(Exception):
    """Base class of every error the kit raises on purpose."""


class DataError(MmdiffError, ValueError):
    """A data file or array is missing, unsafe, malformed or inconsistent."""


class CheckpointError(MmdiffError, ValueError):
    """A checkpoint file does not match the model it is loaded into."""


class ConfigError(MmdiffError, ValueError):
    """A configuration file or override is invalid (unknown key, wrong type)."""
