"""docrobust: a robustness benchmark and label-noise injection suite for document-level relation extraction.

The Python API, named as the commands are (README: Python API):

    import docrobust as dr
    docs = dr.load_docs("dev.json")                              # validated DocRED documents
    noisy, manifest = dr.generate(docs, "fn-uniform:0.4", seed=0)  # `noise generate`: noisy copies, every change
    preds = dr.predict("runs/atl/checkpoint.pt", docs)           # `predict`: the official prediction format
    scores = dr.score(docs, preds, train_facts)                  # `score`: DocRED's official metric
    cells = dr.load_results("results/quick")                     # one pandas row per cell of `bench run`

Each name is imported from its package on first use (PEP 562), so `import docrobust` and its torch-free layers
(base, corpus, noise, reports) import neither torch nor pandas until a name that needs them is used.
"""
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("docrobust")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

# API name -> (module, name there)
_API = {
    "load_docs": ("docrobust.corpus", "load_docs"),
    "save_docs": ("docrobust.corpus", "save_docs"),
    "load_train_facts": ("docrobust.corpus", "load_train_facts"),
    "generate": ("docrobust.noise", "apply_noise"),
    "score": ("docrobust.corpus", "score"),
    "load_checkpoint": ("docrobust.models.checkpoint", "load_checkpoint"),
    "predict": ("docrobust.models.checkpoint", "predict_docs"),
    "load_results": ("docrobust.reports.api", "results_table"),
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _API[name]
    return getattr(import_module(module), attribute)


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
