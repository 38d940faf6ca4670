"""Where ../shared/fixtures is (or $AGGREGATOR_SHARED_FIXTURES); tests that need it skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path


def fixtures_root() -> Path | None:
    env = os.environ.get("AGGREGATOR_SHARED_FIXTURES")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "fixtures"
    return root if root.is_dir() else None
