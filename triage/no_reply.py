"""Weak ``no_reply`` labels: which customer mentions real care teams left unanswered.

Some mentions need no reply at all: thanks and praise, venting with no request, chatter. The twcs excerpts
that hold whole conversations (``first5000/twcs.csv`` and ``kaggle_sample/sample.csv``: the brands' replies
are in the files) show what the brands did: a customer tweet that no brand tweet answers is labelled
``no_reply``; one that a brand answered is ``reply``. The SpotifyCares file is left out: it lists customer
tweets only, so an answer cannot be seen.

The labels are noisy (a brand answers the first of three tweets, or misses a question), so the model
trained on them is one signal for the policy's ``no_reply`` rule (see :mod:`triage.policy`), next to the
sentiment and intent heads and the policy's text cues, never the decision alone.

Optionally, the Twitter US Airline Sentiment tweets add praise (``positive`` -> ``no_reply``) and complaints
with a reason (``negative`` -> ``reply``); ``benchmarks/no_reply.py`` measures whether that helps.

Example:
    >>> frame = no_reply_frame()                       # doctest: +SKIP
    >>> frame["label"].value_counts().to_dict()        # doctest: +SKIP
    {'reply': 1697, 'no_reply': 514}
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from triage.errors import InputError

__all__ = [
    "NO_REPLY", "REPLY", "NO_REPLY_LABELS", "NO_REPLY_TWCS_FILES", "no_reply_frame", "airline_no_reply_frame",
    "no_reply_examples",
]

NO_REPLY = "no_reply"
REPLY = "reply"
NO_REPLY_LABELS = (NO_REPLY, REPLY)
# the excerpts whose brand replies are in the data
NO_REPLY_TWCS_FILES = ("kaggle_sample/sample.csv", "first5000/twcs.csv")
COLUMNS = ["text", "label", "brand", "thread_id", "tweet_id", "in_reply_to", "source"]


def _is_true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def no_reply_frame(
    data_dir: str | os.PathLike[str] | None = None, *, files: Sequence[str] | None = None
) -> pd.DataFrame:
    """Every customer tweet of the twcs excerpts with brand replies, labelled ``reply`` / ``no_reply``.

    Args:
        data_dir: dataset root holding ``twcs/`` (or the twcs folder); default the registry's root.
        files: which excerpts (default: those of :data:`NO_REPLY_TWCS_FILES` that are present).

    Returns:
        ``text``, ``label``, ``brand`` (the brand of the thread), ``thread_id``, ``tweet_id``, ``in_reply_to``
        (the tweet it answers, or None), ``source``.

    Raises:
        DatasetError: none of the files is there.
    """
    from triage.weak_labels import _twcs_folder, load_twcs_tweets

    if files is None:
        folder = _twcs_folder(data_dir)
        files = [f for f in NO_REPLY_TWCS_FILES if (folder / f).is_file()] or list(NO_REPLY_TWCS_FILES)
    tweets = load_twcs_tweets(data_dir, files=files)
    inbound = tweets["inbound"].map(_is_true)
    answered = set(tweets.loc[~inbound, "in_response_to_tweet_id"].dropna().astype(str))
    customer = tweets[inbound & tweets["text"].map(lambda t: isinstance(t, str) and bool(t.strip()))]
    parent = customer["in_response_to_tweet_id"]
    frame = pd.DataFrame({
        "text": customer["text"].tolist(),
        "label": [REPLY if str(t) in answered else NO_REPLY for t in customer["tweet_id"]],
        "brand": customer["brand"].tolist(),
        "thread_id": customer["thread_id"].astype(str).tolist(),
        "tweet_id": customer["tweet_id"].astype(str).tolist(),
        "in_reply_to": [None if pd.isna(p) else str(p) for p in parent],
        "source": ["twcs:" + str(s) for s in customer["source_file"]],
    })
    return frame.reset_index(drop=True)[COLUMNS]


def airline_no_reply_frame(data_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Airline tweets as extra weak labels: praise (``positive``) -> ``no_reply``; a complaint with a reason
    (``negative``, ``negativereason`` not ``Can't Tell``) -> ``reply``. Neutral tweets (often questions, often
    chatter) are left out. ``thread_id`` is the tweet id (each tweet stands alone)."""
    from triage.registry import load_dataset

    frame = load_dataset("twitter_airline_sentiment", splits=["all"], data_dir=data_dir)["all"].to_pandas()
    for column in ("text", "label", "tweet_id"):
        if column not in frame.columns:
            raise InputError(f"twitter_airline_sentiment: expected a {column!r} column, found {list(frame.columns)}")
    reason = frame["negativereason"] if "negativereason" in frame.columns else pd.Series([None] * len(frame))
    praise = frame["label"] == "positive"
    complaint = (frame["label"] == "negative") & reason.notna() & (reason != "Can't Tell")
    kept = frame[praise | complaint]
    brand = kept["airline"] if "airline" in kept.columns else None
    return pd.DataFrame({
        "text": kept["text"].tolist(),
        "label": [NO_REPLY if p else REPLY for p in praise[praise | complaint]],
        "brand": brand.tolist() if brand is not None else [None] * len(kept),
        "thread_id": ["airline:" + str(t) for t in kept["tweet_id"]],
        "tweet_id": kept["tweet_id"].astype(str).tolist(),
        "in_reply_to": [None] * len(kept),
        "source": ["twitter_airline_sentiment"] * len(kept),
    })[COLUMNS].reset_index(drop=True)


def no_reply_examples(dataset: str, split: str, *, data_dir: str | os.PathLike[str] | None = None):  # -> Examples
    """Weak ``no_reply`` labels of ``dataset`` as :class:`~triage.labelled.Examples`.

    ``dataset``: ``twcs`` (:func:`no_reply_frame`) or ``twitter_airline_sentiment``
    (:func:`airline_no_reply_frame`). ``split``: ``all``, or ``train`` / ``validation`` / ``test`` of the
    deterministic internal split by thread (the one training and ``triage evaluate`` use).

    Raises:
        InputError: another dataset or split.
    """
    from triage.labelled import INTERNAL_SPLITS, Examples, internal_split, split_keys

    builders = {"twcs": no_reply_frame, "twitter_airline_sentiment": airline_no_reply_frame}
    if dataset not in builders:
        raise InputError(f"no_reply labels are derived from {sorted(builders)} (or give a labelled --file); found {dataset!r}")
    if split != "all" and split not in INTERNAL_SPLITS:
        raise InputError(f"{dataset} splits for no_reply: all, {', '.join(INTERNAL_SPLITS)}; found {split!r}")
    frame = builders[dataset](data_dir)
    if split != "all":
        frame = frame[internal_split(split_keys(frame)) == split]
    frame = frame.reset_index(drop=True)
    return Examples(frame["text"].tolist(), frame["label"].tolist(), frame, f"{dataset}[{split}] (no_reply weak labels)")
