"""The one source of the version: pyproject.toml reads it, `modelgate --version` prints it."""

__version__ = "0.1.0"
