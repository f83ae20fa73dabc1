"""``pmscan-server`` (app/server.py) as a process: how it ends."""

from __future__ import annotations

import signal

from tests.support.server import ServerProcess


class TestExitStatus:
    def test_sigterm_is_a_clean_stop_with_status_0(self) -> None:
        """uvicorn raises SIGTERM again after its graceful shutdown; the server does not die of
        it (status 143 in a shell, -15 here) but reports the clean stop it made."""
        with ServerProcess(auth="off") as server:
            assert server.stop() == 0, server.log()

    def test_sigint_too(self) -> None:
        with ServerProcess(auth="off") as server:
            assert server.process is not None
            server.process.send_signal(signal.SIGINT)
            assert server.process.wait(timeout=30) == 0, server.log()
