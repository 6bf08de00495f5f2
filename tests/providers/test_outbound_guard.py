"""The guard at connection time: one lookup, the connection goes to the checked
address, DNS failures are clean, the cache is bounded. Loopback only: names are
answered by ``fake_dns`` with 127.0.0.0/8 addresses.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from providers import http
from providers.checks import check_image_fetch_loopback
from providers.drivers.base import DriverConfig, DriverError
from providers.drivers.openai import OpenAIDriver
from providers.health import check_provider
from providers.models import Provider
from tests.fakes.net import ConnectionCounter, counting, fake_dns
from tests.fakes.server import serve_tls

TRANSPORTS = ["aiohttp", "httpx"]


def _get_many(url: str, times: int) -> list[int]:
    async def main() -> list[int]:
        statuses = []
        async with http.build_client() as client:
            for _ in range(times):
                statuses.append((await client.get(url)).status_code)
        return statuses

    return asyncio.run(main())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_rebinding_name_is_resolved_once_and_connected_to_the_checked_address(
    transport: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PROVIDERS_HTTP_TRANSPORT = transport
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = True
    http.clear_dns_cache()
    first = ConnectionCounter(("127.0.0.1",)).start()
    # The same port on another loopback address: where a second lookup leads.
    second = ConnectionCounter(("127.0.0.2",), port=first.port).start()
    try:
        answers = iter([["127.0.0.1"]])
        lookups = fake_dns(
            monkeypatch,
            {"rebind.test": lambda: next(answers, ["127.0.0.2"])},
        )
        statuses = _get_many(f"http://rebind.test:{first.port}/cat.png", 3)
    finally:
        first.stop()
        second.stop()
    assert statuses == [200, 200, 200]
    assert (first.connections, second.connections) == (3, 0)
    assert lookups == ["rebind.test"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_name_resolving_to_loopback_is_refused_without_connecting(
    transport: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PROVIDERS_HTTP_TRANSPORT = transport
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = False
    http.clear_dns_cache()
    fake_dns(monkeypatch, {"internal.test": ["127.0.0.1", "::1"]})
    with counting() as listener, pytest.raises(http.OutboundBlocked) as err:
        _get_many(f"http://internal.test:{listener.port}/", 1)
    assert listener.connections == 0
    assert "PROVIDERS_ALLOW_PRIVATE_IPS" in str(err.value)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_unresolvable_host_is_a_clean_transient_503(
    transport: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PROVIDERS_HTTP_TRANSPORT = transport
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = False  # the production default
    fake_dns(monkeypatch, {})
    cfg = DriverConfig("openai", "http://no-such-host.test/v1", "bearer", {})

    async def main() -> None:
        async with http.build_client() as client:
            await OpenAIDriver(cfg, client).chat(
                {"messages": [{"role": "user", "content": "hi"}]}, "m"
            )

    with pytest.raises(DriverError) as err:
        asyncio.run(main())
    assert (err.value.status, err.value.code, err.value.transient) == (
        503,
        "upstream_unavailable",
        True,
    )
    assert err.value.health == "unavailable"
    assert "gaierror" not in err.value.message and "Errno" not in err.value.message


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_non_canonical_literal_is_sent_to_the_address_it_was_checked_as(
    transport: str, settings: Any
) -> None:
    settings.PROVIDERS_HTTP_TRANSPORT = transport
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = True
    with counting(("127.0.0.1",)) as listener:
        for host in ("127.1", "2130706433", "0x7f000001", "0x7f.1"):
            assert _get_many(f"http://{host}:{listener.port}/", 1) == [200]
    assert listener.connections == 4


def test_the_dns_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {f"n{i}.test": ["127.0.0.1"] for i in range(http.DNS_CACHE_SIZE + 50)}
    fake_dns(monkeypatch, names)  # type: ignore[arg-type]
    policy = http.Policy(allow_private=True)
    http.clear_dns_cache()

    async def main() -> None:
        for name in names:
            await http.resolve(name, 80, policy, socket.AF_UNSPEC)

    asyncio.run(main())
    cached = http.dns_cache_keys()
    assert len(cached) == http.DNS_CACHE_SIZE
    assert ("n0.test", socket.AF_UNSPEC) not in cached


def test_the_refusal_names_the_setting_only_where_it_would_help(
    settings: Any,
) -> None:
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = False
    policy = http.provider_policy()
    private = policy.refuse("intranet.example", "10.0.0.7")
    never = policy.refuse("169.254.169.254", "169.254.169.254")
    assert private and "intranet.example: 10.0.0.7 is a private address" in private
    assert "PROVIDERS_ALLOW_PRIVATE_IPS=true" in private
    assert never and "cloud metadata" in never
    assert "PROVIDERS_ALLOW_PRIVATE_IPS" not in never


def test_the_image_loopback_switch_is_flagged_outside_debug(settings: Any) -> None:
    settings.DEBUG = False
    settings.IMAGE_FETCH_ALLOW_LOOPBACK = False
    assert check_image_fetch_loopback() == []
    settings.IMAGE_FETCH_ALLOW_LOOPBACK = True
    assert [m.id for m in check_image_fetch_loopback()] == ["providers.W002"]


def _certificates(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA (trusted by the client) and a server certificate for ``name``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(
            pem,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tls_still_verifies_the_host_name_on_the_pinned_connection(
    transport: str,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    settings.PROVIDERS_HTTP_TRANSPORT = transport
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = True
    http.clear_dns_cache()
    ca, cert, key = _certificates(tmp_path, "vendor.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the client trusts our CA
    fake_dns(monkeypatch, {"vendor.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    server_names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=request.headers.get("Host", ""))

    app.router.add_get("/", hello)
    with serve_tls(app, context) as port:

        async def get(host: str) -> str:
            async with http.build_client() as client:
                return (await client.get(f"https://{host}:{port}/")).text

        assert asyncio.run(get("vendor.test")) == f"vendor.test:{port}"
        # The same address under a name the certificate does not cover fails.
        with pytest.raises(httpx.TransportError, match=r"not valid for 'other\.test'"):
            asyncio.run(get("other.test"))
    assert server_names[0] == "vendor.test"
    assert "other.test" in server_names


def test_health_says_unavailable_for_a_name_that_does_not_resolve(
    world: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = False
    fake_dns(monkeypatch, {})
    provider = Provider(
        organization=world.acme,
        name="nowhere",
        provider_type="openai",
        endpoint="https://no-such-host.test/v1",
        auth_method="bearer",
    )
    provider.seal("credentials", {"api_key": "sk-nowhere"})
    provider.save()
    result = check_provider(provider)
    assert result.health == Provider.Health.UNAVAILABLE
    assert "does not resolve" in result.message and result.transient
