"""The triage policy: each rule on hand-written mentions (including the ones it must not fire on), rule
precedence, YAML errors, crisis windows, the shipped policies and the fairness property."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from triage.errors import InputError, PolicyError
from triage.policy import (
    RULE_ORDER,
    Decision,
    Policy,
    Signals,
    _Facts,
    asks_for_private_data,
    decide,
    decide_batch,
    load_policy,
    parse_policy,
)
from triage.schema import DuplicateResult, IntentResult, Mention, SentimentResult, TriageResult

REPO = Path(__file__).resolve().parent.parent
CONSUMER = REPO / "models" / "defaults" / "policy-consumer.yaml"
AIRLINE = REPO / "models" / "defaults" / "policy-airline.yaml"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

BITEXT_INTENTS = [
    "create_account", "delete_account", "edit_account", "recover_password", "registration_problems",
    "switch_account", "check_cancellation_fee", "contact_customer_service", "contact_human_agent",
    "delivery_options", "delivery_period", "complaint", "review", "check_invoice", "get_invoice",
    "newsletter_subscription", "cancel_order", "change_order", "place_order", "track_order",
    "check_payment_methods", "payment_issue", "check_refund_policy", "get_refund", "track_refund",
    "change_shipping_address", "set_up_shipping_address",
]
AIRLINE_REASONS = [
    "Bad Flight", "Cancelled Flight", "Customer Service Issue", "Damaged Luggage", "Flight Attendant Complaints",
    "Flight Booking Problems", "Late Flight", "longlines", "Lost Luggage",
]

# A small policy written for the tests: explicit thresholds so the boundaries below are the policy's.
BASE: dict[str, Any] = {
    "name": "test",
    "help_base_url": "https://help.example.com/",
    "queues": ["billing", "orders_delivery", "general", "crisis", "outage_team"],
    "thresholds": {"review": 0.5, "auto": 0.8},
    "needs_human": {"threshold": 0.6},
    "intents": {
        "track_order": {"action": "self_service", "link": "{base}/orders/track", "queue": "orders_delivery"},
        "check_refund_policy": {"action": "self_service", "link": "{base}/refunds/policy"},
        "payment_issue": {"action": "human", "queue": "billing"},
        "cancelled_flight": {"action": "human", "queue": "general", "priority": "high"},
    },
}


def policy(**changes: Any) -> Policy:
    return Policy.model_validate({**BASE, **changes})


POLICY = policy()


def signals(
    text: str,
    label: str = "track_order",
    confidence: float = 0.93,
    *,
    negative: float = 0.1,
    positive: float = 0.1,
    needs_human: float | None = 0.1,
    threshold: float | None = 0.55,
    duplicate: DuplicateResult | None = None,
    no_reply: float | None = None,
    pii: list[str] | None = None,
    region: str | None = None,
    now: datetime = NOW,
    **mention: Any,
) -> Signals:
    scores = {"negative": negative, "neutral": max(0.0, 1 - negative - positive), "positive": positive}
    return Signals(
        mention=Mention(id=mention.pop("id", "m1"), text=text, **mention),
        intent=IntentResult(label=label, confidence=confidence, top=[(label, confidence)]),
        sentiment=SentimentResult(label=max(scores, key=scores.get), scores=scores),
        needs_human=needs_human,
        needs_human_threshold=threshold,
        duplicate_of=duplicate,
        no_reply=no_reply,
        pii=pii,
        region=region,
        now=now,
    )


DUP = DuplicateResult(id="a77", similarity=0.94, link="https://help.example.com/answers/a77")


# --------------------------------------------------------------------------------------------------
# Intent map and the two confidence thresholds
# --------------------------------------------------------------------------------------------------


def test_confident_self_service_intent_gets_its_link() -> None:
    decision = decide(POLICY, signals("@AcmeHelp where is my parcel"))
    assert decision == Decision(
        action="self_service",
        link="https://help.example.com/orders/track",
        reasons=("intent track_order 0.93 >= auto 0.80: self-service link",),
        rules=("intent",),
    )


def test_confidence_between_review_and_auto_proposes_the_link_for_review() -> None:
    decision = decide(POLICY, signals("@AcmeHelp where is my parcel", confidence=0.62))
    assert (decision.action, decision.review, decision.link) == ("self_service", True, "https://help.example.com/orders/track")
    assert decision.reasons[0] == "intent track_order 0.62 between review 0.50 and auto 0.80: self-service link proposed for review"


@pytest.mark.parametrize(("confidence", "review"), [(0.8, False), (0.79, True), (0.5, True)])
def test_threshold_boundaries(confidence: float, review: bool) -> None:
    decision = decide(POLICY, signals("@AcmeHelp where is my parcel", confidence=confidence))
    assert decision.action == "self_service" and decision.review is review


def test_below_review_a_person_decides_in_the_fallback_queue() -> None:
    decision = decide(POLICY, signals("@AcmeHelp where is my parcel", confidence=0.49))
    assert (decision.action, decision.queue, decision.priority, decision.review) == ("human", "general", "normal", False)
    assert decision.reasons[0] == "intent track_order 0.49 < review 0.50: a person decides"


def test_human_intent_goes_to_its_queue_in_either_band() -> None:
    for confidence in (0.9, 0.6):
        decision = decide(POLICY, signals("@AcmeHelp my payment failed", "payment_issue", confidence))
        assert (decision.action, decision.queue, decision.priority, decision.review) == ("human", "billing", "normal", False)
        assert "human queue billing" in decision.reasons[0]


def test_unknown_intent_defaults_to_human_general() -> None:
    decision = decide(POLICY, signals("@AcmeHelp the thing with the stuff is wrong", "unknown", 0.2))
    assert (decision.action, decision.queue) == ("human", "general")
    assert decision.rules == ("unknown",)
    assert "abstained" in decision.reasons[0]


def test_intent_missing_from_the_map_uses_the_default_entry() -> None:
    decision = decide(POLICY, signals("@AcmeHelp I want to change my plan", "change_plan", 0.95))
    assert (decision.action, decision.queue) == ("human", "general")
    assert "not in the policy's intents: default entry" in decision.reasons[0]
    configured = policy(default={"action": "self_service", "link": "{base}/faq"})
    assert decide(configured, signals("@AcmeHelp I want to change my plan", "change_plan", 0.95)).link == (
        "https://help.example.com/faq"
    )


def test_intent_priority_high_raises_only_a_human_decision() -> None:
    decision = decide(POLICY, signals("@AcmeAir my flight got cancelled", "cancelled_flight", 0.9))
    assert (decision.action, decision.priority) == ("human", "high")
    assert "high priority: intent cancelled_flight (policy)" in decision.reasons
    # not trusted (below review): the entry's priority does not apply
    low = decide(POLICY, signals("@AcmeAir my flight got cancelled", "cancelled_flight", 0.3))
    assert (low.action, low.priority) == ("human", "normal")


# --------------------------------------------------------------------------------------------------
# Needs a human
# --------------------------------------------------------------------------------------------------


def test_needs_human_at_the_policy_threshold() -> None:
    decision = decide(POLICY, signals("@AcmeHelp where is my parcel", needs_human=0.6))
    assert (decision.action, decision.queue) == ("human", "orders_delivery")
    assert decision.reasons[0] == "needs_human 0.60 >= 0.60: a person should handle this"
    assert decide(POLICY, signals("@AcmeHelp where is my parcel", needs_human=0.59)).action == "self_service"


def test_needs_human_queue_falls_back_when_the_entry_has_none_or_the_intent_is_not_trusted() -> None:
    assert decide(POLICY, signals("@AcmeHelp refunds?", "check_refund_policy", needs_human=0.9)).queue == "general"
    assert decide(POLICY, signals("@AcmeHelp parcel", confidence=0.3, needs_human=0.9)).queue == "general"


def test_null_policy_threshold_uses_the_models_own() -> None:
    null = policy(needs_human={"threshold": None})
    decision = decide(null, signals("@AcmeHelp where is my parcel", needs_human=0.56, threshold=0.55))
    assert decision.action == "human"
    assert decision.reasons[0] == "needs_human 0.56 >= 0.55 (the model's threshold): a person should handle this"
    assert decide(null, signals("@AcmeHelp where is my parcel", needs_human=0.54, threshold=0.55)).action == "self_service"
    with pytest.raises(PolicyError, match="needs_human_threshold"):
        decide(null, signals("@AcmeHelp where is my parcel", needs_human=0.5, threshold=None))
    # no needs-human model at all: the rule does not apply
    assert decide(null, signals("@AcmeHelp where is my parcel", needs_human=None, threshold=None)).action == "self_service"


# --------------------------------------------------------------------------------------------------
# Priority rules
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("@AcmeHelp the charger caught fire in my kitchen", "safety"),
        ("@AcmeHelp SMOKE coming out of the heater", "safety"),
        ("@AcmeHelp the battery is overheating badly", "safety"),
        ("@AcmeHelp my account was HACKED", "security"),
        ("@AcmeHelp this looks like a phishing email from you", "security"),
        ("@AcmeHelp there's an unauthorised charge on my statement", "security"),
        ("@AcmeHelp I was charged twice for one order", "money lost"),
        ("@AcmeHelp you double   charged me", "money lost"),
        ("@AcmeHelp refund not received after 3 weeks", "money lost"),
        ("@AcmeAir stranded in Denver with two kids", "travel disrupted"),
        ("@AcmeAir missed my connection because of you", "travel disrupted"),
        ("@AcmeAir my flight was cancelled", "travel disrupted"),
        ("@AcmeAir I\u2019ve been stuck at the airport for 9 hours", "travel disrupted"),
        ("@AcmeHelp so I'm enjoying my burrito and I find plastic in my food", "safety"),
        ("@AcmeHelp I was just assaulted by your delivery driver", "safety"),
    ],
)
def test_priority_rules_fire_and_send_to_a_person(text: str, rule: str) -> None:
    decision = decide(POLICY, signals(text))
    assert (decision.action, decision.priority, decision.queue) == ("human", "high", "orders_delivery")
    assert f"priority:{rule}" in decision.rules
    assert any(reason.startswith(f"high priority: {rule} (") for reason in decision.reasons)


@pytest.mark.parametrize(
    "text",
    [
        "@AcmeHelp the app crashed when I opened my orders",  # a technical crash is not a safety issue
        "@AcmeHelp my Fire TV remote stopped pairing",
        "@AcmeHelp ordered smoked salmon, where is it",
        "@AcmeHelp is there a hackathon discount",
        "@AcmeHelp I charged my phone and it still won't turn on",
        "@AcmeHelp the threads on this shirt are loose",
        "@AcmeHelp I was charged once, as expected, where is my parcel",
        "@AcmeAir is my flight on time tomorrow",
    ],
)
def test_priority_rules_do_not_fire_on_near_misses(text: str) -> None:
    decision = decide(POLICY, signals(text))
    assert not any(rule.startswith("priority:") for rule in decision.rules), decision.reasons
    assert decision.action == "self_service"


def test_very_negative_sentiment_is_high_priority() -> None:
    decision = decide(POLICY, signals("@AcmeHelp where is my parcel, this is a joke", negative=0.92))
    assert (decision.action, decision.priority) == ("human", "high")
    assert "high priority: very negative sentiment (negative 0.92 >= 0.90)" in decision.reasons
    assert decide(POLICY, signals("@AcmeHelp where is my parcel, this is a joke", negative=0.85)).action == "self_service"
    off = policy(priority={"negative_sentiment": None})
    assert decide(off, signals("@AcmeHelp where is my parcel, this is a joke", negative=0.99)).action == "self_service"


def test_with_any_needs_both_words() -> None:
    rules = {"rules": [{"name": "travel disrupted now", "keywords": ["delayed"], "with_any": ["tonight", "now"]}]}
    p = policy(priority=rules)
    fired = decide(p, signals("@AcmeAir flight delayed and I need to be in Boston tonight"))
    assert fired.priority == "high" and "high priority: travel disrupted now ('delayed' + 'tonight')" in fired.reasons
    assert decide(p, signals("@AcmeAir flight delayed last month, where is my voucher")).action == "self_service"
    # a policy's rules list replaces the defaults: "charged twice" no longer fires
    assert decide(p, signals("@AcmeHelp charged twice")).action == "self_service"


def test_prefix_keywords() -> None:
    p = policy(priority={"rules": [{"name": "legal", "keywords": ["lawyer*", "sue"]}]})
    assert decide(p, signals("@AcmeHelp my lawyers will hear about this")).priority == "high"
    assert decide(p, signals("@AcmeHelp Sue from your store was lovely, where is my parcel")).priority == "high"
    assert decide(p, signals("@AcmeHelp pursue the parcel please")).action == "self_service"


def test_every_human_decision_has_a_priority() -> None:
    cases = [
        signals("@AcmeHelp parcel", confidence=0.2),
        signals("@AcmeHelp parcel", needs_human=0.9),
        signals("@AcmeHelp pay", "payment_issue"),
        signals("@AcmeHelp card 4111 1111 1111 1111"),
        signals("@AcmeHelp still not working", in_reply_to="9"),
    ]
    for decision in decide_batch(POLICY, cases):
        assert decision.action == "human" and decision.priority in ("high", "normal") and decision.queue


# --------------------------------------------------------------------------------------------------
# No reply
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kwargs", "cue"),
    [
        ("@AcmeHelp thank you so much, love the new jacket!", {"positive": 0.95, "confidence": 0.3}, "thanks or praise"),
        ("@AcmeHelp you lot are brilliant \u2764\ufe0f", {"positive": 0.9}, "thanks or praise"),
        ("@AcmeHelp worst brand ever. just the worst", {"negative": 0.8, "label": "complaint", "confidence": 0.3}, "venting"),
        ("@AcmeHelp lol same", {"label": "unknown", "confidence": 0.2}, "chatter"),
        ("@AcmeHelp GIVEAWAY! win a free phone https://spam.example.net/x", {"label": "unknown", "confidence": 0.1}, "spam"),
        ("@AcmeHelp nice weather today", {"no_reply": 0.85, "confidence": 0.55}, "no_reply 0.85 >= 0.70"),
    ],
)
def test_no_reply_fires(text: str, kwargs: dict[str, Any], cue: str) -> None:
    decision = decide(POLICY, signals(text, **kwargs))
    assert decision.action == "no_reply" and decision.link is None and decision.queue is None
    assert decision.rules == ("no_reply",)
    assert decision.reasons[0].startswith(cue)


@pytest.mark.parametrize(
    ("text", "kwargs"),
    [
        # a question or a request word: the mention needs an answer
        ("@AcmeHelp thanks! when will my order arrive?", {"positive": 0.9, "confidence": 0.3}),
        ("@AcmeHelp thanks, but please check my order", {"positive": 0.7, "confidence": 0.3}),
        ("@AcmeHelp love you but my parcel is missing", {"positive": 0.7, "confidence": 0.3}),
        ("@AcmeHelp nice weather today?", {"no_reply": 0.95, "confidence": 0.3}),
        ("@AcmeHelp lol why", {"label": "unknown", "confidence": 0.2}),
        # chatter is short: a long mention the intent model cannot place goes to a person
        ("@AcmeHelp so I went to the store on Monday and the man at the counter said the thing was gone already",
         {"label": "unknown", "confidence": 0.2}),
        # thanks that are not praise (sarcasm reads as negative)
        ("@AcmeHelp thanks a lot for nothing", {"negative": 0.6, "positive": 0.2, "confidence": 0.6}),
        # venting about something the intent model understands
        ("@AcmeHelp worst delivery experience ever", {"negative": 0.8, "confidence": 0.85}),
        # spam cue without a link, a link without spam cues
        ("@AcmeHelp enter our giveaway", {"label": "unknown", "confidence": 0.1, "negative": 0.5, "positive": 0.0}),
        # PII, high priority, follow-up
        ("@AcmeHelp thank you! jo@example.com", {"positive": 0.95, "confidence": 0.3}),
        ("@AcmeHelp thanks... my account was hacked", {"positive": 0.7, "confidence": 0.3}),
        ("@AcmeHelp tried that, still not working", {"positive": 0.6, "confidence": 0.3, "in_reply_to": "agent-1"}),
    ],
)
def test_no_reply_does_not_fire(text: str, kwargs: dict[str, Any]) -> None:
    decision = decide(POLICY, signals(text, **kwargs))
    assert decision.action != "no_reply", decision.reasons


def test_no_reply_can_be_switched_off() -> None:
    p = policy(no_reply={"enabled": False})
    assert decide(p, signals("@AcmeHelp thank you!", positive=0.95, confidence=0.3)).action == "human"


def test_thanks_and_spam_are_no_reply_before_the_needs_human_head() -> None:
    # the head learned from mentions that teams answered: a high score on plain thanks must not send them to a person
    thanks = signals("@AcmeHelp thank you so much!", positive=0.95, confidence=0.3, needs_human=0.9)
    decision = decide(POLICY, thanks)
    assert (decision.action, decision.rules) == ("no_reply", ("no_reply",))
    assert decision.reasons[0].startswith("thanks or praise ('thank you'")
    spam = signals("@AcmeHelp win a free phone https://spam.example.net/x", label="unknown", confidence=0.1,
                   needs_human=0.9)
    assert decide(POLICY, spam).reasons[0].startswith("spam")
    # the other order, for a team that wants the head to see everything
    later = decide(policy(no_reply={"before_needs_human": False}), thanks)
    assert later.action == "human" and later.rules[0] == "needs_human"


@pytest.mark.parametrize(
    ("text", "kwargs"),
    [
        # a request beside the thanks
        ("@AcmeHelp thanks in advance, do you have a size guide", {"positive": 0.8}),
        ("@AcmeHelp you are the best, is there a student discount", {"positive": 0.8}),
        # venting and chatter are not clear from the text alone: the head decides first
        ("@AcmeHelp worst brand ever", {"negative": 0.8, "label": "complaint", "confidence": 0.3}),
        ("@AcmeHelp lol same", {"label": "unknown", "confidence": 0.2}),
        # a follow-up that does not close the conversation goes through the head too
        ("@AcmeHelp love it", {"positive": 0.9, "in_reply_to": "agent-1"}),
    ],
)
def test_needs_human_head_still_decides_before_the_other_no_reply_cues(text: str, kwargs: dict[str, Any]) -> None:
    decision = decide(POLICY, signals(text, needs_human=0.9, **kwargs))
    assert decision.action == "human" and "needs_human" in decision.rules, decision.reasons


# --------------------------------------------------------------------------------------------------
# PII
# --------------------------------------------------------------------------------------------------


def test_pii_goes_to_a_person_in_a_private_channel() -> None:
    decision = decide(POLICY, signals("@AcmeHelp order #123456789 hasn't arrived, email jo@example.com"))
    assert (decision.action, decision.queue, decision.priority) == ("human", "orders_delivery", "normal")
    assert decision.rules[0] == "pii"
    assert "move_to_private_channel" in decision.reasons[0]
    assert decision.reasons[0].startswith("pii: account_ref, email posted in public")


def test_pii_from_the_signals_or_scanned() -> None:
    given_pii = signals("@AcmeHelp where is my parcel", pii=["phone"])
    assert given_pii.pii == ["phone"] and decide(POLICY, given_pii).rules[0] == "pii"
    scanned = signals("@AcmeHelp call me on 07700 900123")
    assert scanned.pii == ["phone"]
    assert signals("@AcmeHelp where is my parcel").pii == []
    # a Luhn failure is not a card: no PII, the self-service link stands
    assert decide(POLICY, signals("@AcmeHelp card 4111 1111 1111 1112 parcel?")).action == "self_service"


def test_pii_beats_duplicate_and_self_service() -> None:
    decision = decide(POLICY, signals("@AcmeHelp my card 4111-1111-1111-1111, where is my order", duplicate=DUP))
    assert decision.action == "human" and decision.link is None and decision.rules == ("pii",)


# --------------------------------------------------------------------------------------------------
# Duplicates
# --------------------------------------------------------------------------------------------------


def test_duplicate_gets_the_answers_link() -> None:
    decision = decide(POLICY, signals("@AcmeHelp how do refunds work", "payment_issue", 0.9, duplicate=DUP))
    assert (decision.action, decision.link) == ("self_service", DUP.link)
    assert decision.reasons == ("repeats answered mention a77 (similarity 0.94): self-service with that answer's link",)


def test_duplicate_beats_low_intent_confidence() -> None:
    assert decide(POLICY, signals("@AcmeHelp how do refunds work", "unknown", 0.1, duplicate=DUP)).link == DUP.link


@pytest.mark.parametrize(
    "kwargs",
    [
        {"needs_human": 0.9},
        {"negative": 0.95},
        {"pii": ["email"]},
    ],
)
def test_duplicate_yields_when_a_person_is_needed(kwargs: dict[str, Any]) -> None:
    decision = decide(POLICY, signals("@AcmeHelp how do refunds work", duplicate=DUP, **kwargs))
    assert decision.action == "human" and "duplicate" not in decision.rules


def test_duplicate_without_link_or_below_the_floor_is_noted_and_skipped() -> None:
    no_link = DuplicateResult(id="b1", similarity=0.97, link=None)
    decision = decide(POLICY, signals("@AcmeHelp where is my parcel", duplicate=no_link))
    assert decision.link == "https://help.example.com/orders/track"
    assert "repeats answered mention b1 (similarity 0.97) but that answer has no link" in decision.reasons
    floor = policy(duplicate={"min_similarity": 0.95})
    assert decide(floor, signals("@AcmeHelp where is my parcel", duplicate=DUP)).link == "https://help.example.com/orders/track"
    off = policy(duplicate={"enabled": False})
    assert decide(off, signals("@AcmeHelp where is my parcel", duplicate=DUP)).rules == ("intent",)


# --------------------------------------------------------------------------------------------------
# Crisis events
# --------------------------------------------------------------------------------------------------

OUTAGE = {
    "name": "checkout outage",
    "keywords": ["checkout", "can't pay"],
    "start": "2024-06-01T08:00:00+00:00",
    "end": "2024-06-01T20:00:00Z",
}


@pytest.mark.parametrize(
    ("created_at", "matches"),
    [
        ("2024-06-01T07:59:59+00:00", False),  # before
        ("2024-06-01T08:00:00+00:00", True),  # start is inside
        ("2024-06-01T11:00:00+02:00", True),  # inside, another timezone (09:00 UTC)
        ("2024-06-01T19:59:59+00:00", True),
        ("2024-06-01T20:00:00+00:00", False),  # end is outside
        ("2024-06-02T09:00:00+00:00", False),  # after
        ("2024-06-01T09:00:00", True),  # no timezone: taken as UTC
    ],
)
def test_crisis_window(created_at: str, matches: bool) -> None:
    p = policy(crisis_events=[OUTAGE])
    decision = decide(p, signals("@AcmeHelp checkout keeps failing, where is my order", created_at=created_at))
    assert (decision.action == "human" and decision.queue == "crisis") is matches
    if matches:
        assert decision.reasons[0].startswith("crisis event 'checkout outage' matches ('checkout')")


def test_open_ended_event_and_mentions_without_created_at_use_now() -> None:
    p = policy(crisis_events=[{**OUTAGE, "end": None}])
    years_later = signals("@AcmeHelp checkout broken", created_at="2030-01-01T00:00:00+00:00")
    assert decide(p, years_later).queue == "crisis"
    assert decide(p, signals("@AcmeHelp checkout broken", now=NOW)).queue == "crisis"
    assert decide(p, signals("@AcmeHelp checkout broken", now=NOW - timedelta(days=1))).queue != "crisis"


def test_crisis_by_brand_and_region_and_match_all() -> None:
    storm = {"name": "storm", "brands": ["@AcmeAir"], "regions": ["Texas", "Houston"], "start": "2024-05-01T00:00:00Z",
             "queue": "outage_team"}
    p = policy(crisis_events=[storm])
    assert decide(p, signals("where is my parcel", brand="acmeair")).queue == "outage_team"
    assert decide(p, signals("where is my parcel", region="texas")).queue == "outage_team"
    assert decide(p, signals("where is my parcel in Houston")).queue == "outage_team"
    assert decide(p, signals("where is my parcel", brand="AcmeShop", region="Ohio")).action == "self_service"
    strict = policy(crisis_events=[{**storm, "match": "all"}])
    assert decide(strict, signals("where is my parcel", brand="AcmeAir")).action == "self_service"
    assert decide(strict, signals("parcel stuck in Houston", brand="AcmeAir")).queue == "outage_team"


def test_crisis_pauses_self_service_and_no_reply_and_keeps_the_pii_reason() -> None:
    p = policy(crisis_events=[OUTAGE])
    created = {"created_at": "2024-06-01T10:00:00Z"}
    self_service = decide(p, signals("@AcmeHelp checkout down, where is my parcel", duplicate=DUP, **created))
    assert (self_service.action, self_service.queue, self_service.rules) == ("human", "crisis", ("crisis",))
    praise = decide(p, signals("@AcmeHelp checkout back, love it", positive=0.95, **created))
    assert praise.action == "human"
    with_pii = decide(p, signals("@AcmeHelp checkout took my card 4111 1111 1111 1111", **created))
    assert with_pii.queue == "crisis" and with_pii.rules == ("crisis", "pii")
    assert "move_to_private_channel" in with_pii.reasons[1]


# --------------------------------------------------------------------------------------------------
# Conversation follow-ups
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["@AcmeHelp still not working", "@AcmeHelp tried that, didn\u2019t work", "@AcmeHelp same issue"])
def test_follow_up_saying_a_fix_failed_stays_with_a_person(text: str) -> None:
    decision = decide(POLICY, signals(text, in_reply_to="agent-1"))
    assert (decision.action, decision.rules) == ("human", ("follow_up",))
    assert "says a suggested fix failed" in decision.reasons[0]


def test_follow_up_answering_an_agent_goes_on_through_the_rules_unless_the_policy_keeps_it() -> None:
    text = "@AcmeHelp yes it was the blue one, ordered Monday"
    plain = decide(POLICY, signals(text, in_reply_to="agent-1"))
    assert "follow_up" not in plain.rules and plain.action == "self_service"  # the intent map decides
    keep = policy(follow_up={"stay_with_person": True})
    decision = decide(keep, signals(text, in_reply_to="agent-1"))
    assert decision.action == "human" and decision.queue == "orders_delivery"
    assert decision.reasons[0] == "follow-up in a conversation (in reply to agent-1): stays with a person, never an automatic link"
    assert decide(keep, signals(text)).action == "self_service"  # only follow-ups


def test_follow_up_closing_the_conversation_is_no_reply() -> None:
    decision = decide(POLICY, signals("@AcmeHelp all sorted now, thanks!", positive=0.9, in_reply_to="agent-1"))
    assert decision.action == "no_reply" and decision.rules == ("follow_up", "no_reply")
    thanks = decide(POLICY, signals("@AcmeHelp thank you Sam!", positive=0.9, in_reply_to="agent-1"))
    assert thanks.action == "no_reply"
    asks = decide(POLICY, signals("@AcmeHelp sorted, thanks! can you also check my other order?", in_reply_to="agent-1"))
    assert asks.action != "no_reply"


def test_follow_up_beats_duplicate() -> None:
    failed = decide(POLICY, signals("@AcmeHelp tried that, still not working", duplicate=DUP, in_reply_to="agent-1"))
    assert failed.action == "human" and failed.link is None
    keep = policy(follow_up={"stay_with_person": True})
    decision = decide(keep, signals("@AcmeHelp how do refunds work", duplicate=DUP, in_reply_to="agent-1"))
    assert decision.action == "human" and decision.link is None
    assert decide(POLICY, signals("@AcmeHelp how do refunds work", duplicate=DUP, in_reply_to="agent-1")).link == DUP.link


def test_follow_up_rule_can_be_switched_off() -> None:
    p = policy(follow_up={"enabled": False})
    assert decide(p, signals("@AcmeHelp where is my parcel", in_reply_to="agent-1")).action == "self_service"
    assert decide(POLICY, signals("@AcmeHelp where is my parcel")).action == "self_service"


# --------------------------------------------------------------------------------------------------
# Fairness: followers, verified and the author never change a decision
# --------------------------------------------------------------------------------------------------

FAIRNESS_CASES: list[dict[str, Any]] = [
    {"text": "@AcmeHelp where is my parcel"},
    {"text": "@AcmeHelp where is my parcel", "confidence": 0.6},
    {"text": "@AcmeHelp where is my parcel", "confidence": 0.3},
    {"text": "@AcmeHelp I was charged twice", "label": "payment_issue"},
    {"text": "@AcmeHelp my payment failed", "label": "payment_issue", "confidence": 0.7},
    {"text": "@AcmeHelp thank you so much!", "positive": 0.95, "confidence": 0.3},
    {"text": "@AcmeHelp worst ever", "negative": 0.8, "confidence": 0.2},
    {"text": "@AcmeHelp this is a disgrace", "negative": 0.97},
    {"text": "@AcmeHelp my card 4111 1111 1111 1111"},
    {"text": "@AcmeHelp how do refunds work", "duplicate": DUP},
    {"text": "@AcmeHelp still not working", "in_reply_to": "a1"},
    {"text": "@AcmeHelp sorted, thanks", "in_reply_to": "a1", "positive": 0.9},
    {"text": "@AcmeHelp need a person", "needs_human": 0.8},
    {"text": "@AcmeHelp checkout down", "created_at": "2024-06-01T10:00:00Z"},
    {"text": "@AcmeHelp lol", "label": "unknown", "confidence": 0.1},
    {"text": "@AcmeHelp GIVEAWAY https://x.example.net", "label": "unknown", "confidence": 0.1},
    {"text": "@AcmeAir stranded tonight", "label": "cancelled_flight"},
]
FAIRNESS_POLICY = policy(crisis_events=[OUTAGE])


@settings(max_examples=300, deadline=None)
@given(
    case=st.sampled_from(FAIRNESS_CASES),
    followers=st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)),
    verified=st.one_of(st.none(), st.booleans()),
    author=st.one_of(st.none(), st.text(min_size=1, max_size=20)),
)
def test_followers_verified_and_author_never_change_the_decision(
    case: dict[str, Any], followers: int | None, verified: bool | None, author: str | None
) -> None:
    kwargs = dict(case)
    text = kwargs.pop("text")
    plain = decide(FAIRNESS_POLICY, signals(text, **kwargs))
    varied = decide(FAIRNESS_POLICY, signals(text, followers=followers, verified=verified, author=author, **kwargs))
    assert varied == plain


def test_the_rules_cannot_see_influence_fields() -> None:
    names = {f.name for f in dataclasses.fields(_Facts)}
    assert names.isdisjoint({"followers", "verified", "author", "mention"})


# --------------------------------------------------------------------------------------------------
# Precedence overview
# --------------------------------------------------------------------------------------------------


def test_rule_order_is_documented_and_applied() -> None:
    assert RULE_ORDER[:3] == ("crisis", "pii", "follow_up")
    p = policy(crisis_events=[OUTAGE])
    everything = signals(
        "@AcmeHelp checkout charged twice, card 4111 1111 1111 1111 still not working",
        duplicate=DUP, needs_human=0.9, in_reply_to="a1", created_at="2024-06-01T10:00:00Z",
    )
    assert decide(p, everything).rules[:2] == ("crisis", "pii")
    assert decide(POLICY, everything).rules[0] == "pii"
    no_pii = signals("@AcmeHelp charged twice, still not working", duplicate=DUP, needs_human=0.9, in_reply_to="a1")
    assert decide(POLICY, no_pii).rules[0] == "follow_up"
    urgent = signals("@AcmeHelp charged twice", duplicate=DUP, needs_human=0.9)
    assert decide(POLICY, urgent).rules[0] == "priority"


# --------------------------------------------------------------------------------------------------
# Signals and results
# --------------------------------------------------------------------------------------------------


def test_signals_accept_dicts_and_reject_bad_values() -> None:
    built = Signals(
        mention={"id": 7, "text": "@AcmeHelp where is my parcel"},
        intent={"label": "track_order", "confidence": 0.9},
        sentiment={"label": "neutral", "scores": {"negative": 0.1, "neutral": 0.8, "positive": 0.1}},
        needs_human=0.1, needs_human_threshold=0.5, now=datetime(2024, 1, 1),
    )
    assert built.mention.id == "7" and built.now.tzinfo is UTC
    with pytest.raises(InputError, match=r"signals.needs_human must be a probability in \[0, 1\] \(found 1.5\)"):
        signals("hi", needs_human=1.5)
    with pytest.raises(InputError, match=r"signals.intent: confidence"):
        Signals(mention={"id": "1", "text": "x"}, intent={"label": "a", "confidence": 2},
                sentiment={"label": "neutral", "scores": {}})
    with pytest.raises(InputError, match=r"signals.mention: text"):
        Signals(mention={"id": "1", "text": "  "}, intent={"label": "a", "confidence": 0.5},
                sentiment={"label": "neutral", "scores": {}})


def test_decision_to_result_is_a_valid_redacted_triage_result() -> None:
    s = signals("@AcmeHelp card 4111 1111 1111 1111 declined", "payment_issue", 0.9, id="t1")
    result = decide(POLICY, s).to_result(s, versions={"policy": POLICY.version_tag})
    assert isinstance(result, TriageResult)
    assert (result.id, result.action, result.queue, result.pii) == ("t1", "human", "billing", ["card"])
    assert result.redacted_text == "@AcmeHelp card [card] declined"
    assert result.versions == {"policy": "test@1"}
    dumped = result.model_dump(mode="json")
    assert dumped["intent"]["top"] == [["payment_issue", 0.9]]
    assert TriageResult.model_validate(dumped) == result


def test_triage_result_consistency_rules() -> None:
    TriageResult.failed("x", "text is missing")
    with pytest.raises(ValidationError, match="action is required unless error is set"):
        TriageResult(id="x")
    with pytest.raises(ValidationError, match="a result with an error has no action"):
        TriageResult(id="x", action="no_reply", error="boom")
    with pytest.raises(ValidationError, match="needs a queue and a priority"):
        TriageResult(id="x", action="human", queue="general")
    with pytest.raises(ValidationError, match="needs a link"):
        TriageResult(id="x", action="self_service")
    with pytest.raises(ValidationError, match="never 'for review'"):
        TriageResult(id="x", action="human", queue="general", priority="normal", review=True)
    with pytest.raises(ValidationError, match="queue and priority are for human only"):
        TriageResult(id="x", action="no_reply", priority="high")
    with pytest.raises(ValidationError, match="Input should be 'self_service', 'human' or 'no_reply'"):
        TriageResult(id="x", action="escalate")


# --------------------------------------------------------------------------------------------------
# YAML and validation errors
# --------------------------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


HEAD = "help_base_url: https://help.example.com\nqueues: [general, billing, crisis]\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("thresold: {review: 0.5}\n",
         r"thresold: Extra inputs are not permitted; allowed keys: .*thresholds.*; did you mean 'thresholds'\? \(found \{'review': 0.5\}\)"),
        ("thresholds: {review: 0.5, automatic: 0.9}\n",
         r"thresholds.automatic: Extra inputs are not permitted; allowed keys: review, auto"),
        ("intents:\n  track_order: {action: selfservice, link: '{base}/t'}\n",
         r"intents.track_order.action: Input should be 'self_service' or 'human' \(found 'selfservice'\)"),
        ("thresholds: {review: 0.9, auto: 0.8}\n", r"thresholds: review \(0.9\) must not be above auto \(0.8\)"),
        ("thresholds: {review: -0.1}\n", r"thresholds.review: Input should be greater than or equal to 0"),
        ("thresholds: {auto: 1.5}\n", r"thresholds.auto: Input should be less than or equal to 1 \(found 1.5\)"),
        ("needs_human: {threshold: high}\n", r"needs_human.threshold: Input should be a valid number.*\(found 'high'\)"),
        ("intents:\n  payment_issue: {action: human, queue: biling}\n",
         r"intents.payment_issue.queue: unknown queue; declared queues: general, billing, crisis \(found 'biling'\)"),
        ("intents:\n  payment_issue: {action: human}\n", r"intents.payment_issue: a human entry needs a queue"),
        ("intents:\n  track_order: {action: self_service}\n", r"intents.track_order: a self_service entry needs a link"),
        ("intents:\n  track_order: {action: self_service, link: '{base}/{brand}/t'}\n",
         r"intents.track_order.link: unknown placeholder \{brand\}; allowed: \{base\}"),
        ("intents:\n  track_order: {action: self_service, link: 'orders/track'}\n",
         r"intents.track_order.link: must give an http\(s\) URL"),
        ("intents:\n  pay: {action: self_service, link: '{base}/p', reply: 'Reply with your card number please'}\n",
         r"intents.pay.reply: asks for private data \('card number'\)"),
        ("intents:\n  unknown: {action: human, queue: general}\n", r"intents: 'unknown' is not an intent"),
        ("fallback_queue: triage\n", r"fallback_queue: unknown queue; declared queues: general, billing, crisis \(found 'triage'\)"),
        ("priority: {rules: [{name: legal, keywords: ['law*yer']}]}\n", r"priority.rules\[0\].keywords: keyword 'law\*yer'"),
        ("priority: {rules: [{name: a, keywords: [x]}, {name: a, keywords: [y]}]}\n", r"rule names must be unique \(repeated: a\)"),
        ("crisis_events:\n  - {name: storm, keywords: [storm], start: 2024-05-01T09:00:00}\n",
         r"crisis_events\[0\].start: must be a date and time with a timezone"),
        ("crisis_events:\n  - {name: storm, keywords: [storm], start: 2024-05-01}\n",
         r"crisis_events\[0\].start: must be a date and time with a timezone.*not a date"),
        ("crisis_events:\n  - {name: storm, keywords: [storm], start: 'next tuesday'}\n",
         r"crisis_events\[0\].start: Input should be a valid datetime.*\(found 'next tuesday'\)"),
        ("crisis_events:\n  - {name: storm, keywords: [storm], start: 2024-05-02T00:00:00Z, end: 2024-05-01T00:00:00Z}\n",
         r"crisis_events\[0\]: end \(2024-05-01T00:00:00\+00:00\) must be after start"),
        ("crisis_events:\n  - {name: storm, start: 2024-05-01T00:00:00Z}\n",
         r"crisis_events\[0\]: an event needs at least one of keywords, brands or regions"),
        ("crisis_events:\n  - {name: storm, keywords: [storm], start: 2024-05-01T00:00:00Z, queue: storm_team}\n",
         r"crisis_events\[0\].queue: unknown queue"),
    ],
)
def test_policy_errors_name_the_key_the_value_and_what_is_allowed(tmp_path: Path, body: str, message: str) -> None:
    path = _write(tmp_path, HEAD + body)
    with pytest.raises(PolicyError, match=message) as info:
        load_policy(path)
    assert str(info.value).startswith(f"{path}: invalid policy: ")


def test_base_url_and_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"help_base_url: must be an http:// or https:// URL.*\(found 'help.example.com'\)"):
        load_policy(_write(tmp_path, "help_base_url: help.example.com\nqueues: [general]\n"))
    with pytest.raises(PolicyError, match=r"help_base_url: Field required"):
        load_policy(_write(tmp_path, "queues: [general]\n"))
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(_write(tmp_path, "queues: [general\n"))
    with pytest.raises(PolicyError, match="expected a mapping of policy keys"):
        load_policy(_write(tmp_path, "- a\n- b\n"))
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "missing.yaml")
    with pytest.raises(PolicyError, match="is a folder"):
        load_policy(tmp_path)
    with pytest.raises(PolicyError, match=r"my-config: invalid policy: queues: Field required"):
        parse_policy({"help_base_url": "https://h.example.com"}, source="my-config")


def test_help_base_url_override(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + "intents:\n  track_order: {action: self_service, link: '{base}/orders/track'}\n")
    p = load_policy(path, help_base_url="https://support.acme.test/")
    assert decide(p, signals("@AcmeHelp where is my parcel")).link == "https://support.acme.test/orders/track"


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("Please reply with your card number so we can check", "card number"),
        ("DM us your password and we'll fix it", "password"),
        ("Could you send us the CVV from the back of the card?", "cvv"),
        ("Tell us your date of birth to verify", "date of birth"),
        ("Reply here with your email address", "email address"),
        ("Post your order number below and we'll look", "order number"),
        ("Tweet us with your booking reference", "booking reference"),
        ("Reset your password here", None),
        ("Never share your password or card number with anyone", None),
        ("DM us your order number and we'll take a look", None),
        ("Track your order here", None),
        ("Send us a private message and we'll help", None),
        ("Share your phone number in the comments", "phone number"),
        ("Reply to our DM with your order number", None),
        ("Please leave your email address below", "email address"),
        ("Comment your address", "address"),
    ],
)
def test_asks_for_private_data(text: str, asked: str | None) -> None:
    assert asks_for_private_data(text) == asked


# --------------------------------------------------------------------------------------------------
# The shipped policies
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def consumer() -> Policy:
    return load_policy(CONSUMER)


@pytest.fixture(scope="module")
def airline() -> Policy:
    return load_policy(AIRLINE)


def test_consumer_policy_covers_every_bitext_intent(consumer: Policy) -> None:
    assert sorted(consumer.intents) == sorted(BITEXT_INTENTS)
    assert set(consumer.queues) >= {"billing", "orders_delivery", "technical", "account", "complaints", "general"}


def test_consumer_policy_covers_the_bitext_labels_of_the_data(consumer: Policy) -> None:
    from triage.registry import dataset_info

    assert sorted(consumer.intents) == sorted(dataset_info("bitext_customer_support").labels)


def test_airline_policy_covers_every_complaint_reason(airline: Policy) -> None:
    assert sorted(airline.intents) == sorted(AIRLINE_REASONS)


@pytest.mark.parametrize("path", [CONSUMER, AIRLINE], ids=lambda p: p.name)
def test_shipped_links_are_under_the_help_base_and_replies_are_public_safe(path: Path) -> None:
    p = load_policy(path)
    for name, entry in p.intents.items():
        if entry.action == "self_service":
            assert p.link(entry).startswith(p.help_base_url + "/"), name
        if entry.reply is not None:
            assert asks_for_private_data(entry.reply) is None, name
    assert p.unknown is not None and p.unknown.action == "human"


@pytest.mark.parametrize(
    ("intent", "action", "queue"),
    [
        ("track_order", "self_service", None),
        ("delivery_options", "self_service", None),
        ("check_refund_policy", "self_service", None),
        ("recover_password", "self_service", None),
        ("check_payment_methods", "self_service", None),
        ("payment_issue", "human", "billing"),
        ("complaint", "human", "complaints"),
        ("contact_human_agent", "human", "general"),
        ("delete_account", "human", "account"),
        ("registration_problems", "human", "technical"),
    ],
)
def test_consumer_policy_routes_sensibly(consumer: Policy, intent: str, action: str, queue: str | None) -> None:
    decision = decide(consumer, signals("@AcmeHelp about my account and order", intent, 0.9, threshold=0.5))
    assert decision.action == action
    if queue is not None:
        assert decision.queue == queue


# The README's worked examples, checked here so the README stays true.

def test_readme_consumer_example(consumer: Policy) -> None:
    s = Signals(
        mention=Mention(id="1849", text="@AcmeHelp I was charged twice for order #112-4432187-9921 and still no parcel",
                        brand="AcmeHelp", followers=120),
        intent=IntentResult(label="payment_issue", confidence=0.86, top=[("payment_issue", 0.86), ("track_order", 0.09)]),
        sentiment=SentimentResult(label="negative", scores={"negative": 0.81, "neutral": 0.15, "positive": 0.04}),
        needs_human=0.71, needs_human_threshold=0.55, now=NOW,
    )
    decision = decide(consumer, s)
    assert (decision.action, decision.queue, decision.priority) == ("human", "billing", "high")
    assert decision.reasons == (
        "pii: account_ref posted in public -> move_to_private_channel (a person continues in a private message)",
        "high priority: money lost ('charged twice')",
    )
    assert decision.to_result(s).redacted_text == (
        "@AcmeHelp I was charged twice for order #[account_ref] and still no parcel"
    )
    follow = Signals(
        mention=Mention(id="1850", text="@AcmeHelp how long does standard delivery take?"),
        intent=IntentResult(label="delivery_period", confidence=0.64),
        sentiment=SentimentResult(label="neutral", scores={"negative": 0.1, "neutral": 0.8, "positive": 0.1}),
        needs_human=0.2, needs_human_threshold=0.55, now=NOW,
    )
    second = decide(consumer, follow)
    assert (second.action, second.link, second.review) == ("self_service", "https://help.example.com/delivery/times", True)
    assert second.reasons == (
        "intent delivery_period 0.64 between review 0.50 and auto 0.80: self-service link proposed for review",
    )


def test_readme_airline_example(airline: Policy) -> None:
    lost = Signals(
        mention=Mention(id="570301", text="@AcmeAir landed in Boston two hours ago and my bag never showed up"),
        intent=IntentResult(label="Lost Luggage", confidence=0.88),
        sentiment=SentimentResult(label="negative", scores={"negative": 0.83, "neutral": 0.14, "positive": 0.03}),
        needs_human=0.32, needs_human_threshold=0.55, now=NOW,
    )
    decision = decide(airline, lost)
    assert (decision.action, decision.link) == ("self_service", "https://help.example.com/baggage/tracing")
    assert decision.reasons == ("intent Lost Luggage 0.88 >= auto 0.80: self-service link",)
    stranded = Signals(
        mention=Mention(id="570302", text="@AcmeAir flight cancelled, stranded in Denver with two kids tonight"),
        intent=IntentResult(label="Cancelled Flight", confidence=0.93),
        sentiment=SentimentResult(label="negative", scores={"negative": 0.9, "neutral": 0.08, "positive": 0.02}),
        needs_human=0.4, needs_human_threshold=0.55, now=NOW,
    )
    second = decide(airline, stranded)
    assert (second.action, second.queue, second.priority) == ("human", "flight_disruption", "high")
    assert second.reasons == (
        "urgent: a person in queue flight_disruption handles it",
        "high priority: travel disrupted ('flight cancelled')",
        "high priority: intent Cancelled Flight (policy)",
    )


# --------------------------------------------------------------------------------------------------
# Suggested links from answered mentions of the same brand
# --------------------------------------------------------------------------------------------------

SUGGESTION = {"link": "https://help.example.com/app/offline", "score": 0.8, "similarity": 0.71, "support": 6}


def _with_suggestion(text: str, label: str = "track_order", confidence: float = 0.93, *,
                     suggestion: dict | None = SUGGESTION, **kwargs: Any) -> Signals:
    from dataclasses import replace

    return replace(signals(text, label, confidence, brand="AcmeHelp", **kwargs), suggested_link=suggestion)


@pytest.mark.parametrize("label, confidence", [("unknown", 0.2), ("track_order", 0.3)])
def test_an_unsure_intent_takes_the_link_the_team_gave_similar_mentions(label: str, confidence: float) -> None:
    decision = decide(POLICY, _with_suggestion("@AcmeHelp songs won't download for offline", label, confidence))
    assert (decision.action, decision.link, decision.review) == ("self_service", SUGGESTION["link"], True)
    assert decision.rules == ("suggested_link", "review")
    assert "answered similar mentions of AcmeHelp with this link (score 0.80, closest 0.71, 6 of the nearest)" in decision.reasons[0]


@pytest.mark.parametrize(
    "kwargs, suggestion",
    [
        ({"needs_human": 0.9}, SUGGESTION),  # a person is needed
        ({"pii": ["email"]}, SUGGESTION),
        ({}, {**SUGGESTION, "score": 0.1}),  # weak vote
        ({}, {**SUGGESTION, "similarity": 0.35}),  # nothing close answered with it
        ({}, {**SUGGESTION, "similarity": None}),  # the brand's prior alone
        ({}, None),
    ],
)
def test_no_suggested_link_when_a_person_is_needed_or_the_vote_is_weak(kwargs: dict, suggestion: dict | None) -> None:
    decision = decide(POLICY, _with_suggestion("@AcmeHelp songs won't download", "unknown", 0.2, suggestion=suggestion, **kwargs))
    assert decision.action == "human" and "suggested_link" not in decision.rules


def test_a_trusted_intent_keeps_its_own_link_and_the_rule_can_be_switched_off() -> None:
    trusted = decide(POLICY, _with_suggestion("@AcmeHelp where is my parcel", "track_order", 0.93))
    assert trusted.link == "https://help.example.com/orders/track" and "suggested_link" not in trusted.rules
    off = policy(suggested_link={"enabled": False})
    assert decide(off, _with_suggestion("@AcmeHelp songs won't download", "unknown", 0.2)).action == "human"
    with pytest.raises(PolicyError, match="suggested_link.min_score"):
        parse_policy({**BASE, "suggested_link": {"min_score": -1}}, source="t")


def test_a_follow_up_answering_an_agents_question_is_never_chatter() -> None:
    text = "@AcmeHelp iPhone 6s, iOS 11"
    assert decide(POLICY, signals(text, "unknown", 0.2)).action == "no_reply"  # a stray remark: chatter
    answer = decide(POLICY, signals(text, "unknown", 0.2, in_reply_to="agent-1"))
    assert answer.action != "no_reply" and "no_reply" not in answer.rules
