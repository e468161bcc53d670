"""Evaluate a trained classifier on a registry split or a labelled file.

The keys written (``n``, ``accuracy``, ``macro_f1``, ``macro_recall``, ``ece``, ``per_class``) and the
``triage evaluate`` options are a stable contract that outside evaluation relies on.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from triage.artifacts import load_classifier
from triage.errors import InputError
from triage.labelled import load_examples
from triage.metrics import classification_metrics, plot_confusion_matrix

__all__ = ["evaluate_classifier"]


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
) -> dict:
    """Score a labelled split with the model in ``model_dir`` and return the metrics dict.

    Args:
        model_dir: a classifier folder written by ``triage train``.
        dataset, split: a registry dataset and split (``train``/``validation``/``test`` of a dataset
            that ships only ``all`` are its deterministic internal split).
        file, text_column, label_column: alternatively, the user's own labelled CSV/JSONL/Parquet file.
        data_dir: dataset root (a folder holding e.g. only held-out files loads the same way).
        output: where to write the metrics as JSON (optional).
        plot: where to save the confusion-matrix PNG; default beside ``output`` or in the working folder.

    Returns:
        ``n``, ``accuracy``, ``macro_f1``, ``macro_recall``, ``ece``, ``per_class``, ``labels``,
        ``confusion_matrix``, plus ``model``, ``dataset``, ``split``, ``seconds`` and ``confusion_png``.
    """
    if dataset is not None and split is None:
        raise InputError("--split is required with --dataset (e.g. --split val or --split test)")
    model = load_classifier(model_dir)
    examples = load_examples(
        dataset=dataset,
        splits=[split] if split else None,
        file=file,
        text_column=text_column,
        label_column=label_column,
        data_dir=data_dir,
    )
    if len(examples) == 0:
        raise InputError(f"{examples.source}: no labelled rows to evaluate on")
    start = time.perf_counter()
    proba = model.predict_proba(examples.texts)
    seconds = time.perf_counter() - start
    predicted = model.classes_[proba.argmax(axis=1)]
    metrics = classification_metrics(examples.labels, predicted, proba, model.classes_)
    unknown = sorted(set(examples.labels) - set(model.classes_))
    metrics.update(
        {
            "model": str(model_dir),
            "task": model.task,
            "dataset": dataset or str(file),
            "split": split or "file",
            "unknown_labels": unknown,
            "seconds": round(seconds, 3),
            "texts_per_second": round(len(examples) / seconds, 1) if seconds > 0 else None,
        }
    )
    if plot is None:
        stem = f"confusion_{Path(model_dir).name}_{dataset or Path(file).stem}_{split or 'file'}"
        plot = (Path(output).with_name(Path(output).stem + "_confusion.png") if output else Path(stem + ".png"))
    metrics["confusion_png"] = str(
        plot_confusion_matrix(
            metrics["confusion_matrix"], metrics["labels"], plot,
            title=f"{Path(model_dir).name} on {metrics['dataset']} [{metrics['split']}]",
        )
    )
    if output is not None:
        out = Path(output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics
