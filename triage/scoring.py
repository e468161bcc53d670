"""Batch scoring of mention files: stream in chunks, keep one output row per input row.

Rows that cannot be scored (missing id, empty or over-long text, wrong type, repeated id) are written
with an ``error`` and empty scores instead of being dropped.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from triage.artifacts import load_classifier
from triage.classifier import TextClassifier
from triage.errors import InputError
from triage.io import TableWriter, count_rows, iter_table, table_format
from triage.schema import text_problem

__all__ = ["ScoreSummary", "score_frame", "score_file"]

logger = logging.getLogger(__name__)


@dataclass
class ScoreSummary:
    """What a scoring run did: rows in and out, label counts, errors, speed."""

    input: str
    output: str
    rows: int = 0
    scored: int = 0
    errors: int = 0
    labels: Counter = field(default_factory=Counter)
    error_reasons: Counter = field(default_factory=Counter)
    examples: dict[str, tuple[float, str, str]] = field(default_factory=dict)
    """The most confident mention per label: (probability, id, text)."""
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def score_frame(
    model: TextClassifier,
    frame: pd.DataFrame,
    *,
    text_column: str = "text",
    id_column: str = "id",
    seen_ids: set[str] | None = None,
) -> pd.DataFrame:
    """Score one chunk: returns ``id``, ``<task>``, ``<task>_<label>`` per label and ``error``, in input order."""
    task = model.task
    ids: list[str | None] = []
    errors: list[str | None] = []
    for raw_id, text in zip(frame[id_column].tolist(), frame[text_column].tolist(), strict=True):
        problem = None
        if raw_id is None or (isinstance(raw_id, float) and np.isnan(raw_id)) or str(raw_id).strip() == "":
            problem, key = "id is missing", None
        else:
            key = str(raw_id)
            if seen_ids is not None:
                if key in seen_ids:
                    problem = f"id repeats an earlier row; ids must be unique within a file (id {key!r})"
                seen_ids.add(key)
        ids.append(key)
        problem = problem or text_problem(text)
        errors.append(problem)
    ok = np.array([e is None for e in errors], dtype=bool)
    labels = [str(c) for c in model.classes_]
    proba = np.full((len(frame), len(labels)), np.nan)
    predicted = np.full(len(frame), None, dtype=object)
    if ok.any():
        # one encoding pass; `predict` says `unknown` where a model trained with `abstain` abstains
        features = model.transform(frame[text_column][ok].tolist())
        proba[ok] = model.predict_proba_features(features)
        predicted[ok] = model.predict_features(features)
    # one frame from all columns at once: an intent model has 150 probability columns
    columns = {"id": ids, task: predicted, **{f"{task}_{label}": proba[:, j] for j, label in enumerate(labels)}}
    columns["error"] = errors
    return pd.DataFrame(columns)


def _keep_examples(summary: ScoreSummary, model: TextClassifier, texts: pd.Series, result: pd.DataFrame) -> None:
    ok = result["error"].isna().to_numpy()
    for label in model.classes_:
        column = result[f"{model.task}_{label}"].to_numpy()
        if not ok.any():
            return
        best = int(np.nanargmax(np.where(ok, column, -1.0)))
        if label not in summary.examples or column[best] > summary.examples[label][0]:
            summary.examples[str(label)] = (float(column[best]), str(result["id"].iloc[best]), str(texts.iloc[best]))


def score_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    model: TextClassifier | str | os.PathLike[str],
    text_column: str = "text",
    id_column: str = "id",
    chunksize: int = 2048,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> ScoreSummary:
    """Score every row of a CSV/JSONL/Parquet file and write the results (CSV or Parquet by extension).

    Args:
        input_path: mentions file with at least ``id_column`` and ``text_column``.
        output_path: result file; written to a temporary name and renamed when complete.
        model: a loaded classifier or the folder of one.
        text_column, id_column: column names in the input.
        chunksize: rows per chunk (memory stays bounded by one chunk).
        on_progress: called with (rows done, total rows or None) after each chunk.

    Returns:
        A :class:`ScoreSummary`. Output rows == input rows, always.
    """
    table_format(output_path)  # fail on a bad output extension before any work
    if Path(input_path).resolve() == Path(output_path).resolve():
        raise InputError(f"{output_path}: output would overwrite the input; choose another output path")
    if not isinstance(model, TextClassifier):
        model = load_classifier(model)
    total = count_rows(input_path)
    summary = ScoreSummary(input=str(input_path), output=str(output_path))
    seen: set[str] = set()
    start = time.perf_counter()
    with TableWriter(output_path) as writer:
        for chunk in iter_table(input_path, chunksize=chunksize):
            for column, option in ((id_column, "--id-column"), (text_column, "--text-column")):
                if column not in chunk.columns:
                    raise InputError(
                        f"{input_path}: no column {column!r}; columns are {list(chunk.columns)} "
                        f"(pass {option} with the right name)"
                    )
            result = score_frame(model, chunk, text_column=text_column, id_column=id_column, seen_ids=seen)
            writer.write(result)
            summary.rows += len(result)
            bad = result["error"].notna()
            summary.errors += int(bad.sum())
            summary.scored += int((~bad).sum())
            summary.labels.update(result.loc[~bad, model.task].tolist())
            summary.error_reasons.update(e.split(" (")[0] for e in result.loc[bad, "error"])
            _keep_examples(summary, model, chunk[text_column], result)
            if on_progress is not None:
                on_progress(summary.rows, total)
    summary.seconds = time.perf_counter() - start
    logger.info("scored %d rows (%d errors) in %.1fs", summary.rows, summary.errors, summary.seconds)
    return summary
