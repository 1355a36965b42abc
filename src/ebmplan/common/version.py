"""The version, written in one place (pyproject.toml reads it from here)."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed

__version__ = "0.1.0"


def version() -> str:
    """The installed package's version (its metadata), or the source tree's when run uninstalled."""
    try:
        return installed("ebmplan")
    except PackageNotFoundError:
        return __version__
