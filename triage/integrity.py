"""File hashes and library versions recorded in saved artifacts, shared by models and encoders."""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path

__all__ = ["file_sha256", "package_version", "library_versions"]


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_version(dist: str) -> str | None:
    """Installed version of a distribution, or ``None`` when it is not installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def library_versions(*dists: str) -> dict[str, str | None]:
    """Python, triage and numpy versions plus those of ``dists``: what shaped a saved artifact.

    Example:
        >>> sorted(library_versions("scipy"))[:2]
        ['numpy', 'python']
    """
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("triage", "numpy", *dists):
        out[dist] = package_version(dist)
    return out
