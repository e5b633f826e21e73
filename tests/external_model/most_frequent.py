"""A stand-in for someone else's DocRE model, for docrobust's external-command contract (README: "Benchmark your
own model"). It imports nothing from docrobust, as a foreign model would not.

It learns, from its training file, the most frequent relation of each (head type, tail type) pair, and
predicts that relation for every test pair of those types whose entities share a sentence, when that
pair type carried it in at least `--min-share` of its co-occurring training pairs.

    python most_frequent.py --train T.json --test X.json --out OUT [--dev D.json] [--seed S]
        [--fail] [--no-output] [--bad-output] [--sleep SECONDS] [--copy-inputs DIR] [--pid-file FILE]

--fail, --no-output, --bad-output and --sleep make it misbehave on purpose, for the tests of failed cells;
--copy-inputs keeps a copy of the files it was given and --pid-file says which process it is, for the tests
of what the runner hands over and of what a killed runner leaves behind.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path


def type_of(entity: list[dict]) -> str:
    return entity[0]["type"]


def co_occurring(doc: dict):
    """Ordered pairs (h, t) of distinct entities mentioned in a common sentence."""
    sents = [{m["sent_id"] for m in e} for e in doc["vertexSet"]]
    for h in range(len(sents)):
        for t in range(len(sents)):
            if h != t and sents[h] & sents[t]:
                yield h, t


def learn(train: list[dict], min_share: float) -> dict[tuple[str, str], str]:
    """(head type, tail type) -> its most frequent relation, kept when it labels >= min_share of such pairs."""
    relations: dict[tuple[str, str], Counter] = {}
    pairs: Counter = Counter()
    for doc in train:
        entities = doc["vertexSet"]
        for h, t in co_occurring(doc):
            pairs[type_of(entities[h]), type_of(entities[t])] += 1
        for lab in doc.get("labels", []):
            key = type_of(entities[lab["h"]]), type_of(entities[lab["t"]])
            relations.setdefault(key, Counter())[lab["r"]] += 1
    rules = {}
    for key, counts in relations.items():
        r, n = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))   # ties by relation id: deterministic
        if pairs[key] and n / pairs[key] >= min_share:
            rules[key] = r
    return rules


def predict(docs: list[dict], rules: dict[tuple[str, str], str]) -> list[dict]:
    out = []
    for doc in docs:
        entities = doc["vertexSet"]
        for h, t in co_occurring(doc):
            r = rules.get((type_of(entities[h]), type_of(entities[t])))
            if r is not None:
                out.append({"title": doc["title"], "h_idx": h, "t_idx": t, "r": r})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--dev")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-share", type=float, default=0.05)
    parser.add_argument("--fail", action="store_true", help="print a traceback-like message and exit 3")
    parser.add_argument("--no-output", action="store_true", help="exit 0 without writing result.json")
    parser.add_argument("--bad-output", action="store_true", help="write a result.json that is not predictions")
    parser.add_argument("--sleep", type=float, default=0.0, help="sleep this long first (for timeouts)")
    parser.add_argument("--copy-inputs", help="copy the input files into DIR/<k>/ (k: 0, 1, ... per run)")
    parser.add_argument("--pid-file", help="write this process's id here")
    args = parser.parse_args()

    if args.pid_file:
        Path(args.pid_file).write_text(str(os.getpid()), encoding="utf-8")
    if args.copy_inputs:
        keep = Path(args.copy_inputs) / str(len(list(Path(args.copy_inputs).glob("*"))))
        keep.mkdir(parents=True)
        for name in ("train", "dev", "test"):
            if getattr(args, name):
                shutil.copy(getattr(args, name), keep / f"{name}.json")

    train = json.loads(Path(args.train).read_text(encoding="utf-8"))
    test = json.loads(Path(args.test).read_text(encoding="utf-8"))
    print(f"most_frequent: {len(train)} training documents, {len(test)} test documents, seed {args.seed}, "
          f"cwd {os.getcwd()}, MOST_FREQUENT_TAG={os.environ.get('MOST_FREQUENT_TAG', '')}")
    time.sleep(args.sleep)
    if args.fail:
        print("RuntimeError: most_frequent was asked to fail", file=sys.stderr)
        sys.exit(3)
    rules = learn(train, args.min_share)
    print(f"most_frequent: {len(rules)} rules: {sorted(rules.items())[:5]} ...")
    out = Path(args.out)
    if args.no_output:
        return
    if args.bad_output:
        (out / "result.json").write_text(json.dumps({"predictions": "later"}), encoding="utf-8")
        return
    if any("labels" in d for d in test):
        sys.exit("the test file carries labels: the runner must withhold them")
    (out / "result.json").write_text(json.dumps(predict(test, rules)), encoding="utf-8")
    if args.dev:
        dev = json.loads(Path(args.dev).read_text(encoding="utf-8"))
        (out / "dev_result.json").write_text(json.dumps(predict(dev, rules)), encoding="utf-8")


if __name__ == "__main__":
    main()
