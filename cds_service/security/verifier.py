"""Verifying the JWT a CDS Client sends (CDS Hooks 2.0.1, "Trusting CDS Clients").

Order matters: everything read before the signature check (header, claimed ``iss``, ``jku``)
only selects which trusted key to try and never widens what is trusted; the claims are
believed only after the signature verifies; the ``jti`` is recorded last, so tokens that fail
any other check cannot fill the replay cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from cds_service.security.issuers import IssuerRegistry, TrustedIssuer
from cds_service.security.jwks import JwksCache
from cds_service.security.keys import JwksError, VerificationKey
from cds_service.security.replay import ReplayCache, ReplayGuard
from cds_service.security.urls import UrlError, canonical_url

MAX_TOKEN_CHARS = 16 * 1024
MAX_JTI_CHARS = 256
_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]


@dataclass(frozen=True, slots=True)
class CdsClient:
    """The authenticated caller of this request (``flask.g.cds_client``)."""

    iss: str
    fhir_servers: tuple[str, ...]
    tenant: str | None
    jti: str
    kid: str


class AuthError(Exception):
    """Authentication failed. ``reason`` is a short code for the log, never for the caller."""

    def __init__(self, reason: str, **fields: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fields = fields


def _short(value: Any, limit: int = 200) -> Any:
    """Caller-controlled strings go to the log only truncated."""
    return value[:limit] if isinstance(value, str) else None


class JwtVerifier:
    def __init__(
        self,
        registry: IssuerRegistry,
        *,
        algorithms: Iterable[str],
        clock_skew_seconds: int,
        max_lifetime_seconds: int,
        replay: ReplayCache | ReplayGuard,
        jwks_cache: JwksCache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._registry = registry
        self._algorithms = frozenset(algorithms)
        self._skew = clock_skew_seconds
        self._max_lifetime = max_lifetime_seconds
        self._replay = replay
        self._jwks = jwks_cache
        self._clock = clock

    def verify(self, token: str, audience: str | Collection[str]) -> CdsClient:
        """The caller, if ``token`` is valid for a request to ``audience`` (one canonical URL,
        or several equivalent ones); raises AuthError otherwise."""
        given = [audience] if isinstance(audience, str) else list(audience)
        audiences = frozenset(_canonical_or_none(a) for a in given) - {None}
        if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
            raise AuthError("malformed_token")
        try:
            header = jwt.get_unverified_header(token)
            claimed = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise AuthError("malformed_token") from None

        alg, kid, jku = header.get("alg"), header.get("kid"), header.get("jku")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise AuthError("alg_not_allowed", alg=_short(alg))
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise AuthError("bad_typ", typ=_short(typ))
        if "crit" in header:  # no critical header extension is understood here
            raise AuthError("unsupported_crit")
        if not isinstance(kid, str) or not kid:
            raise AuthError("missing_kid")
        if jku is not None and not isinstance(jku, str):
            raise AuthError("malformed_token")

        iss = claimed.get("iss")
        if not isinstance(iss, str):
            raise AuthError("missing_claim", claim="iss")
        if not self._registry.known(iss):
            raise AuthError("untrusted_issuer", iss=_short(iss))
        issuer = self._registry.select(iss, claimed.get("tenant"))
        if issuer is None:
            raise AuthError("tenant_not_trusted", iss=iss, tenant=_short(claimed.get("tenant")))

        key = self._find_key(issuer, kid, jku)
        if not key.accepts(alg):
            raise AuthError("alg_key_mismatch", iss=iss, kid=_short(kid), alg=alg)

        try:
            payload = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                leeway=self._skew,
                options={
                    "require": _REQUIRED_CLAIMS,
                    "verify_aud": False,  # checked below against the exact URL called
                    "verify_iss": False,  # checked above against the allow-list
                },
            )
        except jwt.InvalidSignatureError:
            raise AuthError("bad_signature", iss=iss, kid=_short(kid)) from None
        except jwt.ExpiredSignatureError:
            raise AuthError("expired", iss=iss, kid=_short(kid)) from None
        except jwt.ImmatureSignatureError as exc:
            reason = "iat_in_future" if "iat" in str(exc) else "not_yet_valid"
            raise AuthError(reason, iss=iss, kid=_short(kid)) from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError("missing_claim", iss=iss, claim=exc.claim) from None
        except jwt.InvalidTokenError as exc:
            raise AuthError("invalid_claims", iss=iss, problem=type(exc).__name__) from None

        self._check_claims(payload, issuer, audiences)
        jti: str = payload["jti"]
        if self._replay.seen_before(iss, jti, float(payload["exp"]) + self._skew):
            raise AuthError("replayed_jti", iss=iss, jti=_short(jti))
        tenant = payload.get("tenant")
        return CdsClient(
            iss=iss,
            fhir_servers=issuer.fhir_servers,
            tenant=tenant if isinstance(tenant, str) else issuer.tenant,
            jti=jti,
            kid=kid,
        )

    def _check_claims(
        self, payload: dict[str, Any], issuer: TrustedIssuer, audiences: frozenset[str]
    ) -> None:
        iss = issuer.iss
        aud = payload["aud"]
        auds = [aud] if isinstance(aud, str) else aud
        if not isinstance(auds, list) or not all(isinstance(a, str) for a in auds):
            raise AuthError("audience_mismatch", iss=iss)
        if audiences.isdisjoint({_canonical_or_none(a) for a in auds}):
            raise AuthError("audience_mismatch", iss=iss, aud=[_short(a) for a in auds[:5]])

        now = self._clock()
        exp, iat = float(payload["exp"]), float(payload["iat"])
        # A long-lived token would have to stay in the replay cache as long; EHRs issue
        # tokens for minutes.
        if exp - iat > self._max_lifetime or exp - now > self._max_lifetime + self._skew:
            raise AuthError("lifetime_too_long", iss=iss, lifetime=int(exp - iat))

        jti = payload["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
            raise AuthError("bad_jti", iss=iss)
        tenant = payload.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise AuthError("tenant_not_trusted", iss=iss)
        if issuer.sub is not None and payload.get("sub") != issuer.sub:
            raise AuthError("sub_mismatch", iss=iss, sub=_short(payload.get("sub")))

    def _find_key(self, issuer: TrustedIssuer, kid: str, jku: str | None) -> VerificationKey:
        if issuer.inline_keys is not None:
            # Keys configured inline are the whole truth for this issuer: a jku is never
            # fetched, so it can be ignored safely.
            key = issuer.inline_keys.get(kid)
            if key is None:
                raise AuthError("unknown_kid", iss=issuer.iss, kid=_short(kid))
            return key

        if jku is not None:
            wanted = _canonical_or_none(jku)
            urls = [u for u in issuer.jwks_urls if _canonical_or_none(u) == wanted]
            if wanted is None or not urls:
                raise AuthError("jku_not_trusted", iss=issuer.iss, jku=_short(jku))
            urls = urls[:1]
        else:
            urls = list(issuer.jwks_urls)

        key = self._lookup(urls, kid)
        # An unknown kid may mean the EHR rotated its keys: fetch again, which the cache
        # allows at most once a minute per URL, so made-up kids cannot flood the EHR.
        if key is None and any([self._jwks.refresh(url) for url in urls]):
            key = self._lookup(urls, kid)
        if key is None:
            raise AuthError("unknown_kid", iss=issuer.iss, kid=_short(kid))
        return key

    def _lookup(self, urls: list[str], kid: str) -> VerificationKey | None:
        unavailable = 0
        for url in urls:
            try:
                key = self._jwks.keys(url).get(kid)
            except JwksError:
                unavailable += 1
                continue
            if key is not None:
                return key
        if unavailable == len(urls):
            raise AuthError("jwks_unavailable", kid=_short(kid))
        return None


def _canonical_or_none(url: str) -> str | None:
    try:
        return canonical_url(url)
    except UrlError:
        return None
