"""Weak no_reply labels (answered or not by the brand), the labeller in recipes, and evaluation keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from twcs_layout import MISSING_REPLY, _place, _write, conversation_rows, threads

from triage.errors import InputError
from triage.evaluation import evaluate_classifier
from triage.no_reply import NO_REPLY, REPLY, no_reply_examples, no_reply_frame
from triage.recipes import Recipe
from triage.training import train_recipe

SMALL_TFIDF = {"kind": "tfidf", "min_df": 1, "max_features": 5000, "char_ngram_range": [2, 4]}
THANKS = ["thanks, all sorted now!", "great, that worked, cheers", "brilliant thank you so much"]


def write_layout(root: Path, copies: int = 1) -> Path:
    """The twcs fixture conversations, each closed by the customer's unanswered thank-you."""
    frame = threads()
    first5000: list = []
    kaggle: list = []
    spotify: list = []
    for copy in range(copies):
        for index, row in frame.iterrows():
            row = row.copy()
            row["followup"] = THANKS[int(index) % len(THANKS)] + (f" ({copy})" if copy else "")
            _place(conversation_rows(int(index), row, copy), int(index), first5000, kaggle, spotify)
    _write(root / "twcs", ("kaggle", "first5000", "spotify"), first5000, kaggle, spotify)
    return root


def test_answered_customer_tweets_are_reply_and_unanswered_follow_ups_no_reply(tmp_path: Path) -> None:
    write_layout(tmp_path)
    frame = no_reply_frame(tmp_path)
    fixture = threads()
    kept = [i for i in range(len(fixture)) if i not in MISSING_REPLY]  # SpotifyCares rows have no visible replies
    firsts = frame[frame["in_reply_to"].isna()]
    follow_ups = frame[frame["in_reply_to"].notna()]
    assert sorted(firsts["text"]) == sorted(fixture.loc[kept, "customer"])
    assert set(firsts["label"]) == {REPLY}  # every first tweet got the brand's reply
    expected_follow_ups = [THANKS[i % len(THANKS)] for i in kept]
    assert sorted(follow_ups["text"]) == sorted(expected_follow_ups)
    assert set(follow_ups["label"]) == {NO_REPLY}  # no brand tweet answers the follow-ups
    assert frame["brand"].notna().all() and frame["thread_id"].notna().all()
    assert not frame["source"].str.contains("spotify").any()


def test_no_reply_examples_reject_other_datasets_and_splits(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no_reply labels are derived"):
        no_reply_examples("banking77", "all")
    with pytest.raises(InputError, match="splits for no_reply"):
        no_reply_examples("twcs", "dev", data_dir=tmp_path)
    with pytest.raises(ValueError, match="works on dataset twcs or twitter_airline_sentiment"):
        Recipe.model_validate({"name": "n", "task": "no_reply", "encoder": "tfidf",
                               "data": {"train": {"dataset": "clinc150", "labeller": "no_reply"}}})


def test_a_no_reply_model_trains_and_evaluates_on_a_twcs_layout(tmp_path: Path) -> None:
    write_layout(tmp_path / "data", copies=3)
    recipe = Recipe.model_validate({
        "name": "nr", "task": "no_reply", "encoder": SMALL_TFIDF, "head": {"C": 10.0},
        "data": {"train": {"dataset": "twcs", "labeller": "no_reply", "data_dir": str(tmp_path / "data")}},
    })
    run = train_recipe(recipe, output=tmp_path / "model")
    assert run.model.classes_.tolist() == [NO_REPLY, REPLY]
    write_layout(tmp_path / "heldout")
    m = evaluate_classifier(tmp_path / "model", dataset="twcs", split="all", data_dir=tmp_path / "heldout",
                            output=tmp_path / "metrics.json")
    assert m["n"] == len(no_reply_frame(tmp_path / "heldout"))
    # the training copies hold the same texts: the model separates the fixture's thanks from its requests
    assert m["roc_auc"] > 0.9 and "average_precision" in m
