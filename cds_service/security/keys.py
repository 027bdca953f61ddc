"""Public signing keys of the trusted CDS Clients: one JWK, or a JWK Set, read and checked.

Only asymmetric signing keys of the ES/RS/PS families are ever loaded; a key that could stand
for a shared secret (``kty: oct``) or that carries private material is refused, so a
configuration mistake cannot turn into an HMAC or private-key verifier.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

log = logging.getLogger("cds_service.security")

ASYMMETRIC_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
_CURVE_OF_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_MIN_RSA_BITS = 2048
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

# A JWK Set holds a few keys; many more is a misconfiguration or an attack.
MAX_JWKS_KEYS = 100


class JwksError(ValueError):
    """A JWK Set could not be fetched or holds no usable key."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    kty: str  # "EC" | "RSA"
    curve: str | None  # for EC keys
    alg: str | None  # the JWK's own "alg", when it names one
    key: Any  # a cryptography public key object

    def accepts(self, alg: str) -> bool:
        """May a JWT whose header says ``alg`` be verified with this key?"""
        if self.alg is not None and self.alg != alg:
            return False
        if alg.startswith("ES"):
            return self.kty == "EC" and self.curve == _CURVE_OF_ALG.get(alg)
        if alg.startswith(("RS", "PS")):
            return self.kty == "RSA"
        return False


def parse_jwk(jwk: Any) -> VerificationKey:
    """One public signing JWK → VerificationKey; raises JwksError saying what is wrong."""
    if not isinstance(jwk, Mapping):
        raise JwksError("a key is not a JSON object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid.strip():
        raise JwksError("a key has no 'kid'")
    kty = jwk.get("kty")
    if kty not in {"EC", "RSA"}:
        raise JwksError(f"key {kid!r}: kty {kty!r} is not an EC or RSA public key")
    private = _PRIVATE_MEMBERS & set(jwk)
    if private:
        raise JwksError(f"key {kid!r} carries private key material ({', '.join(sorted(private))})")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise JwksError(f"key {kid!r}: use {use!r} is not 'sig'")
    alg = jwk.get("alg")
    if alg is not None and alg not in ASYMMETRIC_ALGORITHMS:
        raise JwksError(f"key {kid!r}: alg {alg!r} is not an ES/RS/PS signature algorithm")
    try:
        parsed = jwt.PyJWK(dict(jwk), algorithm=alg)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError) as exc:
        raise JwksError(f"key {kid!r} cannot be read: {exc}") from None
    key = parsed.key
    curve: str | None = None
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(
            key.curve.name
        )
        if curve is None:
            raise JwksError(f"key {kid!r}: curve {key.curve.name} is not allowed")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise JwksError(f"key {kid!r}: RSA key of {key.key_size} bits is too short")
    else:
        raise JwksError(f"key {kid!r} is not a public EC or RSA key")
    if alg is not None and not VerificationKey(kid, kty, curve, alg, key).accepts(alg):
        raise JwksError(f"key {kid!r}: alg {alg} does not fit a {kty} {curve or ''} key")
    return VerificationKey(kid=kid, kty=kty, curve=curve, alg=alg, key=key)


def parse_jwk_set(data: Any, *, strict: bool, source: str) -> dict[str, VerificationKey]:
    """A JWK Set → {kid: key}. ``strict`` (configuration) raises on any bad key; otherwise
    (fetched sets) a bad key is skipped and logged so the issuer's other keys keep working."""
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise JwksError(f"{source}: not a JWK Set (an object with a 'keys' array)")
    if len(data["keys"]) > MAX_JWKS_KEYS:
        raise JwksError(f"{source}: more than {MAX_JWKS_KEYS} keys")
    keys: dict[str, VerificationKey] = {}
    for raw in data["keys"]:
        try:
            key = parse_jwk(raw)
        except JwksError as exc:
            if strict:
                raise JwksError(f"{source}: {exc}") from None
            log.warning(
                "jwks key skipped",
                extra={"event": "jwks_key_skipped", "source": source, "problem": str(exc)},
            )
            continue
        if key.kid in keys:
            # kid MUST be unique within a set; with two candidates we could not tell which.
            raise JwksError(f"{source}: kid {key.kid!r} appears more than once")
        keys[key.kid] = key
    if not keys:
        raise JwksError(f"{source}: no usable public signing key")
    return keys
