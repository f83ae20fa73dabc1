"""TLS options of the SDK against a real server with a certificate from a test CA (trustme):
the CA bundle, no verification, and ``server_name`` for nodes addressed by IP."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from pmscan_client import Client, FleetClient, TransportError

from tests.support.server import ServerProcess

#: The certificate names the service, not the address: as for pods reached by IP.
SERVICE_NAME = "pmscan.kube-system.svc"


class ServerByName(ServerProcess):
    """Its own readiness check cannot verify a certificate that does not name 127.0.0.1."""

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("verify", False)
        return super().client(**kwargs)


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    ca = trustme.CA()
    files = tmp_path_factory.mktemp("tls")
    certificate = ca.issue_cert(SERVICE_NAME)
    cert, key, ca_path = files / "server.pem", files / "server.key", files / "ca.pem"
    certificate.cert_chain_pems[0].write_to_path(str(cert))
    for blob in certificate.cert_chain_pems[1:]:
        blob.write_to_path(str(cert), append=True)
    certificate.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_path))
    with ServerByName(auth="off", tls_cert=cert, tls_key=key) as server:
        yield server, ca_path


def test_verified_by_the_ca_for_the_service_name(ca_file: tuple[ServerProcess, Path]) -> None:
    server, ca = ca_file
    assert server.url.startswith("https://127.0.0.1:")
    with Client(server.url, verify=str(ca), server_name=SERVICE_NAME) as client:
        assert client.capabilities().page_size > 0
        assert len(list(client.scan(os.getpid()))) > 0

    async def fleet() -> bool:
        async with FleetClient([server.url], verify=str(ca), server_name=SERVICE_NAME) as nodes:
            return (await nodes.capabilities()).ok

    assert asyncio.run(fleet())


def test_the_address_is_not_the_certificates_name(ca_file: tuple[ServerProcess, Path]) -> None:
    server, ca = ca_file
    with Client(server.url, verify=str(ca)) as client, pytest.raises(TransportError):
        client.capabilities()


def test_an_unknown_ca_is_refused_unless_told_not_to_verify(ca_file: tuple[ServerProcess, Path]) -> None:
    server, _ = ca_file
    with Client(server.url) as client, pytest.raises(TransportError):
        client.capabilities()
    with Client(server.url, verify=False) as client:
        assert client.capabilities().page_size > 0
