"""Synthetic noise models: false negatives (fn-*) and false positives (fp-*).

Every model gets the label table, a rate, a numpy Generator and its options, and returns an Edit.
With N = the positive triples of the original input, an fn model removes exactly round(rate * N)
triples and an fp model adds or changes exactly round(rate * N); where that many are not available
it raises DocrobustError instead of quietly doing less.
"""
from __future__ import annotations

import math

import numpy as np

from docrobust.base import DocrobustError, read_json
from docrobust.corpus.pair_types import PairTypes

from .registry import noise_model
from .table import Edit, LabelTable, sample_new_triples, weighted_sample


@noise_model("clean", takes_rate=False)
def clean(table: LabelTable, rate: None, rng: np.random.Generator) -> Edit:
    """No noise: the documents as they are."""
    return Edit()


# ---------------------------------------------------------------- false negatives

@noise_model("fn-uniform", max_rate=1.0)
def fn_uniform(table: LabelTable, rate: float, rng: np.random.Generator) -> Edit:
    """Remove k = round(rate * N) positive triples, every k-subset equally likely."""
    return Edit(remove=weighted_sample(np.ones(len(table)), table.count(rate), rng, "fn-uniform"))


@noise_model("fn-frequency", max_rate=1.0)
def fn_frequency(table: LabelTable, rate: float, rng: np.random.Generator, *, exponent: float = 1.0) -> Edit:
    """Remove k triples, drawn in turn with P(triple of relation r) ∝ n_r ** exponent (n_r: triples of r).

    exponent > 0: frequent relations lose more; < 0: the long tail loses more; 0: fn-uniform.
    """
    n_r = np.bincount(table.r, minlength=len(table.relations)).astype(float)
    return Edit(remove=weighted_sample(n_r[table.r] ** exponent, table.count(rate), rng, "fn-frequency"))


@noise_model("fn-distance", max_rate=1.0)
def fn_distance(table: LabelTable, rate: float, rng: np.random.Generator, *, strength: float = 1.0) -> Edit:
    """Remove k triples, drawn in turn with P(triple) ∝ (1 + d) ** strength.

    d is the smallest sentence distance between a mention of the head and one of the tail (0: the
    pair shares a sentence), so inter-sentence and far-apart pairs are missed more, as annotators do.
    """
    weights = (1.0 + table.sentence_distance) ** strength
    return Edit(remove=weighted_sample(weights, table.count(rate), rng, "fn-distance"))


@noise_model("fn-pair", max_rate=1.0)
def fn_pair(table: LabelTable, rate: float, rng: np.random.Generator) -> Edit:
    """Remove whole entity pairs: visit the labeled (h, t) pairs in uniformly random order and drop all
    their triples until k are gone; the last pair visited loses a uniform subset of its triples, so
    exactly k are removed and at most one pair keeps some of its labels.
    """
    k = table.count(rate)
    if k > len(table):
        raise DocrobustError(f"fn-pair: cannot remove {k} triples, there are only {len(table)}; lower the rate")
    pairs, pair_of_row = np.unique(table.pair, return_inverse=True)
    order = rng.permutation(len(pairs))                       # (p,) pair indices in visiting order
    done = np.cumsum(np.bincount(pair_of_row)[order])         # (p,) triples removed after each pair
    full = int(np.searchsorted(done, k, side="right"))        # pairs removed whole
    remove = np.flatnonzero(np.isin(pair_of_row, order[:full]))
    rest = k - (int(done[full - 1]) if full else 0)
    if rest:
        partial = np.flatnonzero(pair_of_row == order[full])
        remove = np.concatenate([remove, rng.choice(partial, rest, replace=False)])
    return Edit(remove=np.sort(remove))


@noise_model("fn-single-positive", takes_rate=False)
def fn_single_positive(table: LabelTable, rate: None, rng: np.random.Generator) -> Edit:
    """Keep one triple per relation type per document, chosen uniformly; remove the rest.

    The "extremely unlabeled" setting of SSR-PU (DocRED's dev_ext.json); the rate is whatever follows.
    """
    group = table.doc * len(table.relations) + table.r          # (n,) one group per (document, relation)
    order = np.lexsort((rng.random(len(table)), group))         # by group, then a random key
    first = np.ones(len(order), dtype=bool)
    first[1:] = group[order][1:] != group[order][:-1]
    return Edit(remove=np.sort(order[~first]))


# ---------------------------------------------------------------- false positives

def _added(table: LabelTable, doc: np.ndarray, h: np.ndarray, t: np.ndarray, r: np.ndarray) -> list:
    return [(d, a, b, table.relations[c], []) for d, a, b, c in zip(doc.tolist(), h.tolist(), t.tolist(), r.tolist())]


def seen_type_pairs(table: LabelTable) -> np.ndarray:
    """(T, T, R) booleans: whether some labeled triple of relation r joins an entity of type a to one of type b."""
    seen = np.zeros((len(table.type_names),) * 2 + (len(table.relations),), dtype=bool)
    th, tt = table.row_types
    seen[th, tt, table.r] = True
    return seen


def kept_type_pairs(table: LabelTable, pair_types: PairTypes | None) -> np.ndarray:
    """(T, T, 1) booleans: whether the pair-type filter keeps pairs of types (a, b) (all of them without one)."""
    names = table.type_names
    return np.array([[pair_types is None or (a, b) in pair_types for b in names] for a in names],
                    dtype=bool).reshape(len(names), len(names), 1)


@noise_model("fp-uniform")
def fp_uniform(table: LabelTable, rate: float, rng: np.random.Generator, *,
               pair_types: PairTypes | None = None) -> Edit:
    """Add k triples (h, t, r), h != t, drawn uniformly without replacement from all unlabeled ones
    (r among the relations of the corpus; with a pair-type filter, only on the pairs it keeps)."""
    allowed = np.ones((len(table.type_names),) * 2 + (len(table.relations),), dtype=bool)
    allowed &= kept_type_pairs(table, pair_types)
    return Edit(add=_added(table, *sample_new_triples(table, table.count(rate), rng, allowed, "fp-uniform")))


@noise_model("fp-type")
def fp_type(table: LabelTable, rate: float, rng: np.random.Generator, *, pair_types: PairTypes | None = None) -> Edit:
    """Add k plausible wrong triples: uniform without replacement over the unlabeled (h, t, r) whose
    entity types (type(h), type(t)) carry r somewhere in the corpus (and that a pair-type filter keeps)."""
    allowed = seen_type_pairs(table) & kept_type_pairs(table, pair_types)
    return Edit(add=_added(table, *sample_new_triples(table, table.count(rate), rng, allowed, "fp-type")))


@noise_model("fp-flip")
def fp_flip(table: LabelTable, rate: float, rng: np.random.Generator, *, matrix: str | None = None) -> Edit:
    """Give k labeled triples a confusable relation: visit the triples in uniformly random order and
    replace r by r' with P(r' | r) ∝ C[r, r'] over the r' not labeled on that pair (now, before this step's
    flips, or in the clean input), until k are changed (triples with no such r' are skipped).

    C is read from `matrix` (JSON {r: {r': weight}}) or estimated from the corpus as
    C[r, r'] = sum over entity-type pairs τ of n(τ, r) * n(τ, r'), r' != r: relations that join
    the same kinds of entities are the ones annotators confuse.
    """
    k = table.count(rate)
    relations, C = _confusion(table, matrix)                   # (R',), (R', R')
    conf = np.array([relations.index(r) for r in table.relations], dtype=np.int64)  # table code -> row of C
    code = conf[table.r]                                                              # (n,)
    on_pair: dict[int, set[int]] = {}   # relations a pair may not get: its labels now and its clean ones
    taken = table.taken_keys
    for p, c in zip((taken // len(table.relations)).tolist(), conf[taken % len(table.relations)].tolist()):
        on_pair.setdefault(p, set()).add(c)
    order, u = rng.permutation(len(table)), rng.random(len(table))
    flip, flip_to = [], []
    for row in order.tolist():
        if len(flip) == k:
            break
        here = on_pair[int(table.pair[row])]
        w = C[code[row]].copy()
        w[list(here)] = 0.0
        if w.sum() <= 0:
            continue
        cum = np.cumsum(w)
        new = int(np.searchsorted(cum, u[row] * cum[-1], side="right"))
        here.add(new)  # the old relation stays taken: giving it back to another triple would make a true label
        flip.append(row)
        flip_to.append(relations[new])
    if len(flip) < k:
        raise DocrobustError(f"fp-flip: cannot change {k} triples, only {len(flip)} have a confusable relation free "
                          "on their pair; lower the rate")
    order = np.argsort(flip)
    return Edit(flip=np.array(flip, dtype=np.int64)[order], flip_to=[flip_to[i] for i in order])


def read_confusion(path: str, relations: list[str] | None = None) -> dict[str, dict[str, float]]:
    """An fp-flip matrix file {r: {r': weight}}, checked: finite weights >= 0 and, given a relation inventory,
    only relations it has (a flip to any other would put a relation outside the data into it)."""
    obj = read_json(path)
    if not (isinstance(obj, dict) and all(isinstance(row, dict) for row in obj.values()) and all(
            isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and w >= 0
            for row in obj.values() for w in row.values())):
        raise DocrobustError(f"{path}: expected a JSON object {{relation: {{relation: finite weight >= 0}}}}")
    named = sorted(set(obj) | {r for row in obj.values() for r in row})
    unknown = [r for r in named if relations is not None and r not in relations]
    if unknown:
        raise DocrobustError(f"{path}: relation {unknown[0]!r} is not in the relation inventory ({len(unknown)} such)")
    return obj


def _confusion(table: LabelTable, path: str | None) -> tuple[list[str], np.ndarray]:
    """Relation ids and the confusion weights C (zero diagonal) from a file or from the corpus."""
    if path is None:
        th, tt = table.row_types
        n_types = len(table.type_names)
        counts = np.zeros((n_types * n_types, len(table.relations)))   # (τ, R): n(τ, r)
        np.add.at(counts, (th * n_types + tt, table.r), 1.0)
        C = counts.T @ counts                                           # (R, R)
        np.fill_diagonal(C, 0.0)
        return list(table.relations), C
    obj = read_confusion(path)
    relations = sorted(set(table.relations) | set(obj) | {r for row in obj.values() for r in row})
    index = {r: i for i, r in enumerate(relations)}
    C = np.zeros((len(relations), len(relations)))
    for r, row in obj.items():
        for r2, w in row.items():
            C[index[r], index[r2]] = w
    np.fill_diagonal(C, 0.0)
    return relations, C
