"""``python -m pmscan_client``: the ``pmscan`` command (needs the ``[cli]`` extra)."""

from .cli import run

run()
