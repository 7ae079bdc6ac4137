"""Shop API tokens: hashed storage, migration off user_api_token, cache, rate limit, last use, CLI."""

import datetime
import hashlib
import subprocess

import pytest
import sqlalchemy as sa
import webob
from wuttjamaican.conf import WuttaConfig

from rattail_fls.sales import auth

from conftest import (RUN_ID, alembic, another_config, create_database, drop_database, make_shop, rattail,
                      write_test_config)

VALID = 'fls_' + 'A' * 43


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def limits(**settings):
    return WuttaConfig(defaults={f'rattail_fls.{k}': str(v) for k, v in settings.items()})


# -- pure logic --------------------------------------------------------------------

@pytest.mark.parametrize('header, reason', [
    (None, 'send the header'),
    ('', 'send the header'),
    ('Token', 'send the header'),
    ('Token    ', 'send the header'),
    ('Bearer ' + VALID, 'send the header'),
    (VALID, 'send the header'),
    ('Token short', 'invalid or revoked'),
    ('Token ' + 'a' * 257, 'invalid or revoked'),
    ('Token ' + VALID[:-1] + '$', 'invalid or revoked'),
    ('Token ' + VALID[:-1] + '\u00e9', 'invalid or revoked'),
    ('Token ' + VALID + ' extra', 'invalid or revoked'),
])
def test_malformed_headers_are_refused_unseen(header, reason):
    with pytest.raises(auth.Unauthorized, match=reason):
        auth.token_from_header(header)


@pytest.mark.parametrize('header', ['Token ' + VALID, 'token ' + VALID, '  Token   ' + VALID + '  '])
def test_token_from_header(header):
    assert auth.token_from_header(header) == VALID


def test_new_tokens_are_random_prefixed_and_stored_as_sha256():
    tokens = {auth.new_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert token.startswith(auth.TOKEN_PREFIX) and auth.TOKEN_PATTERN.fullmatch(token)
        assert len(token) == len(auth.TOKEN_PREFIX) + 43  # 32 random bytes, base64url
        assert auth.token_hash(token) == hashlib.sha256(token.encode()).hexdigest()


@pytest.mark.parametrize('rate, burst, times, waits', [
    (1, 3, [0, 0, 0, 0], [0, 0, 0, 1.0]),           # a burst, then one a second
    (1, 3, [0, 0, 0, 0.5], [0, 0, 0, 0.5]),
    (1, 3, [0, 0, 0, 1.0], [0, 0, 0, 0]),
    (2, 1, [0, 0, 0.25, 0.5], [0, 0.5, 0.25, 0]),  # a refused request costs nothing
    (10, 5, [0] * 5 + [100] * 6, [0] * 5 + [0] * 5 + [0.1]),  # refills up to the burst only
    (0, 1, [0] * 20, [0] * 20),                      # rate 0: no limit
])
def test_token_buckets(rate, burst, times, waits):
    buckets = auth.TokenBuckets(rate, burst)
    assert [pytest.approx(buckets.wait('t', now)) for now in times] == waits
    assert buckets.wait('other', times[-1]) == 0  # per key


# -- the authenticator on the real database ---------------------------------------

def new_shop_token(app, shards, rp):
    token = make_shop(app, shards, rp, 's01')
    return token, auth.token_hash(token)


def token_row(engine, digest):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM fls_api_token WHERE token_hash = :h"), {'h': digest}).one()


def test_principal_cache_bounds_revocation(config, app, shards):
    token, digest = new_shop_token(app, shards, 8301)
    engine = config.appdb_engine
    clock = Clock()
    authenticator = auth.Authenticator(limits(**{'intake.auth_cache_seconds': 10}), engine, clock)
    principal = authenticator.authenticate(f'Token {token}')
    assert principal.retail_points == {8301} and principal.token_uuid == token_row(engine, digest).uuid

    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE fls_api_token SET revoked_at = now() WHERE token_hash = :h"), {'h': digest})
    clock.now += 9
    assert authenticator.authenticate(f'Token {token}') == principal  # cached: at most the TTL
    clock.now += 1
    with pytest.raises(auth.Unauthorized, match='invalid or revoked'):
        authenticator.authenticate(f'Token {token}')
    # the refusal is cached too; a fresh process refuses it at once
    with pytest.raises(auth.Unauthorized):
        auth.Authenticator(limits(), engine).authenticate(f'Token {token}')


def test_unknown_tokens_and_inactive_users_are_refused(config, app, shards):
    token, digest = new_shop_token(app, shards, 8302)
    engine = config.appdb_engine
    clock = Clock()
    authenticator = auth.Authenticator(limits(**{'intake.auth_cache_seconds': 5}), engine, clock)
    with pytest.raises(auth.Unauthorized):
        authenticator.authenticate('Token ' + auth.new_token())
    assert authenticator.authenticate(f'Token {token}').retail_points == {8302}
    with engine.begin() as conn:
        conn.execute(sa.text('UPDATE "user" SET active = false WHERE uuid = :u'),
                     {'u': token_row(engine, digest).user_uuid})
    clock.now += 5
    with pytest.raises(auth.Unauthorized):
        authenticator.authenticate(f'Token {token}')


def test_last_use_is_written_at_most_once_a_minute(config, app, shards):
    token, digest = new_shop_token(app, shards, 8303)
    engine = config.appdb_engine
    clock = Clock()
    authenticator = auth.Authenticator(limits(), engine, clock)
    assert token_row(engine, digest).last_used_at is None
    authenticator.authenticate(f'Token {token}')
    first = token_row(engine, digest).last_used_at
    assert first is not None
    with engine.begin() as conn:  # so that a second write would show
        conn.execute(sa.text("UPDATE fls_api_token SET last_used_at = NULL WHERE token_hash = :h"), {'h': digest})
    clock.now += auth.LAST_USED_EVERY - 1
    authenticator.authenticate(f'Token {token}')
    assert token_row(engine, digest).last_used_at is None
    clock.now += 1
    authenticator.authenticate(f'Token {token}')
    assert token_row(engine, digest).last_used_at is not None
    # another process within the minute: the database's own guard skips the write
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE fls_api_token SET last_used_at = :t WHERE token_hash = :h"),
                     {'t': first, 'h': digest})
    auth.Authenticator(limits(), engine).authenticate(f'Token {token}')
    assert token_row(engine, digest).last_used_at == first


def test_rate_limit_is_per_token(config, app, shards):
    (token, _), (other, _) = new_shop_token(app, shards, 8304), new_shop_token(app, shards, 8305)
    clock = Clock()
    authenticator = auth.Authenticator(limits(**{'intake.rate_limit_per_second': 0.5,
                                                 'intake.rate_limit_burst': 2}), config.appdb_engine, clock)
    for _ in range(2):
        authenticator.authenticate(f'Token {token}')
    with pytest.raises(auth.RateLimited) as limited:
        authenticator.authenticate(f'Token {token}')
    assert limited.value.retry_after == 2
    authenticator.authenticate(f'Token {other}')
    clock.now += 2
    authenticator.authenticate(f'Token {token}')


# -- the intake's door: header first, body after ---------------------------------------

class Tripwire:
    """A request body that records whether anything read it."""

    def __init__(self, data=b'{}'):
        self.data, self.reads = data, 0

    def read(self, *args):
        self.reads += 1
        return self.data if self.reads == 1 else b''

    readline = read


@pytest.fixture(scope='module')
def limited_intake(databases, shards, redis_conn, tmp_path_factory):
    """The intake WSGI app of a config with a tiny rate limit and no principal cache."""
    from rattail_fls.web.intake import make_wsgi_app
    path = write_test_config(tmp_path_factory.mktemp('limited') / 'rattail.conf', databases['main_url'],
                             databases['shards2_url'], {
                                 ('rattail_fls', 'intake.rate_limit_per_second'): '0.01',
                                 ('rattail_fls', 'intake.rate_limit_burst'): '3',
                                 ('rattail_fls', 'intake.auth_cache_seconds'): '0'})
    return make_wsgi_app(another_config(path))


def call(app, token, body=None, path='/sales/enqueue_sales/'):
    request = webob.Request.blank(path, method='POST', headers={'Content-Type': 'application/json'})
    if token:
        request.headers['Authorization'] = f'Token {token}'
    body = body or Tripwire()
    request.environ['wsgi.input'] = body
    request.environ['CONTENT_LENGTH'] = str(len(body.data))
    return request.get_response(app), body


@pytest.mark.parametrize('path, rp', [('/sales/enqueue_sales/', 8310), ('/api/fls/sales', 8311),
                                      ('/sales/enqueue_day_close/', 8312)])
def test_refused_before_the_body_is_read(limited_intake, app, shards, path, rp):
    for token in (None, 'not a token', auth.new_token()):
        response, body = call(limited_intake, token, path=path)
        assert response.status_code == 401 and response.headers['WWW-Authenticate'] == 'Token'
        assert body.reads == 0
    token = make_shop(app, shards, rp, 's01')
    answers = [call(limited_intake, token, Tripwire(b'{nope'), path) for _ in range(4)]
    assert [r.status_code for r, _ in answers[:3]] == [400] * 3  # authenticated; the body is read
    response, body = answers[3]
    assert response.status_code == 429 and int(response.headers['Retry-After']) >= 1
    assert 'too many requests' in response.json['error'] and body.reads == 0
    assert all(b.reads for _, b in answers[:3])


def test_revoked_token_is_refused_at_once_without_cache(limited_intake, databases, app, shards):
    token = make_shop(app, shards, 8308, 's01')
    path = databases['config_path']
    listing = rattail(path, 'fls-tokens', 'list').stdout
    token_uuid = next(line.split()[0] for line in listing.splitlines() if token[:auth.HINT_LENGTH] in line)
    first, _ = call(limited_intake, token, Tripwire(b'"nope'))
    assert first.status_code == 400  # authenticated; the body is the problem
    rattail(path, 'fls-tokens', 'revoke', token_uuid)
    second, body = call(limited_intake, token)
    assert second.status_code == 401 and body.reads == 0


# -- the migration off rattail's user_api_token ------------------------------------

def test_migration_moves_bound_tokens_and_purges_plaintext(tmp_path):
    name = f'fls_test_{RUN_ID}_token_migration'
    url = create_database(name)
    try:
        path = write_test_config(tmp_path / 'rattail.conf', url, url)
        for target in ('rattail@heads', '0c108692ba8c'):
            result = alembic(path, 'upgrade', target)
            assert result.returncode == 0, result.stderr[-2000:]
        # tokens as the plugin used to make them: rattail's add_api_token, versioned
        app = another_config(path).get_app()
        session = app.make_session(bind=app.config.appdb_engine)
        user = app.model.User(username='oldshop', active=True)
        session.add(user)
        handler = app.get_auth_handler()
        bound, unbound, revoked = (handler.add_api_token(user, d) for d in ('shop', 'tailbone api', 'old'))
        session.flush()
        strings = {t.description: t.token_string for t in (bound, unbound, revoked)}
        session.execute(sa.text("INSERT INTO fls_token_retail_point VALUES (:t, 501), (:t, 502), (:r, 503)"),
                        {'t': bound.uuid, 'r': revoked.uuid})
        session.commit()
        handler.delete_api_token(revoked)  # the old `fls-tokens revoke`
        session.commit()
        bound_uuid, created = bound.uuid, bound.created
        session.close()
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT count(*) FROM user_api_token_version "
                                            "WHERE token_string IS NOT NULL")).scalar()
        assert versions >= 3  # the history held every token, the revoked one too

        result = alembic(path, 'upgrade', 'heads')
        assert result.returncode == 0, result.stderr[-2000:]
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT * FROM fls_api_token")).one()
            bindings = conn.execute(sa.text("SELECT token_uuid, retail_point_id FROM fls_api_token_retail_point "
                                            "ORDER BY 2")).all()
            left = conn.execute(sa.text("SELECT description FROM user_api_token")).scalars().all()
            plain = conn.execute(sa.text("SELECT count(*) FROM user_api_token_version "
                                         "WHERE token_string IS NOT NULL")).scalar()
        assert (row.uuid, row.description, row.hint) == (bound_uuid, 'shop', strings['shop'][:auth.HINT_LENGTH])
        assert row.token_hash == auth.token_hash(strings['shop'])
        assert row.created == created.replace(tzinfo=datetime.timezone.utc)  # was naive UTC
        assert bindings == [(bound_uuid, 501), (bound_uuid, 502)]
        assert left == ['tailbone api'] and plain == 0
        dump = subprocess.run(['pg_dump', '--data-only', url], capture_output=True, text=True, check=True).stdout
        assert strings['shop'] not in dump and strings['old'] not in dump
        # the shop's token still works, through its hash
        principal = auth.Authenticator(limits(), engine).authenticate(f"Token {strings['shop']}")
        assert principal.retail_points == {501, 502}
        engine.dispose()
    finally:
        drop_database(name)


# -- rattail fls-tokens ------------------------------------------------------------------

def test_token_commands(databases, config, app, shards):
    make_shop(app, shards, 8203, 's01')
    path = databases['config_path']
    rattail(path, 'make-user', 'shop8203cli', '--no-password')
    rattail(path, 'make-user', 'tokenkeeper', '--no-password')
    made = rattail(path, '--runas', 'tokenkeeper', 'fls-tokens', 'create', 'shop8203cli',
                   '--retail-point', '8203').stdout.splitlines()
    token_uuid, token = made[0].split()[1], made[-1]
    assert 'shown once' in made[0] and auth.TOKEN_PATTERN.fullmatch(token)
    engine = sa.create_engine(databases['main_url'])
    row = token_row(engine, auth.token_hash(token))
    assert row.uuid == token_uuid and row.created_by_uuid is not None
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM fls_api_token WHERE token_hash = :t OR hint = :t"),
                            {'t': token}).scalar() == 0  # the token itself is nowhere

    listing = rattail(path, 'fls-tokens', 'list').stdout
    line = next(line for line in listing.splitlines() if token_uuid in line)
    assert token not in listing and token[:auth.HINT_LENGTH] in line and 'never' in line and '8203' in line
    auth.Authenticator(limits(), config.appdb_engine).authenticate(f'Token {token}')
    line = next(line for line in rattail(path, 'fls-tokens', 'list').stdout.splitlines() if token_uuid in line)
    assert 'never' not in line

    for args, words in [(('create', 'shop8203cli', '--retail-point', '999999'), 'unknown retail points: 999999'),
                        (('create', 'nosuchuser', '--retail-point', '8203'), "user 'nosuchuser' does not exist"),
                        (('revoke', 'f' * 32), 'does not exist')]:
        refused = rattail(path, 'fls-tokens', *args, check=False)
        assert refused.returncode == 1 and words in refused.stderr and 'Traceback' not in refused.stderr

    assert 'revoked' in rattail(path, 'fls-tokens', 'revoke', token_uuid).stdout
    assert token_uuid not in rattail(path, 'fls-tokens', 'list').stdout
    revoked = next(line for line in rattail(path, 'fls-tokens', 'list', '--revoked').stdout.splitlines()
                   if token_uuid in line)
    assert str(datetime.date.today().year) in revoked.split('8203')[-1]
    again = rattail(path, 'fls-tokens', 'revoke', token_uuid, check=False)
    assert again.returncode == 1 and 'already revoked' in again.stderr
    with pytest.raises(auth.Unauthorized):
        auth.Authenticator(limits(), config.appdb_engine).authenticate(f'Token {token}')
    engine.dispose()
