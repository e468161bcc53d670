"""File hashes and library versions recorded in saved artifacts, shared by models and encoders."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from triage.errors import ArtifactError

__all__ = ["file_sha256", "read_json", "verify_files", "package_version", "library_versions"]


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(file: Path, *, fix: str) -> object:
    """The parsed JSON of a manifest ``file``; ArtifactError naming the file, the parse error and ``fix``."""
    try:
        return json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{file} is not valid JSON ({exc}); {fix}.") from exc


def verify_files(folder: Path, files: Mapping[str, str], *, manifest_file: Path, fix: str) -> None:
    """Check that every file listed in a manifest exists under ``folder`` with its recorded sha256.

    Raises:
        ArtifactError: naming the file, the manifest and ``fix`` (what to do, e.g. "rebuild the index").
    """
    for name, expected in files.items():
        file = Path(folder) / name
        if not file.is_file():
            raise ArtifactError(f"{file} is missing (listed in {manifest_file}); restore the file, or {fix}.")
        found = file_sha256(file)
        if found != expected:
            raise ArtifactError(
                f"{file} does not match the sha256 recorded in {manifest_file} (expected {expected[:12]}..., "
                f"found {found[:12]}...): the file was modified or corrupted. Restore it, or {fix}."
            )


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
