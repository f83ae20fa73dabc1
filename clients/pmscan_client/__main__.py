"""``python -m pmscan_client``: the ``pmscan`` command."""

from ._cli import run

run()
