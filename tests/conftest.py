"""Shared fixtures: the real data folder, and small hand-built DocRED documents."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REAL_FILES = ("redocred/dev_revised.json", "redocred/test_revised.json", "docred/dev.json", "meta/rel2id.json")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real DocRED-family data (DOCROBUST_DATA); tests that need it skip, saying why, when it is absent."""
    root = os.environ.get("DOCROBUST_DATA")
    if not root:
        pytest.skip("DOCROBUST_DATA is not set: real DocRED/Re-DocRED data unavailable")
    path = Path(root)
    missing = [f for f in REAL_FILES if not (path / f).is_file()]
    if missing:
        pytest.skip(f"DOCROBUST_DATA={root} lacks {', '.join(missing)}")
    return path


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
