"""The quick benchmark's goals, checked on its own results (`make quick` prints this at its end).

For the baseline loss (ATL): clean test F1 >= 30% (mean over seeds); F1(clean) > F1(fn 0.3) > F1(fn 0.6), each
step larger than the seed spread (the larger max-min range over seeds of the two settings) and significant by
the paired bootstrap over test documents (10,000 resamples, all seeds, p < 0.05); mixed:1.0 (DocRED's own
labels) below clean. For every loss: wrong labels (fp-type) move its dev-calibrated F1 beyond the seed spread, and
its training levelled off (in most cells the best dev epoch is not among the last two of a budget run to the end).
Then every loss's F1 as trained, dev-calibrated and threshold-free AP per setting, and the report's findings (its
first page's answer). A measurement, not a gate: the exit status is 0 unless the folder cannot be read.

    python benchmarks/quick_goals.py results/quick
"""
from __future__ import annotations

import sys
from statistics import mean

import numpy as np

from docrobust.reports import build_report, load_results
from docrobust.reports.report import findings
from docrobust.reports.results import ResultsStore
from docrobust.reports.stats import Resamples, paired_test

BASELINE = "atl"
LADDER = ("clean", "fn-uniform:0.3", "fn-uniform:0.6")
FP = "fp-type:0.3"
CLEAN_F1_GOAL = 0.30


def main(root: str) -> None:
    store = ResultsStore(root)
    cells: dict[tuple[str, str], list] = {}
    for cell_id in store.cell_ids():
        record = store.read_cell(cell_id)
        if record is not None and record.status == "done":
            cells.setdefault((record.loss, record.noise), []).append(record)
    f1 = {key: [r.test.micro()["f1"] for r in records] for key, records in cells.items()}
    base = {noise: f1.get((BASELINE, noise), []) for noise in (*LADDER, "mixed:1.0")}
    if not base["clean"]:
        sys.exit(f"{root}: no done {BASELINE} cell on clean labels; run `docrobust bench run` first")

    checks = [(f"clean {BASELINE} F1 {100 * mean(base['clean']):.1f}% >= {100 * CLEAN_F1_GOAL:.0f}% (mean over "
               f"{len(base['clean'])} seeds)", mean(base["clean"]) >= CLEAN_F1_GOAL)]
    resamples = None
    for hi, lo in zip(LADDER, LADDER[1:]):
        a, b = cells.get((BASELINE, hi), []), cells.get((BASELINE, lo), [])
        if not a or not b:
            checks.append((f"{hi} > {lo}: missing cells", False))
            continue
        step = mean(base[hi]) - mean(base[lo])
        spread = max(max(base[hi]) - min(base[hi]), max(base[lo]) - min(base[lo]))
        a_docs, b_docs = (np.stack([r.test.docs for r in sorted(rs, key=lambda r: r.seed)]) for rs in (a, b))
        resamples = resamples or Resamples.draw(a_docs.shape[1], 10_000, seed=0)
        test = paired_test(a_docs, b_docs, resamples)
        checks.append((f"F1({hi}) - F1({lo}) = {100 * step:+.1f} points, seed spread {100 * spread:.1f}, "
                       f"95% CI [{100 * test.ci_low:+.1f}, {100 * test.ci_high:+.1f}], paired bootstrap p = "
                       f"{test.p_bootstrap:.4f}", step > spread and step > 0 and test.p_bootstrap < 0.05))
    if base["mixed:1.0"]:
        checks.append((f"mixed:1.0 (DocRED's labels) F1 {100 * mean(base['mixed:1.0']):.1f}% below clean "
                       f"{100 * mean(base['clean']):.1f}%", mean(base["mixed:1.0"]) < mean(base["clean"])))
    for loss in sorted({loss for loss, _ in cells}):
        clean = [r.calibrated.test.micro()["f1"] for r in cells.get((loss, "clean"), []) if r.calibrated]
        wrong = [r.calibrated.test.micro()["f1"] for r in cells.get((loss, FP), []) if r.calibrated]
        if clean and wrong:
            spread = max(max(clean) - min(clean), max(wrong) - min(wrong))
            step = mean(clean) - mean(wrong)
            checks.append((f"{loss}: {FP} changes dev-calibrated F1 by {-100 * step:+.1f} points (clean "
                           f"{100 * mean(clean):.1f} -> {100 * mean(wrong):.1f}), beyond the seed spread "
                           f"{100 * spread:.1f}", abs(step) > spread))
        runs = [r.training_epochs() for rs in cells.values() for r in rs if r.loss == loss and r.training_epochs()]
        rising = [best >= run - 1 and run >= budget for best, run, budget in runs]
        checks.append((f"{loss} levelled off: best dev epoch among the last two of a full budget in {sum(rising)} of "
                       f"{len(runs)} cells (best epochs {sorted({b for b, _, _ in runs})}, epochs run "
                       f"{sorted({n for _, n, _ in runs})})", 2 * sum(rising) < len(runs)))

    print(f"quick benchmark goals ({root}):")
    for text, ok in checks:
        print(f"  [{'met' if ok else 'NOT MET'}] {text}")
    print(f"\ntest F1 (%), mean over seeds, as trained [dev-calibrated] {{threshold-free AP}}; precision / recall "
          "as trained:")
    noises = sorted({noise for _, noise in cells}, key=lambda n: (n != "clean", n))
    for loss in sorted({loss for loss, _ in cells}):
        parts = []
        for noise in noises:
            records = cells.get((loss, noise), [])
            if records:
                micro = [r.test.micro() for r in records]
                calibrated = [r.calibrated.test.micro()["f1"] for r in records if r.calibrated is not None]
                ap = [r.ap for r in records if r.ap is not None]
                parts.append(f"{noise} {100 * mean(m['f1'] for m in micro):.1f}"
                             + (f" [{100 * mean(calibrated):.1f}]" if calibrated else "")
                             + (f" {{{100 * mean(ap):.1f}}}" if ap else "")
                             + f" ({100 * mean(m['precision'] for m in micro):.0f}/{100 * mean(m['recall'] for m in micro):.0f})")
        print(f"  {loss}: " + "; ".join(parts))
    report = build_report(load_results(root), figures=False)
    print("\nthe report's findings (its first page):")
    for line in findings(report):
        print(f"  - {line}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/quick")
