"""The webhook URL rule (SSRF): https, no credentials, public internet addresses only."""

from __future__ import annotations

import datetime
import ipaddress
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lms.api.errors import WebhookHostUnresolved, WebhookUrlRefused
from lms.api.webhook_targets import webhook_url_check


@pytest.fixture(autouse=True)
def _private_targets_not_allowed(settings):
    settings.PROCTOR_WEBHOOK_ALLOW_PRIVATE = False  # the production default, stated


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
        ("https://127.8.9.10:8443/hook", "127.8.9.10 is a loopback address"),
        ("https://[::1]/hook", "::1 is a loopback address"),
        ("https://10.0.0.5/hook", "10.0.0.5 is a private address (RFC 1918)"),
        ("https://172.16.0.1/hook", "172.16.0.1 is a private address (RFC 1918)"),
        ("https://172.31.255.254/hook", "172.31.255.254 is a private address (RFC 1918)"),
        ("https://192.168.1.10/hook", "192.168.1.10 is a private address (RFC 1918)"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is a link-local address (where cloud metadata services",
        ),
        ("https://[fc00::1]/hook", "fc00::1 is a unique local address (fc00::/7)"),
        ("https://[fd12:3456:789a::1]/hook", "is a unique local address (fc00::/7)"),
        ("https://[fe80::1]/hook", "fe80::1 is a link-local address"),
        ("https://100.64.0.1/hook", "100.64.0.1 is a carrier-grade NAT address (100.64.0.0/10)"),
        ("https://100.127.255.254/hook", "is a carrier-grade NAT address"),
        ("https://0.0.0.0/hook", "0.0.0.0 is the unspecified address"),
        ("https://[::]/hook", ":: is the unspecified address"),
        ("https://224.0.0.1/hook", "224.0.0.1 is a multicast address"),
        ("https://239.255.255.250/hook", "239.255.255.250 is a multicast address"),
        ("https://[ff02::1]/hook", "ff02::1 is a multicast address"),
        ("https://240.0.0.1/hook", "240.0.0.1 is a reserved address"),
        ("https://192.0.2.1/hook", "192.0.2.1 is a special-purpose address that is not on"),
        # IPv6 forms that carry an IPv4 address, judged by that address.
        ("https://[::ffff:127.0.0.1]/hook", "a loopback address (IPv4 127.0.0.1 inside IPv6)"),
        (
            "https://[::ffff:169.254.169.254]/hook",
            "a link-local address (where cloud metadata services such as 169.254.169.254 "
            "live) (IPv4 169.254.169.254 inside IPv6)",
        ),
        ("https://[64:ff9b::a00:1]/hook", "a private address (RFC 1918) (IPv4 10.0.0.1 inside"),
    ],
)
def test_non_public_addresses_are_refused_with_the_url_and_the_reason(url, why):
    with pytest.raises(WebhookUrlRefused, match=re.escape(why)) as refused:
        webhook_url_check(url=url)
    message = str(refused.value)
    assert message.startswith(f"The webhook URL {url!r} is refused: ")
    assert message.endswith("Webhooks go only to public internet addresses.")


def test_a_name_that_resolves_to_loopback_is_refused():
    # The real resolver: localhost comes from the hosts file, no network needed.
    with pytest.raises(
        WebhookUrlRefused,
        match=r"localhost resolves to (127\.\d+\.\d+\.\d+|::1), a loopback address",
    ):
        webhook_url_check(url="https://localhost/hook")


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "127.1", "0177.0.0.1"])
def test_other_spellings_of_loopback_are_refused_by_what_they_resolve_to(host):
    # Not IP literals to Python, but the C resolver (and so the HTTP client) reads them
    # as 127.0.0.1; judging the resolved address catches every spelling.
    with pytest.raises(
        WebhookUrlRefused, match=re.escape(f"{host} resolves to 127.0.0.1, a loopback address")
    ):
        webhook_url_check(url=f"https://{host}/hook")


def test_a_name_is_refused_when_any_of_its_addresses_is_private(dns):
    dns.answers["lms.example.org"] = ["93.184.216.34", "10.0.0.7"]
    with pytest.raises(
        WebhookUrlRefused,
        match=re.escape("lms.example.org resolves to 10.0.0.7, a private address (RFC 1918)"),
    ):
        webhook_url_check(url="https://lms.example.org/hook")


def test_a_name_with_only_public_addresses_is_accepted_with_all_of_them(dns):
    dns.answers["lms.example.org"] = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    target = webhook_url_check(url="https://LMS.example.org/hook?tenant=7")
    assert target.addresses == (
        ipaddress.ip_address("93.184.216.34"),
        ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"),
    )
    assert (target.host, target.port, target.host_header) == (
        "lms.example.org", 443, "lms.example.org",
    )
    assert dns.lookups == ["lms.example.org"]


def test_an_international_name_is_looked_up_in_its_ascii_form(dns):
    dns.answers["xn--bcher-kva.example"] = ["93.184.216.34"]
    target = webhook_url_check(url="https://bücher.example:8443/hook")
    assert target.host_header == "xn--bcher-kva.example:8443"


@pytest.mark.parametrize(
    ("url", "address", "host_header"),
    [
        ("https://93.184.216.34/hook", "93.184.216.34", "93.184.216.34"),
        (
            "https://[2606:2800:220:1:248:1893:25c8:1946]:8443/hook",
            "2606:2800:220:1:248:1893:25c8:1946",
            "[2606:2800:220:1:248:1893:25c8:1946]:8443",
        ),
    ],
)
def test_a_public_ip_literal_is_accepted_without_a_lookup(dns, url, address, host_header):
    target = webhook_url_check(url=url)
    assert target.addresses == (ipaddress.ip_address(address),)
    assert target.host_header == host_header
    assert dns.lookups == []


def test_a_name_that_does_not_resolve_is_reported_as_such(dns):
    with pytest.raises(
        WebhookHostUnresolved, match="its host gone.example.org does not resolve"
    ):
        webhook_url_check(url="https://gone.example.org/hook")


@pytest.mark.parametrize(
    "url",
    [
        "https://lms:hunter2@93.184.216.34/hook",
        "https://token-hunter2@93.184.216.34/hook",
        "https://:hunter2@93.184.216.34/hook",
    ],
)
def test_credentials_in_the_url_are_refused_and_not_repeated(url):
    with pytest.raises(WebhookUrlRefused, match=r"user name or password") as refused:
        webhook_url_check(url=url)
    assert "hunter2" not in str(refused.value)
    assert "https://***@93.184.216.34/hook" in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/hook",
        "ftp://93.184.216.34/hook",
        "file:///etc/passwd",
        "gopher://93.184.216.34:70/_POST",
        "93.184.216.34/hook",
    ],
)
def test_anything_but_https_is_refused(url):
    with pytest.raises(WebhookUrlRefused, match=r"use an https:// address"):
        webhook_url_check(url=url)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https:///hook", "it has no host name."),
        ("https://93.184.216.34:99999/hook", "it is not a valid URL"),
    ],
)
def test_a_url_without_a_usable_host_is_refused(url, why):
    with pytest.raises(WebhookUrlRefused, match=re.escape(why)):
        webhook_url_check(url=url)


def test_the_setting_allows_http_and_private_addresses_for_development(settings):
    settings.PROCTOR_WEBHOOK_ALLOW_PRIVATE = True
    target = webhook_url_check(url="http://127.0.0.1:8000/hook")
    assert target.addresses == (ipaddress.ip_address("127.0.0.1"),)
    assert target.host_header == "127.0.0.1:8000"
    assert webhook_url_check(url="https://10.0.0.5/hook").port == 443
    assert webhook_url_check(url="https://localhost/hook").host == "localhost"
    with pytest.raises(WebhookUrlRefused, match="user name or password"):
        webhook_url_check(url="http://user:pw@127.0.0.1:8000/hook")
    with pytest.raises(WebhookUrlRefused, match="use an https:// address"):
        webhook_url_check(url="ftp://127.0.0.1/hook")


def _certificate_authority_and_server_cert(tmp_path, host_name: str) -> tuple[str, str, str]:
    """A throwaway CA and a certificate for ``host_name`` it signed, as PEM file paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject: str, issuer: str, public_key, signing_key, *, is_ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        )
        if not is_ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            )
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("Test CA", "Test CA", ca_key.public_key(), ca_key, is_ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = build(host_name, "Test CA", server_key.public_key(), ca_key, is_ca=False)
    paths = [str(tmp_path / name) for name in ("ca.pem", "server.pem", "server-key.pem")]
    for path, data in zip(
        paths,
        [
            ca.public_bytes(serialization.Encoding.PEM),
            server.public_bytes(serialization.Encoding.PEM),
            server_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        ],
        strict=True,
    ):
        with open(path, "wb") as file:
            file.write(data)
    return paths[0], paths[1], paths[2]


def test_https_to_the_pinned_address_still_uses_and_verifies_the_host_name(
    tmp_path, monkeypatch
):
    """The POST goes to the checked IP, yet TLS sends the URL's name (SNI) and checks the
    certificate against it, as if the name had been looked up by the client."""
    import requests.adapters

    from lms.api.webhook_targets import WebhookTarget, webhook_post

    ca_path, cert_path, key_path = _certificate_authority_and_server_cert(
        tmp_path, "lms.example.org"
    )
    seen: dict[str, str | None] = {}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            seen["host"] = self.headers["Host"]
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    context.sni_callback = lambda _socket, server_name, _context: seen.update(sni=server_name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Trust the throwaway CA instead of the public ones (certifi) for this test.
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", ca_path)
    port = server.server_port

    def post_as(host_name: str) -> int:
        target = WebhookTarget(
            url=f"https://{host_name}:{port}/hook", host=host_name, port=port,
            host_header=f"{host_name}:{port}", addresses=(ipaddress.ip_address("127.0.0.1"),),
        )
        return webhook_post(target=target, body=b"{}", headers={}, timeout_s=5)

    try:
        assert post_as("lms.example.org") == 204
        assert seen == {"sni": "lms.example.org", "host": f"lms.example.org:{port}"}
        seen.clear()
        with pytest.raises(requests.exceptions.SSLError, match="other.example.org"):
            post_as("other.example.org")  # the certificate is not for this name
        assert seen == {"sni": "other.example.org"}
    finally:
        server.shutdown()
        server.server_close()
