"""Labelled examples for training and evaluation, from registry datasets or the user's own files.

Also the deterministic internal split used for datasets that ship no split of their own: a row's part
depends only on a hash of its key (``thread_id`` where present, else ``tweet_id``, else the text), so training and
``triage evaluate --split test`` always agree and no file is ever moved.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from triage.errors import DatasetError, InputError
from triage.io import read_table
from triage.text import match_key

__all__ = [
    "INTERNAL_SPLITS",
    "Examples",
    "internal_split",
    "split_keys",
    "load_examples",
    "load_split",
]

INTERNAL_SPLITS = ("train", "validation", "test")
_SALT = "triage-internal-split-v1"
_FRACTIONS = {"validation": 0.1, "test": 0.2}


@dataclass
class Examples:
    """Texts with their labels (and the rest of the columns, for task-specific use)."""

    texts: list[str]
    labels: list[str]
    frame: pd.DataFrame = field(repr=False)
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, mask: np.ndarray) -> Examples:
        """Rows where ``mask`` is true."""
        frame = self.frame[mask].reset_index(drop=True)
        return Examples(frame["text"].tolist(), frame["label"].tolist(), frame, self.source)


def internal_split(keys: Sequence[str]) -> np.ndarray:
    """Assign each key to ``train`` (70%), ``validation`` (10%) or ``test`` (20%) by a salted sha1.

    The salt keeps this split independent of the hash splits that produced the dataset files.

    Example:
        >>> internal_split(["570306133677760513"]).tolist() == internal_split(["570306133677760513"]).tolist()
        True
    """
    parts = np.empty(len(keys), dtype=object)
    for i, key in enumerate(keys):
        bucket = int(hashlib.sha1(f"{_SALT}:{key}".encode()).hexdigest(), 16) % 1000 / 1000
        if bucket < _FRACTIONS["test"]:
            parts[i] = "test"
        elif bucket < _FRACTIONS["test"] + _FRACTIONS["validation"]:
            parts[i] = "validation"
        else:
            parts[i] = "train"
    return parts


def split_keys(frame: pd.DataFrame) -> list[str]:
    """The key each row is split by: ``thread_id`` when every row has one (a conversation never lands in two
    parts), else ``tweet_id`` when every row has one, else the text's match key.

    Example:
        >>> split_keys(pd.DataFrame({"text": ["a", "b"], "tweet_id": ["1", "2"], "thread_id": ["1", "1"]}))
        ['1', '1']
    """
    if "thread_id" in frame.columns and frame["thread_id"].notna().all():
        return frame["thread_id"].astype(str).tolist()
    if "tweet_id" in frame.columns and frame["tweet_id"].notna().all():
        return frame["tweet_id"].astype(str).tolist()
    return [match_key(t) for t in frame["text"]]


def _finish(
    frame: pd.DataFrame,
    *,
    source: str,
    text_column: str,
    label_column: str,
    label_map: dict[str, str] | None,
    labels: Sequence[str] | None,
) -> Examples:
    for column, what in ((text_column, "text"), (label_column, "label")):
        if column not in frame.columns:
            raise InputError(
                f"{source}: no column {column!r} for the {what}; columns are {list(frame.columns)} "
                f"(set {what}_column to one of them)"
            )
    renames = {text_column: "text", label_column: "label"}
    # a registry column that another column replaces (airline `label` when the label is `negativereason`)
    # is kept as `original_<name>`, so the frame never holds two columns of one name
    renames.update({name: f"original_{name}" for name in ("text", "label") if name in frame.columns and name not in renames})
    frame = frame.rename(columns=renames) if any(k != v for k, v in renames.items()) else frame.copy()
    if labels is not None and not label_map:
        # rows outside the kept labels go first, so a column that is empty on other rows (airline tweets'
        # `negativereason` is set only on negative ones) can be the label of the rows that are kept
        frame = frame[frame["label"].isin(list(labels))]
    missing = frame["label"].isna()
    if missing.any():
        rows = np.flatnonzero(missing.to_numpy())[:5].tolist()
        raise InputError(f"{source}: {int(missing.sum())} rows have no label (first rows {rows}); label them or drop them")
    bad_text = frame["text"].map(lambda t: not isinstance(t, str) or not t.strip())
    if bad_text.any():
        rows = np.flatnonzero(bad_text.to_numpy())[:5].tolist()
        raise InputError(f"{source}: {int(bad_text.sum())} rows have empty or non-text {text_column!r} (first rows {rows})")
    frame["label"] = frame["label"].map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    if label_map:
        frame["label"] = frame["label"].map(lambda v: label_map.get(v, v))
    if labels is not None:
        frame = frame[frame["label"].isin(list(labels))]
    frame = frame.reset_index(drop=True)
    return Examples(frame["text"].tolist(), frame["label"].tolist(), frame, source)


def load_split(name: str, split: str, *, data_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """One registry split as a DataFrame; ``train``/``validation``/``test`` of a dataset that ships only
    ``all`` are derived with :func:`internal_split`.
    """
    from triage.registry import load_dataset

    try:
        return load_dataset(name, data_dir=data_dir, splits=[split])[split].to_pandas()
    except DatasetError:
        if split not in INTERNAL_SPLITS:
            raise
        try:
            whole = load_dataset(name, data_dir=data_dir, splits=["all"])["all"].to_pandas()
        except DatasetError:
            raise DatasetError(
                f"dataset {name!r} has no split {split!r} under the data root, and no 'all' split to derive it from"
            ) from None
        return whole[internal_split(split_keys(whole)) == split].reset_index(drop=True)


def load_examples(
    *,
    dataset: str | None = None,
    splits: Sequence[str] | None = None,
    file: str | os.PathLike[str] | None = None,
    text_column: str = "text",
    label_column: str = "label",
    data_dir: str | os.PathLike[str] | None = None,
    label_map: dict[str, str] | None = None,
    labels: Sequence[str] | None = None,
) -> Examples:
    """Labelled texts from a registry dataset (``dataset`` + ``splits``) or a CSV/JSONL/Parquet ``file``.

    Example:
        >>> ex = load_examples(dataset="tweeteval_sentiment", splits=["val"])   # doctest: +SKIP
        >>> len(ex), sorted(set(ex.labels))                                     # doctest: +SKIP
        (2000, ['negative', 'neutral', 'positive'])
    """
    if (dataset is None) == (file is None):
        raise InputError("give exactly one of dataset= (a registry name) or file= (a CSV, JSONL or Parquet path)")
    if file is not None:
        frame = read_table(file)
        source = str(file)
    else:
        from triage.registry import dataset_info, load_dataset

        info = dataset_info(dataset)
        if info.label_column is None and label_column == "label":
            raise InputError(
                f"{dataset} is unlabelled ({info.task}): it has no label to train on or score against. "
                "Needs-human and no-reply models take weak labels from it (their recipes, or `triage evaluate "
                f"MODEL --dataset {dataset} --split all` with a model of those tasks); for other models use a "
                "labelled dataset or your own labelled file (--file PATH --label-column NAME)."
            )
        chosen = list(splits) if splits else list(load_dataset(dataset, data_dir=data_dir).keys())
        frames = []
        for split in chosen:
            part = load_split(dataset, split, data_dir=data_dir)
            part["split"] = split
            frames.append(part)
        frame = pd.concat(frames, ignore_index=True)
        source = f"{dataset}[{'+'.join(chosen)}]"
    return _finish(frame, source=source, text_column=text_column, label_column=label_column,
                   label_map=label_map, labels=labels)
