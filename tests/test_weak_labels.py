"""Weak needs-human labels: each labelling function, conflict resolution, threads and the thread split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from twcs_layout import MISSING_REPLY, threads, write_twcs_layout

from triage.errors import DatasetError, InputError
from triage.labelled import internal_split, split_keys
from triage.paths import resolve_data_dir
from triage.weak_labels import (
    HUMAN,
    SELF_SERVICE,
    Evidence,
    apply_lfs,
    followup_sent_dm,
    followup_tried_fix,
    ibm_help_document,
    label_ibm,
    label_twcs,
    load_twcs_tweets,
    needs_human_frame,
    reply_contact_or_escalate,
    reply_help_link,
    reply_private_channel,
    reply_self_help_steps,
    resolve,
    twcs_evidence,
    twcs_thread_ids,
    weak_label_report,
)

real_data = pytest.mark.skipif(
    not (resolve_data_dir() / "twcs" / "first5000").is_dir(), reason="../shared/data is not beside the repository"
)


def reply(text: str) -> Evidence:
    return Evidence(reply=text)


def followup(text: str) -> Evidence:
    return Evidence(followup=text)


# ------------------------------------------------------------------------------------------------------------
# Each labelling function: fires on what it is for, abstains on what it must not fire on
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "@123 Please send us a DM with your order number.",
        "@123 Yes dm please.",
        "@123 Could you send us a direct message with your details?",
        "@123 Let's take this to private message so we can help.",
        "@123 Would you mind following us and sending a DM when you are?",
        "@123 Please check your DMs for assistance.",
        "@123 Live chat is available on the help page from 5am to 6pm.",
        "@123 Por favor síguenos para más instrucciones en mensaje directo.",
    ],
)
def test_reply_private_channel_fires(text: str) -> None:
    assert reply_private_channel(reply(text)) == HUMAN


@pytest.mark.parametrize(
    "text",
    [
        "@123 Try restarting the app and let us know.",
        "@123 Thanks for the shout-out, enjoy your flight!",
        "@123 Admission to the museum is free on Sundays.",  # "admission" contains "dm" but is not a DM
        "@123 Here's how to reset it: https://t.co/abc. If that doesn't help, send us a DM.",  # a fallback offer
        "@123 Feel free to message us any time in the future.",
        "@123 Flights to Baltimore md are on time today.",  # Spanish "MD" counts only in capitals
    ],
)
def test_reply_private_channel_abstains(text: str) -> None:
    assert reply_private_channel(reply(text)) is None


@pytest.mark.parametrize(
    "text",
    [
        "@123 You'd need to contact our Aftersales team on 0344 556 5650 from 8am",
        "@123 Please give us a call so we can sort this out.",
        "@123 Please email us with your booking reference.",
        "@123 We've escalated your concern to our team.",
        "@123 A specialist will reach out to you shortly.",
        "@123 We'll look into your account and get back to you.",
        "@123 Please provide your details here: https://t.co/form and we'll be in touch.",
        "@123 Please create a support ticket so we may assist you one-on-one. https://support.example.com/x",
        "@123 Please send us an email at https://help.example.net/hc/en-us/requests/new",
    ],
)
def test_reply_contact_or_escalate_fires(text: str) -> None:
    assert reply_contact_or_escalate(reply(text)) == HUMAN


@pytest.mark.parametrize(
    "text",
    [
        "@123 Thanks for the kind words!",
        "@123 The update will be out next week.",
        "@123 Glad it's downloading, feel free to contact us if you have further concerns.",  # a fallback
        "@123 If the issue persists, please give us a call.",
        "@123 Flight 2471 departs at 10am from gate 12.",  # numbers that are not a phone number after "at"/"on"
    ],
)
def test_reply_contact_or_escalate_abstains(text: str) -> None:
    assert reply_contact_or_escalate(reply(text)) is None


@pytest.mark.parametrize(
    "text",
    [
        "@123 You can find info on adding household members here: https://t.co/i3uumZzaok",
        "@123 Check out the user guide: https://t.co/vRQn",
        "@123 This article explains it https://support.example.com/articles/42",
        "@123 https://help.example.com/reset",  # a help URL needs no words around it
        "@123 Maybe this will help: https://t.co/J54lzfKQf4.",
    ],
)
def test_reply_help_link_fires(text: str) -> None:
    assert reply_help_link(reply(text)) == SELF_SERVICE


@pytest.mark.parametrize(
    "text",
    [
        "@123 Here's how: go to Settings and tap Reset.",  # steps but no link: that is reply_self_help_steps
        "@123 Nice shot, thanks for sharing! https://t.co/abc",  # a link that is not an answer
        "@123 We're sorry to hear that, what happened?",
    ],
)
def test_reply_help_link_abstains(text: str) -> None:
    assert reply_help_link(reply(text)) is None


@pytest.mark.parametrize(
    "text",
    [
        "@123 Try clearing the app's cache and restarting your phone.",
        "@123 Please try uninstalling / reinstalling the game.",
        "@123 You can turn it off in Settings > Playback.",
        "@123 Could you try a different browser and redo the test?",
        "@123 Log out and back in, that should refresh it.",
        "@123 Please update the app to the latest version.",
    ],
)
def test_reply_self_help_steps_fires(text: str) -> None:
    assert reply_self_help_steps(reply(text)) == SELF_SERVICE


@pytest.mark.parametrize(
    "text",
    [
        "@123 We'll update you as soon as we hear back.",
        "@123 Sorry for the delay, our team is working on it.",
        "@123 We'd try our best to honour seat requests.",
    ],
)
def test_reply_self_help_steps_abstains(text: str) -> None:
    assert reply_self_help_steps(reply(text)) is None


@pytest.mark.parametrize(
    "text",
    ["@SpotifyCares Sent you a DM", "@SpotifyCares ok i dmed u already", "@SpotifyCares Please check your dm.",
     "@SpotifyCares yes i've send you a private message :)"],
)
def test_followup_sent_dm_fires(text: str) -> None:
    assert followup_sent_dm(followup(text)) == HUMAN


@pytest.mark.parametrize(
    "text", ["@SpotifyCares I tried that already", "@SpotifyCares iPhone 8 on iOS 11", "@SpotifyCares admin rights?"]
)
def test_followup_sent_dm_abstains(text: str) -> None:
    assert followup_sent_dm(followup(text)) is None


@pytest.mark.parametrize(
    "text",
    ["@SpotifyCares that worked, thanks!", "@SpotifyCares Just reinstalled. It's still happening",
     "@SpotifyCares I already tried that", "@SpotifyCares working now, thank you",
     "@SpotifyCares followed your steps and nothing changed"],
)
def test_followup_tried_fix_fires(text: str) -> None:
    assert followup_tried_fix(followup(text)) == SELF_SERVICE


@pytest.mark.parametrize(
    "text",
    ["@SpotifyCares You did it again! Another price rise", "@SpotifyCares I haven't tried it in the car yet",
     "@SpotifyCares it works fine on my laptop though", "@SpotifyCares Samsung S8, Android 8"],
)
def test_followup_tried_fix_abstains(text: str) -> None:
    assert followup_tried_fix(followup(text)) is None


def test_ibm_help_document() -> None:
    assert ibm_help_document(Evidence(help_document=True)) == SELF_SERVICE
    assert ibm_help_document(Evidence(reply="@1 Please see https://help.example.com/x")) is None


def test_functions_read_only_their_evidence() -> None:
    """A reply function ignores the follow-up and the other way round."""
    assert reply_private_channel(followup("@Acme I sent you a DM")) is None
    assert followup_sent_dm(reply("@1 Please send us a DM")) is None


# ------------------------------------------------------------------------------------------------------------
# Conflicts
# ------------------------------------------------------------------------------------------------------------


def test_link_plus_dm_is_a_conflict_that_human_wins() -> None:
    votes = apply_lfs(reply("@1 We'd like to help, please DM us. Meanwhile see https://support.example.com/a"))
    assert votes == {"reply_private_channel": HUMAN, "reply_help_link": SELF_SERVICE}
    assert resolve(votes) == HUMAN
    assert resolve(votes, "drop") is None
    assert resolve(votes, "majority") == HUMAN  # a tie goes to human


def test_resolve_without_conflict_and_majority() -> None:
    assert resolve({}) is None
    assert resolve({"reply_help_link": SELF_SERVICE, "reply_self_help_steps": SELF_SERVICE}) == SELF_SERVICE
    votes = {"reply_help_link": SELF_SERVICE, "reply_self_help_steps": SELF_SERVICE, "reply_private_channel": HUMAN}
    assert resolve(votes, "majority") == SELF_SERVICE
    assert resolve(votes, "human_wins") == HUMAN
    with pytest.raises(InputError, match="conflict policy"):
        resolve(votes, "coin_flip")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------------------
# Threads and evidence
# ------------------------------------------------------------------------------------------------------------


def _tweets(rows: list[tuple]) -> pd.DataFrame:
    columns = ["tweet_id", "author_id", "inbound", "text", "response_tweet_id", "in_response_to_tweet_id"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["brand"] = "Acme"
    frame["source_file"] = "first5000/twcs.csv"
    return frame


def test_thread_ids_are_connected_components_keyed_by_smallest_id() -> None:
    frame = _tweets([
        ("10", "c1", True, "a", "11", None),
        ("11", "Acme", False, "b", "12", "10"),
        ("12", "c1", True, "c", None, "11"),
        ("9", "c2", True, "d", "50", None),        # its reply 50 is missing from the data ...
        ("51", "c2", True, "e", None, "50"),       # ... but this answers 50 too: same thread
        ("100", "c3", True, "f", None, None),
        ("13", "c4", True, "g", None, "12"),       # joins the first thread through 12
    ])
    assert twcs_thread_ids(frame).tolist() == ["10", "10", "10", "9", "9", "100", "10"]


def test_thread_key_compares_ids_as_numbers() -> None:
    frame = _tweets([("9", "c", True, "a", "10", None), ("10", "Acme", False, "b", None, "9")])
    assert set(twcs_thread_ids(frame)) == {"9"}  # not "10", which sorts first as a string


def test_evidence_joins_continuations_and_follows_missing_replies() -> None:
    frame = _tweets([
        ("1", "c1", True, "@Acme my bill is wrong", "2", None),
        ("2", "Acme", False, "@c1 Sorry! 1/2", "3", "1"),
        ("3", "Acme", False, "@c1 please DM us 2/2", "4", "2"),
        ("4", "c1", True, "@Acme done, sent you a DM", None, "3"),
        ("5", "c2", True, "@Acme app crashes", "6", None),            # reply 6 is missing
        ("7", "c2", True, "@Acme reinstalled, still crashing", None, "6"),
        ("8", "c9", True, "@Acme same here", None, "6"),              # another customer: not c2's follow-up
        ("20", "c3", True, "@Acme hello?", None, None),               # nobody answered
    ])
    evidence = twcs_evidence(frame)
    assert evidence["1"].reply == "@c1 Sorry! 1/2\n@c1 please DM us 2/2"
    assert evidence["1"].followup == "@Acme done, sent you a DM"
    assert evidence["5"].reply is None and evidence["5"].followup == "@Acme reinstalled, still crashing"
    assert "20" not in evidence and "2" not in evidence  # no evidence, and brand tweets are never labelled


def test_label_twcs_uses_the_customer_text_only() -> None:
    frame = _tweets([
        ("1", "c1", True, "@Acme my bill is wrong", "2", None),
        ("2", "Acme", False, "@c1 please DM us, or see https://help.acme.example/billing", None, "1"),
        ("5", "c2", True, "@Acme how do I add a user?", "6", None),
        ("6", "Acme", False, "@c2 Here's how: https://t.co/x", None, "5"),
        ("8", "c3", True, "@Acme love it", "9", None),
        ("9", "Acme", False, "@c3 Thanks!", None, "8"),
    ])
    labelled = label_twcs(frame)
    assert labelled["tweet_id"].tolist() == ["1", "5"]
    assert labelled["text"].tolist() == ["@Acme my bill is wrong", "@Acme how do I add a user?"]
    assert labelled["label"].tolist() == [HUMAN, SELF_SERVICE]  # the link + DM conflict goes to human
    assert json.loads(labelled["votes"][0]) == {"reply_help_link": SELF_SERVICE, "reply_private_channel": HUMAN}
    assert list(labelled.columns[:6]) == ["text", "label", "brand", "thread_id", "source", "tweet_id"]
    dropped = label_twcs(frame, policy="drop")
    assert dropped["tweet_id"].tolist() == ["5"]
    kept = label_twcs(frame, keep_abstained=True)
    assert kept["tweet_id"].tolist() == ["1", "5", "8"] and kept["label"].isna().tolist() == [False, False, True]


def test_ibm_link_to_a_contact_form_is_human() -> None:
    conversations = pd.DataFrame({
        "conversation_id": ["a", "b"],
        "brand": ["Acme", "Acme"],
        "text": ["@Acme I was charged for a game I never got", "@Acme how do I reset my controller?"],
        "turns": ["[]", "[]"],
        "tweet_id": ["1", "2"],
        "url_utterance": ["@x Please send us an email at https://help.acme.example/hc/requests/new",
                          "@y Try the steps in this article: https://support.acme.example/reset"],
    })
    labelled = label_ibm(conversations)
    assert labelled["label"].tolist() == [HUMAN, SELF_SERVICE]
    assert labelled["thread_id"].tolist() == ["ibm:a", "ibm:b"]


def test_report_counts_coverage_overlaps_and_conflicts() -> None:
    frame = pd.DataFrame({
        "label": [HUMAN, SELF_SERVICE, None, HUMAN],
        "source": ["twcs:a", "twcs:a", "twcs:a", "twcs:b"],
        "votes": [json.dumps({"reply_private_channel": HUMAN, "reply_help_link": SELF_SERVICE}),
                  json.dumps({"reply_help_link": SELF_SERVICE, "reply_self_help_steps": SELF_SERVICE}),
                  json.dumps({}),
                  json.dumps({"reply_private_channel": HUMAN})],
    })
    report = weak_label_report(frame)
    assert report["candidates"] == 4 and report["labelled"] == 3 and report["conflicts"] == 1
    assert report["functions"]["reply_private_channel"] == {"votes": 2, "coverage": 0.5, "overlaps": 1, "conflicts": 1}
    assert report["functions"]["reply_help_link"] == {"votes": 2, "coverage": 0.5, "overlaps": 2, "conflicts": 1}
    assert report["pairs"]["reply_private_channel & reply_help_link"] == {"both": 1, "disagree": 1}
    assert report["pairs"]["reply_help_link & reply_self_help_steps"] == {"both": 1, "disagree": 0}
    assert report["resolution"]["conflicts_to_human"] == 1
    assert report["by_source"]["twcs:a"] == {"candidates": 3, "labelled": 2, "labels": {HUMAN: 1, SELF_SERVICE: 1}}


# ------------------------------------------------------------------------------------------------------------
# A twcs-layout folder (the fixture) and the thread split
# ------------------------------------------------------------------------------------------------------------


def test_fixture_layout_gives_the_expected_labels(tmp_path: Path) -> None:
    write_twcs_layout(tmp_path)
    frame = needs_human_frame(data_dir=tmp_path)
    expected = threads()
    want = {str(1000 * (i + 1) + 1): label for i, label in enumerate(expected["expected"]) if label is not None}
    assert dict(zip(frame["tweet_id"], frame["label"], strict=True)) == want
    spotify = frame[frame["source"] == "twcs:spotifycares_requests/support_requests.csv"]
    assert len(spotify) == len(MISSING_REPLY)  # labelled from the customer's follow-up alone
    assert set(spotify["votes"].map(lambda v: next(iter(json.loads(v))))) == {"followup_sent_dm", "followup_tried_fix"}


def test_any_subset_of_the_files_and_the_twcs_folder_itself_load(tmp_path: Path) -> None:
    write_twcs_layout(tmp_path, files=("kaggle",))
    only_kaggle = needs_human_frame(data_dir=tmp_path)
    assert set(only_kaggle["source"]) == {"twcs:kaggle_sample/sample.csv"} and len(only_kaggle) > 0
    same = needs_human_frame(data_dir=tmp_path / "twcs")
    assert same["tweet_id"].tolist() == only_kaggle["tweet_id"].tolist()
    with pytest.raises(DatasetError, match="no twcs file"):
        load_twcs_tweets(tmp_path / "empty")


def test_internal_split_never_puts_a_thread_in_two_parts() -> None:
    rng = np.random.default_rng(0)
    threads_ = [f"t{i}" for i in range(300)]
    frame = pd.DataFrame({
        "text": [f"text {i}" for i in range(3000)],
        "tweet_id": [str(i) for i in range(3000)],
        "thread_id": rng.choice(threads_, size=3000),
    })
    parts = internal_split(split_keys(frame))
    per_thread = pd.Series(parts).groupby(frame["thread_id"]).nunique()
    assert (per_thread == 1).all()
    assert set(parts) == {"train", "validation", "test"}
    # without thread_id the same rows would be split by tweet_id: threads would straddle parts
    by_row = pd.Series(internal_split(split_keys(frame.drop(columns="thread_id")))).groupby(frame["thread_id"]).nunique()
    assert (by_row > 1).any()


@real_data
def test_real_twcs_labels_and_threads() -> None:
    frame = needs_human_frame()
    counts = frame.groupby("source")["label"].count().to_dict()
    assert counts["twcs:first5000/twcs.csv"] > 600
    assert counts["twcs:spotifycares_requests/support_requests.csv"] > 300  # from follow-ups only
    assert frame["tweet_id"].is_unique
    assert set(frame["label"]) == {HUMAN, SELF_SERVICE}
    parts = pd.Series(internal_split(split_keys(frame)))
    assert (parts.groupby(frame["thread_id"]).nunique() == 1).all()
    # the thread of every labelled mention holds the brand's reply or the customer's follow-up
    tweets = load_twcs_tweets()
    thread_of = dict(zip(tweets["tweet_id"], tweets["thread_id"], strict=True))
    assert all(thread_of[t] == th for t, th in zip(frame["tweet_id"], frame["thread_id"], strict=True))
