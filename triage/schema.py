"""Wire types: the :class:`Mention` that comes in and the per-mention results that go out.

Field rules follow DESIGN.md. Batch paths call :func:`text_problem` per row so a bad row gets an
``error`` instead of stopping the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from triage.errors import InputError

__all__ = [
    "MAX_TEXT_CHARS",
    "Mention",
    "SentimentResult",
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
