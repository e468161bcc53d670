"""Shared pytest fixtures: pretrained encoders are loaded once per test session."""

from __future__ import annotations

import pytest

from triage.encoders import MiniLMEncoder, StaticEncoder


@pytest.fixture(scope="session")
def minilm_encoder() -> MiniLMEncoder:
    """The packaged all-MiniLM-L6-v2 encoder, loaded once per session (offline)."""
    encoder = MiniLMEncoder(device="cpu")
    encoder.encode(["warm up"])
    return encoder


@pytest.fixture(scope="session")
def static_encoder() -> StaticEncoder:
    """The 256-d static encoder; the first session on a machine distils it into models/encoders (~30 s)."""
    encoder = StaticEncoder()
    encoder.encode(["warm up"])
    return encoder
