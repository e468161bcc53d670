"""Fine-tuned tier: which objective, classification or SetFit-style contrastive? Same data, steps and seed.

For a recipe's data (default TweetEval sentiment, the shipped fine-tuned task), MiniLM is fine-tuned twice from
the pretrained weights with the same sample, steps, learning rate and seed: once with the cosine-softmax
classification layer, once with the supervised contrastive loss (triage.finetune, ``objective``). Each tuned
body is scored on the recipe's validation texts through the layer trained with it (contrastive: the nearest
class centroid) and through a logistic-regression head fitted on the tuned embeddings of the training sample
(what a model of the tier uses). The pretrained body with the same head is the baseline. Banking77 (77
intents) is compared the same way by ``benchmarks/intent_finetune.py --objective contrastive``.
Writes benchmarks/finetune_objectives.md.

    .venv/bin/python benchmarks/finetune_objectives.py [--recipe training/sentiment-finetuned-cpu.yaml] [--max-train 8000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, recall_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune import from_recipe  # noqa: E402

from triage.classifier import linear_head  # noqa: E402
from triage.encoders import MiniLMEncoder  # noqa: E402
from triage.finetune import FinetuneParams, finetune_minilm, head_probabilities  # noqa: E402

OUT = Path(__file__).resolve().parent / "finetune_objectives.md"


def scores(truth: list[str], predicted: np.ndarray) -> dict[str, float]:
    return {"macro_recall": float(recall_score(truth, predicted, average="macro")),
            "accuracy": float(accuracy_score(truth, predicted))}


def paired_gap(truth: list[str], first: np.ndarray, second: np.ndarray, *, draws: int = 1000,
               seed: int = 0) -> tuple[float, float]:
    """Macro-recall of ``first`` minus that of ``second`` on the same texts, and the standard error of that gap
    over bootstrap resamples of the texts (both models scored on each resample: the sampling noise of the
    validation set, not of training)."""
    truth_array = np.asarray(truth)
    gap = scores(truth, first)["macro_recall"] - scores(truth, second)["macro_recall"]
    rng = np.random.default_rng(seed)
    gaps = np.empty(draws)
    for i in range(draws):
        rows = rng.integers(0, len(truth_array), len(truth_array))
        gaps[i] = (recall_score(truth_array[rows], first[rows], average="macro")
                   - recall_score(truth_array[rows], second[rows], average="macro"))
    return gap, float(gaps.std(ddof=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="training/sentiment-finetuned-cpu.yaml")
    parser.add_argument("--max-train", type=int, default=8000, help="seeded sample of the training texts (0: all)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=3e-5, help="default: the shipped recipe's")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--per-label", type=int, default=8, help="contrastive: mentions of one label per batch group")
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation of the logistic-regression head")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args()

    train_x, train_y, val_x, val_y = from_recipe(args.recipe)
    if args.max_train and args.max_train < len(train_x):
        keep = np.sort(np.random.default_rng(args.seed).choice(len(train_x), args.max_train, replace=False))
        train_x, train_y = [train_x[i] for i in keep], [train_y[i] for i in keep]

    predictions: dict[str, np.ndarray] = {}  # body -> the head's predictions on the validation texts

    def head_scores(body: str, encoder: MiniLMEncoder) -> dict[str, float]:
        head = linear_head(args.C, max_iter=3000).fit(encoder.encode(train_x), train_y)
        predictions[body] = head.predict(encoder.encode(val_x))
        return scores(val_y, predictions[body])

    rows = [{"body": "pretrained", "train_s": None, "layer": None, "head": head_scores("pretrained", MiniLMEncoder())}]
    print(rows[-1], flush=True)
    for objective in ("classification", "contrastive"):
        params = FinetuneParams(epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                                objective=objective, per_label=args.per_label, seed=args.seed)
        start = time.perf_counter()
        folder = finetune_minilm(train_x, train_y, Path(tempfile.mkdtemp()) / objective, params=params, device="cpu")
        seconds = time.perf_counter() - start
        encoder = MiniLMEncoder(model=str(folder))
        classes, proba = head_probabilities(folder, encoder.encode(val_x))
        body = f"fine-tuned, {objective}"
        rows.append({"body": body, "train_s": seconds,
                     "layer": scores(val_y, np.asarray(classes)[proba.argmax(1)]), "head": head_scores(body, encoder)})
        print(rows[-1], flush=True)

    def cell(value: dict[str, float] | None, key: str) -> str:
        return "-" if value is None else f"{value[key]:.4f}"

    lines = [
        "# Fine-tuned tier: classification or contrastive objective",
        "",
        f"Generated by `benchmarks/finetune_objectives.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} "
        f"CPU cores, Python {platform.python_version()}. Do not edit by hand.",
        "",
        f"Data: `{args.recipe}`: {len(train_x):,} training texts{' (a seeded sample)' if args.max_train else ''}, "
        f"{len(val_x):,} validation texts. Both runs: {args.epochs:g} epoch(s), lr {args.lr:g}, batch {args.batch_size}, "
        f"seed {args.seed}, word embeddings tuned. Contrastive: supervised contrastive loss, {args.per_label} mentions of "
        "one label per batch group, its layer column is the nearest class centroid. Head: balanced logistic regression "
        f"(C={args.C:g}, solver run to tol 1e-6 like the shipped heads) on the embeddings of the training texts.",
        "",
        "| body | train_s | layer macro_recall | layer accuracy | head macro_recall | head accuracy |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        seconds = "-" if row["train_s"] is None else f"{row['train_s']:.0f}"
        lines.append(f"| {row['body']} | {seconds} | "
                     f"{cell(row['layer'], 'macro_recall')} | {cell(row['layer'], 'accuracy')} | "
                     f"{cell(row['head'], 'macro_recall')} | {cell(row['head'], 'accuracy')} |")
    best = max(rows[1:], key=lambda r: r["head"]["macro_recall"])
    lines += ["", f"Best tuned body by the head's macro-recall: {best['body']} ({best['head']['macro_recall']:.4f}).",
              "", "Gaps in the head's macro-recall on the same validation texts, with the standard error of the gap "
              "over 1,000 paired bootstrap resamples of those texts (validation-sampling noise only; a gap within "
              "two standard errors is not a difference this set can show):", "",
              "| comparison | gap | standard error |", "| --- | ---: | ---: |"]
    pairs = [("fine-tuned, classification", "pretrained"), ("fine-tuned, contrastive", "pretrained"),
             ("fine-tuned, contrastive", "fine-tuned, classification")]
    for first, second in pairs:
        gap, error = paired_gap(val_y, predictions[first], predictions[second], seed=args.seed)
        lines.append(f"| {first} - {second} | {gap:+.4f} | {error:.4f} |")
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
