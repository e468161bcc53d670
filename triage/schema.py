"""Wire types: the :class:`Mention` that comes in and the :class:`TriageResult` that goes out.

Field rules follow DESIGN.md. Batch paths call :func:`text_problem` per row so a bad row gets an
``error`` instead of stopping the batch (:meth:`TriageResult.failed`). The field descriptions become the
OpenAPI documentation of the HTTP service.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from triage.errors import InputError

__all__ = [
    "MAX_TEXT_CHARS",
    "Mention",
    "SentimentResult",
    "IntentResult",
    "DuplicateResult",
    "Action",
    "Priority",
    "TriageResult",
    "text_problem",
    "check_texts",
]

MAX_TEXT_CHARS = 5000


def text_problem(text: Any) -> str | None:
    """Return why ``text`` cannot be triaged, or ``None`` when it is fine.

    Example:
        >>> text_problem("   ")
        'text is empty after stripping whitespace'
        >>> text_problem("my order never arrived") is None
        True
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return "text is missing"
    if not isinstance(text, str):
        return f"text must be a string (found {type(text).__name__})"
    stripped = text.strip()
    if not stripped:
        return "text is empty after stripping whitespace"
    if len(stripped) > MAX_TEXT_CHARS:
        return f"text is longer than {MAX_TEXT_CHARS:,} characters (found {len(stripped):,} after stripping)"
    return None


def check_texts(texts: Any, *, what: str = "texts") -> list[str]:
    """Validate a batch of texts for a model: a str becomes a batch of one; any bad item raises.

    Raises:
        InputError: naming the first bad position and why it is bad.
    """
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, Sequence) and not hasattr(texts, "__iter__"):
        raise InputError(f"{what} must be a string or a list of strings, found {type(texts).__name__}")
    texts = list(texts)
    for position, text in enumerate(texts):
        problem = text_problem(text)
        if problem is not None:
            raise InputError(f"{what}[{position}]: {problem}")
    return texts


class Mention(BaseModel):
    """One public post that mentions or replies to a brand."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    id: str = Field(description="Unique within a request or file.")
    text: str = Field(description="The post's text: 1 to 5,000 characters after stripping.")
    brand: str | None = Field(default=None, description="The account mentioned or replied to, e.g. AmazonHelp.")
    author: str | None = Field(default=None, description="Opaque author id.")
    created_at: datetime | None = Field(default=None, description="ISO-8601 time of posting.")
    channel: str = Field(default="twitter", description="Where the mention was posted.")
    in_reply_to: str | None = Field(default=None, description="Id of the mention this one answers.")
    followers: int | None = Field(default=None, description="Accepted and stored; never changes action or priority.")
    verified: bool | None = Field(default=None, description="Accepted and stored; never changes action or priority.")

    @field_validator("text")
    @classmethod
    def _text_rule(cls, value: str) -> str:
        problem = text_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("id", mode="before")
    @classmethod
    def _id_rule(cls, value: Any) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValueError("id is required")
        return str(value)


class SentimentResult(BaseModel):
    """Sentiment of one mention: the label and a probability per class."""

    label: str = Field(description="negative, neutral or positive.")
    scores: dict[str, float] = Field(description="Calibrated probability per label.")


Action = Literal["self_service", "human", "no_reply"]
Priority = Literal["high", "normal"]


class IntentResult(BaseModel):
    """What the customer wants: the top intent, its calibrated confidence and the runners-up.

    Example:
        >>> IntentResult(label="track_order", confidence=0.93, top=[("track_order", 0.93), ("delivery_period", 0.04)])
        IntentResult(label='track_order', confidence=0.93, top=[('track_order', 0.93), ('delivery_period', 0.04)])
    """

    label: str = Field(description="The predicted intent; `unknown` when the model abstains (fits none of its intents).")
    confidence: float = Field(ge=0.0, le=1.0, description="Calibrated probability of `label` (of the top intent when `unknown`).")
    top: list[tuple[str, float]] = Field(
        default_factory=list, description="The most likely intents as `[label, probability]` pairs, most likely first."
    )

    @field_validator("top")
    @classmethod
    def _probabilities(cls, value: list[tuple[str, float]]) -> list[tuple[str, float]]:
        for label, p in value:
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"probability of {label!r} must be in [0, 1] (found {p})")
        return value


class DuplicateResult(BaseModel):
    """The already-answered mention this one repeats, found by the nearest-neighbour index."""

    id: str = Field(description="Id of the answered mention this one repeats.")
    similarity: float = Field(ge=-1.0, le=1.0, description="Cosine similarity between the two mentions.")
    link: str | None = Field(default=None, description="The link the earlier answer gave, if any.")


class SuggestedLink(BaseModel):
    """The help link a care team most often answered similar mentions of the same brand with (from the index)."""

    link: str = Field(description="The suggested URL.")
    score: float = Field(ge=0.0, description="Aggregated vote of the nearest answered mentions plus the brand's prior.")
    similarity: float | None = Field(default=None, ge=-1.0, le=1.0,
                                     description="Cosine similarity of the closest answered mention with that link.")
    support: int = Field(default=0, ge=0, description="How many of the nearest answered mentions got this link.")


class TriageResult(BaseModel):
    """The decision for one mention: one action, where it goes, and why.

    Exactly one of ``action`` and ``error`` is set. ``self_service`` carries a ``link``; ``human`` carries a
    ``queue`` and a ``priority``; ``no_reply`` carries neither.

    Example:
        >>> TriageResult(id="1", action="human", queue="billing", priority="high", reasons=["money lost: 'charged twice'"]).action
        'human'
        >>> TriageResult.failed("2", "text is empty after stripping whitespace").error
        'text is empty after stripping whitespace'
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The mention's id.")
    action: Action | None = Field(
        default=None,
        description="self_service (answer with `link`), human (a person in `queue` handles it) or no_reply "
        "(nothing to act on). Null only when `error` is set.",
    )
    link: str | None = Field(default=None, description="The URL to answer with, for self_service; else null.")
    queue: str | None = Field(default=None, description="The department queue, for human; else null.")
    priority: Priority | None = Field(default=None, description="high or normal, for human; else null.")
    review: bool = Field(
        default=False,
        description="True when the action is proposed, not final: the intent confidence lies between the policy's "
        "review and auto thresholds, so a person should confirm it before it is sent.",
    )
    intent: IntentResult | None = Field(default=None, description="The intent head's prediction.")
    sentiment: SentimentResult | None = Field(default=None, description="The sentiment head's prediction.")
    needs_human: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Calibrated probability that a person should handle the mention."
    )
    duplicate_of: DuplicateResult | None = Field(
        default=None, description="The answered mention this one repeats, or null."
    )
    pii: list[str] = Field(
        default_factory=list,
        description="Types of private data found in the text (email, phone, card, iban, account_ref); empty when none.",
    )
    redacted_text: str | None = Field(
        default=None,
        description="The mention's text with private data replaced by its type, e.g. `[card]`: the only form of "
        "the text that is stored, logged or returned.",
    )
    reasons: list[str] = Field(
        default_factory=list, description="The rules and scores that decided, in plain words, most decisive first."
    )
    versions: dict[str, str] = Field(
        default_factory=dict, description="Versions of the pipeline, policy and models that produced the result."
    )
    error: str | None = Field(default=None, description="Why the mention could not be triaged, or null.")

    @model_validator(mode="after")
    def _consistent(self) -> TriageResult:
        if self.error is not None:
            if self.action is not None:
                raise ValueError(f"a result with an error has no action (found action {self.action!r})")
            return self
        if self.action is None:
            raise ValueError("action is required unless error is set (one of self_service, human, no_reply)")
        if self.action == "self_service" and not self.link:
            raise ValueError("a self_service result needs a link")
        if self.action != "self_service" and self.link is not None:
            raise ValueError(f"link is for self_service only (found action {self.action!r} with a link)")
        if self.action == "human" and (self.queue is None or self.priority is None):
            raise ValueError("a human result needs a queue and a priority")
        if self.action != "human" and (self.queue is not None or self.priority is not None):
            raise ValueError(f"queue and priority are for human only (found action {self.action!r})")
        if self.review and self.action == "human":
            raise ValueError("review marks a proposed self_service or no_reply action; a human action is never 'for review'")
        return self

    @classmethod
    def failed(cls, id: str, error: str, *, versions: dict[str, str] | None = None) -> TriageResult:
        """The result row for a mention that could not be triaged (batch paths keep such rows)."""
        return cls(id=str(id), error=error, versions=dict(versions or {}))
