"""DocRE models: the encoder, featurization, the model registry (atlop, docunet, kd-docre) and the losses."""
from . import atlop, docunet, kd_docre  # noqa: F401  (register the models)
from .encoder import encode, load_encoder
from .features import batches_by_length, collate, featurize, featurize_cached
from .registry import MODELS, DocREModel, build_model, register_model

__all__ = ["MODELS", "DocREModel", "batches_by_length", "build_model", "collate", "encode",
           "featurize", "featurize_cached", "load_encoder", "register_model"]
