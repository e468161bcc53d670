"""Does fine-tuning MiniLM lift banking77? One fold of the 5-fold split that benchmarks/intent.py uses.

Fine-tunes all-MiniLM-L6-v2 (triage.finetune, seeded; word embeddings frozen unless --no-freeze) on fold 0's training part and
scores the held-out part with: the cosine-softmax layer trained with the body, a logistic-regression head on the
tuned embeddings, and the hybrid (tfidf n-grams beside the tuned embeddings); the same heads on the pretrained
embeddings give the comparison, and equal-weight probability averages of tuned and pretrained heads show
what an ensemble would add. Fold 0 by default: a CPU fine-tuning run takes 15-60 minutes on 2 cores; ``--folds all`` runs all five
and pools the out-of-fold predictions like benchmarks/intent.py. Writes benchmarks/intent_finetune.md. Each fold's
held-out probabilities and tuned body are kept under ``--cache-dir`` (ignored by git) by setting, so a run that stops
part-way resumes at the first fold it has not finished.

    .venv/bin/python benchmarks/intent_finetune.py [--epochs 3] [--lr 5e-5] [--no-freeze] [--output benchmarks/intent_finetune.md]
    .venv/bin/python benchmarks/intent_finetune.py --epochs 6 --lr 1e-4 --folds all --output benchmarks/intent_finetune_5fold.md
    .venv/bin/python benchmarks/intent_finetune.py --objective contrastive --per-label 4 --output benchmarks/intent_finetune_contrastive.md

With ``--objective contrastive`` the body is tuned SetFit-style (supervised contrastive loss, no layer) and the
"layer tuned with the body" column is the nearest class centroid of the tuned embeddings.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import StratifiedKFold

from triage.classifier import linear_head
from triage.encoders import MiniLMEncoder, make_encoder
from triage.finetune import HEAD_CONFIG, OBJECTIVES, FinetuneParams, finetune_minilm, head_probabilities
from triage.paths import REPO_ROOT
from triage.recipes import load_recipe
from triage.text import normalize_batch
from triage.training import prepare_data

OUT = Path(__file__).resolve().parent / "intent_finetune.md"


def fit_proba(train_x, train_y, test_x, C: float) -> tuple[np.ndarray, np.ndarray]:
    """Classes and held-out class probabilities of a balanced logistic regression."""
    head = linear_head(C, max_iter=3000).fit(train_x, train_y)
    return head.classes_, head.predict_proba(test_x)


def predicted(classes, proba: np.ndarray) -> np.ndarray:
    return np.asarray(classes, dtype=object)[proba.argmax(1)]


# the members' short names and the column each one fills
COLUMNS = {"LR": "LR on embeddings (C=10)", "hybrid": "hybrid tfidf + embeddings (C=60)",
           "cosine": "cosine layer tuned with the body"}
MEMBERS = ("pretrained LR", "pretrained hybrid", "fine-tuned LR", "fine-tuned hybrid", "fine-tuned cosine",
           "joint hybrid")

# probability-level ensembles, equal weights fixed in advance (nothing is chosen on the held-out fold)
ENSEMBLES = {
    "tuned cosine + pretrained hybrid": ("fine-tuned cosine", "pretrained hybrid"),
    "tuned hybrid + pretrained hybrid": ("fine-tuned hybrid", "pretrained hybrid"),
    "tuned cosine + tuned hybrid + pretrained hybrid": ("fine-tuned cosine", "fine-tuned hybrid", "pretrained hybrid"),
}


def fold_probabilities(train, test, texts, labels, args, body: Path) -> tuple[dict, float | None]:
    """Fine-tune on one fold's training part into ``body`` (unless a tuned body is there already):
    {member: (classes, held-out probabilities)} and the tuning seconds (``None`` when the body was there)."""
    train_texts, test_texts = [texts[i] for i in train], [texts[i] for i in test]
    tfidf = make_encoder({"kind": "tfidf"}).fit(train_texts)
    tf_train, tf_test = tfidf.encode(train_texts), tfidf.encode(test_texts)

    tune_s = None
    if not (body / HEAD_CONFIG).exists():
        start = time.perf_counter()
        partial = body.with_name(body.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        finetune_minilm(train_texts, labels[train].tolist(), partial,
                        params=FinetuneParams(epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                                              freeze_embeddings=not args.no_freeze, objective=args.objective,
                                              per_label=args.per_label))
        shutil.rmtree(body, ignore_errors=True)
        partial.replace(body)
        tune_s = time.perf_counter() - start
    probas, embeddings = {}, {}
    for name, encoder in (("pretrained", MiniLMEncoder()), ("fine-tuned", MiniLMEncoder(model=str(body)))):
        e_train, e_test = embeddings[name] = encoder.encode(train_texts), encoder.encode(test_texts)
        probas[f"{name} LR"] = fit_proba(e_train, labels[train], e_test, 10.0)
        hybrid_train = sp.hstack([tf_train, sp.csr_matrix(e_train)]).tocsr() / np.sqrt(2)
        hybrid_test = sp.hstack([tf_test, sp.csr_matrix(e_test)]).tocsr() / np.sqrt(2)
        probas[f"{name} hybrid"] = fit_proba(hybrid_train, labels[train], hybrid_test, 60.0)
        if name == "fine-tuned":
            probas["fine-tuned cosine"] = head_probabilities(body, e_test)
    # the single-model alternative to averaging: one head over tfidf and both embeddings side by side (what a
    # recipe with a hybrid encoder of tfidf, finetuned and minilm parts trains)
    joint_train, joint_test = ([tf] + [sp.csr_matrix(embeddings[name][part]) for name in embeddings]
                               for part, tf in ((0, tf_train), (1, tf_test)))
    probas["joint hybrid"] = fit_proba(sp.hstack(joint_train).tocsr() / np.sqrt(3), labels[train],
                                       sp.hstack(joint_test).tocsr() / np.sqrt(3), 60.0)
    return probas, tune_s


def cached_fold(fold: int, train, test, texts, labels, args) -> tuple[dict, float]:
    """:func:`fold_probabilities`, kept in ``--cache-dir`` per fold and setting with the tuned body: an
    interrupted ``--folds all`` run resumes at the first fold it has not finished, a member added to
    :data:`MEMBERS` later is scored from the kept body without tuning again, and later ensembles can reuse the
    probabilities."""
    setting = (f"e{args.epochs:g}-lr{args.lr:g}-b{args.batch_size}-{'tuned' if args.no_freeze else 'frozen'}-"
               f"{args.objective}" + (f"{args.per_label}" if args.objective == "contrastive" else "") + "-seed0")
    path = args.cache_dir / setting / f"fold{fold}.npz"
    body = path.with_name(f"fold{fold}-body")
    tune_s = None
    if path.exists():
        with np.load(path, allow_pickle=False) as saved:
            if np.array_equal(saved["test"], test):
                tune_s = float(saved["tune_s"])
                if all(f"{name}/proba" in saved for name in MEMBERS):
                    print(f"fold {fold}: probabilities from {path}", flush=True)
                    return ({name: (saved[f"{name}/classes"].tolist(), saved[f"{name}/proba"]) for name in MEMBERS},
                            tune_s)
    if tune_s is None:
        shutil.rmtree(body, ignore_errors=True)  # a body without its probabilities may be another split's
    body.parent.mkdir(parents=True, exist_ok=True)
    probas, new_tune_s = fold_probabilities(train, test, texts, labels, args, body)
    tune_s = new_tune_s if new_tune_s is not None else tune_s
    arrays = {"test": np.asarray(test), "tune_s": np.asarray(tune_s)}
    for name, (classes, proba) in probas.items():
        arrays[f"{name}/classes"] = np.asarray(classes, dtype=str)
        arrays[f"{name}/proba"] = proba
    partial = path.with_suffix(".partial.npz")
    np.savez_compressed(partial, **arrays)
    partial.replace(path)
    return probas, tune_s


def score_fold(probas: dict) -> dict:
    """Each column's and ensemble's held-out labels from one fold's member probabilities."""
    predictions = {(member.rsplit(" ", 1)[0], COLUMNS[member.rsplit(" ", 1)[1]]): predicted(*probas[member])
                   for member in MEMBERS}
    for ensemble, members in ENSEMBLES.items():
        classes = sorted(probas[members[0]][0])
        mean = np.zeros((len(probas[members[0]][1]), len(classes)))
        for member in members:
            member_classes, proba = probas[member]
            order = [list(member_classes).index(c) for c in classes]
            mean += proba[:, order] / len(members)
        predictions[("ensemble", ensemble)] = predicted(classes, mean)
    return predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-freeze", action="store_true", help="tune the word embeddings too (slower)")
    parser.add_argument("--objective", choices=OBJECTIVES, default="classification")
    parser.add_argument("--per-label", type=int, default=4, help="contrastive: mentions of one label per batch group")
    parser.add_argument("--folds", type=parse_folds, default=[0],
                        help="folds of the 5-fold split to run: '0' (default), '0,2' or 'all' (5 fine-tunings, pooled)")
    parser.add_argument("--cache-dir", type=Path, default=REPO_ROOT / ".cache" / "intent_finetune",
                        help="per-fold probabilities and tuned bodies, so an interrupted run resumes "
                        "(default: .cache/intent_finetune)")
    parser.add_argument("--output", type=Path, default=OUT, help="where the markdown goes (default: intent_finetune.md)")
    args = parser.parse_args()

    data = prepare_data(load_recipe(REPO_ROOT / "training" / "intent-banking77-hybrid.yaml")).train
    labels = np.asarray(data.labels, dtype=object)
    texts = normalize_batch(data.texts)
    splits = list(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(labels)), labels))
    truth, pooled, per_fold, tune_seconds = [], {}, [], []
    for fold in args.folds:
        train, test = splits[fold]
        probas, tune_s = cached_fold(fold, train, test, texts, labels, args)
        predictions = score_fold(probas)
        truth.append(labels[test])
        for key, value in predictions.items():
            pooled.setdefault(key, []).append(value)
        per_fold.append({key: float((value == labels[test]).mean()) for key, value in predictions.items()})
        tune_seconds.append(tune_s)
        print(f"fold {fold}: tuned in {tune_s / 60:.1f} min", {k: f"{v:.4f}" for k, v in per_fold[-1].items()}, flush=True)
    truth = np.concatenate(truth)
    accuracy = {key: float((np.concatenate(parts) == truth).mean()) for key, parts in pooled.items()}
    spread = {key: float(np.std([fold[key] for fold in per_fold])) for key in accuracy}

    def cell(key) -> str:
        if key not in accuracy:
            return "-"
        return f"{accuracy[key]:.4f}" + (f" ± {spread[key]:.4f}" if len(args.folds) > 1 else "")

    objective = ("contrastive (SetFit-style supervised contrastive loss, "
                 f"{args.per_label} mentions per label in a batch group)" if args.objective == "contrastive"
                 else "classification (cosine-softmax layer)")
    columns = ["cosine layer tuned with the body", "LR on embeddings (C=10)", "hybrid tfidf + embeddings (C=60)"]
    which = (f"fold {args.folds[0]}" if len(args.folds) == 1
             else "5-fold CV" if len(args.folds) == 5 else "folds " + ", ".join(map(str, args.folds)))
    scope = (f"Fold {args.folds[0]} of the stratified 5-fold split of banking77 train used by `benchmarks/intent.py` "
             f"({len(labels) - len(truth):,} training, {len(truth):,} held-out queries)" if len(args.folds) == 1 else
             f"Folds {', '.join(map(str, args.folds))} of the stratified 5-fold split of banking77 train used by "
             f"`benchmarks/intent.py`, one fine-tuning per fold, out-of-fold predictions pooled ({len(truth):,} "
             "held-out queries; ± is the standard deviation of the fold accuracies)")
    lines = [
        f"# Banking77: fine-tuned MiniLM versus pretrained, {which}",
        "",
        f"Generated by `benchmarks/intent_finetune.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU "
        f"cores, Python {platform.python_version()}. Do not edit by hand.",
        "",
        f"{scope}. Fine-tuning: {args.epochs:g} epochs, lr {args.lr:g}, batch "
        f"{args.batch_size}, {'tuned' if args.no_freeze else 'frozen'} word embeddings, seed 0, objective "
        f"{objective}: {np.mean(tune_seconds) / 60:.0f} minutes per fold on this machine. Heads: balanced logistic "
        "regression, solver run to tol 1e-6 like the shipped heads. Accuracy on the held-out queries"
        + (" (with the contrastive objective no layer is trained: the column \"cosine layer tuned with the body\" is "
           "the nearest class centroid of the tuned embeddings):" if args.objective == "contrastive" else ":"),
        "",
        "| embeddings | " + " | ".join(columns) + " |",
        "| --- | " + " | ".join("---" for _ in columns) + " |",
    ]
    for name in ("pretrained", "fine-tuned"):
        lines.append(f"| {name} | " + " | ".join(cell((name, c)) for c in columns) + " |")
    lines += ["", "Probability-level ensembles (equal weights, fixed in advance), and one head over both embeddings "
              "(the single model a recipe with a hybrid encoder of tfidf, finetuned and minilm parts would train):", "",
              "| ensemble | accuracy |", "| --- | --- |"]
    lines += [f"| {name} | {cell(('ensemble', name))} |" for name in ENSEMBLES]
    lines.append(f"| one LR over tfidf + tuned + pretrained embeddings (C=60) | {cell(('joint', COLUMNS['hybrid']))} |")
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written {args.output}")


def parse_folds(value: str) -> list[int]:
    """'all' or comma-separated fold numbers 0-4."""
    if value == "all":
        return list(range(5))
    try:
        folds = sorted({int(part) for part in value.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"takes 'all' or fold numbers 0-4 separated by commas, not {value!r}") from None
    if not folds or folds[0] < 0 or folds[-1] > 4:
        raise argparse.ArgumentTypeError(f"fold numbers run from 0 to 4, got {value!r}")
    return folds


if __name__ == "__main__":
    main()
