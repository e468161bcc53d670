"""Where things live: the repository, the dataset root and the models folder.

Also switches the Hugging Face libraries to offline mode: ``triage`` never reaches a model hub
at run time.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_ROOT", "MODELS_DIR", "resolve_data_dir", "set_offline"]

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = Path(os.environ.get("TRIAGE_MODELS_DIR", REPO_ROOT / "models"))
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


def set_offline() -> None:
    """Tell huggingface_hub, transformers and datasets never to touch the network."""
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(key, "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the dataset root: ``data_dir`` if given, else ``$TRIAGE_DATA_DIR``, else ``../shared/data``.

    Example:
        >>> resolve_data_dir("/tmp").name
        'tmp'
    """
    if data_dir is not None:
        return Path(data_dir).expanduser().resolve()
    env = os.environ.get("TRIAGE_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return DEFAULT_DATA_DIR


set_offline()
