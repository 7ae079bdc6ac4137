"""Shop API tokens: made, hashed, checked, cached and rate limited.

A token is 32 random bytes (``secrets.token_urlsafe``) behind the prefix
``fls_``.  Only its SHA-256 is stored (``fls_api_token.token_hash``): a slow
password hash (bcrypt, argon2) protects guessable secrets, but nobody guesses
256 random bits, and a fast hash lets the intake find the token by an indexed
lookup instead of trying a slow hash against every row.  Looking up the hash
leaks nothing about the token through timing (an attacker would need a
preimage), and the row found is still compared with ``hmac.compare_digest``.

The intake authenticates from the ``Authorization`` header alone, before it
reads the body.  Principals are cached per process for ``intake.auth_cache_seconds``
(unknown tokens too, so a flood of bad ones does not reach the database);
that is how long a revocation or a deactivated user takes to reach every
intake process.  Each token has an in-process token bucket
(``intake.rate_limit_per_second``, ``intake.rate_limit_burst``): with N intake
processes a shop may reach N times the limit.  No Redis is involved, so the
intake keeps answering when Redis is down.
"""

import collections
import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa

from rattail_fls import config as fls_config

#: New tokens start with this, so that secret scanners and operators recognise them.
TOKEN_PREFIX = 'fls_'
#: Characters of the token kept in clear (``fls_api_token.hint``), to tell tokens apart.
HINT_LENGTH = 8
#: What a token can look like (rattail's old tokens included); anything else is refused unseen.
TOKEN_PATTERN = re.compile(r'[A-Za-z0-9_-]{16,256}')
#: ``last_used_at`` is written at most this often per token (seconds).
LAST_USED_EVERY = 60
#: Most tokens (known or unknown) whose answer a process remembers.
CACHE_ENTRIES = 10000
#: Database connections an intake process keeps (at least its server's threads).
INTAKE_POOL_SIZE = 16


class Unauthorized(Exception):
    """No valid token (HTTP 401)."""


class RateLimited(Exception):
    """The token sent more requests than its limit (HTTP 429); ``retry_after`` in whole seconds."""

    def __init__(self, retry_after):
        super().__init__(f"too many requests for this token; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for."""
    token_uuid: str
    user_uuid: str
    retail_points: frozenset


def new_token():
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token):
    """What is stored for ``token`` (the migration computes the same in SQL)."""
    return hashlib.sha256(token.encode('ascii')).hexdigest()


def token_from_header(authorization):
    """``Token <key>`` -> key, or :class:`Unauthorized` (the key is never echoed back)."""
    scheme, _, key = (authorization or '').strip().partition(' ')
    key = key.strip()
    if scheme.lower() != 'token' or not key:
        raise Unauthorized("send the header 'Authorization: Token <key>'")
    if not TOKEN_PATTERN.fullmatch(key):
        raise Unauthorized("invalid or revoked token")
    return key


def create_token(session, user, retail_point_ids, description, created_by=None):
    """Add a token for ``user`` bound to ``retail_point_ids``; returns ``(row, token)``.

    The token itself is returned once, here, and stored nowhere.  Raises
    ``LookupError`` naming retail points that do not exist.
    """
    from rattail_fls.db.model.retail_points import FlsRetailPoint
    from rattail_fls.db.model.tokens import FlsApiToken, FlsApiTokenRetailPoint
    wanted = set(retail_point_ids)
    if not wanted:
        raise LookupError("a token needs at least one retail point")
    known = {rp for (rp,) in session.query(FlsRetailPoint.retail_point_id)
             .filter(FlsRetailPoint.retail_point_id.in_(wanted))}
    if wanted - known:
        raise LookupError(f"unknown retail points: {', '.join(map(str, sorted(wanted - known)))}")
    token = new_token()
    row = FlsApiToken(user=user, description=description, token_hash=token_hash(token),
                      hint=token[:HINT_LENGTH], created_by=created_by,
                      bindings=[FlsApiTokenRetailPoint(retail_point_id=rp) for rp in sorted(wanted)])
    session.add(row)
    session.flush()
    return row, token


def revoke_token(session, row, revoked_by=None):
    """Mark ``row`` revoked (kept for the record); intakes refuse it within their cache time."""
    if row.revoked_at is None:
        row.revoked_at = session.execute(sa.select(sa.func.now())).scalar()
        row.revoked_by = revoked_by


class TokenBuckets:
    """One token bucket per key: ``rate`` requests a second, bursts of up to ``burst``."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.buckets = {}  # key -> (tokens, monotonic time of that count)
        self.lock = threading.Lock()

    def wait(self, key, now):
        """Take one request for ``key`` at ``now``; 0 if allowed, else seconds until it would be."""
        if not self.rate:
            return 0
        with self.lock:
            tokens, then = self.buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens >= 1:
                self.buckets[key] = (tokens - 1, now)
                return 0
            self.buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


class Authenticator:
    """Header -> :class:`Principal`, with the principal cache, the rate limit and last-used marks.

    One per intake process (thread safe).  A database fault during a lookup
    raises SQLAlchemy's ``OperationalError``, which the intake answers 503.
    """

    def __init__(self, config, engine, clock=time.monotonic):
        self.engine = engine
        self.clock = clock
        self.cache_seconds = fls_config.get_number(config, 'intake.auth_cache_seconds')
        self.limits = TokenBuckets(fls_config.get_number(config, 'intake.rate_limit_per_second'),
                                   fls_config.get_number(config, 'intake.rate_limit_burst', minimum=1))
        self.cache = collections.OrderedDict()  # token hash -> (principal or None, expires)
        self.marked = {}  # token uuid -> clock time of the last last_used_at write
        self.lock = threading.Lock()

    def authenticate(self, authorization):
        """Raises :class:`Unauthorized` or :class:`RateLimited`; no body is needed."""
        digest = token_hash(token_from_header(authorization))
        now = self.clock()
        principal = self.cached(digest, now)
        if principal is False:
            principal = self.look_up(digest)
            self.remember(digest, principal, now)
        if principal is None:
            raise Unauthorized("invalid or revoked token")
        wait = self.limits.wait(principal.token_uuid, now)
        if wait:
            raise RateLimited(max(1, math.ceil(wait)))
        self.mark_used(principal, now)
        return principal

    def cached(self, digest, now):
        """The cached answer (a principal, or None for an unknown token), or False."""
        with self.lock:
            entry = self.cache.get(digest)
            if entry is None or entry[1] <= now:
                return False
            return entry[0]

    def remember(self, digest, principal, now):
        if not self.cache_seconds:
            return
        with self.lock:
            self.cache.pop(digest, None)
            self.cache[digest] = (principal, now + self.cache_seconds)
            while len(self.cache) > CACHE_ENTRIES:
                self.cache.popitem(last=False)

    def look_up(self, digest):
        with self.engine.connect() as conn:
            row = conn.execute(sa.text("""
                SELECT t.uuid, t.user_uuid, t.token_hash,
                       array_remove(array_agg(b.retail_point_id), NULL) AS retail_points
                FROM fls_api_token t JOIN "user" u ON u.uuid = t.user_uuid AND u.active
                LEFT JOIN fls_api_token_retail_point b ON b.token_uuid = t.uuid
                WHERE t.token_hash = :digest AND t.revoked_at IS NULL
                GROUP BY t.uuid"""), {'digest': digest}).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        return Principal(row.uuid, row.user_uuid, frozenset(row.retail_points))

    def mark_used(self, principal, now):
        """Record the use in ``last_used_at`` at most once a minute per token (also across processes)."""
        with self.lock:
            last = self.marked.get(principal.token_uuid)
            if last is not None and now - last < LAST_USED_EVERY:
                return
            self.marked[principal.token_uuid] = now
        with self.engine.begin() as conn:
            conn.execute(sa.text("""
                UPDATE fls_api_token SET last_used_at = now()
                WHERE uuid = :uuid AND (last_used_at IS NULL
                                        OR last_used_at < now() - make_interval(secs => :every))"""),
                         {'uuid': principal.token_uuid, 'every': LAST_USED_EVERY})


def intake_engine(config, **options):
    """The main database's engine as configured, but with SQL parameters hidden from errors and logs
    (``options``: more ``create_engine`` arguments).

    A failing statement's message otherwise carries its parameters (a token
    hash, a shop's payload) into every log line about it.  The pool keeps
    ``INTAKE_POOL_SIZE`` connections unless ``default.pool_size`` says
    otherwise: a server thread beyond the pool would open and close a
    connection for every request.
    """
    make_engine = config.get_engine_maker()
    settings = config.get_dict(f'{config.appname}.db')
    extra = {} if 'default.pool_size' in settings else {'pool_size': INTAKE_POOL_SIZE}
    return make_engine(settings, prefix='default.', hide_parameters=True, **extra, **options)
