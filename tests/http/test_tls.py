"""TLS: a real server with a certificate from a test CA (trustme), and clients that verify it."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest
import trustme

from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    files = tmp_path_factory.mktemp("tls")
    certificate = ca.issue_cert("127.0.0.1")
    cert, key, ca_file = files / "server.pem", files / "server.key", files / "ca.pem"
    certificate.cert_chain_pems[0].write_to_path(str(cert))
    for blob in certificate.cert_chain_pems[1:]:
        blob.write_to_path(str(cert), append=True)
    certificate.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    with ServerProcess(tls_cert=cert, tls_key=key, tls_ca=ca_file) as running:
        running.token = running.admin_token
        yield running


def test_a_client_trusting_the_ca_gets_answers(server: ServerProcess) -> None:
    assert server.url.startswith("https://127.0.0.1:")
    with server.client() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        response = http.get("/capabilities")
        assert response.status_code == 200
        assert response.json()["page_size"] > 0


def test_tokens_still_apply_over_tls(server: ServerProcess) -> None:
    with server.client(headers={}) as http:
        assert http.get("/capabilities").status_code == 401


def test_a_client_that_does_not_trust_the_ca_is_refused(server: ServerProcess) -> None:
    with httpx.Client(verify=ssl.create_default_context()) as http, pytest.raises(httpx.ConnectError):
        http.get(f"{server.url}/healthz")


def test_plain_http_gets_no_answer(server: ServerProcess) -> None:
    with httpx.Client() as http, pytest.raises(httpx.TransportError):
        http.get(server.url.replace("https://", "http://") + "/healthz")


def test_the_certificate_names_the_address(server: ServerProcess, ca: trustme.CA) -> None:
    """The served certificate is the one issued for 127.0.0.1 (hostname checking is on)."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    assert context.check_hostname
    with httpx.Client(verify=context) as http:
        assert http.get(f"{server.url}/healthz").status_code == 200
