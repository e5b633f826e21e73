"""docrobust: a robustness benchmark and label-noise injection suite for document-level relation extraction."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("docrobust")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"
