"""triage: intent, sentiment, needs-a-human and one action for every social customer-care mention."""

from __future__ import annotations

from triage import paths as _paths  # noqa: F401  (sets offline mode before any HF import)
from triage.errors import ArtifactError, DatasetError, InputError, TriageError

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "TriageError",
    "DatasetError",
    "ArtifactError",
    "InputError",
]
