"""Evaluate a trained classifier on a registry split or a labelled file.

The keys written (``n``, ``accuracy``, ``macro_f1``, ``macro_recall``, ``ece``, ``per_class``) and the
``triage evaluate`` options are a stable contract that outside evaluation relies on. Intent models add
``top3_accuracy``; data holding out-of-scope rows (label ``oos``, CLINC150) add ``in_scope_accuracy`` and
``oos_recall``. ``--split a+b`` evaluates several splits together (``test+oos_test``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from triage.artifacts import load_classifier
from triage.errors import InputError
from triage.labelled import load_examples
from triage.metrics import (
    ABSTAIN_LABEL,
    classification_metrics,
    out_of_scope_metrics,
    plot_confusion_matrix,
    plot_reliability_diagram,
    top_k_accuracy,
)

if TYPE_CHECKING:
    from triage.classifier import TextClassifier

__all__ = ["evaluate_classifier", "evaluate_lookup", "lookup_kind", "model_metrics", "parse_splits", "OOS_LABEL"]

OOS_LABEL = "oos"
"""The out-of-scope label of the intent benchmarks (CLINC150); a model's own ``abstain.oos_label`` also counts."""


def reliability_path(confusion_png: str | os.PathLike[str]) -> Path:
    """Where the reliability diagram goes: beside the confusion matrix, ``confusion`` in its name swapped for
    ``reliability`` (``m_confusion.png`` -> ``m_reliability.png``), else ``_reliability`` appended to the stem."""
    path = Path(confusion_png)
    name = path.stem.replace("confusion", "reliability") if "confusion" in path.stem else path.stem + "_reliability"
    return path.with_name(name + (path.suffix or ".png"))


def parse_splits(split: str) -> list[str]:
    """``"test+oos_test"`` -> ``["test", "oos_test"]``: several registry splits evaluated as one.

    Example:
        >>> parse_splits("val+oos_val"), parse_splits("test")
        (['val', 'oos_val'], ['test'])
    """
    parts = [part.strip() for part in str(split).split("+")]
    if not all(parts):
        raise InputError(f"--split {split!r}: expected split names joined by '+', e.g. test or test+oos_test")
    return list(dict.fromkeys(parts))


def model_metrics(
    model: TextClassifier, texts: Sequence[str], labels: Sequence[str], *, brands: Sequence[object] | None = None
) -> dict:
    """The evaluation keys for ``model`` on labelled texts (one encoding pass).

    :func:`~triage.metrics.classification_metrics` on ``predict`` (so abstentions count), plus
    ``top3_accuracy`` for intent models, models that abstain and any model with more than 3 labels (over rows
    whose label the model knows), and
    ``in_scope_accuracy``, ``oos_recall``, ``oos_precision``, ``n_in_scope``, ``n_oos`` when some true
    label is out of scope (``oos``, or the model's ``abstain.oos_label``). For a model that abstains, an
    out-of-scope row's true label is reported as ``unknown``, the label the model gives it when right.
    """
    if model.task == "needs_human":  # binary keys at the model's threshold; ``brands`` feed its brand prior
        from triage.needs_human import needs_human_model_metrics

        return needs_human_model_metrics(model, texts, labels, brands=brands)
    features = model.transform(texts)
    proba = model.predict_proba_features(features)
    predicted = model.predict_features(features)
    abstain = getattr(model, "abstain_", None)
    oos_labels = {OOS_LABEL} | ({abstain.oos_label} if abstain is not None else set())
    truth = [str(label) for label in labels]
    if abstain is not None:
        truth = [ABSTAIN_LABEL if label in oos_labels else label for label in truth]
    metrics = classification_metrics(truth, predicted, proba, model.classes_)
    if model.task == "intent" or abstain is not None or len(model.classes_) > 3:
        metrics["top3_accuracy"] = top_k_accuracy(truth, proba, model.classes_, k=3)
    if any(label in oos_labels or label == ABSTAIN_LABEL for label in truth):
        metrics.update(out_of_scope_metrics(truth, predicted, oos_labels=sorted(oos_labels)))
        metrics["oos_label"] = sorted(oos_labels - {ABSTAIN_LABEL})[0] if abstain is None else abstain.oos_label
    if model.task == "no_reply" and "no_reply" in model.classes_.tolist():
        from sklearn.metrics import average_precision_score, roc_auc_score

        positive = np.asarray([label == "no_reply" for label in truth])
        score = proba[:, model.classes_.tolist().index("no_reply")]
        both = 0 < positive.sum() < len(positive)
        metrics["roc_auc"] = float(roc_auc_score(positive, score)) if both else None
        metrics["average_precision"] = float(average_precision_score(positive, score)) if both else None
    if abstain is not None:
        metrics["abstained"] = int(np.sum(np.asarray(predicted, dtype=object) == ABSTAIN_LABEL))
        metrics["abstain_threshold"] = float(model.threshold_)
    return metrics


def evaluate_classifier(
    model_dir: str | os.PathLike[str],
    *,
    dataset: str | None = None,
    split: str | None = None,
    file: str | os.PathLike[str] | None = None,
    text_column: str = "text",
    label_column: str = "label",
    data_dir: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
    labels: Sequence[str] | str | None = None,
) -> dict:
    """Score a labelled split with the model in ``model_dir`` and return the metrics dict.

    Args:
        model_dir: a classifier folder written by ``triage train``.
        dataset, split: a registry dataset and split (``train``/``validation``/``test`` of a dataset
            that ships only ``all`` are its deterministic internal split); ``a+b`` joins several splits
            (``test+oos_test``: CLINC150's in-scope and out-of-scope test queries together).
        file, text_column, label_column: alternatively, the user's own labelled CSV/JSONL/Parquet file.
        data_dir: dataset root (a folder holding e.g. only held-out files loads the same way).
        output: where to write the metrics as JSON (optional).
        plot: where to save the confusion-matrix PNG; default beside ``output`` or in the working folder. The
            reliability diagram is saved beside it (:func:`reliability_path`).
        labels: keep only rows with these labels (rows with no label go too); ``"model"``: the model's own
            labels and its out-of-scope label. For a label column that is set on some rows only, e.g.
            ``label_column="negativereason"`` of airline tweets.

    Returns:
        ``n``, ``accuracy``, ``macro_f1``, ``macro_recall``, ``ece``, ``per_class``, ``labels``,
        ``confusion_matrix``, ``reliability`` (calibration per confidence bin), plus ``model``, ``dataset``,
        ``split``, ``seconds``, ``confusion_png`` and ``reliability_png`` (:func:`reliability_path`);
        ``top3_accuracy`` for intent models; ``in_scope_accuracy`` and ``oos_recall`` (and ``oos_precision``,
        ``n_in_scope``, ``n_oos``) when the data holds out-of-scope rows (see :func:`model_metrics`).
        Needs-human models (task ``needs_human``) on ``twcs`` / ``ibm_twitter_customer_care`` are scored on
        the weak labels of :mod:`triage.weak_labels` and add ``roc_auc``, ``average_precision``, ``f1``,
        ``precision``, ``recall`` and ``threshold`` (see :func:`triage.needs_human.needs_human_metrics`).
    """
    if dataset is not None and split is None:
        raise InputError("--split is required with --dataset (e.g. --split val or --split test)")
    if lookup_kind(model_dir) is not None:
        if dataset is None or split is None:
            raise InputError(f"{model_dir} is an index or duplicate scorer: evaluate it with --dataset and --split.")
        return evaluate_lookup(model_dir, dataset=dataset, split=split, data_dir=data_dir, output=output)
    model = load_classifier(model_dir)
    if isinstance(labels, str):
        if labels == "model":
            abstain = getattr(model, "abstain_", None)
            labels = [str(c) for c in model.classes_] + ([abstain.oos_label] if abstain is not None else [])
        else:
            labels = [part.strip() for part in labels.split(",") if part.strip()]
    if model.task == "needs_human" and dataset is not None:
        # weak labels: the same labelling functions as training, applied to the files under data_dir
        from triage.needs_human import needs_human_examples

        examples = needs_human_examples(dataset, split, data_dir=data_dir)
    elif model.task == "no_reply" and dataset is not None:
        from triage.no_reply import no_reply_examples

        examples = no_reply_examples(dataset, split, data_dir=data_dir)
    else:
        examples = load_examples(
            dataset=dataset,
            splits=parse_splits(split) if split else None,
            file=file,
            text_column=text_column,
            label_column=label_column,
            data_dir=data_dir,
            labels=labels,
        )
    if len(examples) == 0:
        raise InputError(f"{examples.source}: no labelled rows to evaluate on")
    start = time.perf_counter()
    brands = examples.frame["brand"].tolist() if "brand" in examples.frame.columns else None
    metrics = model_metrics(model, examples.texts, examples.labels, brands=brands)
    seconds = time.perf_counter() - start
    oos = {metrics.get("oos_label"), OOS_LABEL} if "oos_recall" in metrics else set()
    unknown = sorted(set(examples.labels) - set(model.classes_) - oos)
    metrics.update(
        {
            "model": str(model_dir),
            "task": model.task,
            "dataset": dataset or str(file),
            "split": split or "file",
            "unknown_labels": unknown,
            **({"labels_kept": list(labels)} if labels is not None else {}),
            "seconds": round(seconds, 3),
            "texts_per_second": round(len(examples) / seconds, 1) if seconds > 0 else None,
        }
    )
    if plot is None:
        stem = f"confusion_{Path(model_dir).name}_{dataset or Path(file).stem}_{split or 'file'}"
        plot = (Path(output).with_name(Path(output).stem + "_confusion.png") if output else Path(stem + ".png"))
    title = f"{Path(model_dir).name} on {metrics['dataset']} [{metrics['split']}]"
    metrics["confusion_png"] = str(plot_confusion_matrix(metrics["confusion_matrix"], metrics["labels"], plot, title=title))
    if metrics.get("reliability"):
        metrics["reliability_png"] = str(
            plot_reliability_diagram(
                metrics["reliability"], reliability_path(plot), title=title,
                ece=metrics.get("ece"), ece_floor=metrics.get("ece_floor"),
            )
        )
    if output is not None:
        out = Path(output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


def lookup_kind(path: str | os.PathLike[str]) -> str | None:
    """``"index"`` for a :class:`~triage.index.MentionIndex` folder, ``"duplicates"`` for a
    :class:`~triage.duplicates.DuplicateScorer` folder, else None (a classifier, or nothing)."""
    from triage.duplicates import DUPLICATES_FILE
    from triage.index import INDEX_FILE

    folder = Path(path)
    if (folder / INDEX_FILE).is_file():
        return "index"
    if (folder / DUPLICATES_FILE).is_file():
        return "duplicates"
    return None


def evaluate_lookup(
    path: str | os.PathLike[str],
    *,
    dataset: str,
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
) -> dict:
    """Evaluate an index or a duplicate scorer, with the options of :func:`evaluate_classifier`.

    ``pit2015_twitter_paraphrase``: ``f1``, ``average_precision``, ``threshold``, ``n`` of the duplicate
    decision (see :func:`triage.duplicates.evaluate_duplicates`). ``ibm_twitter_customer_care`` (an index):
    ``hit_at_1``, ``hit_at_5``, ``n`` of link suggestion with the dev conversations of the default data root as
    memory and ``split`` of ``data_dir`` as queries, leave-one-conversation-out on dev (see
    :func:`triage.links.evaluate_link_index`).
    """
    kind = lookup_kind(path)
    start = time.perf_counter()
    if dataset == "pit2015_twitter_paraphrase":
        from triage.duplicates import evaluate_duplicates

        metrics = evaluate_duplicates(path, split=split, data_dir=data_dir)
    elif dataset == "ibm_twitter_customer_care":
        if kind != "index":
            raise InputError(f"{path} is a duplicate scorer; link suggestion needs an index folder (triage index build).")
        from triage.links import evaluate_link_index

        metrics = evaluate_link_index(path, split=split, data_dir=data_dir)
    else:
        raise InputError(
            f"an {kind} is evaluated on pit2015_twitter_paraphrase (duplicates) or ibm_twitter_customer_care (links), "
            f"got --dataset {dataset!r}."
        )
    metrics.update({"model": str(path), "kind": kind, "dataset": dataset, "split": split,
                    "seconds": round(time.perf_counter() - start, 3)})
    if output is not None:
        out = Path(output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics
