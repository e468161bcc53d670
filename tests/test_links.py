"""Link suggestion: aggregation over neighbours, brand prior, leave-one-out, and the real IBM dev figures."""

from __future__ import annotations

import numpy as np
import pytest

from triage.errors import InputError
from triage.index import MentionIndex
from triage.links import (
    LinkSettings,
    LinkSuggester,
    brand_most_frequent,
    care_conversations,
    evaluate_link_index,
    evaluate_links,
    hits_at,
    link_title,
)


def toy() -> MentionIndex:
    angle = np.deg2rad([0, 10, 12, 90, 0])
    vectors = np.c_[np.cos(angle), np.sin(angle)].astype(np.float32)
    return MentionIndex(None, dim=2).add_batch(
        ["b1", "a1", "a2", "c1", "o1"], ["pw reset", "pw forgot", "pw lost", "refund", "other brand"],
        links=["/B", "/A", "/A", "/C", "/other"], brands=["Acme", "Acme", "Acme", "Acme", "Other"], vectors=vectors,
    )


def test_votes_aggregate_over_neighbours_not_only_the_first() -> None:
    index = toy()
    query = np.array([[1.0, 0.0]])
    # a sharp softmax follows the single closest neighbour ...
    sharp = LinkSuggester(index, {"temperature": 0.001, "prior_weight": 0.0}).suggest(vectors=query, brands=["Acme"])[0]
    assert sharp[0].link == "/B" and sharp[0].example_id == "b1"
    # ... a softer one lets two close neighbours with the same link outvote it
    soft = LinkSuggester(index, {"temperature": 0.5, "prior_weight": 0.0}).suggest(vectors=query, brands=["Acme"])[0]
    assert soft[0].link == "/A" and soft[0].support == 2
    assert [s.link for s in soft] == ["/A", "/B", "/C"]  # other brands' links never appear
    assert all(a.score >= b.score for a, b in zip(soft, soft[1:], strict=False))


def test_prior_and_leave_one_out() -> None:
    index = toy()
    suggester = LinkSuggester(index, {"temperature": 0.5, "prior_weight": 10.0})
    # with a heavy prior the brand's most frequent link wins
    assert suggester.suggest(vectors=np.array([[0.0, 1.0]]), brands=["Acme"])[0][0].link == "/A"
    # leave-one-out: a query that is c1 itself neither votes for /C nor counts it in the prior
    top = suggester.suggest(vectors=np.array([[0.0, 1.0]]), brands=["Acme"], exclude_ids=["c1"])[0]
    assert "/C" not in [s.link for s in top]
    metrics = evaluate_links(LinkSuggester(index, {"temperature": 0.001, "prior_weight": 0.0}), None,
                             ["Acme", "Acme", "Other"], ["/A", "/C", "/other"], ids=["a1", "c1", "o1"],
                             vectors=index.vectors_of(["a1", "c1", "o1"]))
    # a1's neighbour a2 has /A; c1's only link is its own; o1 is alone in its brand
    assert metrics["hit_at_1"] == pytest.approx(1 / 3) and metrics["n"] == 3
    assert metrics["reachable"] == pytest.approx(1 / 3)


def test_unknown_brand_and_empty_index_give_no_suggestion() -> None:
    index = toy()
    assert LinkSuggester(index).suggest(vectors=np.array([[1.0, 0.0]]), brands=["Nobody"]) == [[]]
    empty = MentionIndex(None, dim=2)
    assert LinkSuggester(empty).suggest(vectors=np.array([[1.0, 0.0]]), brands=["Acme"]) == [[]]
    with pytest.raises(InputError, match="brands has 2 values for 1"):
        LinkSuggester(index).suggest(vectors=np.array([[1.0, 0.0]]), brands=["Acme", "Acme"])
    with pytest.raises(InputError, match="unknown link setting"):
        LinkSuggester(index, {"temprature": 1})
    with pytest.raises(InputError, match="temperature must be > 0"):
        LinkSettings(temperature=0).check()


def test_baselines_and_hits() -> None:
    assert hits_at(["/a", "/b", "/c"], [["/a"], ["/x", "/b"], []], ks=(1, 5)) == {"hit_at_1": 1 / 3, "hit_at_5": 2 / 3}
    loo = brand_most_frequent(["A", "A", "A"], ["/x", "/x", "/y"], ["A", "A", "A"], ["/x", "/x", "/y"],
                              leave_one_out=True)
    assert loo["hit_at_1"] == pytest.approx(2 / 3) and loo["hit_at_5"] == pytest.approx(2 / 3)


@pytest.mark.slow
def test_ibm_dev_leave_one_out_with_the_static_tier(static_encoder) -> None:
    dev = care_conversations("dev")
    assert len(dev) == 525 and dev["link"].str.startswith("http").all()
    index = MentionIndex(static_encoder).add_batch(dev["id"].tolist(), dev["text"].tolist(), links=dev["link"].tolist(),
                                                   brands=dev["brand"].tolist(), created_at=dev["created_at"].tolist())
    metrics = evaluate_link_index(index, split="dev")
    assert metrics["leave_one_out"] and metrics["n"] == 525 and metrics["memory"] == 525
    assert metrics["reachable"] == pytest.approx(0.64)  # 336 of 525 links answer another dev conversation
    assert metrics["brand_most_frequent"]["hit_at_1"] == pytest.approx(194 / 525)
    assert metrics["hit_at_1"] > metrics["brand_most_frequent"]["hit_at_1"]
    assert metrics["hit_at_5"] >= 0.55


def test_link_titles_are_the_words_of_the_path() -> None:
    assert link_title("https://help.dropbox.com/installs-integrations/desktop/high-cpu-usage") == (
        "installs integrations high cpu usage")
    assert link_title("https://help.minecraft.net/hc/en-us/articles/360034636712-Minecraft-Usernames") == "minecraft usernames"
    assert link_title("https://support.spotify.com/faq/promotion#how-do-i-submit-music") == "how do submit music"
    for nameless in ("https://support.apple.com/en-us/HT201269", "https://support.google.com/accounts/answer/46526",
                     "https://help.minecraft.net/hc/en-us", "doc:17"):
        assert link_title(nameless) == ""


def titled_index(static_encoder) -> MentionIndex:
    """Two identical answered mentions (an even vote) with two links; only /reset-your-password has a title."""
    return MentionIndex(static_encoder).add_batch(
        ["a", "b"], ["it does not work", "it does not work"], links=["https://h/x/reset-your-password", "https://h/kb/12345"],
        brands=["Acme", "Acme"])


def test_the_title_term_adds_only_above_its_floor(static_encoder) -> None:
    index = titled_index(static_encoder)
    query = index.encode(["reset your password"])  # cosine 1 with the title "reset your password"
    vote = 0.5  # two identical voters share the softmax vote
    off = LinkSuggester(index, {"prior_weight": 0.0, "title_weight": 0.0}).suggest(vectors=query, brands=["Acme"])[0]
    assert off[0].score == pytest.approx(off[1].score) == pytest.approx(vote)  # a tie without titles
    on = LinkSuggester(index, {"prior_weight": 0.0, "title_weight": 2.0, "title_floor": 0.5}).suggest(
        vectors=query, brands=["Acme"])[0]
    assert on[0].link == "https://h/x/reset-your-password"
    assert on[0].score == pytest.approx(vote + 2.0 * (1.0 - 0.5), abs=1e-4) and on[1].score == pytest.approx(vote)
    # below the floor the title adds nothing
    strict = LinkSuggester(index, {"prior_weight": 0.0, "title_weight": 2.0, "title_floor": 0.99})
    far = strict.suggest(["my parcel never came"], brands=["Acme"])[0]
    assert far[0].score == pytest.approx(far[1].score)
    with pytest.raises(InputError, match="title_floor"):
        LinkSettings(title_floor=2.0).check()
    with pytest.raises(InputError, match="title_weight"):
        LinkSettings(title_weight=-1.0).check()


def test_an_index_without_an_encoder_skips_the_title_term() -> None:
    index = MentionIndex(None, dim=2).add_batch(["a", "b"], ["pw", "pw"], links=["https://h/x/reset-your-password", "/b"],
                                                 brands=["A", "A"], vectors=np.array([[1.0, 0.0]] * 2, dtype=np.float32))
    query = np.array([[1.0, 0.0]])
    with_titles = LinkSuggester(index, {"title_weight": 5.0, "title_floor": -1.0}).suggest(vectors=query, brands=["A"])
    assert with_titles == LinkSuggester(index, {"title_weight": 0.0}).suggest(vectors=query, brands=["A"])
