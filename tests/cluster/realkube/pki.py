"""Certificates and keys for the test control plane (what kubeadm's `certs` phase makes).

One CA signs the API server's serving certificate (valid for 127.0.0.1 and localhost, so
in-cluster clients that dial KUBERNETES_SERVICE_HOST verify it) and every client certificate:
the admin (group system:masters), kube-controller-manager, kube-scheduler, the API server's
kubelet client, and each stand-in kubelet (system:node:<name> in system:nodes, so the Node
authorizer and NodeRestriction admission apply to it as to a real kubelet). A separate RSA key
signs ServiceAccount tokens. Everything is written once into a folder and reused.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


def _write_key(key, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(
        now + datetime.timedelta(days=30)
    )


class Pki:
    """A CA in `folder` (created on first use) that issues serving and client certificates."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.ca = Pair(folder / "ca.crt", folder / "ca.key")
        if not self.ca.cert.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            cert = (
                _validity(
                    x509.CertificateBuilder()
                    .subject_name(_name("pjob-test-ca"))
                    .issuer_name(_name("pjob-test-ca"))
                    .public_key(key.public_key())
                    .serial_number(x509.random_serial_number())
                )
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=True,
                        key_cert_sign=True,
                        crl_sign=True,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .sign(key, hashes.SHA256())
            )
            _write_key(key, self.ca.key)
            self.ca.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._ca_key = serialization.load_pem_private_key(self.ca.key.read_bytes(), None)
        self._ca_cert = x509.load_pem_x509_certificate(self.ca.cert.read_bytes())

    def issue(self, name: str, common_name: str, organization: str | None = None, *, server: bool = False) -> Pair:
        """A certificate signed by the CA (reused when already issued)."""
        pair = Pair(self.folder / f"{name}.crt", self.folder / f"{name}.key")
        if pair.cert.exists():
            return pair
        key = ec.generate_private_key(ec.SECP256R1())
        usage = (
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            if server
            else [ExtendedKeyUsageOID.CLIENT_AUTH]
        )
        builder = _validity(
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organization))
            .issuer_name(self._ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
        ).add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.DNSName("kubernetes"),
                        x509.DNSName("kubernetes.default"),
                        x509.DNSName("kubernetes.default.svc"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
                    ]
                ),
                critical=False,
            )
        _write_key(key, pair.key)
        pair.cert.write_bytes(builder.sign(self._ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        return pair

    def service_account_key(self) -> Path:
        """The RSA key that signs (private) and verifies (its public half, same file) ServiceAccount tokens."""
        path = self.folder / "sa.key"
        if not path.exists():
            _write_key(rsa.generate_private_key(public_exponent=65537, key_size=2048), path)
        return path
