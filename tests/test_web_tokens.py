"""The "Shops' API Tokens" web view: list, create (token shown once), revoke; admin-only permissions."""

import re

import pytest
import sqlalchemy as sa

from rattail_fls.sales import auth

from conftest import csrf_token, log_in, make_shop

NEW_TOKEN = re.compile(r'<pre id="fls-new-token">([^<]+)</pre>')


def user_uuid(app, username):
    session = app.make_session()
    uuid = session.query(app.model.User.uuid).filter_by(username=username).scalar()
    session.close()
    return uuid


def token_uuid_by_hint(app, hint):
    session = app.make_session()
    uuid = session.query(app.model.FlsApiToken.uuid).filter_by(hint=hint).scalar()
    session.close()
    return uuid


def create(browser, user, retail_points, description="web test", status=200):
    page = browser.get('/fls/api-tokens/new')
    data = [('_csrf', csrf_token(page)), ('user_uuid', user), ('__start__', 'retail_point_ids:sequence')]
    data += [('retail_point_ids', str(rp)) for rp in retail_points]
    data += [('__end__', 'retail_point_ids:sequence'), ('description', description)]
    return browser.post('/fls/api-tokens/new', data, status=status)


def authenticates(config, token):
    try:
        return auth.Authenticator(config, config.appdb_engine).authenticate(f'Token {token}')
    except auth.Unauthorized:
        return None


def test_list_create_show_once_revoke(admin, app, config, shards):
    old = make_shop(app, shards, 8601, 's01')
    make_shop(app, shards, 8602, 's01')
    listing = admin.get('/fls/api-tokens/')
    assert old[:auth.HINT_LENGTH] in listing.text and old not in listing.text

    created = create(admin, user_uuid(app, 'shop8601'), [8601, 8602])
    token = NEW_TOKEN.search(created.text).group(1)
    assert created.headers['Cache-Control'] == 'no-store'
    assert 'shown this once' in created.text and '8601 8602' in created.text
    assert authenticates(config, token).retail_points == {8601, 8602}
    uuid = token_uuid_by_hint(app, token[:auth.HINT_LENGTH])
    page = admin.get(f'/fls/api-tokens/{uuid}')
    assert token not in page.text and 'never' not in page.text  # it was used just now
    assert 'Revoke' in page.text
    listing = admin.get('/fls/api-tokens/')
    assert token not in listing.text and token[:auth.HINT_LENGTH] in listing.text

    confirm = admin.get(f'/fls/api-tokens/{uuid}/revoke')
    assert 'Revoke Token' in confirm.text and 'cannot' in confirm.text
    assert authenticates(config, token) is not None  # nothing happens before the POST
    done = admin.post(f'/fls/api-tokens/{uuid}/revoke', {'_csrf': csrf_token(confirm)}, status=302)
    assert done.location.endswith(f'/fls/api-tokens/{uuid}')
    revoked = done.follow()
    assert 'is revoked' in revoked.text and 'the intake refuses it' in revoked.text
    assert authenticates(config, token) is None
    assert token[:auth.HINT_LENGTH] not in admin.get('/fls/api-tokens/').text  # list: active ones
    again = admin.get(f'/fls/api-tokens/{uuid}/revoke', status=302).follow()
    assert 'already revoked' in again.text


@pytest.mark.parametrize('retail_points, error', [([], 'Choose at least one retail point'),
                                                  ([8601, 999999], 'Unknown retail points: 999999')])
def test_create_form_names_the_problem(admin, app, shards, retail_points, error):
    make_shop(app, shards, 8601, 's01')
    engine = sa.create_engine(app.config.appdb_engine.url)
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM fls_api_token")).scalar()
    page = create(admin, user_uuid(app, 'shop8601'), retail_points)
    assert error in page.text and not NEW_TOKEN.search(page.text)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM fls_api_token")).scalar() == before
    engine.dispose()


def test_permissions_are_admin_only(wsgi_app, users, app, shards):
    groups = wsgi_app.registry.settings['wutta_permissions']
    perms = set(groups['fls.api_tokens']['perms'])
    assert {'fls.api_tokens.list', 'fls.api_tokens.view', 'fls.api_tokens.create',
            'fls.api_tokens.revoke'} <= perms
    assert not {'fls.api_tokens.edit', 'fls.api_tokens.delete'} & perms
    session = app.make_session()
    granted = {p.permission for p in session.query(app.model.Permission)
               if p.permission.startswith('fls.api_tokens')}
    session.close()
    assert not granted  # no role has them: administrators only

    token = make_shop(app, shards, 8603, 's01')
    uuid = token_uuid_by_hint(app, token[:auth.HINT_LENGTH])
    for name in ('nobody', 'shardviewer'):
        browser = log_in(wsgi_app, users[name])
        for url in ('/fls/api-tokens/', '/fls/api-tokens/new', f'/fls/api-tokens/{uuid}',
                    f'/fls/api-tokens/{uuid}/revoke'):
            assert '/fls/api-tokens' not in browser.get(url, status=302).location, (name, url)
        home = browser.get('/')
        refused = browser.post(f'/fls/api-tokens/{uuid}/revoke', {'_csrf': csrf_token(home)}, status=302)
        assert '/fls/api-tokens' not in refused.location
        assert "Shops&#39; API Tokens" not in home.text and "Shops' API Tokens" not in home.text
    assert authenticates(app.config, token) is not None  # still valid


def test_menu_lists_the_view_for_admins(admin):
    menu = re.search(r'navbar-link">FLS</a>(.*?)</div>', admin.get('/').text, re.S).group(1)
    assert '/fls/api-tokens/"' in menu
