"""Helpers for tests that damage saved files on purpose."""

from __future__ import annotations

from pathlib import Path


def flip_byte(path: Path, offset: int = -1) -> None:
    """Invert every bit of one byte of ``path`` (flipping it again restores the file)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
