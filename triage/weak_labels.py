"""Weak `needs_human` labels from what real care teams did, as plain labelling functions.

A customer mention gets the label ``human`` when the brand moved the conversation to a private channel or
a person (a DM, a call, an e-mail, an escalation, a contact form) and ``self_service`` when the brand
answered it publicly with a help link or self-help steps. The labels are read from the brand's side of the
conversation, but the model only ever sees the customer's text.

Labelling functions (each a small named function over an :class:`Evidence` record, returning a label or
``None`` to abstain):

- twcs, from the brand's reply to the customer tweet: :func:`reply_private_channel`,
  :func:`reply_contact_or_escalate` (``human``); :func:`reply_help_link`, :func:`reply_self_help_steps`
  (``self_service``).
- twcs, from the customer's own next tweet in the thread (it shows what the brand's reply, possibly missing
  from the excerpt, asked for): :func:`followup_sent_dm` (``human``), :func:`followup_tried_fix`
  (``self_service``). These label the SpotifyCares file, whose brand replies are not in the data.
- ibm_twitter_customer_care: :func:`ibm_help_document` (``self_service``: the agent sent a help document);
  the reply functions also run on the agent's link tweet, so a link to a contact form ("send us an e-mail at
  ...", "create a support ticket so we may assist you one-on-one") is caught.

Conflicts are resolved by :func:`resolve` (default ``human_wins``: when a reply both links and moves the
customer to a private channel, the link is not the resolution). :func:`weak_label_report` gives each
function's coverage, overlaps and conflicts.

Threads: twcs threads are the connected components over ``tweet_id``, ``response_tweet_id`` and
``in_response_to_tweet_id`` (:func:`twcs_thread_ids`; the key is the smallest tweet id, as in the dataset's
SOURCE.md); an IBM conversation is its own thread. Splits are by ``thread_id`` so a thread is never in two
parts.

Example:
    >>> frame = needs_human_frame()                       # doctest: +SKIP
    >>> frame[["text", "label", "brand", "thread_id"]].head()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Literal

import pandas as pd

from triage.errors import DatasetError, InputError

__all__ = [
    "HUMAN",
    "SELF_SERVICE",
    "NEEDS_HUMAN_LABELS",
    "Evidence",
    "LabellingFunction",
    "LABELLING_FUNCTIONS",
    "reply_private_channel",
    "reply_contact_or_escalate",
    "reply_help_link",
    "reply_self_help_steps",
    "followup_sent_dm",
    "followup_tried_fix",
    "ibm_help_document",
    "apply_lfs",
    "resolve",
    "twcs_thread_ids",
    "twcs_evidence",
    "label_twcs",
    "label_ibm",
    "load_twcs_tweets",
    "needs_human_frame",
    "weak_label_report",
    "format_report",
]

logger = logging.getLogger(__name__)

Label = Literal["human", "self_service"]
HUMAN: Label = "human"
SELF_SERVICE: Label = "self_service"
NEEDS_HUMAN_LABELS: tuple[str, str] = (HUMAN, SELF_SERVICE)
ConflictPolicy = Literal["human_wins", "drop", "majority"]

TWCS_FILES = ("kaggle_sample/sample.csv", "first5000/twcs.csv", "spotifycares_requests/support_requests.csv")
OUTPUT_COLUMNS = ["text", "label", "brand", "thread_id", "source", "tweet_id", "votes"]


@dataclass(frozen=True)
class Evidence:
    """What the labelling functions may look at for one customer mention (never the model's input).

    Attributes:
        reply: the brand's reply to the mention (several reply tweets joined by newlines), or None.
        followup: the same customer's next tweet(s), answering the brand's reply, or None.
        help_document: True when the agent's reply carried a help-document link (IBM data).
    """

    reply: str | None = None
    followup: str | None = None
    help_document: bool = False


# ------------------------------------------------------------------------------------------------------------
# Patterns. Case-insensitive; each one was read against the replies it fires on (benchmarks/needs_human.md).
# ------------------------------------------------------------------------------------------------------------

_I = re.IGNORECASE
_URL = re.compile(r"https?://\S+|(?<![\w./])(?:www\.|t\.co/)\S+", _I)

# The brand moves the conversation to a private channel.
_PRIVATE = re.compile(
    r"\b(?:DM|DMs|DM'?d|DMed|D\.M\.)\b"
    r"|\bdirect(?:ly)?[ -]?messag"
    r"|\bprivate(?:ly)?[ -]?messag|\bmessage us privately\b|\bPM (?:us|me)\b"
    r"|\b(?:send|drop|shoot) (?:us|me) (?:a )?(?:private |direct )?(?:message|note|line)\b"
    r"|\bmessage (?:us|me)\b(?! (?:here|on twitter) (?:anytime|any time))"
    r"|\b(?:check|see) (?:your|ur) (?:DMs?|inbox|direct messages)\b"
    r"|\bfollow (?:us|back)\b.{0,40}\b(?:DM|message)"
    r"|\b(?:live ?chat|chat with (?:us|an? (?:agent|advisor|specialist|expert)))\b"
    r"|\bmensaje (?:directo|privado)\b|\bmessage priv|(?-i:\bMD\b)",
    _I,
)

# The brand hands the customer to a person: phone, e-mail, a contact form, an escalation, their account.
_PHONE_NUMBER = r"(?:\+?\d[\d ().-]{7,}\d)"
_CONTACT = re.compile(
    r"\b(?:call|phone|ring) (?:us|our|the|them|\d)"
    r"|\bgive (?:us|them|our \w+(?: team)?) a (?:call|ring)\b"
    r"|\b(?:e-?mail|write to) (?:us|our|the team)\b|\bsend (?:us|them) an? e-?mail\b"
    r"|\b(?:contact|reach out to|speak (?:to|with)|talk (?:to|with)|get in touch with) "
    r"(?:us|our|the|a|an|one of|someone|somebody|staff|them|your local)\b"
    r"|\b(?:contact|reach|connect with) us (?:here|at|via|through|on|by|directly|for)\b|\breach(?:ing)? out to\b"
    r"|\b(?:look|looking|dig|digging) into (?:this|it) with you\b|\bwith you here\b"
    r"|\b(?:click|use|tap|follow|visit) (?:here|the link|this link|the following link|the link below)\b[^.?!]{0,25}"
    r"\bto (?:send|provide|share|submit|give|report|tell|let|contact|reach|speak|chat)\b"
    r"|\b(?:tell|let) (?:us|our team|the team) (?:more|know)\b[^.?!]{0,15}(?:\bhere\b|\bat the link\b|:)"
    r"|\b(?:make|file|submit|raise|log) (?:a|an) (?:report|claim|complaint|case)\b"
    r"|\bcheck(?:ing)? with (?:the|our) (?:\w+ )?(?:team|department|manager|store)\b"
    r"|\b(?:fill (?:in|out)|complete|submit) (?:this|the|our|a)\b.{0,20}\b(?:form|ticket)\b"
    r"|\b(?:create|open|submit) a (?:support )?(?:ticket|case|request)\b"
    r"|\b(?:provide|share|send|give) (?:us )?(?:some |more |a few |the |your )?(?:details|info|information)\b"
    r".{0,30}\bhere\b"
    r"|\bescalat(?:e|ed|ing)\b"
    r"|\bpass(?:ed|ing)? (?:this|it|that|your \w+) (?:along|on)\b|\bforward(?:ed|ing)? (?:this|it|that|your)\b"
    r"|\b(?:specialist|supervisor|manager|team member|agent|someone|somebody) (?:will|to|can|'ll) "
    r"(?:reach out|contact|call|get in touch|follow up|look into)"
    r"|\b(?:look|dig|check) (?:into|at) (?:your|the) (?:account|order|booking|reservation|reference|case)\b"
    r"|\b(?:pull up|access|locate|review) (?:your|the) (?:account|order|booking|reservation|details)\b"
    r"|\b(?:requests/new|contact-?us|/contact\b)"
    r"|(?:\bon |\bat |: ?)" + _PHONE_NUMBER + r"(?!\S*/)",
    _I,
)

# A public answer that points to help content. Needs a link and words that say the link is the answer.
_HELP_LINK_CONTEXT = re.compile(
    r"\bhere'?s how\b|\bhere is how\b|\bhow to\b|\bsteps?\b|\bstep-by-step\b|\binstructions\b"
    r"|\b(?:this|the|our|that) (?:article|page|guide|link|post|faq|site|website)\b"
    r"|\b(?:help|support|faq|info|status|community|troubleshooting) (?:page|center|centre|article|site|section|guide|forum|board)\b"
    r"|\b(?:more|further|helpful|some) (?:info|information|details|tips)\b|\binfo(?:rmation)? (?:on|about|here)\b"
    r"|\blearn more\b|\bcheck (?:out|this|these)\b|\btake a (?:look|peek)\b|\bhave a (?:look|read)\b"
    r"|\b(?:visit|see|read|follow|click|tap|use|refer to|head to|head over to|go to)\b"
    r"|\byou(?:'ll| will| can| may) (?:find|see|read|get)\b|\bcan be found\b|\bfind (?:out|more|info|it|them|the|all)\b"
    r"|\btips?\b|\bguide\b|\btroubleshoot|\bdownload\b|\bupdate\b|\btry\b|\bexplain|\bdetails? (?:on|about)\b"
    r"|\bcommunity\b|\bcheck\b|\b(?:this|it|these|that) (?:will|should|may|might|could) help\b|\bworking through\b",
    _I,
)
_HELP_URL = re.compile(r"https?://\S*(?:help|support|faq|answer|kb|knowledge|article|community|status|guide)\S*", _I)

# Self-help steps in words: restart, reinstall, clear the cache, a settings path, "here's how".
_SELF_HELP = re.compile(
    r"\btry(?:ing)? (?:to )?(?:re-?start|re-?boot|re-?install|un-?install|updat|clear|delet|log(?:ging)? out|"
    r"sign(?:ing)? out|turn|switch|power|reset|reconnect|disconnect|unplug|force|clos|remov|disabl|enabl|"
    r"toggl|re-?download|re-?add|re-?link|using|another|a different)"
    r"|\b(?:please |just |simply |first,? )(?:re-?start|re-?boot|re-?install|un-?install|update|clear|delete|"
    r"log out|sign out|turn|switch|power ?cycle|reset|reconnect|unplug|force|close|remove|disable|enable|toggle|"
    r"go to|head to|open|select|tap|navigate)\b"
    r"|\bclear(?:ing)? (?:the |your |its )?(?:app )?(?:cache|cookies|data|browsing)"
    r"|\b(?:log|sign)(?:ging)? out and (?:back )?in\b|\bpower[- ]?cycl|\bfactory reset\b|\bhard reset\b"
    r"|\b(?:update|upgrade) (?:to|your|the app|the latest|ios|android)\b|\blatest version\b"
    r"|\b(?:you can|you'll need to|you will need to|you need to|you'd need to|you may|you'll want to|you might)\b"
    r"[^.?!]{0,80}\b(?:settings|preferences|menu|options|the app|app store|account page|your library|toggle)\b"
    r"|\b(?:in|under|via|from) (?:your |the )?(?:settings|preferences)\b"
    r"|\bgo to (?:settings|your settings|the settings|preferences|your account|menu)\b"
    r"|\bhere'?s how\b|\bhere is how\b|\bthe steps (?:here|below|in)\b|\bfollow(?:ing)? (?:these|the|this) steps\b"
    r"|\b(?:could|can|would) you (?:please )?(?:try|re-?start|re-?boot|re-?install|clear|update|press|unplug|"
    r"reset|power|log out|sign out|delete|remove)\b"
    r"|\bby going to\b|\byou can \w+[^.?!]{0,40}\b(?:online|on our (?:website|site|app)|via our (?:website|site|app)|"
    r"in the app|through the app|on the app)\b",
    _I,
)

# A handoff offered only as a fallback ("if that doesn't help, DM us", "if you have any other questions, contact
# us", "feel free to reach out") is not what the reply did: the rest of the reply is the answer.
_FALLBACK = re.compile(
    r"\bif\b[^.!?\n]*\b(?:still|persists?|continues?|continue to|doesn'?t|don'?t|didn'?t|does not|do not|"
    r"did not|isn'?t|can'?t|cannot|unable|no luck|further|more|other|additional|need (?:help|assistance|anything))\b"
    r"|\botherwise\b|\bin case\b|\bfeel free\b|\bin the future\b|\bshould (?:the|this|that|it|you)\b",
    _I,
)
_SENTENCE_START = re.compile(r"[.!?\n][^.!?\n]*$")


def _firm_match(pattern: re.Pattern[str], text: str) -> bool:
    """True when ``pattern`` matches ``text`` outside a fallback clause of the same sentence."""
    for match in pattern.finditer(text):
        before = text[: match.start()]
        clause = _SENTENCE_START.search(before)
        clause_text = clause.group(0) if clause else before
        after = text[match.end() : match.end() + 40].split(".")[0]
        if not _FALLBACK.search(clause_text) and not re.search(r"\bin the future\b|\bif (?:you )?need", after, _I):
            return True
    return False

# The customer's next tweet says the brand asked for a DM, or that the brand suggested a fix they tried.
_FOLLOWUP_DM = re.compile(
    r"\b(?:DM'?d|DMed|dm'?ed|PM'?d)\b"
    r"|\b(?:sent|send|sending|replied|responded|answered)\b(?: (?:you|u|it|another|a|the|my|an))*"
    r"(?: (?:\w+))? (?:DMs?|direct message|private message|PM|message|inbox)\b"
    r"|\b(?:sent|replied|responded|answered)\b.{0,15}\b(?:in|via|through|to) (?:the |your |a )?(?:DMs?|direct message|private message|inbox)\b"
    r"|\bcheck (?:your|ur|the) (?:DMs?|inbox|direct messages|messages)\b"
    r"|\b(?:I|I've|I have|I'll|i will|just|already|will|done|ok|okay)\b,? (?:just )?(?:DM|message) (?:you|u|ya)\b"
    r"|\b(?:followed|following) (?:you|u)\b"
    r"|\b(?:called|emailed|e-mailed|rang) (?:you|them|the number|customer (?:service|care)|your)\b",
    _I,
)
_FOLLOWUP_TRIED = re.compile(
    r"(?<!n't )(?<!not )(?<!never )\b(?:tried|trying) (?:that|this|it|those|these|all|everything|both|all of (?:that|those|them)|them)\b"
    r"|\b(?:I|I've|I have|i'd|just|already|yes|yeah|yep|ok|okay)\b,? (?:did|done|have done) (?:that|this|it|those|these|all|everything|both)\b"
    r"|\balready (?:tried|did|done|re-?installed|re-?started|re-?booted|updated|cleared|logged|signed|deleted|reset)"
    r"|\b(?:re-?installed|re-?downloaded|un-?installed|re-?started|re-?booted|restared|power ?cycled|"
    r"cleared (?:the |my |all )?(?:app )?(?:cache|data|cookies)|logged (?:out|off)|signed (?:out|off)|"
    r"updated (?:the|my|to|it|spotify|app)|factory reset|hard reset|reset (?:my|the) (?:phone|app|device|password))\b"
    r"|\b(?:that|this|which|the link|the steps?|your (?:fix|solution|advice|suggestion|link)) "
    r"(?:worked|works|helped|fixed|solved|did the trick|did it|didn'?t work|didn'?t help|doesn'?t work|"
    r"doesn'?t help|did not work|did not help|does not work|does not help)"
    r"|\b(?:works|working) (?:now|again|fine now|perfectly now)\b|\b(?:fixed|solved|sorted) (?:it|now)\b"
    r"|\b(?:followed|follow|tried) (?:your|the|those|these) (?:instructions|steps|advice|suggestions?|link|guide|tips)\b"
    r"|\bnone of (?:those|these|the) (?:steps|suggestions|solutions|tips)\b",
    _I,
)



# ------------------------------------------------------------------------------------------------------------
# The labelling functions
# ------------------------------------------------------------------------------------------------------------


def reply_private_channel(evidence: Evidence) -> Label | None:
    """``human`` when the brand's reply moves the conversation to a private channel (DM, direct or private
    message, "follow us and DM", live chat); else abstain.

    Example:
        >>> reply_private_channel(Evidence(reply="@123 Please send us a DM with your order number."))
        'human'
        >>> reply_private_channel(Evidence(reply="@123 Try restarting the app.")) is None
        True
    """
    if evidence.reply and _firm_match(_PRIVATE, evidence.reply):
        return HUMAN
    return None


def reply_contact_or_escalate(evidence: Evidence) -> Label | None:
    """``human`` when the brand's reply hands the customer to a person: call us / a phone number, e-mail us,
    contact a team, a contact form or support ticket, "we've escalated", "a specialist will reach out",
    "we'll look into your account"; else abstain.

    Example:
        >>> reply_contact_or_escalate(Evidence(reply="@5 You'd need to contact our Aftersales team on 0344 556 5650"))
        'human'
        >>> reply_contact_or_escalate(Evidence(reply="@5 Thanks for the kind words!")) is None
        True
    """
    if evidence.reply and _firm_match(_CONTACT, evidence.reply):
        return HUMAN
    return None


def reply_help_link(evidence: Evidence) -> Label | None:
    """``self_service`` when the brand's reply carries a link presented as the answer (a help/support URL,
    or a link with words such as "here's how", "the steps", "more info", "check out", "visit"); else abstain.

    Example:
        >>> reply_help_link(Evidence(reply="@5 You can find info on adding members here: https://t.co/i3uumZzaok"))
        'self_service'
        >>> reply_help_link(Evidence(reply="@5 Nice shot, thanks for sharing! https://t.co/abc")) is None
        True
    """
    reply = evidence.reply
    if not reply or not _URL.search(reply):
        return None
    if _HELP_URL.search(reply) or _HELP_LINK_CONTEXT.search(_URL.sub(" ", reply)):
        return SELF_SERVICE
    return None


def reply_self_help_steps(evidence: Evidence) -> Label | None:
    """``self_service`` when the brand's reply gives self-help steps in words: try restarting / updating /
    reinstalling / clearing the cache, log out and back in, "you can ... in settings", "here's how"; else
    abstain.

    Example:
        >>> reply_self_help_steps(Evidence(reply="@5 Try clearing the app's cache and restarting your phone."))
        'self_service'
        >>> reply_self_help_steps(Evidence(reply="@5 We'll update you as soon as we hear back.")) is None
        True
    """
    if evidence.reply and _SELF_HELP.search(evidence.reply):
        return SELF_SERVICE
    return None


def followup_sent_dm(evidence: Evidence) -> Label | None:
    """``human`` when the customer's next tweet says they sent the DM (or called, or followed the account)
    the brand asked for: "just DMed you", "sent you a message", "check your DMs"; else abstain.

    Example:
        >>> followup_sent_dm(Evidence(followup="@SpotifyCares done, sent you a DM"))
        'human'
        >>> followup_sent_dm(Evidence(followup="@SpotifyCares I tried that already")) is None
        True
    """
    if evidence.followup and _FOLLOWUP_DM.search(evidence.followup):
        return HUMAN
    return None


def followup_tried_fix(evidence: Evidence) -> Label | None:
    """``self_service`` when the customer's next tweet reports on a fix the brand suggested: "tried that",
    "reinstalled, still the same", "that worked", "followed your steps"; else abstain.

    Example:
        >>> followup_tried_fix(Evidence(followup="@SpotifyCares Just reinstalled. It's still happening"))
        'self_service'
        >>> followup_tried_fix(Evidence(followup="@SpotifyCares iPhone 8 plus on iOS 11.0.3")) is None
        True
    """
    if evidence.followup and _FOLLOWUP_TRIED.search(evidence.followup):
        return SELF_SERVICE
    return None


def ibm_help_document(evidence: Evidence) -> Label | None:
    """``self_service`` for the customer turns before an IBM care agent sent a help-document link; else abstain.

    Example:
        >>> ibm_help_document(Evidence(help_document=True))
        'self_service'
        >>> ibm_help_document(Evidence(reply="@5 see https://t.co/x")) is None
        True
    """
    return SELF_SERVICE if evidence.help_document else None


@dataclass(frozen=True)
class LabellingFunction:
    """A named labelling function, the label it can vote for and what it reads."""

    name: str
    label: Label
    reads: Literal["reply", "followup", "help_document"]
    function: Callable[[Evidence], Label | None]

    def __call__(self, evidence: Evidence) -> Label | None:
        return self.function(evidence)


LABELLING_FUNCTIONS: tuple[LabellingFunction, ...] = (
    LabellingFunction("reply_private_channel", HUMAN, "reply", reply_private_channel),
    LabellingFunction("reply_contact_or_escalate", HUMAN, "reply", reply_contact_or_escalate),
    LabellingFunction("reply_help_link", SELF_SERVICE, "reply", reply_help_link),
    LabellingFunction("reply_self_help_steps", SELF_SERVICE, "reply", reply_self_help_steps),
    LabellingFunction("followup_sent_dm", HUMAN, "followup", followup_sent_dm),
    LabellingFunction("followup_tried_fix", SELF_SERVICE, "followup", followup_tried_fix),
    LabellingFunction("ibm_help_document", SELF_SERVICE, "help_document", ibm_help_document),
)


def apply_lfs(
    evidence: Evidence, functions: Sequence[LabellingFunction] = LABELLING_FUNCTIONS
) -> dict[str, Label]:
    """The non-abstaining votes of ``functions`` on one mention's evidence, ``{lf name: label}``.

    Example:
        >>> apply_lfs(Evidence(reply="Please DM us. Steps here: https://help.example.com/a"))
        {'reply_private_channel': 'human', 'reply_help_link': 'self_service'}
    """
    votes: dict[str, Label] = {}
    for lf in functions:
        label = lf(evidence)
        if label is not None:
            votes[lf.name] = label
    return votes


def resolve(votes: dict[str, Label], policy: ConflictPolicy = "human_wins") -> Label | None:
    """One label from the votes of the labelling functions, or None (no vote, or a dropped conflict).

    Policies: ``human_wins`` (default: a reply that both links and moves the customer to a person/private
    channel was resolved by the person, the link was not the answer), ``drop`` (conflicting mentions get no
    label) and ``majority`` (more votes wins; a tie goes to ``human``).

    Example:
        >>> resolve({"reply_private_channel": "human", "reply_help_link": "self_service"})
        'human'
        >>> resolve({"reply_private_channel": "human", "reply_help_link": "self_service"}, "drop") is None
        True
    """
    labels = Counter(votes.values())
    if not labels:
        return None
    if len(labels) == 1:
        return next(iter(labels))
    if policy == "human_wins":
        return HUMAN
    if policy == "drop":
        return None
    if policy == "majority":
        return SELF_SERVICE if labels[SELF_SERVICE] > labels[HUMAN] else HUMAN
    raise InputError(f"conflict policy must be one of human_wins, drop, majority; found {policy!r}")


# ------------------------------------------------------------------------------------------------------------
# twcs: threads, evidence per customer tweet, labels
# ------------------------------------------------------------------------------------------------------------


def _ids(value: object) -> list[str]:
    if not isinstance(value, str) or not value:
        return []
    return [part for part in value.split(",") if part]


def twcs_thread_ids(tweets: pd.DataFrame) -> pd.Series:
    """The thread of every tweet: connected components (union-find) over ``tweet_id``, the ids in
    ``response_tweet_id`` and ``in_response_to_tweet_id``; a thread's key is its smallest tweet id.

    Ids that are referenced but not in ``tweets`` still join the tweets that reference them (two customer
    tweets answering the same missing brand tweet are one thread).

    Returns:
        A string Series aligned with ``tweets``.

    Example:
        >>> frame = pd.DataFrame({"tweet_id": ["1", "2", "3", "9"], "response_tweet_id": ["2", None, None, None],
        ...                       "in_response_to_tweet_id": [None, "1", "7", "7"]})
        >>> twcs_thread_ids(frame).tolist()
        ['1', '1', '3', '3']
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            # the smaller id (as a number) becomes the root, so the root is the thread key
            if (len(ra), ra) < (len(rb), rb):
                parent[rb] = ra
            else:
                parent[ra] = rb

    for tweet_id, responses, reply_to in zip(
        tweets["tweet_id"], tweets["response_tweet_id"], tweets["in_response_to_tweet_id"], strict=True
    ):
        find(str(tweet_id))
        for other in _ids(responses) + _ids(reply_to):
            union(str(tweet_id), other)
    return pd.Series([find(str(t)) for t in tweets["tweet_id"]], index=tweets.index, dtype=object)


def _join(texts: Iterable[str]) -> str | None:
    texts = [t for t in texts if t]
    return "\n".join(texts) if texts else None


def twcs_evidence(tweets: pd.DataFrame) -> dict[str, Evidence]:
    """Evidence for every customer (inbound) tweet of ``tweets``, by tweet id.

    - ``reply``: the brand tweets answering it (outbound tweets whose ``in_response_to_tweet_id`` is the
      customer tweet, or listed in its ``response_tweet_id``), with the brand's own continuation tweets
      ("1/2" -> "2/2"), joined in tweet-id order;
    - ``followup``: the same customer's tweets that answer one of those replies (found through the
      customer tweet's ``response_tweet_id`` even when the reply itself is not in the data).
    """
    tweets = tweets.drop_duplicates("tweet_id")
    by_id = {row.tweet_id: row for row in tweets.itertuples(index=False)}
    children: dict[str, list[str]] = {}
    for row in tweets.itertuples(index=False):
        if isinstance(row.in_response_to_tweet_id, str) and row.in_response_to_tweet_id:
            children.setdefault(row.in_response_to_tweet_id, []).append(row.tweet_id)

    def order(ids: Iterable[str]) -> list[str]:
        return sorted(set(ids), key=lambda i: (len(i), i))

    evidence: dict[str, Evidence] = {}
    for row in tweets.itertuples(index=False):
        if not row.inbound:
            continue
        reply_ids = set(children.get(row.tweet_id, [])) | set(_ids(row.response_tweet_id))
        brand_replies = [i for i in reply_ids if i in by_id and not by_id[i].inbound]
        # the brand's own continuation tweets ("1/2" then "2/2", each replying to the previous one)
        queue, seen = list(brand_replies), set(brand_replies)
        while queue:
            current = queue.pop()
            for child in children.get(current, []):
                tweet = by_id[child]
                if not tweet.inbound and tweet.author_id == by_id[current].author_id and child not in seen:
                    seen.add(child)
                    queue.append(child)
        # replies that are not in the data (SpotifyCares file) still count when the customer answers them
        answered = [i for i in reply_ids if i not in by_id or not by_id[i].inbound] + list(seen)
        followups = [
            child
            for reply in answered
            for child in children.get(reply, [])
            if by_id[child].inbound and by_id[child].author_id == row.author_id
        ]
        reply = _join(by_id[i].text for i in order(seen))
        followup = _join(by_id[i].text for i in order(followups))
        if reply or followup:
            evidence[row.tweet_id] = Evidence(reply=reply, followup=followup)
    return evidence


def _twcs_folder(data_dir: str | os.PathLike[str] | None) -> Path:
    from triage.paths import resolve_data_dir
    from triage.registry import dataset_info

    root = resolve_data_dir(data_dir)
    folder = root / dataset_info("twcs").folder
    if folder.is_dir():
        return folder
    if data_dir is not None and any((root / f).is_file() for f in TWCS_FILES):
        return root  # DIR is the twcs folder itself
    return folder


def load_twcs_tweets(
    data_dir: str | os.PathLike[str] | None = None, *, files: Sequence[str] | None = None
) -> pd.DataFrame:
    """Every tweet of the twcs files present under ``data_dir`` (any subset of the three excerpts), parsed
    together, one row per tweet id (the first copy: the excerpts overlap), with ``thread_id``.

    ``data_dir`` is the dataset root holding ``twcs/`` (or the ``twcs`` folder itself).

    Raises:
        DatasetError: none of the twcs files is there (the message names the folder and the files).
    """
    from triage.registry import load_files

    folder = _twcs_folder(data_dir)
    wanted = list(files) if files is not None else [f for f in TWCS_FILES if (folder / f).is_file()]
    if not wanted:
        raise DatasetError(
            f"no twcs file in {folder}: expected some of {', '.join(TWCS_FILES)}; point --data-dir at the root "
            "that holds 'twcs/' (or at the twcs folder itself)"
        )
    frame = load_files("twcs", wanted, folder=folder).to_pandas()
    frame = frame.drop_duplicates("tweet_id").reset_index(drop=True)
    frame["thread_id"] = twcs_thread_ids(frame)
    return frame


def _votes_json(votes: dict[str, Label]) -> str:
    return json.dumps(votes, sort_keys=True)


def label_twcs(
    tweets: pd.DataFrame,
    *,
    functions: Sequence[LabellingFunction] = LABELLING_FUNCTIONS,
    policy: ConflictPolicy = "human_wins",
    keep_abstained: bool = False,
) -> pd.DataFrame:
    """Weak labels for the customer tweets of ``tweets`` (a frame of :func:`load_twcs_tweets`).

    Returns:
        One row per customer tweet that the brand answered (or whose follow-up shows an answer):
        ``text`` (the customer's text only), ``label`` (``human``/``self_service``, None when every function
        abstained or a conflict was dropped; such rows are left out unless ``keep_abstained``), ``brand``,
        ``thread_id``, ``source`` (``twcs:<file>``), ``tweet_id``, ``votes`` (JSON ``{lf: label}``).
    """
    if "thread_id" not in tweets.columns:
        tweets = tweets.assign(thread_id=twcs_thread_ids(tweets))
    evidence = twcs_evidence(tweets)
    rows = []
    for row in tweets.drop_duplicates("tweet_id").itertuples(index=False):
        found = evidence.get(row.tweet_id)
        if found is None or not isinstance(row.text, str) or not row.text.strip():
            continue
        votes = apply_lfs(found, functions)
        label = resolve(votes, policy)
        if label is None and not keep_abstained:
            continue
        rows.append(
            {
                "text": row.text,
                "label": label,
                "brand": row.brand,
                "thread_id": row.thread_id,
                "source": f"twcs:{row.source_file}",
                "tweet_id": row.tweet_id,
                "votes": _votes_json(votes),
            }
        )
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


# ------------------------------------------------------------------------------------------------------------
# IBM care conversations
# ------------------------------------------------------------------------------------------------------------


def label_ibm(
    conversations: pd.DataFrame,
    *,
    functions: Sequence[LabellingFunction] = LABELLING_FUNCTIONS,
    policy: ConflictPolicy = "human_wins",
    keep_abstained: bool = False,
) -> pd.DataFrame:
    """Weak labels for IBM care conversations (a split of ``load_dataset("ibm_twitter_customer_care")``).

    One row per conversation: its customer turns before the agent's help-document link (the registry's
    ``text``), ``thread_id`` = ``conversation_id``. The agent's link tweet is the reply the reply functions
    read, so a "help document" that is a contact form or comes with "DM us" votes ``human`` too.
    """
    rows = []
    for row in conversations.itertuples(index=False):
        if not isinstance(row.text, str) or not row.text.strip():
            continue
        try:
            turns = json.loads(row.turns) if isinstance(row.turns, str) else []
        except json.JSONDecodeError:
            turns = []
        first_customer = next((t for t in turns if "agent" not in t), {})
        reply = getattr(row, "url_utterance", None) or None  # the agent's tweet with the link
        votes = apply_lfs(Evidence(reply=reply, help_document=True), functions)
        label = resolve(votes, policy)
        if label is None and not keep_abstained:
            continue
        rows.append(
            {
                "text": row.text,
                "label": label,
                "brand": row.brand,
                "thread_id": f"ibm:{row.conversation_id}",
                "source": "ibm_twitter_customer_care",
                "tweet_id": str(first_customer.get("tweet_ID") or row.tweet_id or row.conversation_id),
                "votes": _votes_json(votes),
            }
        )
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


def _load_ibm(split: str, data_dir: str | os.PathLike[str] | None) -> pd.DataFrame:
    from triage.registry import load_dataset

    frame = load_dataset("ibm_twitter_customer_care", data_dir=data_dir, splits=[split])[split].to_pandas()
    # the registry keeps the link's URL but not the agent's words around it; read them from the raw file
    from triage.paths import resolve_data_dir
    from triage.registry import dataset_info

    spec = dataset_info("ibm_twitter_customer_care")
    path = resolve_data_dir(data_dir) / spec.folder / spec.splits[split].files[0]
    utterances = {
        str(item["dialogHeader"]["sessionID"]): item["agentURL"].get("url_utterance")
        for item in json.loads(path.read_text(encoding="utf-8"))
    }
    frame["url_utterance"] = frame["conversation_id"].map(utterances)
    return frame


# ------------------------------------------------------------------------------------------------------------
# All weak labels, and the report
# ------------------------------------------------------------------------------------------------------------

_DATASETS = ("twcs", "ibm_twitter_customer_care")


def needs_human_frame(
    *,
    datasets: Sequence[str] = ("twcs",),
    ibm_splits: Sequence[str] = ("dev",),
    twcs_files: Sequence[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    policy: ConflictPolicy = "human_wins",
    functions: Sequence[LabellingFunction] = LABELLING_FUNCTIONS,
    keep_abstained: bool = False,
) -> pd.DataFrame:
    """Weakly labelled customer mentions from ``datasets`` (``twcs``, ``ibm_twitter_customer_care``).

    Returns:
        A DataFrame with ``text``, ``label``, ``brand``, ``thread_id``, ``source``, ``tweet_id``, ``votes``.

    Raises:
        InputError: an unknown dataset name.
        DatasetError: the data is not there.
    """
    unknown = [d for d in datasets if d not in _DATASETS]
    if unknown:
        raise InputError(f"needs_human labels come from {list(_DATASETS)}; found {unknown}")
    frames = []
    if "twcs" in datasets:
        tweets = load_twcs_tweets(data_dir, files=twcs_files)
        frames.append(label_twcs(tweets, functions=functions, policy=policy, keep_abstained=keep_abstained))
    if "ibm_twitter_customer_care" in datasets:
        for split in ibm_splits:
            frames.append(
                label_ibm(_load_ibm(split, data_dir), functions=functions, policy=policy,
                          keep_abstained=keep_abstained)
            )
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OUTPUT_COLUMNS)
    logger.info("needs_human weak labels: %d mentions, %s", len(frame), dict(Counter(frame["label"])))
    return frame


def weak_label_report(frame: pd.DataFrame, *, functions: Sequence[LabellingFunction] = LABELLING_FUNCTIONS) -> dict:
    """Coverage, overlaps and conflicts of the labelling functions over ``frame``.

    ``frame`` is an output of :func:`needs_human_frame` / :func:`label_twcs` / :func:`label_ibm`, best with
    ``keep_abstained=True`` so coverage is over every candidate mention.

    Returns:
        ``candidates`` (mentions with evidence), ``labelled`` and ``labels`` after resolution, ``by_source``
        (candidates, labelled and label counts per source file), ``functions`` (per LF: votes, coverage,
        overlaps with another LF, conflicts with another LF), ``pairs`` (per pair of LFs: both fired, and
        disagreed), ``conflicts`` (mentions with both labels) and ``resolution`` (what the policy did).
    """
    votes = [json.loads(v) for v in frame["votes"]]
    n = len(frame)
    names = [lf.name for lf in functions]
    per_lf = {}
    for name in names:
        fired = [v for v in votes if name in v]
        per_lf[name] = {
            "votes": len(fired),
            "coverage": round(len(fired) / n, 4) if n else 0.0,
            "overlaps": sum(1 for v in fired if len(v) > 1),
            "conflicts": sum(1 for v in fired if len(set(v.values())) > 1),
        }
    pairs = {}
    for a, b in combinations(names, 2):
        both = [v for v in votes if a in v and b in v]
        if both:
            pairs[f"{a} & {b}"] = {"both": len(both), "disagree": sum(1 for v in both if v[a] != v[b])}
    conflicts = sum(1 for v in votes if len(set(v.values())) > 1)
    labelled = frame[frame["label"].notna()]
    by_source = {}
    for source, part in frame.groupby("source", sort=True):
        done = part[part["label"].notna()]
        by_source[source] = {
            "candidates": len(part),
            "labelled": len(done),
            "labels": {k: int(v) for k, v in Counter(done["label"]).items()},
        }
    return {
        "candidates": n,
        "labelled": len(labelled),
        "labels": {k: int(v) for k, v in Counter(labelled["label"]).items()},
        "by_source": by_source,
        "functions": per_lf,
        "pairs": pairs,
        "conflicts": conflicts,
        "resolution": {
            "conflicts_to_human": int(sum(1 for v, lab in zip(votes, frame["label"], strict=True)
                                          if len(set(v.values())) > 1 and lab == HUMAN)),
            "conflicts_dropped": int(sum(1 for v, lab in zip(votes, frame["label"], strict=True)
                                         if len(set(v.values())) > 1 and lab is None)),
        },
    }


def format_report(report: dict) -> str:
    """The report of :func:`weak_label_report` as Markdown tables."""
    lines = [
        f"{report['candidates']} candidate mentions (a brand reply or the customer's follow-up is in the data), "
        f"{report['labelled']} labelled: {report['labels']}; {report['conflicts']} with conflicting votes "
        f"({report['resolution']['conflicts_to_human']} resolved to human, "
        f"{report['resolution']['conflicts_dropped']} dropped).",
        "",
        "| source | candidates | labelled | human | self_service |",
        "| --- | --- | --- | --- | --- |",
    ]
    for source, row in report["by_source"].items():
        lines.append(
            f"| {source} | {row['candidates']} | {row['labelled']} | {row['labels'].get(HUMAN, 0)} "
            f"| {row['labels'].get(SELF_SERVICE, 0)} |"
        )
    lines += ["", "| labelling function | votes | coverage | overlaps | conflicts |", "| --- | --- | --- | --- | --- |"]
    for name, row in report["functions"].items():
        lines.append(f"| {name} | {row['votes']} | {row['coverage']:.1%} | {row['overlaps']} | {row['conflicts']} |")
    lines += ["", "| pair | both fire | disagree |", "| --- | --- | --- |"]
    for pair, row in report["pairs"].items():
        lines.append(f"| {pair} | {row['both']} | {row['disagree']} |")
    return "\n".join(lines)
