"""Marks of the stress tests."""

from __future__ import annotations

import os

import pytest

__all__ = ["FULL_RUN", "FUZZ_FULL_RUN_REQUESTS", "full_run_only"]

#: ``make stress`` (bench/stress.py) sets ``PMSCAN_STRESS=full``: the long runs run then only.
FULL_RUN = os.environ.get("PMSCAN_STRESS") == "full"

#: For the long version of a test (marked ``slow`` too): ``make test`` runs its short version.
full_run_only = pytest.mark.skipif(not FULL_RUN, reason="the long run of make stress (PMSCAN_STRESS=full)")

#: The fuzzer's full run sends at least this many requests.
FUZZ_FULL_RUN_REQUESTS = 5000
