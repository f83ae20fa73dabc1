"""The generated client is a golden record: regenerating it from openapi.json changes nothing."""

from __future__ import annotations

from pathlib import Path

from pmscan_client import _client

from clients.regenerate import GENERATED, OPENAPI, differences, generate


def test_the_committed_client_is_what_the_generator_makes(tmp_path: Path) -> None:
    fresh = generate(OPENAPI, tmp_path)
    changed = differences(GENERATED, fresh)
    assert not changed, (
        f"clients/pmscan_client/_generated differs from what openapi.json generates in {changed}; "
        "it is never edited by hand: run `make sdk`"
    )


def test_the_facade_uses_no_operation_that_is_gone() -> None:
    """Every generated module the facade imports exists (a renamed operation id breaks it)."""
    for name in ("clear_soft_dirty", "get_maps", "list_processes", "summary_operation", "get_capabilities"):
        module = getattr(_client, name)
        assert hasattr(module, "sync_detailed") and hasattr(module, "asyncio_detailed")
