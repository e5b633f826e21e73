"""Replay the hostile-user passes (issues 10 and 19): bad files, bad configs, kills at random moments, a full disk,
read-only folders and two runs at once; outputs over inputs named anywhere, files changed under a finished run,
chained noise specs, external commands with grandchildren, failed runs and their reruns, and configs that pass
`bench check` but would fail every cell; each through the real `docrobust` command in its own process.

    python benchmarks/hostile_user.py [--seed 0] [--keep DIR]

Every try is one command (or one kill) with what we promise for it; the script counts
  tracebacks             a Python traceback on stderr, or an exit status other than the promised one;
  data lost              an input whose bytes changed, a special file replaced, a noisy file whose manifest
                         does not replay to it, a finished cell lost or unreadable, a worker outliving its runner;
  bad configs accepted   a bench.toml with a mistake that `bench check` or `bench plan` lets through;
  stale results          a cell or noisy set not rebuilt after a file it depends on changed, or a result that is
                         not what it says (a chained spec's false positive that is a clean label);
  processes left         a process of an external command (its grandchildren included) outliving its runner;
prints each try that broke a promise, and ends with
    tries N, tracebacks 0, data lost 0, bad configs accepted 0, stale results 0, processes left 0
Needs no data (it builds its documents) and no network; the full-disk and read-only cases use small tmpfs
mounts when run as root, else an injected OSError and a chmod-ed folder. Takes a few minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

# the tries, in modules beside this script (a script's folder is on sys.path)
from hostile_first import (bad_configs, bad_input, full_disk, kills_during_generate, messages, outputs,
                           two_runs_and_kills)
from hostile_kit import Hostile, bad_files, make_corpus, sha
from hostile_second import second_pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="Seed of the kill moments.")
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it (default: a temporary folder).")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="hostile-"))
    root.mkdir(parents=True, exist_ok=True)
    h = Hostile(root, args.seed)
    inputs = root / "inputs"
    inputs.mkdir(exist_ok=True)
    good = inputs / "good.json"
    good.write_text(json.dumps(make_corpus(30, 0)))
    big = inputs / "big.json"
    big.write_text(json.dumps(make_corpus(3000, 1)))
    bad = bad_files(inputs, json.loads(good.read_text()))
    snapshot = {p: sha(p) for p in inputs.iterdir() if p.is_file()}
    try:
        for part in (lambda: bad_input(h, good, bad), lambda: outputs(h, good), lambda: messages(h, inputs),
                     lambda: bad_configs(h), lambda: kills_during_generate(h, big, 10), lambda: two_runs_and_kills(h),
                     lambda: full_disk(h), lambda: second_pass(h, good)):
            part()
        h.lost("an input file changed", all(sha(p) == digest for p, digest in snapshot.items()))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    for kind, items in h.tally.kinds():
        for item in items:
            print(f"{kind}: {item}")
    print(h.tally.line())
    sys.exit(1 if any(items for _, items in h.tally.kinds()) else 0)


if __name__ == "__main__":
    main()
