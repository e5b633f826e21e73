"""Shared fixtures: the real data folder, small hand-built DocRED documents, and a synthetic results folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REAL_FILES = ("redocred/dev_revised.json", "redocred/test_revised.json", "docred/dev.json", "meta/rel2id.json")


def in_ci() -> bool:
    """CI sets CI=true (so does .ci/run): there a test that cannot find its real data fails instead of skipping."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def no_real_data(reason: str) -> None:
    """Skip a real-data test, saying why; under CI fail it, since CI runs with the data beside the checkout."""
    if in_ci():
        pytest.fail(f"CI=true, and the real data is missing: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real DocRED-family data (DOCROBUST_DATA) for tests of the real files; when it is absent they skip,
    saying why (and fail under CI). Tests that need only some documents build them (make_doc, make_corpus)."""
    root = os.environ.get("DOCROBUST_DATA")
    if not root:
        no_real_data("DOCROBUST_DATA is not set: real DocRED/Re-DocRED data unavailable")
    path = Path(root)
    missing = [f for f in REAL_FILES if not (path / f).is_file()]
    if missing:
        no_real_data(f"DOCROBUST_DATA={root} lacks {', '.join(missing)}")
    return path


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the `docrobust` console entry point run in this process."""
    from docrobust.bench.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def make_doc(title: str = "Doc", n_entities: int = 4, labels: list[tuple[int, int, str]] = (), n_sents: int = 2) -> dict:
    """A small valid document: entity i is mentioned once, in sentence i % n_sents, as token i."""
    sents = [[f"w{s}_{k}" for k in range(max(n_entities, 3))] for s in range(n_sents)]
    vertex = [[{"name": f"E{i}", "sent_id": i % n_sents, "pos": [i, i + 1], "type": "PER" if i % 2 else "LOC"}]
              for i in range(n_entities)]
    return {"title": title, "sents": sents, "vertexSet": vertex,
            "labels": [{"h": h, "t": t, "r": r, "evidence": [0]} for h, t, r in labels]}


@pytest.fixture
def small_docs() -> list[dict]:
    return [make_doc("A", 4, [(0, 1, "P1"), (1, 2, "P2"), (2, 3, "P1")]),
            make_doc("B", 5, [(0, 2, "P1"), (3, 4, "P3")]),
            make_doc("C", 3, [(1, 0, "P2")])]


def make_corpus(n_docs: int, relations: tuple[str, ...] = ("P1", "P2", "P3"), seed: int = 0,
                prefix: str = "D") -> list[dict]:
    """`n_docs` varied valid documents: 4-9 entities of two types in 3-5 sentences, 1-6 distinct labels each."""
    import random

    rng = random.Random(seed)
    docs = []
    for i in range(n_docs):
        n_ent, n_sents = rng.randint(4, 9), rng.randint(3, 5)
        pairs = [(h, t) for h in range(n_ent) for t in range(n_ent) if h != t]
        labels = sorted({(h, t, rng.choice(relations)) for h, t in rng.sample(pairs, rng.randint(1, 6))})
        docs.append(make_doc(f"{prefix}{i}", n_ent, labels, n_sents))
    return docs


@pytest.fixture(scope="session")
def some_data_dir(tmp_path_factory) -> Path:
    """A data folder laid out like the real one, holding hand-built documents, for tests that need some
    documents (and their relation files) in the usual places rather than the real ones; needs no DOCROBUST_DATA.

    redocred/dev_revised.json (60 documents), redocred/test_revised.json (40), docred/dev.json (the same 100
    titles with every third label dropped), docred/train_annotated.fact, meta/rel2id.json, meta/rel_info.json.
    """
    import json

    root = tmp_path_factory.mktemp("some_data")
    relations = ("P1", "P2", "P3", "P4")
    dev, test = make_corpus(60, relations, seed=1, prefix="dev"), make_corpus(40, relations, seed=2, prefix="test")
    low = [{**d, "labels": d["labels"][::3]} for d in dev + test]
    facts = sorted({(d["vertexSet"][lab["h"]][0]["name"], d["vertexSet"][lab["t"]][0]["name"], lab["r"])
                    for d in dev[:20] for lab in d["labels"]})
    files = {"redocred/dev_revised.json": dev, "redocred/test_revised.json": test, "docred/dev.json": low,
             "docred/train_annotated.fact": facts, "meta/rel2id.json": {"Na": 0, **{r: i + 1 for i, r in enumerate(relations)}},
             "meta/rel_info.json": {r: f"relation {r[1:]}" for r in relations}}
    for name, value in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(json.dumps(value), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    """A synthetic results folder (test_reports.make_results: 2 models × 2 losses × clean and 2 noise rates × 2 seeds,
    the last cell failed), one per module, for test_reports and test_reports_render."""
    from test_reports import make_results

    return make_results(tmp_path_factory.mktemp("results") / "run")
