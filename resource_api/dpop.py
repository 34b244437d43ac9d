"""RFC 9449 §4.3 and §7: the DPoP proof that comes with a DPoP-bound access token.

`ProofChecker.check` applies the rules of §4.3 in order, each a line that raises one
InvalidDPoPProof with one sentence: one `DPoP` header holding a compact JWS; `typ`
dpop+jwt; `alg` from the allow-list; a public `jwk` (no private members) that verifies the
signature; `jti`, `htm`, `htu`, `iat` and `ath` present; `htm` the request's method; `htu`
its URL (request_url.py); `iat` within `window` seconds of now, either way; `ath` the
SHA-256 of the access token. What only the token can say (its `cnf.jkt` equal to the proof
key's thumbprint) is checked by the filter, and a proof is remembered (`remember`) only once
the whole request is accepted.

Replays (§11.1) are refused for as long as a proof's iat is inside the window, by a bounded
cache of (jkt, jti) per process: with `--workers N`, a proof replayed to another worker is
not caught there (RFC 9449 §11.1 allows tracking per server; server-provided nonces, §8,
would close the gap and are not implemented here). When the cache is full of proofs still in
their window, new proofs get 503 rather than one being forgotten and so becoming replayable.
"""

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from .claims import numeric_date
from .errors import AuthorityUnavailable, InvalidDPoPProof
from .jws import PROOF_ALGS, MalformedJWS, b64decode, b64encode, parse_compact, proof_key, verify_proof
from .request_url import PublicURL, normalize
from .strict_json import StrictJSONError, loads_object

MAX_PROOF_LENGTH = 4096  # an RSA-4096 proof is about 2,000 characters
MAX_PROOF_HEADER_BYTES = 2048
TYPES = ("dpop+jwt", "application/dpop+jwt")  # RFC 9449 §4.2; media types are case-insensitive
REQUIRED_STRINGS = ("jti", "htm", "htu", "ath")  # §4.2, and ath at a resource (§7)


class Proof(NamedTuple):
    jkt: str  # RFC 7638 thumbprint of the proof's key
    jti: str
    until: float  # when its iat leaves the window (seconds since the epoch)


class ReplayCache:
    """The (jkt, jti) of accepted proofs until they leave the window; bounded, thread-safe."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"the DPoP replay cache must hold at least one proof, not {size}")
        self.size = size
        self._seen: OrderedDict[bytes, float] = OrderedDict()  # digest -> until, oldest first
        self._lock = threading.Lock()

    def remember(self, proof: Proof, now: float) -> None:
        """Record `proof`; raise InvalidDPoPProof if it was seen, AuthorityUnavailable if
        there is no room."""
        key = hashlib.sha256(f"{proof.jkt} {proof.jti}".encode("utf-8", "surrogatepass")).digest()
        with self._lock:
            # Entries leave roughly in the order they came (each lives `window` after its iat).
            while self._seen and next(iter(self._seen.values())) <= now:
                self._seen.popitem(last=False)
            if self._seen.get(key, now) > now:
                raise InvalidDPoPProof("replayed_proof", "the DPoP proof has been used before")
            if len(self._seen) >= self.size:
                for stale in [digest for digest, until in self._seen.items() if until <= now]:
                    del self._seen[stale]
            if len(self._seen) >= self.size:
                raise AuthorityUnavailable(
                    "replay_cache_full",
                    "this resource cannot remember more DPoP proofs just now; try again later",
                    next(iter(self._seen.values())) - now,
                )
            self._seen[key] = proof.until
            self._seen.move_to_end(key)

    def __len__(self) -> int:
        return len(self._seen)


class ProofChecker:
    """The RFC 9449 §4.3 checks of the proofs sent to one resource."""

    def __init__(
        self,
        *,
        public_url: str | None = None,  # the application root as clients reach it; the environ's when None
        window: float = 60.0,  # seconds a proof's iat may be from now, either way
        replay_cache_size: int = 100_000,  # proofs remembered (about 150 bytes each)
        now: Callable[[], float] = time.time,
    ) -> None:
        if window <= 0:
            raise ValueError(f"the DPoP window must be positive, not {window:g}")
        self.url = PublicURL(public_url)
        self.window = window
        self.replays = ReplayCache(replay_cache_size)
        self.now = now

    def check(self, environ: dict[str, Any], digest: bytes) -> Proof:
        """The proof of this request for the access token whose SHA-256 is `digest`."""
        header, segments = self._parse(environ.get("HTTP_DPOP", "").strip(" \t"))
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in TYPES:
            raise InvalidDPoPProof("proof_typ", "the DPoP proof's typ must be dpop+jwt")
        alg = header.get("alg")
        if alg not in PROOF_ALGS:
            raise InvalidDPoPProof("proof_alg", f"the DPoP proof's alg must be one of {' '.join(PROOF_ALGS)}")
        if "crit" in header:
            raise InvalidDPoPProof(
                "proof_malformed", "the DPoP proof header has critical extensions this resource does not know"
            )
        try:
            key, jkt = proof_key(header.get("jwk"), alg)
        except ValueError as exc:
            raise InvalidDPoPProof("proof_jwk", str(exc)) from None
        signing_input = f"{segments[0]}.{segments[1]}".encode("ascii")
        if not verify_proof(key, alg, signing_input, b64decode(segments[2])):
            raise InvalidDPoPProof(
                "proof_signature", "the DPoP proof's signature does not verify with its jwk"
            )
        claims = self._claims(segments[1])
        if claims["htm"] != environ["REQUEST_METHOD"]:
            raise InvalidDPoPProof("proof_htm", "the DPoP proof's htm is not the method of this request")
        target = self.url.of(environ)
        if target is None or normalize(claims["htu"]) != target:
            raise InvalidDPoPProof("proof_htu", "the DPoP proof's htu is not the URL of this request")
        iat = claims["iat"]
        if abs(self.now() - iat) > self.window:
            raise InvalidDPoPProof(
                "proof_iat",
                f"the DPoP proof's iat is not within {self.window:g} seconds of this server's time",
            )
        if claims["ath"] != b64encode(digest):
            raise InvalidDPoPProof("proof_ath", "the DPoP proof's ath is not the hash of this access token")
        return Proof(jkt, claims["jti"], iat + self.window)

    def remember(self, proof: Proof) -> None:
        """RFC 9449 §11.1: refuse a proof seen before; call once the request is accepted."""
        self.replays.remember(proof, self.now())

    @staticmethod
    def _parse(value: str) -> tuple[dict[str, Any], list[str]]:
        """§4.3 steps 1 and 2: exactly one header, a well-formed JWS."""
        if not value:
            raise InvalidDPoPProof("proof_missing", "the DPoP scheme needs a DPoP header with a proof")
        # A JWS has no comma, so one means the server joined two DPoP headers (RFC 9110 §5.3).
        if "," in value:
            raise InvalidDPoPProof("several_proofs", "the request must have exactly one DPoP header")
        if len(value) > MAX_PROOF_LENGTH:
            raise InvalidDPoPProof("proof_malformed", "the DPoP proof is too long")
        try:
            return parse_compact(value, MAX_PROOF_HEADER_BYTES)
        except MalformedJWS as exc:
            raise InvalidDPoPProof("proof_malformed", f"the DPoP proof {exc.problem}") from None

    @staticmethod
    def _claims(segment: str) -> dict[str, Any]:
        """§4.2 and §4.3 step 3: the required claims, each of its type."""
        try:
            claims = loads_object(b64decode(segment), MAX_PROOF_LENGTH)
        except (ValueError, StrictJSONError):
            raise InvalidDPoPProof(
                "proof_claims", "the DPoP proof's claims are not a valid JSON object"
            ) from None
        for name in REQUIRED_STRINGS:
            if not isinstance(claims.get(name), str) or not claims[name]:
                raise InvalidDPoPProof("proof_claims", f"the DPoP proof has no {name} claim (a string)")
        if "iat" not in claims:
            raise InvalidDPoPProof("proof_claims", "the DPoP proof has no iat claim")
        if numeric_date(claims["iat"]) is None:
            raise InvalidDPoPProof(
                "proof_iat", "the DPoP proof's iat must be a NumericDate between 1970 and 9999"
            )
        return claims
