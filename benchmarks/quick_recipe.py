"""Per-loss training recipe for the quick profile, chosen on its dev slice: which head learning rate lets each loss
converge (dev F1 levelled off before the budget ends) and how many epochs that takes.

Recipe otherwise the quick profile's (frozen MiniLM, span-pooled entities, ATLOP head 128/16, batch 4, Re-DocRED dev
0-449 to train, 450-499 to select). Each (loss, head lr, noise) trains up to --epochs with early stopping after
--patience epochs without a better dev-calibrated F1 (select_by = "calibrated_f1", as the profile); the curves of the
calibrated and the as-trained dev F1, the best epoch and the seconds per epoch are printed.
Nothing here looks at test. CMM takes the profile's loss options (m = 0.3, gamma = 1.0 unless --cmm-options).

    python benchmarks/quick_recipe.py [--out results/quick-recipe] [--losses atl cmm] [--lrs 3e-3]
                                      [--noise clean fn-uniform:0.6] [--epochs 12] [--patience 3] [-j 2]

Resumable: each run is one JSON file in --out.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from joblib import Parallel, delayed

from cmm_grid import dev_slice  # the same dev slice, stored rows and noisy sets (a script's folder is on sys.path)
from docrobust.base import atomic_write_json

TRAINING = dict(model="atlop", encoder="minilm", freeze_encoder=True, calibrate_threshold=True, batch_size=4,
                select_by="calibrated_f1",
                max_len=1024, device="cpu", progress=False, num_threads=1,
                model_options={"emb_size": 128, "block_size": 16})
CMM_OPTIONS = {"m": 0.3, "gamma": 1.0}


def run_one(loss: str, lr: float, spec: str, train_docs: list[dict], dev_docs: list[dict], relations, args,
            out: Path) -> dict:
    from docrobust.models.train import TrainConfig, train

    target = out / f"{loss}__lr{lr:g}__{spec.replace(':', '-')}__e{args.epochs}p{args.patience}__emb{args.emb_size}.json"
    if target.is_file():
        return json.loads(target.read_text())
    config = TrainConfig.from_dict({**TRAINING, "model_options": {"emb_size": args.emb_size, "block_size": 16},
                                    "loss": loss, "lr_head": lr, "epochs": args.epochs,
                                    "early_stopping": args.patience,
                                    "loss_options": json.loads(args.cmm_options) if loss == "cmm" else {}})
    with tempfile.TemporaryDirectory() as tmp:
        metrics = train(config, train_docs, dev_docs, None, relations=relations, out_dir=tmp)
    row = {"loss": loss, "lr_head": lr, "noise": spec, "emb_size": args.emb_size, "best_epoch": metrics["best_epoch"],
           "epochs_run": len(metrics["epochs"]), "dev_f1": metrics["dev"]["f1"],
           "dev_precision": metrics["dev"]["precision"], "dev_recall": metrics["dev"]["recall"],
           "calibrated_f1": metrics["calibrated"]["dev"]["f1"],
           "curve": [round(e["dev_calibrated_f1"], 4) for e in metrics["epochs"]],
           "curve_as_trained": [round(e["dev_f1"], 4) for e in metrics["epochs"]],
           "seconds_per_epoch": sum(e["seconds"] for e in metrics["epochs"]) / len(metrics["epochs"]),
           "seconds": metrics["train_seconds"]}
    atomic_write_json(target, row)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/quick-recipe")
    parser.add_argument("--losses", nargs="+", default=["atl", "cmm"])
    parser.add_argument("--lrs", nargs="+", type=float, default=[3e-3])
    parser.add_argument("--noise", nargs="+", default=["clean"])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--cmm-options", default=json.dumps(CMM_OPTIONS))
    parser.add_argument("--emb-size", type=int, default=128, help="the ATLOP head's emb_size (block_size 16)")
    parser.add_argument("-j", "--n-jobs", type=int, default=2)
    args = parser.parse_args()
    train_docs, dev_docs, relations, noisy = dev_slice(TRAINING, args.noise)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(loss, lr, spec) for spec in args.noise for loss in args.losses for lr in args.lrs]
    rows = Parallel(n_jobs=args.n_jobs, backend="loky")(
        delayed(run_one)(loss, lr, spec, noisy[spec], dev_docs, relations, args, out) for loss, lr, spec in jobs)
    print(f"| loss | head lr | noise | best epoch / run | dev F1 | P / R | calibrated | s/epoch | calibrated dev F1 per "
          "epoch [as trained] |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['loss']} | {r['lr_head']:g} | {r['noise']} | {r['best_epoch']} / {r['epochs_run']} | "
              f"{100 * r['dev_f1']:.1f} | {100 * r['dev_precision']:.0f} / {100 * r['dev_recall']:.0f} | "
              f"{100 * r['calibrated_f1']:.1f} | {r['seconds_per_epoch']:.1f} | "
              + " ".join(f"{100 * f:.0f}" for f in r["curve"]) + " [" + " ".join(
                  f"{100 * f:.0f}" for f in r["curve_as_trained"]) + "] |")


if __name__ == "__main__":
    main()
