"""The label-error auditor (`docrobust audit`): cross-fitting never scores a document with a model trained on it,
the ranked lists beat a random ranking on injected noise with a real (tiny) encoder, `audit apply` writes a file
that replays from its manifest without touching its input, `audit score` counts right, and the review page renders
in headless Chromium with the entities highlighted; a fold trains exactly as `train()` does."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess

import numpy as np
import pytest
from conftest import in_ci, make_corpus
from tiny_encoder import tiny_encoder_dir  # noqa: F401

from docrobust.audit import (all_pairs, assign_folds, context, cross_fit, list_metrics, read_audit, run_audit,
                             score_audit, truth_from_docs)
from docrobust.bench.cli import main
from docrobust.corpus import RelationInventory, load_docs, save_docs
from docrobust.noise import read_noisy, replay
from docrobust.reports.pdf_report import chromium

RELATIONS = RelationInventory(("P1", "P2", "P3"))


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(a positive outscores a negative), ties counting one half."""
    pos, neg = scores[positive], scores[~positive]
    return float(((pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean()))


class Memorizer:
    """A model that memorizes its training labels: margin +5 on a label it saw, -5 on a pair it saw without that
    label, and for a document it never saw, noise. Records which documents each fold trained on and scored."""

    def __init__(self, docs: list[dict]):
        self.docs, self.trained, self.scored = docs, {}, {}

    def fit(self, fold: int, train_idx: np.ndarray):
        seen = set(train_idx.tolist())
        self.trained[fold] = seen
        rng = np.random.default_rng(fold)

        def score(idx: np.ndarray) -> list[np.ndarray]:
            self.scored.setdefault(fold, []).extend(idx.tolist())
            out = []
            for i in idx.tolist():
                labels = doc_matrix(self.docs[i])
                out.append(np.where(labels, 5.0, -5.0) if i in seen else rng.normal(size=labels.shape))
            return out
        return score


def doc_matrix(doc: dict) -> np.ndarray:
    from docrobust.audit import doc_labels

    return doc_labels(doc, RELATIONS, len(all_pairs(len(doc["vertexSet"]))))


def test_cross_fitting_never_scores_a_document_with_a_model_trained_on_it():
    docs = make_corpus(30, RELATIONS.ids, seed=3)
    memorizer = Memorizer(docs)
    fold_of = assign_folds(len(docs), 5, seed=0)
    out_of_fold = cross_fit(fold_of, memorizer.fit)
    scored = [i for fold in memorizer.scored.values() for i in fold]
    assert sorted(scored) == list(range(len(docs)))                       # every document scored exactly once
    for fold, idx in memorizer.scored.items():
        assert not memorizer.trained[fold] & set(idx), f"fold {fold} scored documents it trained on"
        assert set(idx) == set(np.flatnonzero(fold_of == fold).tolist())
    labels = np.concatenate([doc_matrix(d) for d in docs]).ravel()
    in_fold = np.concatenate(memorizer.fit(0, np.arange(len(docs)))(np.arange(len(docs)))).ravel()
    assert auroc(in_fold, labels) == 1.0                                    # the memorizer is perfect on what it saw
    assert 0.35 < auroc(np.concatenate(out_of_fold).ravel(), labels) < 0.65  # and knows nothing out of fold
    assert np.bincount(fold_of).tolist() == [6] * 5


def test_the_audit_folder_holds_out_of_fold_scores_only(tmp_path):
    docs = make_corpus(30, RELATIONS.ids, seed=4)
    run_audit(docs, RELATIONS, None, tmp_path / "audit", folds=3, fit=Memorizer(docs).fit)
    audit = read_audit(tmp_path / "audit")
    assert auroc(audit.margins.ravel(), audit.labels.ravel()) < 0.65
    with open(tmp_path / "audit" / "suspicious.csv", newline="") as f:
        assert sum(1 for _ in csv.DictReader(f)) == sum(len(d["labels"]) for d in docs)  # every label ranked


def test_an_interrupted_audit_trains_only_the_folds_it_had_not_done(tmp_path):
    from docrobust.audit import resumable

    docs = make_corpus(20, RELATIONS.ids, seed=7)
    fold_of = assign_folds(len(docs), 4, seed=0)
    fitted = []

    def fit(fold, train_idx, fail_at=None):
        if fold == fail_at:
            raise KeyboardInterrupt
        fitted.append(fold)
        return lambda idx: [np.full(doc_matrix(docs[i]).shape, fold + i / 100) for i in idx.tolist()]
    with pytest.raises(KeyboardInterrupt):
        cross_fit(fold_of, resumable(lambda k, t: fit(k, t, fail_at=2), tmp_path / "folds", "key"))
    assert fitted == [0, 1]
    resumed = cross_fit(fold_of, resumable(fit, tmp_path / "folds", "key"))
    assert fitted == [0, 1, 2, 3]                                   # folds 0 and 1 read back, not trained again
    assert all(np.array_equal(a, b) for a, b in zip(resumed, cross_fit(fold_of, fit)))   # as if never interrupted
    del fitted[:]
    cross_fit(fold_of, resumable(fit, tmp_path / "folds", "other settings"))
    assert fitted == [0, 1, 2, 3]                                   # other settings: nothing reused


def test_folds_need_two_to_n_documents():
    from docrobust.base import DocrobustError

    for folds in (1, 31):
        with pytest.raises(DocrobustError, match="--folds"):
            assign_folds(30, folds, seed=0)


# ----------------------------------------------------------------------------- a real learning check

# Measured with the tiny random encoder (frozen, span pooling) on the first 40 Re-DocRED dev documents with
# fn-uniform:0.3+fp-type:0.2, 5 folds, 10 epochs, head lr 1e-2 (30 s): missing-label candidates precision@1,000 0.60%
# and average precision 0.0059 against a base rate of 0.027% (22x both); suspicious labels average precision 0.33
# against a base rate of 0.22 (1.5x; a random encoder tells type-consistent wrong labels apart poorly). The bars are
# a quarter of the candidates' margin and a little under the suspicious list's.
TINY_AUDIT = ["--folds", "5", "--epochs", "10", "--lr-head", "1e-2", "--max-len", "512", "--num-threads", "1", "--quiet"]


@pytest.mark.slow
def test_audit_precision_beats_a_random_ranking_on_injected_noise(data_dir, tiny_encoder_dir, tmp_path, capsys,  # noqa: F811
                                                                  monkeypatch):
    monkeypatch.setenv("DOCROBUST_CACHE", str(tmp_path / "cache"))
    save_docs(load_docs(data_dir / "redocred/dev_revised.json")[:40], tmp_path / "clean.json")
    run_cli(["--data-dir", str(data_dir), "noise", "generate", str(tmp_path / "clean.json"),
             "--spec", "fn-uniform:0.3+fp-type:0.2", "--seed", "0", "--out", str(tmp_path / "noisy.json")])
    run_cli(["--data-dir", str(data_dir), "audit", str(tmp_path / "noisy.json"), "--out", str(tmp_path / "audit"),
             "--encoder", str(tiny_encoder_dir), *TINY_AUDIT])
    capsys.readouterr()
    run_cli(["--data-dir", str(data_dir), "audit", "score", str(tmp_path / "noisy.json"), str(tmp_path / "audit"),
             "--manifest", str(tmp_path / "noisy.manifest.json"), "--json"])
    result = json.loads(capsys.readouterr().out)
    cand, susp = result["candidates"], result["suspicious"]
    rng = np.random.default_rng(0)
    audit = read_audit(tmp_path / "audit")
    random_hits = rng.permutation(audit.labels.size - audit.labels.sum())[:1000] < cand["true"]
    assert cand["precision@1,000"] >= 5 * max(cand["base_rate"], random_hits.mean()), result
    assert cand["average_precision"] >= 5 * cand["base_rate"], result
    assert susp["average_precision"] >= 1.25 * susp["base_rate"], result


def test_a_fold_trains_as_train_does(tiny_encoder_dir, tmp_path):  # noqa: F811
    """The folds train through the trainer's own pieces: a fine-tuning fold 0 fitted on every document gives the
    margins train() gives on them (one epoch, so its best epoch is its last; same seed), to the bit."""
    import torch

    from docrobust.audit.folds import FoldTrainer
    from docrobust.models.loop import torch_threads
    from docrobust.models.train import TrainConfig, train

    docs = make_corpus(6, RELATIONS.ids, seed=2)
    config = TrainConfig(encoder=str(tiny_encoder_dir), epochs=1, model_options={"emb_size": 128, "block_size": 16},
                         lr_encoder=1e-3, lr_head=3e-3, max_len=512, progress=False, num_threads=1,
                         freeze_encoder=False, save_train_logits=True)
    train(config, docs, docs, relations=RELATIONS, out_dir=tmp_path / "train")
    z = torch.load(tmp_path / "train" / "train_logits.pt")                       # [pairs, 1 + R]
    every = np.arange(len(docs))
    with torch_threads(1):   # as train(): the same thread count, so the same sums
        margins = np.concatenate(FoldTrainer(config, docs, RELATIONS).fit(0, every)(every))
    assert np.array_equal(margins, (z[:, 1:] - z[:, :1]).numpy())              # ATL's threshold: column 0


# ----------------------------------------------------------------------------- apply, score, the page

def run_cli(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0


@pytest.fixture
def audited(tmp_path) -> tuple:
    """A training file of hand-built documents and an audit of it by a fixed scorer (margins drawn per cell)."""
    docs = make_corpus(12, RELATIONS.ids, seed=5)
    save_docs(docs, tmp_path / "train.json")
    rng = np.random.default_rng(0)

    def fit(fold, train_idx):
        return lambda idx: [rng.normal(size=doc_matrix(docs[i]).shape) for i in idx.tolist()]
    run_audit(docs, RELATIONS, None, tmp_path / "audit", folds=3, fit=fit, source=tmp_path / "train.json")
    return tmp_path / "train.json", tmp_path / "audit"


def read_rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_apply_replays_from_its_manifest_and_never_touches_its_input(audited, tmp_path):
    train, audit = audited
    before = hashlib.sha256(train.read_bytes()).hexdigest()
    run_cli(["audit", "apply", str(train), str(audit), "--add-top", "5", "--drop-below", "0", "--out",
             str(tmp_path / "fixed.json")])
    assert hashlib.sha256(train.read_bytes()).hexdigest() == before
    fixed, manifest = read_noisy(tmp_path / "fixed.json")
    assert replay(load_docs(train), manifest) == fixed
    candidates, suspicious = read_rows(audit / "candidates.csv"), read_rows(audit / "suspicious.csv")
    added = {(ti, h, t, r) for ti, h, t, r, _ in manifest["steps"][1]["added"]}
    removed = {tuple(row) for row in manifest["steps"][0]["removed"]}
    assert added == {(c["title"], int(c["h_idx"]), int(c["t_idx"]), c["r"]) for c in candidates[:5]}
    assert removed == {(s["title"], int(s["h_idx"]), int(s["t_idx"]), s["r"]) for s in suspicious if float(s["score"]) < 0}
    assert manifest["positives_after"] == manifest["positives_before"] - len(removed) + 5
    labels = {(d["title"], lab["h"], lab["t"], lab["r"]) for d in fixed for lab in d["labels"]}
    assert added <= labels and not removed & labels


def test_apply_refuses_another_file_an_input_as_output_and_a_list_too_short(audited, tmp_path, capsys):
    train, audit = audited
    other = tmp_path / "other.json"
    save_docs(make_corpus(12, RELATIONS.ids, seed=6), other)
    cases = [([str(other), str(audit), "--add-top", "1", "--out", str(tmp_path / "x.json")], "is not the file audited"),
             ([str(train), str(audit), "--add-top", "1", "--out", str(train)], "is the input"),
             ([str(train), str(audit), "--add-top", "10000000", "--out", str(tmp_path / "y.json")], "--top"),
             ([str(train), str(audit), "--out", str(tmp_path / "z.json")], "--add-top K")]
    for argv, message in cases:
        with pytest.raises(SystemExit) as e:
            main(["audit", "apply", *argv])
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and len(err.splitlines()) == 1 and message in err, err


def test_list_metrics_count_right():
    m = list_metrics(np.array([5, 3, 9, 1]), np.array([1, 3, 7]), 3)   # cell 7 is a true error the list lacks
    assert m["precision@n_true"] == pytest.approx(1 / 3) and m["recall@n_true"] == pytest.approx(1 / 3)
    assert m["precision@100"] == pytest.approx(2 / 4) and m["recall@100"] == pytest.approx(2 / 3)
    assert m["average_precision"] == pytest.approx((1 / 2 + 2 / 4) / 3) and m["base_rate"] == pytest.approx(3 / 4)


def test_score_against_better_labels_finds_what_they_add(audited):
    train, audit_dir = audited
    docs = load_docs(train)
    audit = read_audit(audit_dir, train)
    # the truth: every label kept, plus the audit's own top 3 candidates, minus the most suspicious label
    top = read_rows(audit_dir / "candidates.csv")[:3]
    worst = read_rows(audit_dir / "suspicious.csv")[0]
    truth = [dict(d, labels=[lab for lab in d["labels"] if (d["title"], lab["h"], lab["t"], lab["r"]) !=
                             (worst["title"], int(worst["h_idx"]), int(worst["t_idx"]), worst["r"])]
                  + [{"h": int(c["h_idx"]), "t": int(c["t_idx"]), "r": c["r"], "evidence": []}
                     for c in top if c["title"] == d["title"]]) for d in docs]
    missing, wrong, titles = truth_from_docs(docs, truth)
    result = score_audit(audit, missing, wrong, titles)
    assert result["candidates"]["precision@n_true"] == 1.0 and result["candidates"]["true"] == 3
    assert result["suspicious"]["precision@n_true"] == 1.0 and result["suspicious"]["average_precision"] == 1.0


def test_context_shows_shared_sentences_or_the_closest_pair():
    doc = {"sents": [["A", "met", "B", "."], ["C", "left", "."], ["Then", "A", "saw", "C", "."]],
           "vertexSet": [[{"name": "A", "sent_id": 0, "pos": [0, 1]}, {"name": "A", "sent_id": 2, "pos": [1, 2]}],
                         [{"name": "B", "sent_id": 0, "pos": [2, 3]}], [{"name": "C", "sent_id": 1, "pos": [0, 1]}]]}
    assert context(doc, 0, 1) == ([0], [[("A", "h"), ("met", None), ("B", "t"), (".", None)]])
    assert context(doc, 1, 2)[0] == [0, 1]          # no shared sentence: the closest pair
    assert context(doc, 2, 0)[0] == [0, 1]          # ties between equally close pairs: the earliest
    assert context(doc, 0, 2)[1][0][0] == ("A", "h") and ("C", "t") in context(doc, 0, 2)[1][1]


needs_chromium = pytest.mark.skipif(chromium() is None and not in_ci(), reason="chromium is not installed")


@pytest.mark.slow
@needs_chromium
def test_the_review_page_renders_in_headless_chromium_with_highlighted_entities(audited, tmp_path):
    _, audit = audited
    page = audit / "audit.html"
    assert "<script src" not in page.read_text() and "http" not in page.read_text().replace("http-equiv", "")
    dom = subprocess.run([chromium() or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          page.resolve().as_uri() + "#relation=P2&sort=asc"],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "LANG": "C"}).stdout
    from html.parser import HTMLParser

    class Rows(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.marks, self.table = [], [], None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "table":
                self.table = a.get("id")
            if tag == "tr" and "data-r" in a:
                self.rows.append((self.table, a["data-r"], float(a["data-score"]), "hidden" in a))
            if tag == "mark" and self.rows:
                self.marks.append((len(self.rows) - 1, a.get("class")))
    parser = Rows()
    parser.feed(dom)
    assert parser.rows, dom[:500]
    shown = [r for r in parser.rows if not r[3]]
    assert shown and all(r[1] == "P2" for r in shown)                       # filtered by relation by the script
    assert all(r[3] for r in parser.rows if r[1] != "P2")
    for table in ("candidates", "suspicious"):
        scores = [r[2] for r in parser.rows if r[0] == table]
        assert scores == sorted(scores)                                     # sorted by score, ascending
    assert {"h", "t"} <= {cls for _, cls in parser.marks}
    rows_with_both = {i for i, cls in parser.marks if cls == "h"} & {i for i, cls in parser.marks if cls == "t"}
    assert len(rows_with_both) >= len(parser.rows) // 2


def test_fine_tune_takes_its_own_defaults_and_the_options_still_win(tmp_path, monkeypatch):
    """--fine-tune trains the encoder with the settings of the measured GPU audit (the model's own head, head lr 1e-4,
    10 epochs), not the frozen head's 128/16 at 3e-3; options given on the command line override either."""
    import docrobust.bench.commands.audit as audit_command
    configs = []

    def record(docs, relations, config, out_dir, **kwargs):
        configs.append(config)
        return {"counts": {"documents": 0, "pairs": 0, "labels": 0, "candidates_written": 0, "suspicious_written": 0},
                "seconds": {"total": 0.0}}
    monkeypatch.setattr(audit_command, "run_audit", record)
    save_docs(make_corpus(4, RELATIONS.ids, seed=1), tmp_path / "train.json")
    base = ["audit", str(tmp_path / "train.json"), "--relations", "infer", "--quiet"]
    run_cli([*base, "--out", str(tmp_path / "a")])
    run_cli([*base, "--out", str(tmp_path / "b"), "--fine-tune"])
    run_cli([*base, "--out", str(tmp_path / "c"), "--fine-tune", "--epochs", "3", "--lr-head", "2e-4",
             "--model-option", "block_size=32"])
    frozen, tuned, given = configs
    assert (frozen.freeze_encoder, frozen.lr_head, frozen.epochs, frozen.model_options) == (
        True, 3e-3, 8, {"emb_size": 128, "block_size": 16})
    assert (tuned.freeze_encoder, tuned.lr_head, tuned.epochs, tuned.model_options) == (False, 1e-4, 10, {})
    assert (given.freeze_encoder, given.lr_head, given.epochs, given.model_options) == (
        False, 2e-4, 3, {"block_size": 32})
