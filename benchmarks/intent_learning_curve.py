"""Banking77: how the shipped hybrid intent model's accuracy grows with the labelled data it is trained on.

Writes benchmarks/intent_learning_curve.md. Stratified k-fold cross-validation on banking77 train (the folds of
``benchmarks/intent.py`` for k = 5: the same splitter and seed) for k = 2, 3, 5 and 10, so each model trains on
1/2, 2/3, 4/5 and 9/10 of the 9,971 queries and is scored on the rest; accuracy is pooled over the
out-of-fold predictions, and the spread over folds is shown too. The shipped model trains on all of train, so
the 10-fold row is the closest estimate of its accuracy; the 5-fold row is the figure the issue's target is
checked against. Recipe: ``training/intent-banking77-hybrid.yaml`` (TF-IDF words + characters beside MiniLM,
calibrated logistic regression).

Run: ``.venv/bin/python benchmarks/intent_learning_curve.py`` (about 15 minutes on 2 cores; MiniLM encodings come
from intent.py's cache, ``--cache-dir``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from intent import fit_timed, recipe_path  # noqa: E402

from triage.recipes import load_recipe  # noqa: E402
from triage.training import prepare_data  # noqa: E402

HERE = Path(__file__).resolve().parent
TARGET = 0.94


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", type=int, nargs="+", default=[2, 3, 5, 10])
    parser.add_argument("--tier", default="hybrid")
    parser.add_argument("--cache-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "triage-intent-cache")
    args = parser.parse_args()
    if any(k < 2 for k in args.folds):
        parser.error(f"--folds needs values of at least 2, got {args.folds}")
    start = time.perf_counter()
    recipe = load_recipe(recipe_path("banking77", args.tier))
    data = prepare_data(recipe).train
    labels = np.asarray(data.labels, dtype=object)
    rows = []
    for k in args.folds:
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=0)
        right, accuracies, sizes = 0, [], []
        for train_idx, test_idx in splitter.split(np.zeros(len(labels)), labels):
            model, _, _ = fit_timed(recipe, args.cache_dir, data.subset(np.isin(np.arange(len(labels)), train_idx)), None)
            predicted = model.predict([data.texts[i] for i in test_idx])
            hits = np.asarray(predicted, dtype=object) == labels[test_idx]
            right += int(hits.sum())
            accuracies.append(float(hits.mean()))
            sizes.append(len(train_idx))
        rows.append((k, float(np.mean(sizes)), right / len(labels), float(np.mean(accuracies)), float(np.std(accuracies))))
        print(f"{k}-fold: train {np.mean(sizes):.0f}, accuracy {right / len(labels):.4f} "
              f"(folds {np.mean(accuracies):.4f} ± {np.std(accuracies):.4f})", flush=True)

    se = float(np.sqrt(rows[-1][2] * (1 - rows[-1][2]) / len(labels)))
    lines = [
        f"# Banking77 learning curve: {args.tier} tier",
        "",
        f"`benchmarks/intent_learning_curve.py`, {time.strftime('%Y-%m-%d')}, {time.perf_counter() - start:.0f} s on 2 "
        f"cores. Stratified k-fold CV on banking77 train ({len(labels):,} queries, seed 0: the 5-fold row uses the "
        f"folds of `benchmarks/intent.py`), recipe `training/intent-banking77-{args.tier}.yaml`; accuracy pooled over "
        f"the out-of-fold predictions (one standard error about {se:.4f}). Target (checked on 5-fold): {TARGET}.",
        "",
        "| folds | training queries per model | share of train | accuracy | fold mean ± sd |",
        "|---:|---:|---:|---:|---|",
    ]
    lines += [f"| {k} | {size:,.0f} | {size / len(labels):.2f} | {acc:.4f} | {mean:.4f} ± {sd:.4f} |"
              for k, size, acc, mean, sd in rows]
    if len(rows) >= 2:
        (k0, n0, a0, _, _), (k1, n1, a1, _, _) = rows[-2], rows[-1]
        per_doubling = (a1 - a0) / np.log2(n1 / n0)
        lines += ["", f"From {k0} to {k1} folds ({n0:,.0f} to {n1:,.0f} training queries) accuracy moves "
                  f"{a1 - a0:+.4f}, about {per_doubling:+.3f} per doubling of the labelled data."]
    (HERE / "intent_learning_curve.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
