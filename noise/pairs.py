"""Real-noise pairs: the same documents labelled twice, a low-quality version and a high-quality one, by name.

A pair names its files by their data-registry names (`docrobust data download` fetches and verifies them)
and states the direction: `low` is the version whose errors are measured, `high` the reference. Triples
only in `high` are the low version's false negatives, triples only in `low` its false positives
(docrobust.noise.measure_profile). `docrobust noise profile NAME` measures a pair, and the noise spec
`real:RATE,profile=NAME` applies its measured profile to any corpus.

Registered (each file verified by its full checksum when downloaded):

- `docred-vs-redocred`: DocRED dev's original labels against Re-DocRED dev + test, the same 1,000 Wikipedia
  documents relabelled (Tan et al., 2022); 895 align (same entities), almost all differences are false negatives.
- `revisit-docred`: 96 DocRED dev documents with DocRED's labels after its recommend-revise annotation against
  the same documents labelled from scratch (Huang et al., ACL 2022, github.com/AndrewZhe/Revisit-DocRED).

A biomedical pair (ChemDisGene's distantly derived CTD labels against its curated labels for the same
abstracts) is not registered: its files are stored with git LFS and could not be fetched and checked here;
the README says how to build and measure it by file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from docrobust.base import DocrobustError, Registry
from docrobust.corpus import Doc, load_docs
from docrobust.corpus.data import REGISTRY, resolve_data_dir


@dataclass(frozen=True)
class NoisePair:
    """Two label versions of the same documents, low -> high; files by data-registry name."""
    low: tuple[str, ...]
    high: tuple[str, ...]
    description: str

    @property
    def files(self) -> tuple[str, ...]:
        return self.low + self.high


PAIRS: Registry[NoisePair] = Registry("real-noise pair")
PAIRS.add("docred-vs-redocred", NoisePair(
    ("docred-dev",), ("redocred-dev", "redocred-test"),
    "DocRED dev's original labels vs Re-DocRED dev + test (the same 1,000 documents relabelled)"))
PAIRS.add("revisit-docred", NoisePair(
    ("revisit-docred-revise",), ("revisit-docred-scratch",),
    "96 DocRED dev documents: recommend-revise labels vs labelled from scratch (Revisit-DocRED)"))


def pair_paths(name: str, data_dir: str | os.PathLike | None = None) -> tuple[list[Path], list[Path]]:
    """(low files, high files) of a registered pair in the data folder; DocrobustError saying what to download."""
    pair = PAIRS[name]
    root = resolve_data_dir(data_dir)
    missing = [f for f in pair.files if not (root / REGISTRY[f].path).is_file()]
    if missing:
        raise DocrobustError(f"real-noise pair {name!r}: {', '.join(REGISTRY[f].path for f in missing)} not in {root}; "
                          f"run `docrobust data download {' '.join(missing)}`")
    return [root / REGISTRY[f].path for f in pair.low], [root / REGISTRY[f].path for f in pair.high]


def load_pair(name: str, data_dir: str | os.PathLike | None = None) -> tuple[list[Doc], list[Doc]]:
    """(low documents, high documents) of a registered pair, validated."""
    low, high = pair_paths(name, data_dir)
    return [d for p in low for d in load_docs(p)], [d for p in high for d in load_docs(p)]
