"""A noise-model plugin: an annotator who overlooks whole entities (load it with `--plugin` or [plugins]).

fn-entity:RATE removes k = round(rate * N) triples: it visits the labelled entities of every document in
uniformly random order and drops each triple the first time its head or tail is visited, until k are gone;
the last entity visited loses a uniform subset of its remaining triples, so exactly k are removed.
"""
from __future__ import annotations

import numpy as np

from docrobust.base import DocrobustError
from docrobust.noise import noise_model
from docrobust.noise.table import Edit, LabelTable


@noise_model("fn-entity", max_rate=1.0)
def fn_entity(table: LabelTable, rate: float, rng: np.random.Generator) -> Edit:
    """Remove k triples by overlooking whole entities, visited in random order (the last one partly)."""
    k = table.count(rate)
    if k > len(table):
        raise DocrobustError(f"fn-entity: cannot remove {k} triples, there are only {len(table)}; lower the rate")
    n = len(table)
    entities, index = np.unique(np.stack([np.concatenate([table.doc, table.doc]),
                                          np.concatenate([table.h, table.t])]), axis=1, return_inverse=True)
    visit = rng.permutation(entities.shape[1])[index.ravel()]                  # (2n,) visit step of each end
    first = np.minimum(visit[:n], visit[n:])                                   # (n,) when a triple goes
    order = np.lexsort((rng.random(n), first))                                 # ties: uniform within an entity
    return Edit(remove=np.sort(order[:k]))
