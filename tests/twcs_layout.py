"""Write a folder with the twcs layout from the hand-written threads of data/fixtures/needs_human_threads.csv.

Each fixture row is one conversation: a customer tweet, the brand's reply and optionally the customer's
follow-up. The three excerpts' quirks are kept: ``first5000/twcs.csv`` has a leading pandas index column and
float ``in_response_to_tweet_id``; ``spotifycares_requests/support_requests.csv`` has two leading columns and
only customer (inbound) tweets, so its brand replies are missing; ``kaggle_sample/sample.csv`` has the 7 columns.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
THREADS = REPO / "data" / "fixtures" / "needs_human_threads.csv"
COLUMNS = ["tweet_id", "author_id", "inbound", "created_at", "text", "response_tweet_id", "in_response_to_tweet_id"]
# fixture rows (0-based) whose brand reply is left out and which go to the SpotifyCares-style file
MISSING_REPLY = (1, 9)


def threads() -> pd.DataFrame:
    """The fixture conversations, with ``expected`` None where every labelling function abstains."""
    frame = pd.read_csv(THREADS, dtype=str, keep_default_na=False)
    frame["expected"] = pd.Series([value or None for value in frame["expected"]], dtype=object)
    return frame


def conversation_rows(index: int, row: pd.Series, copy: int = 0) -> list[dict]:
    """The tweets of fixture conversation ``index``: ids 1000*(index+1) + 1 (customer), +2 (reply), +3 (follow-up);
    copy ``k`` > 0 adds 100000*k to the ids and " (k)" to the customer's text."""
    base = 1000 * (index + 1) + 100_000 * copy
    customer, reply, followup = str(base + 1), str(base + 2), str(base + 3)
    author = str(500 + index)
    time = "Tue Oct 31 22:10:47 +0000 2017"
    rows = [
        {"tweet_id": customer, "author_id": author, "inbound": "True", "created_at": time,
         "text": row["customer"] + (f" ({copy})" if copy else ""),
         "response_tweet_id": reply, "in_response_to_tweet_id": ""},
        {"tweet_id": reply, "author_id": row["brand"], "inbound": "False", "created_at": time,
         "text": row["reply"].replace("{c}", author), "response_tweet_id": followup if row["followup"] else "",
         "in_response_to_tweet_id": customer},
    ]
    if row["followup"]:
        rows.append({"tweet_id": followup, "author_id": author, "inbound": "True", "created_at": time,
                     "text": row["followup"], "response_tweet_id": "", "in_response_to_tweet_id": reply})
    return rows


def write_twcs_layout(
    root: Path, *, files: tuple[str, ...] = ("kaggle", "first5000", "spotify"), copies: int = 1
) -> Path:
    """Write ``root/twcs/...`` from the fixture and return ``root``; ``files`` picks the excerpts to write;
    ``copies`` > 1 repeats every conversation with new ids (more threads for a split)."""
    frame = threads()
    folder = root / "twcs"
    first5000, kaggle, spotify = [], [], []
    for copy in range(copies):
        for index, row in frame.iterrows():
            _place(conversation_rows(int(index), row, copy), int(index), first5000, kaggle, spotify)
    _write(folder, files, first5000, kaggle, spotify)
    return root


def _place(rows: list[dict], index: int, first5000: list, kaggle: list, spotify: list) -> None:
    if index in MISSING_REPLY:
        spotify.extend(r for r in rows if r["inbound"] == "True")
    elif index % 2 == 0:
        first5000.extend(rows)
    else:
        kaggle.extend(rows)


def _write(folder: Path, files: tuple[str, ...], first5000: list, kaggle: list, spotify: list) -> None:
    if "first5000" in files:
        path = folder / "first5000" / "twcs.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["", *COLUMNS])
            for i, r in enumerate(first5000):
                reply_to = f"{r['in_response_to_tweet_id']}.0" if r["in_response_to_tweet_id"] else ""
                writer.writerow([i, *[r[c] for c in COLUMNS[:-1]], reply_to])
    if "kaggle" in files:
        path = folder / "kaggle_sample" / "sample.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(COLUMNS)
            writer.writerows([r[c] for c in COLUMNS] for r in kaggle)
    if "spotify" in files:
        path = folder / "spotifycares_requests" / "support_requests.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["", "index", *COLUMNS])
            for i, r in enumerate(spotify):
                reply_to = f"{r['in_response_to_tweet_id']}.0" if r["in_response_to_tweet_id"] else ""
                writer.writerow([i, 100 + i, *[r[c] for c in COLUMNS[:-1]], reply_to])
