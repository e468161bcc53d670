"""The default memory of answered mentions: what care teams already answered with a link, from the real data.

Two sources, both the customer's words next to the link the team answered with:

- ibm_twitter_customer_care ``dev``: the customer turns of each conversation before the agent sent a help
  document, and that document's URL (:func:`triage.links.care_conversations`);
- twcs: customer tweets whose brand reply carries a link and was labelled ``self_service`` by the weak
  labelling functions (a help link or self-help steps, not a hand-off to a person); the link is the first URL of
  the reply. Only the internal ``train`` threads are used, so that tuning on the ``validation`` threads and
  evaluation on the ``test`` threads never find a mention of their own conversation in the memory.

``python -m triage.answered models/index-answered`` builds and saves the index (``make demo`` does it).

Example:
    >>> frame = answered_mentions()            # doctest: +SKIP
    >>> frame.columns.tolist()                 # doctest: +SKIP
    ['id', 'text', 'link', 'brand', 'created_at', 'source']
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["answered_mentions", "build_answered_index"]

logger = logging.getLogger(__name__)

_URL = re.compile(r"https?://\S+")
COLUMNS = ["id", "text", "link", "brand", "created_at", "source"]


def _twcs_answered(data_dir: str | os.PathLike[str] | None, splits: tuple[str, ...]) -> pd.DataFrame:
    from triage.labelled import internal_split, split_keys
    from triage.needs_human import needs_human_examples
    from triage.scoring import _time
    from triage.weak_labels import load_twcs_tweets, twcs_evidence

    tweets = load_twcs_tweets(data_dir)
    evidence = twcs_evidence(tweets)
    labelled = needs_human_examples("twcs", "all", data_dir=data_dir).frame
    labelled = labelled[labelled["label"] == "self_service"]
    labelled = labelled[[part in splits for part in internal_split(split_keys(labelled))]]
    by_id = tweets.set_index("tweet_id")
    rows = []
    for tweet_id, text, brand in zip(labelled["tweet_id"], labelled["text"], labelled["brand"], strict=True):
        found = evidence.get(tweet_id)
        link = _URL.search(found.reply) if found is not None and found.reply else None
        if link is None:
            continue
        created = by_id.at[tweet_id, "created_at"] if tweet_id in by_id.index else None
        when = _time(created) if isinstance(created, str) else None
        rows.append({"id": f"twcs:{tweet_id}", "text": text, "link": link.group(0).rstrip(".,)"), "brand": brand,
                     "created_at": when.isoformat() if hasattr(when, "isoformat") else None, "source": "twcs"})
    return pd.DataFrame(rows, columns=COLUMNS)


def answered_mentions(
    data_dir: str | os.PathLike[str] | None = None, *, twcs_splits: tuple[str, ...] = ("train",)
) -> pd.DataFrame:
    """The answered mentions of the two sources, one row each: ``id, text, link, brand, created_at, source``."""
    from triage.links import care_conversations

    ibm = care_conversations("dev", data_dir=data_dir)
    ibm = ibm.assign(id="ibm:" + ibm["id"].astype(str), source="ibm_twitter_customer_care")
    ibm["created_at"] = [None if pd.isna(v) else str(v) for v in ibm["created_at"]]
    frames = [ibm[COLUMNS], _twcs_answered(data_dir, twcs_splits)]
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[frame["text"].map(lambda t: isinstance(t, str) and bool(t.strip()))]
    return frame.drop_duplicates("id").reset_index(drop=True)


def build_answered_index(
    output: str | os.PathLike[str] | None = None, *, encoder: str | dict[str, Any] = "minilm",
    data_dir: str | os.PathLike[str] | None = None,
) -> Any:
    """A :class:`~triage.index.MentionIndex` of :func:`answered_mentions`, saved to ``output`` when given."""
    from triage.index import MentionIndex

    frame = answered_mentions(data_dir)
    index = MentionIndex(encoder)
    index.add_batch(frame["id"].tolist(), frame["text"].tolist(), links=frame["link"].tolist(),
                    brands=frame["brand"].tolist(), created_at=frame["created_at"].tolist())
    logger.info("indexed %d answered mentions (%s)", len(frame), frame["source"].value_counts().to_dict())
    if output is not None:
        index.save(output)
    return index


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the index of answered mentions (IBM dev + twcs train threads).")
    parser.add_argument("output", type=Path)
    parser.add_argument("--encoder", default="minilm", choices=["minilm", "static"])
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    index = build_answered_index(args.output, encoder=args.encoder, data_dir=args.data_dir)
    print(f"{len(index)} answered mentions -> {args.output}")


if __name__ == "__main__":
    main()
