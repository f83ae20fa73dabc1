"""``pmscan``: the page states of processes on pmscan nodes, from the shell.

The command is an application of the SDK, installed with its ``[cli]`` extra: ``rich`` draws
its tables, pictures and live views, ``prometheus-client`` reads a node's ``/metrics``. This
module imports neither, so that :func:`run` can say how to install them when they are missing
(the SDK itself, ``import pmscan_client``, never needs them). The command's modules:

- :mod:`.main`: ``main(argv)``, the entry point; errors become messages (:mod:`.messages`)
  and exit codes (:mod:`.exits`).
- :mod:`.parser`: the arguments, each subcommand bound to its handler in :mod:`.commands`;
  the options they share and what they mean in :mod:`.options` and :mod:`.addresses`.
- Views, which build rich renderables and leave the drawing to rich: :mod:`.tables`,
  :mod:`.map_view`, :mod:`.top_view`, :mod:`.watch_view`, on the consoles of :mod:`.console`
  (keys pressed meanwhile: :mod:`.keys`); what goes to pipes (NDJSON, JSON, binary records):
  :mod:`.formats`.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import NoReturn

__all__ = ["EXTRA", "INSTALL", "missing_extra", "run"]

#: The modules of the ``[cli]`` extra: what the command needs beyond the SDK.
EXTRA = ("rich", "prometheus_client")
#: How to install them.
INSTALL = "pip install 'pmscan-client[cli]' (from a checkout of pmscan: pip install './clients[cli]')"


def missing_extra() -> list[str]:
    """The modules of :data:`EXTRA` that cannot be imported here."""
    return [name for name in EXTRA if importlib.util.find_spec(name) is None]


def run() -> NoReturn:
    """The ``pmscan`` console script: the command, or how to install what it needs."""
    missing = missing_extra()
    if missing:
        sys.stderr.write(
            f"pmscan: the command needs the [cli] extra of pmscan-client ({', '.join(missing)} "
            f"is not installed): {INSTALL}\n"
        )
        sys.exit(1)
    from .main import run as run_command  # noqa: PLC0415 (only once the extra is known to be there)

    run_command()
