"""Every JOSE operation of govtrust, in one place (joserfc underneath).

RFC 8725 rules applied here: an explicit algorithm allowlist, an explicit
`typ` per kind of object, a size cap before any parsing, no `crit`, and keys
never taken from `jku`/`x5u`/`jwk` headers. Swapping the JOSE library means
changing this module only.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jws
from joserfc.errors import ExceededSizeError, JoseError
from joserfc.jwk import ECKey

from verifier import strict_json
from verifier.errors import InputError

ALGORITHMS = ("ES256",)
MAX_COMPACT_JWS_BYTES = 8 * 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
DEFAULT_MAX_PAYLOAD_BYTES = 128_000
_FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "crit", "b64"})


class JoseVerificationError(Exception):
    """A well-formed JWS whose signature or header does not pass."""


@lru_cache(maxsize=16)
def _registry(max_payload_bytes: int) -> jws.JWSRegistry:
    """joserfc's checks (known headers only, ES256 only) with our size caps; built once per
    cap and never modified after."""
    registry = jws.JWSRegistry(algorithms=list(ALGORITHMS))
    registry.max_header_length = MAX_HEADER_BYTES
    registry.max_payload_length = max_payload_bytes
    return registry


@dataclass(frozen=True)
class UnverifiedJws:
    """A compact JWS split into parts; nothing in it is trusted yet."""

    token: str
    header: dict[str, Any]
    max_payload_bytes: int
    # joserfc's parsed form, kept so that verifying does not parse the token a second time
    parsed: jws.CompactSignature | None = field(default=None, repr=False, compare=False)

    @property
    def x5c(self) -> list[x509.Certificate]:
        """The `x5c` chain as certificates (leaf first); empty when absent."""
        chain = self.header.get("x5c", [])
        if not isinstance(chain, list) or not all(isinstance(c, str) for c in chain):
            raise InputError("JWS header x5c is not a list of base64 strings")
        try:
            return [
                x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in chain
            ]
        except (ValueError, binascii.Error):
            raise InputError("JWS header x5c holds a value that is not a DER certificate") from None


def read_compact(
    token: str | bytes,
    *,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    max_bytes: int = MAX_COMPACT_JWS_BYTES,
) -> UnverifiedJws:
    """Split a compact JWS and check its header's shape, without verifying it."""
    if isinstance(token, bytes):
        if len(token) > max_bytes:
            raise InputError(f"JWS is larger than {max_bytes} bytes")
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise InputError("JWS is not ASCII text") from None
    token = token.strip()
    if len(token) > max_bytes:
        raise InputError(f"JWS is larger than {max_bytes} bytes")
    if token.count(".") != 2:
        raise InputError("not a compact JWS (expected three dot-separated parts)")
    try:
        parsed = jws.extract_compact(token.encode(), registry=_registry(max_payload_bytes))
        header = parsed.headers()
    except ExceededSizeError as exc:
        raise InputError(f"JWS too large ({exc.description})") from None
    except (JoseError, ValueError):
        raise InputError("not a compact JWS (header or payload cannot be decoded)") from None
    return UnverifiedJws(
        token=token, header=header, max_payload_bytes=max_payload_bytes, parsed=parsed
    )


def sign_compact(
    payload: bytes,
    private_key: ec.EllipticCurvePrivateKey,
    *,
    typ: str,
    x5c: list[x509.Certificate] | None = None,
    kid: str | None = None,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> str:
    """Sign `payload` as a compact ES256 JWS with an explicit `typ`."""
    header: dict[str, Any] = {"alg": "ES256", "typ": typ}
    if kid is not None:
        header["kid"] = kid
    if x5c:
        header["x5c"] = [
            base64.b64encode(c.public_bytes(Encoding.DER)).decode("ascii") for c in x5c
        ]
    return jws.serialize_compact(
        header, payload, ECKey.import_key(private_key), registry=_registry(max_payload_bytes)
    )


def check_header(header: dict[str, Any], *, typ: str) -> None:
    """Algorithm allowlist, exact `typ`, no key-fetching or `crit` headers; run before any key
    is looked up, so `alg: none` or HS256 never reaches a key."""
    if header.get("alg") not in ALGORITHMS:
        raise JoseVerificationError(f"JWS algorithm {header.get('alg')!r} is not allowed")
    if header.get("typ") != typ:
        raise JoseVerificationError(f"JWS typ is {header.get('typ')!r}, expected {typ!r}")
    forbidden = _FORBIDDEN_HEADERS & header.keys()
    if forbidden:
        raise JoseVerificationError(
            f"JWS header carries forbidden parameter(s) {sorted(forbidden)}"
        )


def encode_claims(claims: dict[str, Any]) -> bytes:
    """A JWT claims set as compact UTF-8 JSON."""
    return json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()


def decode_claims(payload: bytes) -> dict[str, Any]:
    """A JWT claims set: one JSON object. Duplicate names are refused (RFC 7519 section 4
    lets a parser keep either value, so two parsers could read different claims)."""

    try:
        claims = strict_json.loads(payload)
    except strict_json.DuplicateMember:
        raise InputError("JWT claims repeat a member name") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InputError("JWT claims are not JSON") from None
    if not isinstance(claims, dict):
        raise InputError("JWT claims are not a JSON object")
    return claims


def verify_compact(
    jws_object: UnverifiedJws, public_key: ec.EllipticCurvePublicKey, *, typ: str
) -> bytes:
    """Verify signature, algorithm and `typ`; return the payload bytes."""
    check_header(jws_object.header, typ=typ)
    if (
        not isinstance(public_key, ec.EllipticCurvePublicKey)
        or public_key.curve.name != "secp256r1"
    ):
        raise JoseVerificationError("JWS signer key is not an ECDSA P-256 key")
    registry = _registry(jws_object.max_payload_bytes)
    try:
        parsed = jws_object.parsed or jws.extract_compact(
            jws_object.token.encode(), registry=registry
        )
        if not jws.validate_compact(parsed, ECKey.import_key(public_key), registry=registry):
            raise JoseVerificationError("JWS signature does not verify (bad_signature)")
        return parsed.payload
    except JoseError as exc:
        raise JoseVerificationError(f"JWS signature does not verify ({exc.error})") from None
