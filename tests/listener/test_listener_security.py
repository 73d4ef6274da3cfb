"""Who may send to the listener: the host allow-list, TLS, and mutual TLS (client certificates).

Every test looks at the spool index: a refused sender must leave no row there, an admitted one exactly
one per instance. The certificates are made at test time (a throwaway CA, a server certificate for
127.0.0.1, a client certificate it signed, and a client certificate from a CA the listener does not
trust). dcmtk ``storescu`` is the TLS sender where it can be (``+tls``, ``+tla``, ``+cf``); pynetdicom
is the sender where a source address must be chosen (``bind_address``) or timeouts must be short.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

from resources.dicom_network.status import StoreStatus
from resources.listener import ListenerConfigError
from resources.listener.tls import tls_context
from resources.site_config import ListenerSettings, SiteConfig, load_site_config
from tests.dcmtk_tools import require_dcmtk, storescu_command, storescu_env
from tests.dicom_builder import pixel_ct, write_ct_studies
from tests.listener.test_listener import sop_uids, spool_rows
from tests.listener_site import LAKE_AE, PACS_AE, RunningListener, start_listener_in_process, write_site

ENGINES = ["native", "pynetdicom"]
TIMEOUT_S = 5


# -- a throwaway PKI ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TlsFiles:
    ca_certificate: Path
    server_certificate: Path
    server_key: Path
    client_certificate: Path
    client_key: Path
    # Signed by another CA: a certificate the listener must not accept under mutual TLS.
    untrusted_client_certificate: Path
    untrusted_client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dicom-lake tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _certificate(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    usage: x509.ObjectIdentifier | None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if usage is None:  # a CA
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        builder = builder.add_extension(
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
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if usage == ExtendedKeyUsageOID.SERVER_AUTH:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
    return builder.sign(issuer_key, hashes.SHA256())


def _issue(
    folder: Path,
    stem: str,
    common_name: str,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    usage: x509.ObjectIdentifier,
) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = _certificate(_name(common_name), key, issuer, issuer_key, usage=usage)
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, key)
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    folder = tmp_path_factory.mktemp("pki")
    cas: list[tuple[x509.Name, rsa.RSAPrivateKey, Path]] = []
    for stem in ("ca", "other-ca"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = _name(f"dicom-lake test {stem}")
        path = folder / f"{stem}.crt"
        path.write_bytes(
            _certificate(name, key, name, key, usage=None).public_bytes(serialization.Encoding.PEM)
        )
        cas.append((name, key, path))
    (ca_name, ca_key, ca_path), (other_name, other_key, _) = cas
    server = _issue(folder, "server", "127.0.0.1", ca_name, ca_key, ExtendedKeyUsageOID.SERVER_AUTH)
    client = _issue(folder, "client", PACS_AE, ca_name, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH)
    untrusted = _issue(folder, "untrusted", PACS_AE, other_name, other_key, ExtendedKeyUsageOID.CLIENT_AUTH)
    return TlsFiles(ca_path, *server, *client, *untrusted)


# -- senders ------------------------------------------------------------------------------------------
def client_tls_context(tls: TlsFiles, *, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.ca_certificate)
    if with_certificate:
        context.load_cert_chain(tls.client_certificate, tls.client_key)
    return context


def send_one(
    port: int,
    dataset: pydicom.Dataset,
    *,
    source_address: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> int | None:
    """C-STORE one instance; the status, or None when no association could be established."""
    ae = AE(ae_title=PACS_AE)
    ae.add_requested_context(CTImageStorage)
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT_S
    assoc = ae.associate(
        "127.0.0.1",
        port,
        ae_title=LAKE_AE,
        bind_address=(source_address, 0) if source_address else None,
        tls_args=(tls, "127.0.0.1") if tls is not None else None,
    )
    if not assoc.is_established:
        return None
    try:
        return int(assoc.send_c_store(dataset).Status)
    finally:
        assoc.release()


def run_storescu_tls(
    port: int, files: Sequence[Path], tls_options: Sequence[str]
) -> subprocess.CompletedProcess[str]:
    command = storescu_command(port, files)
    return subprocess.run(
        [command[0], *tls_options, *command[1:]],
        env=storescu_env(),
        stdin=subprocess.DEVNULL,  # never wait at a key password prompt
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def with_client_certificate(tls: TlsFiles, *, trusted: bool = True) -> list[str]:
    if trusted:
        return ["+tls", str(tls.client_key), str(tls.client_certificate), "+cf", str(tls.ca_certificate)]
    return [
        "+tls",
        str(tls.untrusted_client_key),
        str(tls.untrusted_client_certificate),
        "+cf",
        str(tls.ca_certificate),
    ]


def without_client_certificate(tls: TlsFiles) -> list[str]:
    return ["+tla", "+cf", str(tls.ca_certificate)]


def ct_instance(n: int) -> pydicom.Dataset:
    return pixel_ct(study_uid=f"1.2.826.7.{n}", series_uid=f"1.2.826.7.{n}.1", sop_uid=f"1.2.826.7.{n}.1.1")


# -- listeners ----------------------------------------------------------------------------------------
def listener_site(root: Path, engine: str, **listener: object) -> SiteConfig:
    return load_site_config(write_site(root, listener={"engine": engine, **listener}))


def tls_settings(tls: TlsFiles, *, mutual: bool) -> dict[str, object]:
    settings: dict[str, object] = {
        "tls_certificate": str(tls.server_certificate),
        "tls_private_key": str(tls.server_key),
    }
    if mutual:
        settings["tls_ca_certificate"] = str(tls.ca_certificate)
    return settings


@pytest.fixture()
def running() -> Iterator[list[RunningListener]]:
    """Listeners a test starts; all closed at the end."""
    started: list[RunningListener] = []
    yield started
    for listener in started:
        listener.close()


def start(running: list[RunningListener], config: SiteConfig) -> RunningListener:
    listener = start_listener_in_process(config)
    running.append(listener)
    return listener


def start_tls(
    running: list[RunningListener], tmp_path: Path, engine: str, tls: TlsFiles, *, mutual: bool
) -> RunningListener:
    return start(running, listener_site(tmp_path / "site", engine, **tls_settings(tls, mutual=mutual)))


# -- host allow-list ----------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_allowed_hosts_admits_only_the_listed_source_address(
    engine: str, tmp_path: Path, running: list[RunningListener], caplog: pytest.LogCaptureFixture
) -> None:
    """Linux routes all of 127/8 to loopback, so a client bound to 127.0.0.2 is another host."""
    caplog.set_level(logging.WARNING, logger="resources.listener")
    listener = start(running, listener_site(tmp_path / "site", engine, allowed_hosts=["127.0.0.2"]))

    refused = ct_instance(1)
    assert send_one(listener.port, refused, source_address="127.0.0.1") is None
    assert spool_rows(listener.config) == []
    assert "connection from 127.0.0.1 refused: host not in listener.allowed_hosts" in caplog.text

    admitted = ct_instance(2)
    assert send_one(listener.port, admitted, source_address="127.0.0.2") == StoreStatus.SUCCESS
    rows = spool_rows(listener.config)
    assert [r["sop_instance_uid"] for r in rows] == [admitted.SOPInstanceUID]
    assert "connection from 127.0.0.2 refused" not in caplog.text


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_allowed_hosts_admits_any_host(
    engine: str, tmp_path: Path, running: list[RunningListener]
) -> None:
    listener = start(running, listener_site(tmp_path / "site", engine, allowed_hosts=[]))
    sent = [ct_instance(3), ct_instance(4)]
    assert send_one(listener.port, sent[0], source_address="127.0.0.1") == StoreStatus.SUCCESS
    assert send_one(listener.port, sent[1], source_address="127.0.0.2") == StoreStatus.SUCCESS
    assert {r["sop_instance_uid"] for r in spool_rows(listener.config)} == {d.SOPInstanceUID for d in sent}


# -- TLS ----------------------------------------------------------------------------------------------
@pytest.mark.dcmtk
@pytest.mark.parametrize("engine", ENGINES)
def test_storescu_over_tls_stores_each_instance_once(
    engine: str, tmp_path: Path, tls_files: TlsFiles, running: list[RunningListener]
) -> None:
    require_dcmtk("storescu")
    listener = start_tls(running, tmp_path, engine, tls_files, mutual=False)
    files = write_ct_studies(tmp_path / "send", studies=2, instances_per_study=3)
    result = run_storescu_tls(listener.port, files, with_client_certificate(tls_files))
    assert result.returncode == 0, result.stderr[-500:]
    # Sent again over a second TLS association: still one row per SOP instance.
    assert run_storescu_tls(listener.port, files[:2], with_client_certificate(tls_files)).returncode == 0

    rows = spool_rows(listener.config)
    assert len(rows) == len(files)
    assert {r["sop_instance_uid"] for r in rows} == sop_uids(files)
    assert all(r["calling_ae_title"] == PACS_AE and r["source"] == "listener" for r in rows)
    # The listener decrypted what it stored: the spooled files are the DICOM sent, readable as such.
    assert all(pydicom.dcmread(Path(r["path"])).SOPInstanceUID == r["sop_instance_uid"] for r in rows)


@pytest.mark.dcmtk
@pytest.mark.parametrize("engine", ENGINES)
def test_plain_tcp_sender_stores_nothing_on_a_tls_listener(
    engine: str, tmp_path: Path, tls_files: TlsFiles, running: list[RunningListener]
) -> None:
    require_dcmtk("storescu")
    listener = start_tls(running, tmp_path, engine, tls_files, mutual=False)
    plain = write_ct_studies(tmp_path / "plain", studies=1, instances_per_study=2)
    result = run_storescu_tls(listener.port, plain, [])
    assert result.returncode != 0
    assert spool_rows(listener.config) == []
    # The listener is still serving TLS senders afterwards.
    secure = write_ct_studies(tmp_path / "secure", studies=1, instances_per_study=1)
    assert run_storescu_tls(listener.port, secure, with_client_certificate(tls_files)).returncode == 0
    assert {r["sop_instance_uid"] for r in spool_rows(listener.config)} == sop_uids(secure)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "first_bytes",
    [
        pytest.param(bytes.fromhex("010000000044") + b"\x00" * 16, id="plain-associate-rq"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: pacs\r\n\r\n", id="http"),
        pytest.param(bytes.fromhex("16030100ff") + b"\x01" * 8, id="truncated-client-hello"),
    ],
)
def test_a_failed_tls_handshake_closes_the_connection_at_once(
    engine: str, first_bytes: bytes, tmp_path: Path, tls_files: TlsFiles, running: list[RunningListener]
) -> None:
    """Whatever a peer that is not speaking TLS sends, the listener hangs up instead of holding the
    connection until the peer's own timeout (or, for a truncated hello, until the ACSE deadline)."""
    listener = start_tls(running, tmp_path, engine, tls_files, mutual=False)
    with socket.create_connection(("127.0.0.1", listener.port), timeout=TIMEOUT_S) as peer:
        peer.sendall(first_bytes)
        if first_bytes.startswith(b"\x16"):
            peer.shutdown(socket.SHUT_WR)  # the rest of the hello never comes
        started = time.monotonic()
        received = b""
        try:
            while chunk := peer.recv(4096):
                received += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        waited = time.monotonic() - started
    assert waited < TIMEOUT_S - 1, f"the connection stayed open {waited:.1f} s after a failed handshake"
    assert not received.startswith(b"\x02"), "a plain A-ASSOCIATE-AC came back on a TLS port"
    assert spool_rows(listener.config) == []


@pytest.mark.dcmtk
@pytest.mark.parametrize("engine", ENGINES)
def test_mutual_tls_stores_only_from_senders_with_a_certificate_from_the_ca(
    engine: str, tmp_path: Path, tls_files: TlsFiles, running: list[RunningListener]
) -> None:
    require_dcmtk("storescu")
    listener = start_tls(running, tmp_path, engine, tls_files, mutual=True)
    no_certificate = write_ct_studies(tmp_path / "anonymous", studies=1, instances_per_study=2)
    result = run_storescu_tls(listener.port, no_certificate, without_client_certificate(tls_files))
    assert result.returncode != 0
    assert spool_rows(listener.config) == []

    other_ca = write_ct_studies(tmp_path / "other-ca", studies=1, instances_per_study=2)
    result = run_storescu_tls(listener.port, other_ca, with_client_certificate(tls_files, trusted=False))
    assert result.returncode != 0
    assert spool_rows(listener.config) == []

    signed = write_ct_studies(tmp_path / "signed", studies=1, instances_per_study=2)
    result = run_storescu_tls(listener.port, signed, with_client_certificate(tls_files))
    assert result.returncode == 0, result.stderr[-500:]
    assert {r["sop_instance_uid"] for r in spool_rows(listener.config)} == sop_uids(signed)


@pytest.mark.parametrize("engine", ENGINES)
def test_mutual_tls_with_pynetdicom_senders(
    engine: str, tmp_path: Path, tls_files: TlsFiles, running: list[RunningListener]
) -> None:
    """The same rule seen from a second TLS client implementation (Python's ssl via pynetdicom)."""
    listener = start_tls(running, tmp_path, engine, tls_files, mutual=True)
    anonymous = client_tls_context(tls_files, with_certificate=False)
    assert send_one(listener.port, ct_instance(5), tls=anonymous) is None
    assert spool_rows(listener.config) == []

    signed, dataset = client_tls_context(tls_files, with_certificate=True), ct_instance(6)
    assert send_one(listener.port, dataset, tls=signed) == StoreStatus.SUCCESS
    assert [r["sop_instance_uid"] for r in spool_rows(listener.config)] == [dataset.SOPInstanceUID]


@pytest.mark.parametrize("engine", ENGINES)
def test_an_idle_connection_does_not_hold_up_tls_senders(
    engine: str, tmp_path: Path, tls_files: TlsFiles, running: list[RunningListener]
) -> None:
    """A connection that never starts its TLS handshake (a port probe, a stalled peer) must not stop
    the listener from accepting the next sender."""
    listener = start_tls(running, tmp_path, engine, tls_files, mutual=False)
    idle = socket.create_connection(("127.0.0.1", listener.port), timeout=TIMEOUT_S)
    try:
        dataset = ct_instance(7)
        tls = client_tls_context(tls_files, with_certificate=False)
        assert send_one(listener.port, dataset, tls=tls) == StoreStatus.SUCCESS
        assert [r["sop_instance_uid"] for r in spool_rows(listener.config)] == [dataset.SOPInstanceUID]
    finally:
        idle.close()


# -- TLS settings -------------------------------------------------------------------------------------
def test_a_ca_without_a_server_certificate_is_a_configuration_error(tls_files: TlsFiles) -> None:
    """A CA alone asks for client certificates; serving plain TCP instead would accept anyone."""
    settings = ListenerSettings(
        port=0, allowed_calling_ae_titles=[PACS_AE], tls_ca_certificate=tls_files.ca_certificate
    )
    with pytest.raises(ListenerConfigError, match="tls_certificate"):
        tls_context(settings)
