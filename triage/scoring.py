"""Batch scoring of mention files: stream in chunks, keep one output row per input row.

Two scorers: a :class:`~triage.pipeline.TriagePipeline` (every :class:`~triage.schema.TriageResult` field,
nested ones flattened or as JSON text; see :data:`RESULT_COLUMNS`) or a single classifier (its label and one
probability column per label). Rows that cannot be scored (missing id, empty or over-long text, wrong type,
repeated id, a bad Mention field) are written with an ``error`` instead of being dropped.

A pipeline reads ``id`` and ``text`` (or the columns named) and every other Mention field present as a column
of the same name: ``brand``, ``author``, ``created_at`` (ISO-8601, or twcs's ``Tue Oct 31 22:10:47 +0000
2017``), ``channel``, ``in_reply_to``, ``followers``, ``verified``; twcs's ``in_response_to_tweet_id`` and
``author_id`` are read as ``in_reply_to`` and ``author`` when those columns are absent.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from triage.artifacts import load_classifier
from triage.classifier import TextClassifier
from triage.errors import InputError
from triage.io import TableWriter, count_rows, iter_table, parse_time, table_format
from triage.schema import text_problem

if TYPE_CHECKING:
    from triage.pipeline import TriagePipeline
    from triage.schema import TriageResult

__all__ = ["ScoreSummary", "score_frame", "score_file", "mentions_from_frame", "results_frame", "RESULT_COLUMNS",
           "MENTION_COLUMNS"]

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
    """The most confident mention per label (per action for a pipeline): (probability, id, text)."""
    queues: Counter = field(default_factory=Counter)
    """Pipeline runs: mentions per human queue."""
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


# ---------------------------------------------------------------------------------------------- pipeline rows

MENTION_COLUMNS = ("brand", "author", "created_at", "channel", "in_reply_to", "followers", "verified")
# twcs's own column names for the same fields, read when the Mention name is not a column
COLUMN_ALIASES = {"in_reply_to": "in_response_to_tweet_id", "author": "author_id"}
# (name, arrow type): every TriageResult field; nested ones flattened, lists and dicts as JSON text
RESULT_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("id", pa.string()), ("action", pa.string()), ("link", pa.string()), ("queue", pa.string()),
    ("priority", pa.string()), ("review", pa.bool_()), ("intent", pa.string()), ("intent_confidence", pa.float64()),
    ("intent_top", pa.string()), ("sentiment", pa.string()), ("sentiment_negative", pa.float64()),
    ("sentiment_neutral", pa.float64()), ("sentiment_positive", pa.float64()), ("needs_human", pa.float64()),
    ("duplicate_of", pa.string()), ("duplicate_similarity", pa.float64()), ("duplicate_link", pa.string()),
    ("pii", pa.string()), ("redacted_text", pa.string()), ("reasons", pa.string()), ("versions", pa.string()),
    ("error", pa.string()),
)
RESULT_SCHEMA = pa.schema(list(RESULT_COLUMNS))
_FLOAT_ID = re.compile(r"^(\d+)\.0$")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or (isinstance(value, str) and not value.strip())


def _time(value: Any) -> Any:
    """ISO-8601 or twcs's created_at as a datetime; anything else is left for the Mention to reject."""
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            return value
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _mention_id(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        match = _FLOAT_ID.match(value.strip())
        return match.group(1) if match else value
    return value


def mentions_from_frame(frame: pd.DataFrame, *, text_column: str = "text", id_column: str = "id") -> list[dict]:
    """One Mention dict per row: ``id`` and ``text`` from the named columns, every other Mention field from the
    column of the same name when present (empty cells are None). Values are not validated here: the pipeline
    gives a row it cannot read an ``error``."""
    extra = {}  # Mention field -> column
    for name in MENTION_COLUMNS:
        column = name if name in frame.columns else COLUMN_ALIASES.get(name)
        if column in frame.columns and column not in (text_column, id_column):
            extra[name] = column
    rows = []
    for record in frame[[id_column, text_column, *extra.values()]].to_dict("records"):
        row = {"id": None if _missing(record[id_column]) else _mention_id(record[id_column]), "text": record[text_column]}
        for column, source in extra.items():
            value = record[source]
            if _missing(value):
                continue
            if column == "created_at":
                value = _time(value)
            elif column == "in_reply_to":
                value = _mention_id(value)
            row[column] = value
        rows.append(row)
    return rows


def results_frame(results: list[TriageResult]) -> pd.DataFrame:
    """Flatten results into the columns of :data:`RESULT_COLUMNS`, one row per result."""
    columns: dict[str, list] = {name: [] for name, _ in RESULT_COLUMNS}
    for r in results:
        intent, sentiment, duplicate = r.intent, r.sentiment, r.duplicate_of
        scores = sentiment.scores if sentiment else {}
        values = {
            "id": r.id, "action": r.action, "link": r.link, "queue": r.queue, "priority": r.priority,
            "review": r.review, "intent": intent.label if intent else None,
            "intent_confidence": intent.confidence if intent else None,
            "intent_top": json.dumps([[label, p] for label, p in intent.top]) if intent else None,
            "sentiment": sentiment.label if sentiment else None, "sentiment_negative": scores.get("negative"),
            "sentiment_neutral": scores.get("neutral"), "sentiment_positive": scores.get("positive"),
            "needs_human": r.needs_human, "duplicate_of": duplicate.id if duplicate else None,
            "duplicate_similarity": duplicate.similarity if duplicate else None,
            "duplicate_link": duplicate.link if duplicate else None,
            "pii": json.dumps(r.pii) if r.error is None else None, "redacted_text": r.redacted_text,
            "reasons": json.dumps(r.reasons) if r.error is None else None,
            "versions": json.dumps(r.versions, sort_keys=True), "error": r.error,
        }
        for name in columns:
            columns[name].append(values[name])
    frame = pd.DataFrame(columns)
    for name, kind in RESULT_COLUMNS:  # keep numbers numeric when a whole chunk has none
        if pa.types.is_floating(kind):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


def pipeline_frame(pipeline: TriagePipeline, frame: pd.DataFrame, *, text_column: str = "text", id_column: str = "id",
                   seen_ids: set[str] | None = None) -> pd.DataFrame:
    """Triage one chunk: :func:`results_frame` of the pipeline's results, in input order; an id repeated from an
    earlier chunk (``seen_ids``) keeps an error row."""
    from triage.schema import TriageResult

    rows = mentions_from_frame(frame, text_column=text_column, id_column=id_column)
    repeated = [seen_ids is not None and row["id"] is not None and str(row["id"]) in seen_ids for row in rows]
    fresh = [row for row, again in zip(rows, repeated, strict=True) if not again]
    results = iter(pipeline.predict(fresh))
    out = []
    for row, again in zip(rows, repeated, strict=True):
        if again:
            out.append(TriageResult.failed(str(row["id"]), f"id repeats an earlier row; ids must be unique within a file "
                                           f"(id {row['id']!r})"))
        else:
            out.append(next(results))
        if seen_ids is not None and row["id"] is not None:
            seen_ids.add(str(row["id"]))
    return results_frame(out)


def _keep_action_examples(summary: ScoreSummary, result: pd.DataFrame) -> None:
    ok = result[result["error"].isna()]
    for action, group in ok.groupby("action"):
        best = group["intent_confidence"].fillna(0.0).idxmax()
        p = float(group.at[best, "intent_confidence"] or 0.0)
        if action not in summary.examples or p > summary.examples[action][0]:
            summary.examples[str(action)] = (p, str(group.at[best, "id"]), str(group.at[best, "redacted_text"]))


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
    model: TextClassifier | str | os.PathLike[str] | None = None,
    pipeline: TriagePipeline | str | os.PathLike[str] | None = None,
    text_column: str = "text",
    id_column: str = "id",
    chunksize: int = 2048,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> ScoreSummary:
    """Score every row of a CSV/JSONL/Parquet file and write the results (CSV, JSONL or Parquet by extension).

    Args:
        input_path: mentions file with at least ``id_column`` and ``text_column``.
        output_path: result file; written to a temporary name and renamed when complete.
        model: a loaded classifier or the folder of one (its label and probabilities per row), or
        pipeline: a loaded :class:`~triage.pipeline.TriagePipeline` or its folder (every TriageResult field).
        text_column, id_column: column names in the input.
        chunksize: rows per chunk (memory stays bounded by one chunk).
        on_progress: called with (rows done, total rows or None) after each chunk.

    Returns:
        A :class:`ScoreSummary` (label counts are actions for a pipeline). Output rows == input rows, always.
    """
    if (model is None) == (pipeline is None):
        raise InputError("score with a model or a pipeline (give exactly one)")
    table_format(output_path)  # fail on a bad output extension before any work
    if Path(input_path).resolve() == Path(output_path).resolve():
        raise InputError(f"{output_path}: output would overwrite the input; choose another output path")
    if pipeline is not None:
        from triage.pipeline import TriagePipeline

        if not isinstance(pipeline, TriagePipeline):
            pipeline = TriagePipeline.load(pipeline)
    elif not isinstance(model, TextClassifier):
        model = load_classifier(model)
    total = count_rows(input_path)
    summary = ScoreSummary(input=str(input_path), output=str(output_path))
    seen: set[str] = set()
    start = time.perf_counter()
    with TableWriter(output_path, schema=RESULT_SCHEMA if pipeline is not None else None) as writer:
        for chunk in iter_table(input_path, chunksize=chunksize):
            for column, option in ((id_column, "--id-column"), (text_column, "--text-column")):
                if column not in chunk.columns:
                    raise InputError(
                        f"{input_path}: no column {column!r}; columns are {list(chunk.columns)} "
                        f"(pass {option} with the right name)"
                    )
            if pipeline is not None:
                result = pipeline_frame(pipeline, chunk, text_column=text_column, id_column=id_column, seen_ids=seen)
                label_column = "action"
            else:
                result = score_frame(model, chunk, text_column=text_column, id_column=id_column, seen_ids=seen)
                label_column = model.task
            writer.write(result)
            summary.rows += len(result)
            bad = result["error"].notna()
            summary.errors += int(bad.sum())
            summary.scored += int((~bad).sum())
            summary.labels.update(result.loc[~bad, label_column].tolist())
            summary.error_reasons.update(e.split(" (")[0] for e in result.loc[bad, "error"])
            if pipeline is not None:
                summary.queues.update(q for q in result.loc[~bad, "queue"] if isinstance(q, str))
                _keep_action_examples(summary, result)
            else:
                _keep_examples(summary, model, chunk[text_column], result)
            if on_progress is not None:
                on_progress(summary.rows, total)
    summary.seconds = time.perf_counter() - start
    logger.info("scored %d rows (%d errors) in %.1fs", summary.rows, summary.errors, summary.seconds)
    return summary
