"""Stopping the agent as the kubelet stops it: SIGTERM, then SIGKILL after the pod's
terminationGracePeriodSeconds (``podman stop --time``). It ends its streams with an ESHUTDOWN line
and exits with status 0 well within the grace period."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tests.image._agent import Agent, Deployment, Pki
from tests.support.target import Target


class TestStop:
    def test_a_running_watch_ends_with_eshutdown_and_the_agent_with_0(
        self, deployment: Deployment, volumes: Path, pki: Pki, admin: str, target: Target
    ) -> None:
        with Agent(deployment, volumes, ca=pki.ca) as agent:
            grace = agent.run.grace_seconds
            stopped: list[tuple[int, float]] = []
            body = {"pid": target.pid, "interval_seconds": 0.1, "count": 1000}
            with agent.client(admin) as http, http.stream("POST", "/watch", json=body) as response:
                assert response.status_code == 200
                lines = response.iter_lines()
                assert json.loads(next(lines))["tick"] == 0
                stopping = threading.Thread(target=lambda: stopped.append(agent.container.stop(grace)))
                stopping.start()
                rest = [json.loads(line) for line in lines]
                stopping.join()
            ((exit_status, seconds),) = stopped
            assert rest[-1]["error"]["code"] == "ESHUTDOWN", rest[-3:]
            assert all("tick" in line for line in rest[:-1])
            assert exit_status == 0, agent.container.logs()
            assert seconds < grace, f"the stop took {seconds:.1f} s of the {grace} s grace period"
