"""Label-noise injection for DocRED-format corpora: synthetic FN/FP models, real noise, manifests, replay.

    noisy, manifest = apply_noise(docs, "fn-uniform:0.3+fp-type:0.1", seed=0)
    assert replay(docs, manifest) == noisy
"""
from . import annotator, models, real  # noqa: F401  (registers the models)
from .apply import (ManifestBuilder, apply_changes, apply_noise, check_spec, manifest_path, read_noisy, replay,
                    write_noisy)
from .real import measure_profile
from .registry import (NOISE_MODELS, NoiseModel, NoiseStep, describe_spec, needs_low_docs, needs_profile, noise_model,
                       normalize_spec, parse_spec, spec_files)

__all__ = ["ManifestBuilder", "NOISE_MODELS", "NoiseModel", "NoiseStep", "apply_changes", "apply_noise", "check_spec",
           "describe_spec", "manifest_path", "measure_profile", "needs_low_docs", "needs_profile", "noise_model",
           "normalize_spec", "parse_spec", "read_noisy", "replay", "spec_files", "write_noisy"]
