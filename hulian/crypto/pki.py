"""A small certificate authority for local clusters and tests (`hulian cluster up`).

Node certificates carry the node id as subject CN and as a URI SAN `hulian://node/<id>`, so a peer's identity
is read from the certificate it presented during the TLS handshake.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NODE_URI_PREFIX = "hulian://node/"


@dataclass(frozen=True)
class Issued:
    cert_file: Path
    key_file: Path


def _write_key(key, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _new_key(kind: str):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def create_ca(directory: Path, name: str = "hulian local CA", days: int = 3650) -> Issued:
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key("ec")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    issued = Issued(directory / "ca.crt", directory / "ca.key")
    issued.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, issued.key_file)
    return issued


def issue_node_cert(ca: Issued, directory: Path, node_id: str, hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
                    key_kind: str = "ec", days: int = 825) -> Issued:
    """Issue a certificate usable both as TLS server and TLS client certificate of node `node_id`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_file.read_bytes())
    ca_key = serialization.load_pem_private_key(ca.key_file.read_bytes(), password=None)
    key = _new_key(key_kind)
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(NODE_URI_PREFIX + node_id)]
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                              x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    issued = Issued(directory / f"{node_id}.crt", directory / f"{node_id}.key")
    issued.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, issued.key_file)
    return issued


def node_id_of(cert: x509.Certificate) -> str | None:
    """The node id a certificate was issued to: its hulian URI SAN, else its subject CN."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
            if uri.startswith(NODE_URI_PREFIX):
                return uri[len(NODE_URI_PREFIX):]
    except x509.ExtensionNotFound:
        pass
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else None
