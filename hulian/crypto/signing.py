"""x-auth-sign request signatures between nodes, with the `auth_type` algorithms of the management spec.

What is signed (one line each, UTF-8): method, path, x-content-sha256 (hex SHA-256 of the body), x-timestamp
(ms), x-nonce, x-ptp-source-node-id. The signer's key is its TLS key; the verifier takes the public key from
the certificate the signer presented in the TLS handshake, so a signature binds the request to that node.
"""
from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def canonical(method: str, path: str, body_sha256: str, timestamp: str, nonce: str, source: str) -> bytes:
    return "\n".join((method.upper(), path, body_sha256, timestamp, nonce, source)).encode()


def load_private_key(path: str):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def auth_type_of(key) -> str:
    return "SHA256_RSA" if isinstance(key, rsa.RSAPrivateKey) else "SHA256_ECDSA"


def sign(key, data: bytes) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(data, ec.ECDSA(hashes.SHA256()))
    else:
        raise TypeError(f"cannot sign with a {type(key).__name__}; use an EC or RSA key")
    return base64.b64encode(sig).decode()


def verify(public_key, auth_type: str, data: bytes, signature_b64: str) -> bool:
    """True when `signature_b64` is `auth_type`'s signature of `data` under `public_key`."""
    try:
        sig = base64.b64decode(signature_b64, validate=True)
        if auth_type == "SHA256_RSA" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        elif auth_type == "SHA256_ECDSA" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(sig, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
        return True
    except (InvalidSignature, ValueError):
        return False
