"""Exceptions raised by the library.

Every error says what was expected, what was found and how to fix it; the CLI turns a
:class:`TriageError` into one clear line and a non-zero exit code.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "TriageError",
    "DatasetError",
    "ArtifactError",
    "InputError",
    "RecipeError",
    "PolicyError",
    "NotFittedError",
]


class TriageError(Exception):
    """Base class for every error this library raises on purpose."""


class DatasetError(TriageError):
    """A dataset folder or file is missing or malformed (the message names the file and line)."""


class ArtifactError(TriageError):
    """A model artifact is missing, mismatched or tampered with (the message names the file and the fix)."""


class InputError(TriageError, ValueError):
    """User input (texts, mentions, files to score) is not what was expected."""


class RecipeError(TriageError, ValueError):
    """A training recipe does not validate (the message names the key and the allowed values)."""


class PolicyError(TriageError, ValueError):
    """A triage policy does not validate (the message names the key, the value found and what is allowed)."""


class NotFittedError(TriageError, _SklearnNotFittedError):
    """A model was used before ``fit``; also a scikit-learn ``NotFittedError`` so sklearn tools recognise it."""
