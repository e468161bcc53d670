"""The triage policy: what a care team decides for a mention, given the models' signals, written in YAML.

A :class:`Policy` is loaded from YAML (:func:`load_policy`) and validated by pydantic: an error names the
key, the value found and what is allowed. :func:`decide` applies it to one mention's :class:`Signals`
(the intent, sentiment and needs-human heads, the duplicate lookup, the PII scan) and returns a
:class:`Decision`: one action (``self_service`` with a link, ``human`` with a queue and a priority, or
``no_reply``), a ``review`` flag and the ``reasons`` in plain words. It loads no model and no index.

Rule order (the first rule that decides wins; every fired rule is named in ``reasons``):

1. **crisis**: an active crisis event matches the mention (time window and keywords, brands or regions):
   automated and promotional replies pause; a person in the event's queue (``crisis``) handles it.
2. **pii**: private data posted in public -> ``human``, reason ``move_to_private_channel``; a self-service
   reply never asks for private data in public, so PII always beats a link.
3. **follow_up**: the mention continues a conversation (``in_reply_to``): a fix that failed ("still not
   working") stays with a person; a closing follow-up ("thanks, sorted") is ``no_reply``; any other follow-up
   goes on through the rules below (or stays with a person with ``follow_up.stay_with_person``).
4. **priority**: a high-priority rule fired (safety, security, money lost, travel disrupted, very negative
   sentiment) -> ``human`` with priority ``high``.
5. **needs_human**: the needs-human probability reaches the threshold -> ``human``. A first mention whose
   text alone says no reply is needed (thanks or praise, or spam with a link: rule 7's cues, no request)
   is ``no_reply`` before the head is asked (``no_reply.before_needs_human``, on by default): the head
   learned from mentions that care teams answered, and thanks were not among them.
6. **duplicate**: the mention repeats an answered one that has a link -> ``self_service`` with that link.
7. **no_reply**: praise and thanks, venting with no request, chatter, spam, or the pipeline's no-reply
   score -> ``no_reply``; never when the mention asks or reports something (a question mark or a request
   or problem word).
8. **suggested_link**: the intent model is unsure (rules 9 and 10 below would hand it to a person) and the index
   suggests a help link the team answered similar mentions of the same brand with -> that link, proposed for
   review.
9. **unknown**: the intent model abstained -> the policy's ``unknown`` entry (default: human, general).
10. **low confidence**: intent confidence below ``thresholds.review`` -> ``human`` decides.
11. **intent map**: the intent's entry (or ``default`` for an intent missing from the map); at or above
    ``thresholds.auto`` it is automatic, between ``review`` and ``auto`` a self-service link is proposed
    with ``review: true``.

Duplicates and no-reply come before the low-confidence rule on purpose: a near-copy of an answered
question, or a "thank you!", is evidence of its own, and is exactly where the intent model tends to be
unsure. Every ``human`` decision gets a priority: ``high`` when a priority rule fired or the (trusted)
intent's entry says ``priority: high``, else ``normal``. Its queue is the intent's entry queue when the
intent confidence reaches ``thresholds.review``, else ``fallback_queue`` (``general``). A crisis match
sends every matching mention to the event's queue, no-reply ones included.

Keywords (priority rules, cues, crisis keywords and regions) match case-insensitively on word
boundaries, several words across any whitespace, ``word*`` as a prefix, curly apostrophes as straight
ones; URLs and ``@handles`` are ignored (``@AcmeHelp`` does not say "help").

Fairness: ``followers``, ``verified`` and the author never reach the rules. :func:`decide` copies the
fields the rules may read into a private ``_Facts`` object that has no such fields.

Example:
    >>> policy = Policy.model_validate({
    ...     "help_base_url": "https://help.example.com",
    ...     "queues": ["orders_delivery", "general"],
    ...     "intents": {"track_order": {"action": "self_service", "link": "{base}/orders/track"}},
    ... })
    >>> signals = Signals(
    ...     mention=Mention(id="1", text="@AcmeHelp where is my parcel"),
    ...     intent=IntentResult(label="track_order", confidence=0.93),
    ...     sentiment=SentimentResult(label="neutral", scores={"negative": 0.2, "neutral": 0.7, "positive": 0.1}),
    ...     needs_human=0.2, needs_human_threshold=0.55,
    ... )
    >>> decision = decide(policy, signals)
    >>> decision.action, decision.link
    ('self_service', 'https://help.example.com/orders/track')
    >>> decision.reasons
    ('intent track_order 0.93 >= auto 0.80: self-service link',)
"""

from __future__ import annotations

import logging
import os
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from triage.errors import InputError, PolicyError
from triage.pii import pii_types, redact
from triage.schema import (
    Action,
    DuplicateResult,
    IntentResult,
    Mention,
    Priority,
    SentimentResult,
    SuggestedLink,
    TriageResult,
)
from triage.yaml_config import read_yaml_mapping, validation_message

__all__ = [
    "IntentRule",
    "Thresholds",
    "NeedsHumanRule",
    "KeywordRule",
    "PriorityRules",
    "NoReplyRule",
    "FollowUpRule",
    "DuplicateRule",
    "SuggestedLinkRule",
    "CrisisEvent",
    "Policy",
    "Signals",
    "Decision",
    "decide",
    "decide_batch",
    "load_policy",
    "parse_policy",
    "asks_for_private_data",
    "RULE_ORDER",
]

logger = logging.getLogger(__name__)

RULE_ORDER: tuple[str, ...] = (
    "crisis", "pii", "follow_up", "priority", "needs_human", "duplicate", "no_reply", "suggested_link", "unknown",
    "low_confidence", "intent",
)
"""The rules in the order they decide (see the module docstring)."""

# --------------------------------------------------------------------------------------------------
# Default cue lists. A policy that leaves a list out gets these; one that gives a list replaces it.
# --------------------------------------------------------------------------------------------------

DEFAULT_PRIORITY_RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "safety",
        "keywords": [
            "injury", "injured", "injuries", "hurt", "unsafe", "dangerous", "danger", "hazard", "threat",
            "threaten*", "emergency", "ambulance", "hospital", "on fire", "caught fire", "catch fire",
            "fire hazard", "flames", "smoke", "smoking", "sparks", "sparking", "explode*", "explosion",
            "overheat*", "electric shock", "burned", "burnt", "burns", "car crash", "crashed into",
            "crash landing", "plane crash", "accident", "food poisoning", "allergic reaction", "choking", "assault*",
            "attacked", "in my food", "in my meal", "in my drink", "foreign object",
        ],
    },
    {
        "name": "security",
        "keywords": [
            "hacked", "hacker*", "hacking", "fraud*", "scam*", "stolen", "stole", "phishing", "identity theft",
            "unauthorised", "unauthorized", "compromised", "suspicious login", "suspicious activity",
            "someone logged into", "someone accessed", "not me who",
        ],
    },
    {
        "name": "money lost",
        "keywords": [
            "charged twice", "charged me twice", "double charged", "double-charged", "billed twice",
            "paid twice", "debited twice", "charged 2x", "overcharged", "over charged", "refund not received",
            "never received my refund", "never got my refund", "still no refund", "no refund yet",
            "haven't received my refund", "where is my refund", "where's my refund", "took my money",
            "taken my money", "money taken", "money was taken", "charged but", "charged and never",
            "lost money", "stole my money",
        ],
    },
    {
        "name": "travel disrupted",
        "keywords": [
            "stranded", "missed connection", "missed my connection", "missed connecting", "stuck at the airport",
            "stuck at airport", "stuck on the tarmac", "sleeping at the airport", "sleep at the airport",
            "sleep in the airport", "denied boarding", "bumped from", "bumped off", "flight cancelled",
            "flight canceled", "flight was cancelled", "flight was canceled", "cancelled my flight",
            "canceled my flight", "cancelled flight*", "canceled flight*",
        ],
    },
)

DEFAULT_PRAISE: tuple[str, ...] = (
    "thank you", "thanks", "thank u", "thx", "ty", "cheers", "love", "loved", "loving", "awesome", "amazing",
    "great", "brilliant", "excellent", "fantastic", "perfect", "appreciate*", "kudos", "shout out", "shoutout",
    "wonderful", "well done", "good job", "great job", "nice one", "you rock", "the best", "legend*", "<3", "❤", "❤️",
    "😍", "🙌", "👏", "🙏",
)
DEFAULT_REQUESTS: tuple[str, ...] = (
    "help", "please", "pls", "plz", "why", "how do", "how can", "how to", "how long", "how much", "how come",
    "when will", "when is", "when can", "when do", "when does", "where is", "where's", "where are", "where do",
    "where can", "what is", "what's", "what do", "what happened", "can you", "could you", "would you", "can i",
    "can we", "can't", "cannot", "cant", "need", "want", "waiting", "still", "issue", "problem", "broken",
    "wrong", "missing", "never", "not", "no longer", "doesn't", "does not", "don't", "won't", "isn't",
    "didn't", "haven't", "hasn't", "refund", "cancel*", "fix", "error", "fail*", "late", "delay*", "lost",
    "any update", "update me", "dm", "reply", "respond", "contact", "call me", "email me", "asap", "urgent",
    "charged", "complain*", "crash*", "freez*", "stuck", "bug", "bugs", "buggy", "glitch*", "keeps", "outage",
    "slow", "disappear*", "declined", "locked out", "hacked", "thanks in advance", "do you have", "is there",
    "are you going", "will you",
)
DEFAULT_SPAM: tuple[str, ...] = (
    "giveaway", "promo code", "discount code", "coupon", "free followers", "follow back", "followback",
    "click here", "check out my", "check my profile", "crypto", "bitcoin", "forex", "earn money", "make money",
    "work from home", "dm for", "win a", "win free", "free gift", "limited offer", "subscribe to my",
)
DEFAULT_CLOSING: tuple[str, ...] = (
    "sorted", "all sorted", "resolved", "fixed now", "it's fixed", "fixed it", "that worked", "that's worked",
    "it worked", "working now", "works now", "all good", "no worries", "problem solved", "solved",
    "received it", "got it now", "it arrived", "has arrived", "never mind", "nevermind", "all set",
)
DEFAULT_THANKS: tuple[str, ...] = (
    "thank you", "thanks", "thank u", "thx", "ty", "cheers", "appreciate*", "🙏",
)
DEFAULT_FAILED: tuple[str, ...] = (
    "still not working", "still doesn't work", "still does not work", "still broken", "still not fixed",
    "still the same", "still happening", "still getting", "didn't work", "did not work", "doesn't work",
    "does not work", "not working", "tried that", "tried it", "tried this", "tried everything",
    "already tried", "already did that", "already done that", "same problem", "same issue", "same error",
    "no luck", "didn't help", "did not help", "not fixed", "no change", "happened again", "happening again",
)

# --------------------------------------------------------------------------------------------------
# Keyword matching: word boundaries, case-insensitive, several words match any whitespace, "word*" a prefix
# --------------------------------------------------------------------------------------------------

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<!\w)@\w+")


def _keyword_pattern(keyword: str) -> str:
    prefix = keyword.endswith("*")
    words = keyword.rstrip("*").split()
    body = r"\s+".join(re.escape(word) for word in words)
    start = r"\b" if re.match(r"\w", words[0]) else r"(?<!\w)"
    if prefix:
        end = r"\w*"
    else:
        end = r"\b" if re.search(r"\w$", words[-1]) else ""
    return start + body + end


class _Cues:
    """A compiled keyword list: one alternation, longest keywords first."""

    def __init__(self, keywords: Sequence[str]) -> None:
        self.keywords = tuple(keywords)
        ordered = sorted(self.keywords, key=len, reverse=True)
        self._regex = re.compile("|".join(_keyword_pattern(k) for k in ordered), re.IGNORECASE) if ordered else None

    def first(self, text: str) -> str | None:
        """The first keyword occurrence in ``text`` (as written there, lowercased), or ``None``."""
        if self._regex is None:
            return None
        match = self._regex.search(text)
        return re.sub(r"\s+", " ", match.group().lower()) if match else None


def _clean_keywords(values: list[str]) -> list[str]:
    cleaned = []
    for position, value in enumerate(values):
        if not isinstance(value, str) or not value.strip().rstrip("*").strip():
            raise ValueError(f"keyword [{position}] is empty")
        keyword = " ".join(value.translate(_QUOTES).lower().split())
        if "*" in keyword[:-1]:
            raise ValueError(f"keyword {value!r}: '*' is allowed only at the end (a prefix, e.g. 'hack*')")
        cleaned.append(keyword)
    return cleaned


# --------------------------------------------------------------------------------------------------
# A reply posted in public never asks for private data
# --------------------------------------------------------------------------------------------------

_SECRET = (
    r"card\s+(?:number|no|details|info(?:rmation)?)|credit\s+card|debit\s+card|full\s+card|cvv2?|cvc|"
    r"security\s+code|expiry\s+date|expiration\s+date|password|passcode|pin(?:\s+(?:number|code))?|"
    r"one[-\s]time\s+(?:pass)?code|otp|verification\s+code|sort\s+code|bank\s+details|account\s+number|"
    r"routing\s+number|iban|social\s+security(?:\s+number)?|ssn|date\s+of\s+birth|dob|mother'?s\s+maiden\s+name"
)
_PERSONAL = (
    r"e-?mail(?:\s+address)?|phone(?:\s+number)?|mobile(?:\s+number)?|number|address|post\s*code|zip(?:\s+code)?|"
    r"order\s+(?:number|no|id|details)|booking\s+(?:reference|ref|number|details)|pnr|confirmation\s+(?:code|number)|"
    r"account(?:\s+details)?|details|full\s+name|name"
)
# Asking for a secret, in public or privately (a care team never needs a password or a card's CVV).
_ASK_SECRET = re.compile(
    r"\b(?:send|give|provide|share|post|tweet|reply\s+with|respond\s+with|tell|confirm|dm|message|include|"
    r"enter|type|write|let\s+us\s+know|what\s+is|what's)\b[^.!?\n]{0,40}?\b(?:your|the)\b[^.!?\n]{0,20}?\b(?P<what>"
    + _SECRET + r")\b",
    re.IGNORECASE,
)
# Asking for personal data in the public thread: a verb that posts in public, or a place that is public.
_YOUR_PERSONAL = r"\byour\b[^.!?\n]{0,15}?\b(?P<what>" + _PERSONAL + r")\b"
_PUBLIC_PLACE = r"\b(?:here|below|publicly|in\s+(?:this|the)\s+thread|in\s+the\s+comments)\b"
_ASK_PUBLIC = re.compile(
    r"\b(?:reply|respond|tweet|post|comment)\b[^.!?\n]{0,30}?" + _YOUR_PERSONAL
    + r"|\b(?:share|send|write|give|provide|tell|leave|add)\b[^.!?\n]{0,30}?(?:" + _PUBLIC_PLACE + r"[^.!?\n]{0,20}?"
    + _YOUR_PERSONAL.replace("?P<what>", "?P<what2>") + r"|" + _YOUR_PERSONAL.replace("?P<what>", "?P<what3>")
    + r"[^.!?\n]{0,20}?" + _PUBLIC_PLACE + r")",
    re.IGNORECASE,
)
_PRIVATE_CHANNEL = re.compile(r"\b(?:dm|dms|direct\s+message|private\s+message|privately|inbox)\b", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:never|don't|dont|do\s+not|not|no\s+need\s+to)\b[^.!?\n]*$", re.IGNORECASE)


def asks_for_private_data(text: str) -> str | None:
    """The private data a reply text asks for, or ``None`` when it asks for none.

    Two checks, both phrase-based and deliberately strict: asking for a secret in any channel ("send us
    your card number", "DM us your password") and asking for personal data in the public thread ("reply
    with your email", "post your order number below"). Telling a customer *not* to share ("never share
    your password") and asking them to move to a private message ("DM us your order number") are fine.

    Example:
        >>> asks_for_private_data("Reset your password here: https://help.example.com/reset")
        >>> asks_for_private_data("Please reply with your card number so we can check")
        'card number'
        >>> asks_for_private_data("Please reply here with your email address")
        'email address'
        >>> asks_for_private_data("DM us your order number and we'll take a look")
    """
    normalised = text.translate(_QUOTES)
    for pattern in (_ASK_SECRET, _ASK_PUBLIC):
        for match in pattern.finditer(normalised):
            before = normalised[max(0, match.start() - 40) : match.start()]
            if _NEGATION.search(before):
                continue
            if pattern is _ASK_PUBLIC and _PRIVATE_CHANNEL.search(_sentence(normalised, match)):
                continue
            what = next(group for group in match.groups() if group) if pattern is _ASK_PUBLIC else match.group("what")
            return " ".join(what.lower().split())
    return None


def _sentence(text: str, match: re.Match[str]) -> str:
    start = max(text.rfind(mark, 0, match.start()) for mark in ".!?\n") + 1
    ends = [i for i in (text.find(mark, match.end()) for mark in ".!?\n") if i >= 0]
    return text[start : min(ends) if ends else len(text)]


# --------------------------------------------------------------------------------------------------
# The policy file
# --------------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _fail(problems: list[tuple[tuple[Any, ...], str, Any]], title: str) -> None:
    """Raise one ValidationError whose items carry the key path of each problem (not the model's root)."""
    raise ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(type=PydanticCustomError("policy", "{message}", {"message": message}), loc=loc, input=value)
            for loc, message, value in problems
        ],
    )


_PLACEHOLDERS = ("base",)


class IntentRule(_Strict):
    """What to do for one intent: a self-service link, or a person in a queue.

    Example (YAML)::

        track_order: {action: self_service, link: "{base}/orders/track", queue: orders_delivery}
        payment_issue: {action: human, queue: billing}
    """

    action: Literal["self_service", "human"] = Field(description="self_service (answer with `link`) or human.")
    link: str | None = Field(
        default=None,
        description="For self_service: the URL, or a template using {base} (the policy's help_base_url).",
    )
    queue: str | None = Field(
        default=None,
        description="For human: the queue. For self_service: where the mention goes when another rule needs a "
        "person (default: fallback_queue).",
    )
    priority: Priority | None = Field(
        default=None, description="high: every human decision for this intent is high priority."
    )
    reply: str | None = Field(
        default=None, description="For self_service: a text to post with the link; it may never ask for private data."
    )

    @field_validator("link")
    @classmethod
    def _link_template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as exc:
            raise ValueError(f"not a valid link template ({exc}); use {{base}}, e.g. '{{base}}/orders/track'") from None
        for name in names:
            if name not in _PLACEHOLDERS:
                raise ValueError(
                    f"unknown placeholder {{{name}}}; allowed: {{base}} (a link never carries data from the mention)"
                )
        return value

    @field_validator("reply")
    @classmethod
    def _public_safe(cls, value: str | None) -> str | None:
        if value is not None:
            asked = asks_for_private_data(value)
            if asked is not None:
                raise ValueError(
                    f"asks for private data ({asked!r}); a public reply never asks for card numbers, passwords "
                    "or account details: ask the customer to continue in a private message instead"
                )
        return value

    @model_validator(mode="after")
    def _shape(self) -> IntentRule:
        if self.action == "self_service" and not self.link:
            raise ValueError("a self_service entry needs a link, e.g. link: '{base}/orders/track'")
        if self.action == "human":
            if not self.queue:
                raise ValueError("a human entry needs a queue, e.g. queue: general")
            if self.link is not None or self.reply is not None:
                raise ValueError("link and reply apply to self_service entries only; remove them or use action: self_service")
        return self


class Thresholds(_Strict):
    """Two thresholds on the intent confidence: below ``review`` a person decides; from ``auto`` it is automatic."""

    review: float = Field(default=0.5, ge=0.0, le=1.0, description="Below this intent confidence a person decides.")
    auto: float = Field(default=0.8, ge=0.0, le=1.0, description="From this confidence the action is automatic.")

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.review > self.auto:
            raise ValueError(f"review ({self.review}) must not be above auto ({self.auto})")
        return self


class NeedsHumanRule(_Strict):
    """When the needs-human probability sends a mention to a person."""

    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Probability from which a person handles it; null: the model's own."
    )


class KeywordRule(_Strict):
    """A named high-priority rule: fires when a keyword appears (and, with ``with_any``, one of those too)."""

    name: str = Field(min_length=1, description="Named in the reasons, e.g. safety.")
    keywords: list[str] = Field(min_length=1, description="Words or phrases; 'word*' matches a prefix.")
    with_any: list[str] = Field(
        default_factory=list, description="If given, one of these must appear too (e.g. today, tonight, now)."
    )
    _cues: _Cues = PrivateAttr()
    _with: _Cues = PrivateAttr()

    @field_validator("keywords", "with_any")
    @classmethod
    def _clean(cls, value: list[str]) -> list[str]:
        return _clean_keywords(value)

    def model_post_init(self, context: Any) -> None:
        self._cues = _Cues(self.keywords)
        self._with = _Cues(self.with_any)

    def fires(self, text: str) -> str | None:
        """The matched words, e.g. ``'delayed' + 'tonight'``, or ``None``."""
        hit = self._cues.first(text)
        if hit is None:
            return None
        if not self.with_any:
            return repr(hit)
        also = self._with.first(text)
        return None if also is None else f"{hit!r} + {also!r}"


class PriorityRules(_Strict):
    """What makes a mention high priority: keyword rules and very negative sentiment."""

    negative_sentiment: float | None = Field(
        default=0.9, ge=0.0, le=1.0, description="p(negative) from which a mention is high priority; null: off."
    )
    rules: list[KeywordRule] = Field(
        default_factory=lambda: [KeywordRule.model_validate(rule) for rule in DEFAULT_PRIORITY_RULES],
        description="Named keyword rules; giving the list replaces the defaults (safety, security, money lost, "
        "travel disrupted).",
    )

    @field_validator("rules")
    @classmethod
    def _unique(cls, value: list[KeywordRule]) -> list[KeywordRule]:
        names = [rule.name for rule in value]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"rule names must be unique (repeated: {', '.join(repeated)})")
        return value


class NoReplyRule(_Strict):
    """When nothing needs an answer: praise and thanks, venting with no request, chatter, spam."""

    enabled: bool = True
    probability: float | None = Field(
        default=0.7, ge=0.0, le=1.0, description="The pipeline's no-reply score from which to stay silent; null: unused."
    )
    praise_positive: float = Field(default=0.6, ge=0.0, le=1.0, description="p(positive) that makes thanks praise.")
    venting_negative: float = Field(
        default=0.7, ge=0.0, le=1.0, description="p(negative) of venting (with no request and no trusted intent)."
    )
    before_needs_human: bool = Field(
        default=True,
        description="Thanks and praise, and spam, with no request are no_reply before the needs-human head is asked.",
    )
    chatter: bool = Field(default=True, description="No reply when the intent model abstains, with no request and no negativity.")
    chatter_max_words: int = Field(
        default=15, ge=1, description="Chatter is short: longer mentions with no intent go to a person instead."
    )
    praise: list[str] = Field(default_factory=lambda: list(DEFAULT_PRAISE), description="Thanks and praise cues.")
    requests: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REQUESTS),
        description="Request and problem cues: any of them (or a question mark) means the mention needs an answer.",
    )
    spam: list[str] = Field(default_factory=lambda: list(DEFAULT_SPAM), description="Promotional cues (spam with a link).")
    _praise: _Cues = PrivateAttr()
    _requests: _Cues = PrivateAttr()
    _spam: _Cues = PrivateAttr()

    @field_validator("praise", "requests", "spam")
    @classmethod
    def _clean(cls, value: list[str]) -> list[str]:
        return _clean_keywords(value)

    def model_post_init(self, context: Any) -> None:
        self._praise, self._requests, self._spam = _Cues(self.praise), _Cues(self.requests), _Cues(self.spam)


class FollowUpRule(_Strict):
    """Mentions that continue a conversation (``in_reply_to``): a suggested fix that failed stays with a person,
    a closing one ("thanks, sorted") needs no reply; the others go through the rest of the rules, or, with
    ``stay_with_person``, all stay with a person.

    ``stay_with_person`` is off by default: on held-out twcs threads 154 of 247 customer mentions continue a
    conversation, most of them answered with a help link, and keeping them all with a person cut agreement with
    what the care teams did from 0.69 to 0.51 (no automated mention was wrong, but only 2% were automated;
    ``benchmarks/pipeline.md``).
    """

    enabled: bool = True
    stay_with_person: bool = Field(
        default=False, description="Every follow-up that does not close the conversation goes to a person."
    )
    closing: list[str] = Field(default_factory=lambda: list(DEFAULT_CLOSING), description="'sorted', 'that worked' cues.")
    thanks: list[str] = Field(
        default_factory=lambda: list(DEFAULT_THANKS),
        description="Thanks that close a conversation when the sentiment is positive (no_reply.praise_positive).",
    )
    failed: list[str] = Field(default_factory=lambda: list(DEFAULT_FAILED), description="'still not working' cues.")
    _closing: _Cues = PrivateAttr()
    _thanks: _Cues = PrivateAttr()
    _failed: _Cues = PrivateAttr()

    @field_validator("closing", "thanks", "failed")
    @classmethod
    def _clean(cls, value: list[str]) -> list[str]:
        return _clean_keywords(value)

    def model_post_init(self, context: Any) -> None:
        self._closing, self._thanks, self._failed = _Cues(self.closing), _Cues(self.thanks), _Cues(self.failed)


class SuggestedLinkRule(_Strict):
    """When the intent model is unsure (``unknown``, or confidence below ``thresholds.review``) and no rule needs a
    person, propose the link the team answered the most similar mentions of the same brand with (``review: true``:
    a person confirms it) instead of handing the mention to a person."""

    enabled: bool = True
    min_score: float = Field(default=0.15, ge=0.0, description="Least aggregated vote of the suggestion.")
    min_similarity: float = Field(default=0.5, ge=-1.0, le=1.0,
                                  description="Least similarity of the closest answered mention with that link.")


class DuplicateRule(_Strict):
    """A repeat of an answered question gets that answer's link."""

    enabled: bool = True
    min_similarity: float | None = Field(
        default=None, ge=-1.0, le=1.0,
        description="Extra floor on the similarity; null: trust the pipeline (it passes only duplicates above the "
        "index's threshold).",
    )


class CrisisEvent(_Strict):
    """An active event (outage, storm, recall) during which automated replies pause for matching mentions.

    A mention matches when its ``created_at`` (or, without one, the decision time ``now``) lies in
    ``[start, end)`` and, with ``match: any`` (default), its text has a keyword, or its brand is listed, or
    its region (passed by the pipeline, or a region name in the text) is listed; ``match: all`` needs
    every criterion the event gives.
    """

    name: str = Field(min_length=1, description="Named in the reasons.")
    keywords: list[str] = Field(default_factory=list, description="Words or phrases of the event, e.g. outage.")
    brands: list[str] = Field(default_factory=list, description="Brand accounts affected, e.g. AcmeHelp.")
    regions: list[str] = Field(default_factory=list, description="Regions affected, matched on the region or the text.")
    start: datetime = Field(description="ISO-8601 with a timezone.")
    end: datetime | None = Field(default=None, description="ISO-8601 with a timezone; null: ongoing.")
    queue: str = Field(default="crisis", description="The human queue matching mentions go to.")
    match: Literal["any", "all"] = Field(default="any", description="any: one criterion suffices; all: every one given.")
    _keywords_cues: _Cues = PrivateAttr()
    _region_cues: _Cues = PrivateAttr()

    @field_validator("start", "end", mode="before")
    @classmethod
    def _not_a_date(cls, value: Any) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            raise ValueError("must be a date and time with a timezone, e.g. 2024-05-01T09:00:00+00:00 (not a date)")
        return value

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError("must be a date and time with a timezone, e.g. 2024-05-01T09:00:00+00:00")
        return value

    @field_validator("keywords", "regions")
    @classmethod
    def _clean(cls, value: list[str]) -> list[str]:
        return _clean_keywords(value)

    @field_validator("brands")
    @classmethod
    def _brands(cls, value: list[str]) -> list[str]:
        return [_brand_key(brand) for brand in value]

    @model_validator(mode="after")
    def _window_and_criteria(self) -> CrisisEvent:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
        if not (self.keywords or self.brands or self.regions):
            raise ValueError("an event needs at least one of keywords, brands or regions")
        return self

    def model_post_init(self, context: Any) -> None:
        self._keywords_cues, self._region_cues = _Cues(self.keywords), _Cues(self.regions)

    def active_at(self, when: datetime) -> bool:
        """Whether ``when`` lies in the event's window (``end`` excluded; no ``end``: ongoing)."""
        return self.start <= when and (self.end is None or when < self.end)


def _brand_key(brand: str) -> str:
    return brand.strip().lstrip("@").casefold()


class Policy(_Strict):
    """A care team's triage policy (see the module docstring for the rule order).

    Build it with :func:`load_policy` (a YAML file) or ``Policy.model_validate(dict)``.
    """

    name: str = Field(default="policy", description="Named in the result's versions.")
    version: str = Field(default="1", description="The policy's own version, for the result's versions.")
    description: str = ""
    help_base_url: str = Field(description="Base URL of the help centre: {base} in link templates.")
    queues: list[str] = Field(min_length=1, description="Every human queue a decision may name.")
    fallback_queue: str = Field(default="general", description="Queue when no trusted intent names one.")
    intents: dict[str, IntentRule] = Field(default_factory=dict, description="Intent label -> entry.")
    unknown: IntentRule | None = Field(
        default=None, description="For the intent model's abstention (label unknown); null: human, fallback_queue."
    )
    default: IntentRule | None = Field(
        default=None, description="For an intent missing from the map; null: human, fallback_queue."
    )
    thresholds: Thresholds = Field(default_factory=Thresholds)
    needs_human: NeedsHumanRule = Field(default_factory=NeedsHumanRule)
    priority: PriorityRules = Field(default_factory=PriorityRules)
    no_reply: NoReplyRule = Field(default_factory=NoReplyRule)
    follow_up: FollowUpRule = Field(default_factory=FollowUpRule)
    duplicate: DuplicateRule = Field(default_factory=DuplicateRule)
    suggested_link: SuggestedLinkRule = Field(default_factory=SuggestedLinkRule)
    crisis_events: list[CrisisEvent] = Field(default_factory=list, description="Active and planned crisis events.")

    @field_validator("help_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"https?://[^\s/{}]+", value):
            raise ValueError("must be an http:// or https:// URL, e.g. https://help.example.com")
        return value.rstrip("/")

    @field_validator("queues")
    @classmethod
    def _queue_names(cls, value: list[str]) -> list[str]:
        repeated = sorted({q for q in value if value.count(q) > 1})
        if repeated:
            raise ValueError(f"queue names must be unique (repeated: {', '.join(repeated)})")
        bad = [q for q in value if not re.fullmatch(r"[A-Za-z0-9_.-]+", q)]
        if bad:
            raise ValueError(f"queue names are letters, digits, '_', '.' or '-' (found {bad[0]!r})")
        return value

    @field_validator("intents")
    @classmethod
    def _reserved(cls, value: dict[str, IntentRule]) -> dict[str, IntentRule]:
        for reserved in ("unknown", "default"):
            if reserved in value:
                raise ValueError(f"{reserved!r} is not an intent: give it as the top-level key {reserved}:")
        return value

    @model_validator(mode="after")
    def _references(self) -> Policy:
        problems: list[tuple[tuple[Any, ...], str, Any]] = []
        declared = ", ".join(self.queues)

        def check_queue(loc: tuple[Any, ...], queue: str | None) -> None:
            if queue is not None and queue not in self.queues:
                problems.append((loc, f"unknown queue; declared queues: {declared}", queue))

        check_queue(("fallback_queue",), self.fallback_queue)
        entries: list[tuple[tuple[Any, ...], IntentRule]] = [(("intents", k), v) for k, v in self.intents.items()]
        entries += [((key,), entry) for key, entry in (("unknown", self.unknown), ("default", self.default)) if entry]
        for loc, entry in entries:
            check_queue(loc + ("queue",), entry.queue)
            if entry.link is not None:
                link = entry.link.format(base=self.help_base_url)
                if not re.match(r"https?://\S+$", link):
                    problems.append((loc + ("link",), f"must give an http(s) URL (found {link!r} once {{base}} is filled)", entry.link))
        for position, event in enumerate(self.crisis_events):
            check_queue(("crisis_events", position, "queue"), event.queue)
        if problems:
            _fail(problems, "Policy")
        return self

    def entry(self, label: str) -> tuple[IntentRule, str]:
        """The entry for an intent label and where it came from (``intents.<label>``, ``unknown`` or ``default``)."""
        if label == "unknown":
            return self.unknown or _human_entry(self.fallback_queue), "unknown"
        if label in self.intents:
            return self.intents[label], f"intents.{label}"
        return self.default or _human_entry(self.fallback_queue), "default"

    def link(self, entry: IntentRule) -> str:
        """An entry's link with ``{base}`` filled in."""
        if entry.link is None:
            raise PolicyError("this entry has no link (a human entry); only self_service entries have one")
        return entry.link.format(base=self.help_base_url)

    @property
    def version_tag(self) -> str:
        """``name@version``, for a result's ``versions``."""
        return f"{self.name}@{self.version}"


def _human_entry(queue: str) -> IntentRule:
    return IntentRule(action="human", queue=queue)


def parse_policy(data: dict[str, Any], *, source: str = "policy") -> Policy:
    """Validate a policy given as a mapping (e.g. a section of a pipeline config).

    Raises:
        PolicyError: ``"<source>: invalid policy: <key>: <problem> (found <value>)"``.
    """
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping of policy keys (help_base_url, queues, intents, ...), "
                          f"found {type(data).__name__}")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{source}: invalid policy: " + validation_message(exc, Policy)) from None


def load_policy(path: str | os.PathLike[str], *, help_base_url: str | None = None) -> Policy:
    """Read and validate a policy YAML file.

    Args:
        path: the YAML file, e.g. ``models/defaults/policy-consumer.yaml``.
        help_base_url: replaces the file's ``help_base_url`` (one policy, several help centres).

    Raises:
        PolicyError: naming the file, the key, the value found and what is allowed, e.g.
            ``intents.track_order.action: Input should be 'self_service' or 'human' (found 'selfservice')``.

    Example:
        >>> load_policy("models/defaults/policy-consumer.yaml").thresholds.auto
        0.8
    """
    raw = read_yaml_mapping(
        path,
        kind="policy",
        error=PolicyError,
        example="models/defaults/policy-consumer.yaml",
        missing_hint="the shipped policies are models/defaults/policy-consumer.yaml and policy-airline.yaml",
        keys="help_base_url, queues, intents, thresholds, ...",
    )
    if help_base_url is not None:
        raw = {**raw, "help_base_url": help_base_url}
    return parse_policy(raw, source=str(Path(path)))


# --------------------------------------------------------------------------------------------------
# Signals in, a decision out
# --------------------------------------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime) -> datetime:
    # A time without a timezone is taken as UTC (twcs and most exports write UTC).
    return value.replace(tzinfo=UTC) if value.tzinfo is None or value.utcoffset() is None else value


def _model(value: Any, model: type[BaseModel], name: str) -> Any:
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise InputError(f"signals.{name}: " + validation_message(exc, model)) from None


def _probability(value: Any, name: str, *, optional: bool = True) -> float | None:
    if value is None and optional:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"signals.{name} must be a probability in [0, 1] (found {value!r})") from None
    if not 0.0 <= number <= 1.0:
        raise InputError(f"signals.{name} must be a probability in [0, 1] (found {number})")
    return number


@dataclass
class Signals:
    """Everything the policy knows about one mention: the mention and what the models and scans said.

    Dicts are accepted for the nested models and validated. ``pii`` left as ``None`` is scanned from the
    text (:func:`triage.pii.pii_types`). A ``now`` or ``created_at`` without a timezone is taken as UTC.

    Attributes:
        mention: the validated mention (its ``followers`` and ``verified`` are never read by the rules).
        intent: the intent head's result; label ``unknown`` when it abstained.
        sentiment: the sentiment head's result (``scores`` with ``negative``, ``neutral``, ``positive``).
        needs_human: the needs-human probability, or ``None`` without a needs-human model.
        needs_human_threshold: the model's own decision threshold, used when the policy's is null.
        duplicate_of: the answered mention this one repeats (the pipeline passes it only above the index's
            similarity threshold), or ``None``.
        no_reply: a no-reply probability from an optional classifier, or ``None``.
        pii: the PII types found in the text.
        suggested_link: the index's best help link for the mention's brand, or ``None``.
        region: where the mention comes from, when the pipeline knows (for crisis events).
        now: the decision time: crisis windows for mentions without ``created_at``.
    """

    mention: Mention
    intent: IntentResult
    sentiment: SentimentResult
    needs_human: float | None = None
    needs_human_threshold: float | None = None
    duplicate_of: DuplicateResult | None = None
    no_reply: float | None = None
    pii: list[str] | None = None
    suggested_link: SuggestedLink | None = None
    region: str | None = None
    now: datetime = field(default_factory=_utc_now)

    def __post_init__(self) -> None:
        self.mention = _model(self.mention, Mention, "mention")
        self.intent = _model(self.intent, IntentResult, "intent")
        self.sentiment = _model(self.sentiment, SentimentResult, "sentiment")
        if self.duplicate_of is not None:
            self.duplicate_of = _model(self.duplicate_of, DuplicateResult, "duplicate_of")
        if self.suggested_link is not None:
            self.suggested_link = _model(self.suggested_link, SuggestedLink, "suggested_link")
        self.needs_human = _probability(self.needs_human, "needs_human")
        self.needs_human_threshold = _probability(self.needs_human_threshold, "needs_human_threshold")
        self.no_reply = _probability(self.no_reply, "no_reply")
        for label in ("negative", "positive"):
            _probability(self.sentiment.scores.get(label, 0.0), f"sentiment.scores.{label}")
        if self.pii is None:
            self.pii = pii_types(self.mention.text)
        else:
            self.pii = sorted(set(self.pii))
        if not isinstance(self.now, datetime):
            raise InputError(f"signals.now must be a datetime (found {type(self.now).__name__})")
        self.now = _as_utc(self.now)


@dataclass(frozen=True)
class _Facts:
    """What the rules may read. No followers, verified, author or any influence score: by construction."""

    mention_id: str
    text: str
    has_url: bool
    brand: str | None
    created_at: datetime | None
    in_reply_to: str | None
    intent: IntentResult
    negative: float
    positive: float
    sentiment_label: str
    needs_human: float | None
    needs_human_threshold: float | None
    duplicate_of: DuplicateResult | None
    no_reply: float | None
    pii: tuple[str, ...]
    suggested_link: SuggestedLink | None
    region: str | None
    now: datetime


def _facts(signals: Signals) -> _Facts:
    mention = signals.mention
    raw = mention.text.translate(_QUOTES)
    text = _HANDLE.sub(" ", _URL.sub(" ", raw))
    scores = signals.sentiment.scores
    return _Facts(
        mention_id=mention.id,
        text=text,
        has_url=_URL.search(raw) is not None,
        brand=mention.brand,
        created_at=_as_utc(mention.created_at) if mention.created_at is not None else None,
        in_reply_to=mention.in_reply_to,
        intent=signals.intent,
        negative=float(scores.get("negative", 0.0)),
        positive=float(scores.get("positive", 0.0)),
        sentiment_label=signals.sentiment.label,
        needs_human=signals.needs_human,
        needs_human_threshold=signals.needs_human_threshold,
        duplicate_of=signals.duplicate_of,
        no_reply=signals.no_reply,
        pii=tuple(signals.pii or ()),
        suggested_link=signals.suggested_link,
        region=signals.region,
        now=signals.now,
    )


@dataclass(frozen=True)
class Decision:
    """The policy's decision for one mention.

    Attributes:
        action: ``self_service``, ``human`` or ``no_reply``.
        link: the URL for ``self_service``; else ``None``.
        queue: the queue for ``human``; else ``None``.
        priority: ``high`` or ``normal`` for ``human``; else ``None``.
        review: the action is proposed and a person should confirm it (intent confidence between the
            review and auto thresholds); only for ``self_service``.
        reasons: plain-English reasons, the deciding one first.
        rules: the names of the rules that fired (see :data:`RULE_ORDER`; priority rules as
            ``priority:<name>``, an intent entry's ``priority: high`` as ``priority:intent``), for evaluation.
        reply: the self-service entry's reply text, if the policy gives one.
    """

    action: Action
    link: str | None = None
    queue: str | None = None
    priority: Priority | None = None
    review: bool = False
    reasons: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    reply: str | None = None

    def to_result(
        self, signals: Signals, *, versions: dict[str, str] | None = None, redacted_text: str | None = None
    ) -> TriageResult:
        """The :class:`~triage.schema.TriageResult` for this decision and its signals.

        ``redacted_text`` defaults to the mention's text with its PII redacted.
        """
        mention = signals.mention
        return TriageResult(
            id=mention.id,
            action=self.action,
            link=self.link,
            queue=self.queue,
            priority=self.priority,
            review=self.review,
            intent=signals.intent,
            sentiment=signals.sentiment,
            needs_human=signals.needs_human,
            duplicate_of=signals.duplicate_of,
            pii=list(signals.pii or []),
            redacted_text=redacted_text if redacted_text is not None else redact(mention.text),
            reasons=list(self.reasons),
            versions=dict(versions or {}),
        )


def _no_reply_cue(policy: Policy, facts: _Facts) -> str | None:
    """Why the text alone says no reply is needed (spam with a link, thanks or praise), or ``None``; the caller has
    checked that the mention asks or reports nothing."""
    nr = policy.no_reply
    if facts.has_url and (spam := nr._spam.first(facts.text)):
        return f"spam: a link with promotional words ({spam!r}): no reply"
    if facts.positive >= nr.praise_positive and (praise := nr._praise.first(facts.text)):
        return f"thanks or praise ({praise!r}, positive {facts.positive:.2f}) with no request: no reply needed"
    return None


def _has_request(policy: Policy, facts: _Facts) -> str | None:
    if "?" in facts.text:
        return "'?'"
    hit = policy.no_reply._requests.first(facts.text)
    return repr(hit) if hit else None


def _crisis(policy: Policy, facts: _Facts) -> tuple[CrisisEvent, str] | None:
    when = facts.created_at or facts.now
    brand = _brand_key(facts.brand) if facts.brand else None
    for event in policy.crisis_events:
        if not event.active_at(when):
            continue
        matched: list[str] = []
        missing = False
        for given, found in (
            (event.keywords, event._keywords_cues.first(facts.text)),
            (event.brands, brand if brand in event.brands else None),
            (
                event.regions,
                (facts.region if facts.region and facts.region.casefold() in {r.casefold() for r in event.regions}
                 else event._region_cues.first(facts.text)),
            ),
        ):
            if not given:
                continue
            if found:
                matched.append(repr(found))
            else:
                missing = True
        if matched and (event.match == "any" or not missing):
            return event, ", ".join(matched)
    return None


def decide(policy: Policy, signals: Signals) -> Decision:
    """Apply ``policy`` to one mention's ``signals`` (rule order in the module docstring).

    Raises:
        PolicyError: the policy's needs-human threshold is null and ``signals.needs_human_threshold`` is
            missing while ``signals.needs_human`` is given.
    """
    return _decide(policy, _facts(signals))


def decide_batch(policy: Policy, signals: Iterable[Signals]) -> list[Decision]:
    """:func:`decide` for each item, in order."""
    return [decide(policy, item) for item in signals]


def _decide(policy: Policy, f: _Facts) -> Decision:
    t = policy.thresholds
    intent = f.intent
    entry, entry_key = policy.entry(intent.label)
    trusted = intent.label != "unknown" and intent.confidence >= t.review
    routed_queue = entry.queue if trusted and entry.queue else policy.fallback_queue

    # Urgent rules send the mention to a person with priority high; a trusted intent whose entry says
    # priority: high only raises the priority of a decision that is human anyway.
    urgent: list[tuple[str, str]] = []  # (rule name, reason)
    for rule in policy.priority.rules:
        hit = rule.fires(f.text)
        if hit:
            urgent.append((f"priority:{rule.name}", f"high priority: {rule.name} ({hit})"))
    very_negative = policy.priority.negative_sentiment
    if very_negative is not None and f.negative >= very_negative:
        urgent.append(("priority:negative_sentiment",
                       f"high priority: very negative sentiment (negative {f.negative:.2f} >= {very_negative:.2f})"))
    high = list(urgent)
    if trusted and entry.priority == "high":
        high.append(("priority:intent", f"high priority: intent {intent.label} (policy)"))

    def human(queue: str, rules: list[str], reasons: list[str]) -> Decision:
        priority: Priority = "high" if high else "normal"
        return Decision(
            action="human", queue=queue, priority=priority,
            reasons=tuple(reasons + [reason for _, reason in high]),
            rules=tuple(rules + [name for name, _ in high]),
        )

    pii_reason = f"pii: {', '.join(f.pii)} posted in public -> move_to_private_channel (a person continues in a private message)"

    # 1. crisis
    crisis = _crisis(policy, f)
    if crisis is not None:
        event, why = crisis
        reasons = [f"crisis event '{event.name}' matches ({why}): automated replies pause, a person in queue "
                   f"{event.queue} handles it"]
        rules = ["crisis"]
        if f.pii:
            reasons.append(pii_reason)
            rules.append("pii")
        return human(event.queue, rules, reasons)

    # 2. pii
    if f.pii:
        return human(routed_queue, ["pii"], [pii_reason])

    request = _has_request(policy, f)

    # 3. conversation follow-up
    if f.in_reply_to is not None and policy.follow_up.enabled:
        where = f"follow-up in a conversation (in reply to {f.in_reply_to})"
        failed = policy.follow_up._failed.first(f.text)
        if failed:
            return human(routed_queue, ["follow_up"],
                         [f"{where} says a suggested fix failed ({failed!r}): stays with a person"])
        closing = policy.follow_up._closing.first(f.text)
        if closing is None and f.positive >= policy.no_reply.praise_positive:
            closing = policy.follow_up._thanks.first(f.text)
        if closing and not request and not urgent:
            return Decision(action="no_reply", reasons=(f"{where} closes it ({closing!r}), no request: no reply needed",),
                            rules=("follow_up", "no_reply"))
        if policy.follow_up.stay_with_person:
            return human(routed_queue, ["follow_up"], [f"{where}: stays with a person, never an automatic link"])

    # 4. high priority
    if urgent:
        return human(routed_queue, ["priority"], [f"urgent: a person in queue {routed_queue} handles it"])

    # 5. needs a human; thanks, praise and spam with no request first: the head learned only from mentions a care
    # team answered with a person or a link. Of the 43 twcs first tweets this order changes (human -> no_reply),
    # the teams moved 3 to a person (benchmarks/no_reply_order.md)
    nr = policy.no_reply
    if nr.enabled and nr.before_needs_human and not request and f.in_reply_to is None:
        cue = _no_reply_cue(policy, f)
        if cue is not None:
            return Decision(action="no_reply", reasons=(cue,), rules=("no_reply",))
    if f.needs_human is not None:
        threshold = policy.needs_human.threshold
        source = ""
        if threshold is None:
            if f.needs_human_threshold is None:
                raise PolicyError(
                    "policy needs_human.threshold is null (use the model's threshold) but the signals carry no "
                    "needs_human_threshold; pass the model's threshold or set needs_human.threshold in the policy"
                )
            threshold, source = f.needs_human_threshold, " (the model's threshold)"
        if f.needs_human >= threshold:
            return human(routed_queue, ["needs_human"],
                         [f"needs_human {f.needs_human:.2f} >= {threshold:.2f}{source}: a person should handle this"])

    # 6. duplicate of an answered mention
    notes: list[str] = []
    dup = f.duplicate_of
    if dup is not None and policy.duplicate.enabled:
        floor = policy.duplicate.min_similarity
        if not dup.link:
            notes.append(f"repeats answered mention {dup.id} (similarity {dup.similarity:.2f}) but that answer has no link")
        elif floor is not None and dup.similarity < floor:
            notes.append(f"repeats answered mention {dup.id} (similarity {dup.similarity:.2f} < {floor:.2f}): not used")
        else:
            return Decision(action="self_service", link=dup.link,
                            reasons=(f"repeats answered mention {dup.id} (similarity {dup.similarity:.2f}): "
                                     "self-service with that answer's link",),
                            rules=("duplicate",))

    # 7. nothing to act on
    # a follow-up is no_reply only when it closes the conversation (rule 3): one that answers an agent's
    # question ("iPhone 6s, iOS 11") is what the agent waits for
    if nr.enabled and not request and f.in_reply_to is None:
        reason = None
        if f.no_reply is not None and nr.probability is not None and f.no_reply >= nr.probability:
            reason = f"no_reply {f.no_reply:.2f} >= {nr.probability:.2f}: nothing to act on"
        elif (cue := _no_reply_cue(policy, f)) is not None:
            reason = cue
        elif f.negative >= nr.venting_negative and not trusted:
            reason = (f"venting with no request (negative {f.negative:.2f}, intent {intent.label} "
                      f"{intent.confidence:.2f} < review {t.review:.2f}): no reply needed")
        elif (nr.chatter and intent.label == "unknown" and f.sentiment_label != "negative"
              and len(f.text.split()) <= nr.chatter_max_words):
            reason = "chatter: no request, and the intent model abstained (unknown): no reply needed"
        if reason is not None:
            return Decision(action="no_reply", reasons=tuple([reason] + notes), rules=("no_reply",))

    def suggested(head: str) -> Decision | None:
        rule, found = policy.suggested_link, f.suggested_link
        if not rule.enabled or found is None or found.score < rule.min_score:
            return None
        if found.similarity is None or found.similarity < rule.min_similarity:
            return None
        reason = (f"{head}; the team answered similar mentions of {f.brand or 'this brand'} with this link "
                  f"(score {found.score:.2f}, closest {found.similarity:.2f}, {found.support} of the nearest): "
                  "self-service link proposed for review")
        return Decision(action="self_service", link=found.link, review=True, reasons=tuple([reason] + notes),
                        rules=("suggested_link", "review"))

    # 8. the intent model abstained
    if intent.label == "unknown":
        head = f"intent model abstained (unknown, top {intent.confidence:.2f})"
        if entry.action == "human" and (proposal := suggested(head)) is not None:
            return proposal
        if entry.action == "human":
            return human(entry.queue or policy.fallback_queue, ["unknown"], [f"{head}: a person in queue {entry.queue} decides"] + notes)
        return Decision(action="self_service", link=policy.link(entry), review=True, reply=entry.reply,
                        reasons=tuple([f"{head}: self-service link proposed for review"] + notes), rules=("unknown",))

    # 9. low confidence
    if intent.confidence < t.review:
        proposal = suggested(f"intent {intent.label} {intent.confidence:.2f} < review {t.review:.2f}")
        if proposal is not None:
            return proposal
        return human(policy.fallback_queue, ["low_confidence"],
                     [f"intent {intent.label} {intent.confidence:.2f} < review {t.review:.2f}: a person decides"] + notes)

    # 10. the intent map
    label = f"intent {intent.label} {intent.confidence:.2f}"
    if entry_key == "default":
        label += " (not in the policy's intents: default entry)"
    if entry.action == "human":
        band = f">= auto {t.auto:.2f}" if intent.confidence >= t.auto else f">= review {t.review:.2f}"
        return human(entry.queue or policy.fallback_queue, ["intent"], [f"{label} {band}: human queue {entry.queue}"] + notes)
    if intent.confidence >= t.auto:
        return Decision(action="self_service", link=policy.link(entry), reply=entry.reply,
                        reasons=tuple([f"{label} >= auto {t.auto:.2f}: self-service link"] + notes), rules=("intent",))
    return Decision(action="self_service", link=policy.link(entry), review=True, reply=entry.reply,
                    reasons=tuple([f"{label} between review {t.review:.2f} and auto {t.auto:.2f}: "
                                   "self-service link proposed for review"] + notes),
                    rules=("intent", "review"))
