"""The operator's actions in the web app: push now and resend a summary, replay inbox rows
as is (one, the checked ones, a shop's), prune the inbox.

Each action: the GET confirmation says what will happen and changes nothing, the POST
does it (checked in the database, and on the loopback Odoo's side for pushes), and a
user without the permission or with a read-only role is refused both.  Retail points
8700-8799 are this module's.
"""

import datetime
import random
import re

import pytest
import sqlalchemy as sa

from fls_dev.loopback.shops import make_order
from rattail_fls.db import storage as st
from rattail_fls.sales import inbox
from rattail_fls.summaries.due import RESEND_WARNING

from conftest import PASSWORD, csrf_token, filtered, log_in, make_shop
from test_export import make_summaries, summary
from test_web_ops import inbox_status, rejected_row

DAY = datetime.date.today() - datetime.timedelta(days=5)
READ_ONLY = ('fls.summaries.list', 'fls.summaries.view', 'fls.inbox.list', 'fls.inbox.view')


@pytest.fixture(scope='module')
def reader(app):
    """A user whose role may look at summaries and the inbox, and do nothing."""
    auth = app.get_auth_handler()
    session = app.make_session()
    role = app.model.Role(name='web_fls_readers')
    for permission in READ_ONLY:
        auth.grant_permission(role, permission)
    user = auth.make_user(session, username='web_fls_reader')
    auth.set_user_password(user, PASSWORD)
    user.roles.append(role)
    session.commit()
    session.close()
    return 'web_fls_reader'


@pytest.fixture
def refused(wsgi_app, users, reader):
    """Asserts that a user with no role and the read-only one get neither page of an action."""
    browsers = [log_in(wsgi_app, users['nobody']), log_in(wsgi_app, reader)]

    def check(url, data=None):
        for browser in browsers:
            assert browser.get(url, expect_errors=True).status_int in (302, 403), url
            assert browser.post(url, data or {}, expect_errors=True).status_int in (302, 400, 403), url
    check.reader = browsers[1]
    return check


def flashes(page):
    return ' '.join(re.sub(r'\s+', ' ', page.text).split('<b-notification')[1:3])


# -- summaries ------------------------------------------------------------------

def test_push_now_a_pending_summary(admin, app, config, web_odoo, refused):
    uuid, = make_summaries(app, 8701, day=DAY)
    url = f'/fls/summaries/{uuid}'
    page = admin.get(url)
    assert f'{url}/push' in page.text and 'Push now' in page.text and f'{url}/resend' not in page.text
    refused(f'{url}/push')
    assert f'{url}/push' not in refused.reader.get(url).text  # the button is not shown without the permission

    confirm = admin.get(f'{url}/push')
    assert confirm.status_int == 200 and f'will be posted to Odoo at {web_odoo.url}' in confirm.text
    assert 'second record' not in confirm.text
    assert summary(config, uuid).status == 'pending' and web_odoo.requests == 0  # the GET changed nothing

    done = admin.post(f'{url}/push', {'_csrf': csrf_token(confirm)})
    assert done.status_int == 302
    assert 'was sent to Odoo: local_data_id 1' in flashes(done.follow())
    row = summary(config, uuid)
    assert row.status == 'sent' and row.local_data_id == 1
    assert [r['sale_num'] for r in web_odoo.records.values()] == [row.sale_num]
    after = admin.get(url).text
    assert 'Resend' in after and f'{url}/push' not in after  # sent: only a resend pushes it again


def test_push_now_says_why_odoo_refused(admin, app, config, web_odoo):
    """A failed push is flashed with its reason; no 500, and the summary waits for its retry."""
    uuid, = make_summaries(app, 8702, day=DAY)
    web_odoo.set_behaviour('bad_gateway')
    confirm = admin.get(f'/fls/summaries/{uuid}/push')
    done = admin.post(f'/fls/summaries/{uuid}/push', {'_csrf': csrf_token(confirm)}).follow()
    assert done.status_int == 200 and 'was not sent (failed): transient' in flashes(done)
    row = summary(config, uuid)
    assert row.status == 'failed' and row.failure_class == 'transient' and row.next_attempt_at


def test_push_now_with_odoo_unreachable(admin, app, config, web_odoo):
    """Nothing listening at odoo.url (the loopback stopped): flashed, no 500."""
    uuid, = make_summaries(app, 8703, day=DAY)
    web_odoo.stop()
    confirm = admin.get(f'/fls/summaries/{uuid}/push')
    done = admin.post(f'/fls/summaries/{uuid}/push', {'_csrf': csrf_token(confirm)}).follow()
    assert done.status_int == 200 and 'was not sent (failed): transient' in flashes(done)
    assert summary(config, uuid).status == 'failed'


@pytest.mark.usefixtures('web_odoo')
def test_push_with_a_bad_odoo_setting(admin, app, config):
    """A wrong ``odoo.url`` (a deployment error) is flashed, and nothing is claimed."""
    uuid, = make_summaries(app, 8706, day=DAY)
    confirm = admin.get(f'/fls/summaries/{uuid}/push')
    config.configuration['rattail_fls.odoo.url'] = 'odoo.example.com/api/sales-summary'
    done = admin.post(f'/fls/summaries/{uuid}/push', {'_csrf': csrf_token(confirm)}).follow()
    assert 'was not pushed: [rattail_fls] odoo.url must start with http://' in flashes(done)
    assert summary(config, uuid).status == 'pending' and summary(config, uuid).attempts == 0


def test_resend_a_sent_or_held_summary(admin, app, config, web_odoo, refused):
    sent, = make_summaries(app, 8704, status='sent', day=DAY, local_data_id=77)
    held, = make_summaries(app, 8705, status='held', day=DAY, hold_reason='reconciliation mismatch: totals')
    for uuid, before in ((sent, 'It was sent as Odoo record 77.'), (held, 'It is held: reconciliation mismatch')):
        url = f'/fls/summaries/{uuid}'
        assert f'{url}/resend' in admin.get(url).text
        refused(f'{url}/resend')
        assert admin.get(f'{url}/push').status_int == 302  # not due: no "push now"
        confirm = admin.get(f'{url}/resend')
        assert before in confirm.text
        assert RESEND_WARNING in confirm.text  # the warning the CLI prints
    assert web_odoo.requests == 0 and summary(config, sent).status == 'sent' and summary(config, held).status == 'held'

    for uuid in (sent, held):
        confirm = admin.get(f'/fls/summaries/{uuid}/resend')
        done = admin.post(f'/fls/summaries/{uuid}/resend', {'_csrf': csrf_token(confirm)}).follow()
        assert 'was sent to Odoo' in flashes(done)
    assert summary(config, sent).local_data_id != 77 and summary(config, held).status == 'sent'
    assert summary(config, held).forced  # a held summary sent by an operator's decision
    assert len(web_odoo.records) == 2


def test_resend_a_failed_summary_waiting_for_an_operator(admin, app, config, web_odoo, refused):
    """A configuration failure is never retried by itself: Resend, not Push now; an unknown
    outcome (the answer lost) is flashed as held."""
    uuid, = make_summaries(app, 8707, status='failed', day=DAY, failure_class='configuration', attempts=1,
                           last_error='401')
    url = f'/fls/summaries/{uuid}'
    page = admin.get(url).text
    assert f'{url}/resend' in page and f'{url}/push' not in page
    assert f'{url}/resend' not in refused.reader.get(url).text
    web_odoo.set_behaviour('success_lost')
    confirm = admin.get(f'{url}/resend')
    done = admin.post(f'{url}/resend', {'_csrf': csrf_token(confirm)}).follow()
    assert 'was not sent (held): outcome unknown' in flashes(done)
    assert summary(config, uuid).status == 'held'


# -- inbox: replay as is --------------------------------------------------------

def fixable_row(config, app, shards, rp, n, errors='rejected'):
    """A row rejected (or dead-lettered) for a reason that no longer holds: valid as it is."""
    make_shop(app, shards, rp, 's01')
    order = make_order(random.Random(rp * 100 + n), rp, DAY, n)
    inbox_id = rejected_row(config, order, [{'field': 'body', 'reason': 'the shard was down'}])
    if errors == 'dead':
        with config.appdb_engine.begin() as conn:
            conn.execute(sa.text("UPDATE fls_inbox SET status = 'dead' WHERE id = :i"), {'i': inbox_id})
    return inbox_id


def drain(config, ids):
    """Store the replayed rows now (only these: no pending row is left for other tests' drains)."""
    return config.get_app().get_fls_handler().get_processor().drain(ids, only=True)


def still_bad_row(config, rp, n):
    order = dict(make_order(random.Random(rp * 100 + n), rp, DAY, n), sale_date='21/11/2026')
    return rejected_row(config, order, [{'field': 'sale_date', 'reason': 'old reason'}])


def test_replay_one_row_as_is(admin, app, config, shards, refused):
    inbox_id = fixable_row(config, app, shards, 8711, 1)
    page = admin.get(f'/fls/inbox/{inbox_id}')
    url = f'/fls/inbox/replay?ids={inbox_id}'
    assert 'Replay as is' in page.text and url in page.text
    assert 'Replay as is' not in refused.reader.get(f'/fls/inbox/{inbox_id}').text
    refused(url, {'ids': str(inbox_id)})

    confirm = admin.get(url)
    assert '1 row (1 rejected)' in re.sub(r'\s+', ' ', confirm.text)
    assert 'queued again' in confirm.text and f'value="{inbox_id}"' in confirm.text
    assert inbox_status(config, inbox_id).status == 'rejected'  # the GET changed nothing

    done = admin.post('/fls/inbox/replay', {'_csrf': csrf_token(confirm), 'ids': str(inbox_id),
                                            'status': ['rejected', 'dead']})
    assert done.status_int == 302 and done.location.endswith(f'/fls/inbox/{inbox_id}')
    assert '1 queued again for the workers, 0 still rejected' in flashes(done.follow())
    assert tuple(inbox_status(config, inbox_id)) == ('pending', 'replay')
    assert drain(config, [inbox_id])['done'] == 1
    assert inbox_status(config, inbox_id).status == 'done'


def test_replay_checked_rows(admin, app, config, shards, wsgi_app, reader):
    """The grid has checkboxes for rejected rows and a button that takes their ids to the replay page."""
    good, dead = fixable_row(config, app, shards, 8712, 1), fixable_row(config, app, shards, 8712, 2, 'dead')
    bad = still_bad_row(config, 8712, 3)
    grid = admin.get(filtered('/fls/inbox/', retail_point_id=8712, status='rejected'))
    assert 'Replay checked rows' in grid.text and 'checkedRowUUIDs().join' in grid.text
    assert f'"uuid": "{good}"' in grid.text  # what a checked row carries
    read_only = log_in(wsgi_app, reader).get(filtered('/fls/inbox/', retail_point_id=8712, status='rejected'))
    assert read_only.status_int == 200 and 'Replay checked rows' not in read_only.text
    assert "Replay a shop" not in read_only.text and 'Prune the inbox' not in read_only.text
    ids = f'{good},{dead},{bad}'
    confirm = admin.get(f'/fls/inbox/replay?ids={ids}')
    text = re.sub(r'\s+', ' ', confirm.text)
    assert '3 rows (2 rejected, 1 dead-lettered) of the 3 chosen' in text
    done = admin.post('/fls/inbox/replay', {'_csrf': csrf_token(confirm), 'ids': ids,
                                            'status': ['rejected', 'dead']}).follow()
    said = flashes(done)
    assert '2 queued again for the workers, 1 still rejected' in said
    assert f'row {bad}: sale_date:' in said and 'old reason' not in said  # the new reason
    assert [inbox_status(config, i).status for i in (good, dead, bad)] == ['pending', 'pending', 'rejected']
    assert drain(config, [good, dead])['done'] == 2


def test_replay_a_shops_rows(admin, app, config, shards, refused):
    rejected = [fixable_row(config, app, shards, 8713, n) for n in (1, 2)]
    dead = fixable_row(config, app, shards, 8713, 3, 'dead')
    other_shop = fixable_row(config, app, shards, 8714, 1)
    page = admin.get('/fls/inbox/replay')
    assert 'value="8713"' in page.text and '8713 (3 rows)' in page.text
    assert "Replay a shop&#39;s rejected rows" in admin.get(filtered('/fls/inbox/', retail_point_id=8713)).text
    refused('/fls/inbox/replay?retail_point_id=8713', {'retail_point_id': '8713'})

    confirm = admin.get('/fls/inbox/replay?retail_point_id=8713&status=rejected')
    assert '2 rows (2 rejected) of retail point 8713' in re.sub(r'\s+', ' ', confirm.text)
    both = admin.get('/fls/inbox/replay?retail_point_id=8713&status=rejected&status=dead')
    assert '3 rows (2 rejected, 1 dead-lettered)' in re.sub(r'\s+', ' ', both.text)
    assert [inbox_status(config, i).status for i in rejected + [dead]] == ['rejected', 'rejected', 'dead']

    done = admin.post('/fls/inbox/replay', {'_csrf': csrf_token(confirm), 'retail_point_id': '8713',
                                            'status': 'rejected'})
    assert done.status_int == 302 and 'retail_point_id=8713' in done.location
    assert '2 queued again for the workers, 0 still rejected' in flashes(done.follow())
    assert [inbox_status(config, i).status for i in rejected + [dead, other_shop]] == \
        ['pending', 'pending', 'dead', 'rejected']  # only the chosen statuses, only that shop
    assert drain(config, rejected)['done'] == 2


def test_replay_refuses_bad_choices(admin):
    for query in ('ids=abc', 'ids=-3', 'retail_point_id=x', 'retail_point_id=8715&status=done'):
        page = admin.get(f'/fls/inbox/replay?{query}')
        assert page.status_int == 302 and 'Nothing was replayed' in flashes(page.follow()), query
    confirm = admin.get('/fls/inbox/replay')  # nothing chosen: a POST never replays every shop
    done = admin.post('/fls/inbox/replay', {'_csrf': csrf_token(confirm)}).follow()
    assert 'no rejected or dead-lettered row matches' in flashes(done)


# -- inbox: prune ---------------------------------------------------------------

def old_rows(config, day, statuses):
    """Rows received on ``day`` (its daily partition made as the intake's premaker would)."""
    with config.appdb_engine.begin() as conn:
        st.ensure_day_partitions(conn, [day], tables=('fls_inbox',), column='received_on')
        keys = inbox.accept(conn, [{'body': '{}', 'retail_point_id': 8720, 'status': s} for s in statuses],
                            'sale', 'file')
        conn.execute(sa.text("UPDATE fls_inbox SET received_on = :day WHERE id = ANY(:ids)"),
                     {'day': day, 'ids': [k[1] for k in keys]})
    return [k[1] for k in keys]


def partition_exists(config, day):
    with config.appdb_engine.connect() as conn:
        return conn.execute(sa.text("SELECT to_regclass(:name)"),
                            {'name': f'fls_inbox_p{day:%Y%m%d}'}).scalar() is not None


def test_prune_the_inbox(admin, config, refused):
    settled_day = datetime.date(2001, 3, 1)  # long past any retention, and no other test's day
    unsettled_day = datetime.date(2001, 3, 2)
    old_rows(config, settled_day, ['done', 'duplicate'])
    kept = old_rows(config, unsettled_day, ['done', 'rejected'])
    assert 'Prune the inbox' in admin.get(filtered('/fls/inbox/', retail_point_id=8720)).text
    refused('/fls/inbox/prune')

    confirm = admin.get('/fls/inbox/prune')
    text = re.sub(r'\s+', ' ', confirm.text)
    assert 'The inbox keeps 90 days ([rattail_fls] inbox.retention_days)' in text
    cutoff = datetime.date.today() - datetime.timedelta(days=90)
    assert f'received before {cutoff:%d %b %Y}' in text
    assert re.search(r'daily partitions would be dropped \([^)]*01 Mar 2001', text)
    assert re.search(r'because they hold rejected or pending rows \([^)]*02 Mar 2001', text)
    assert partition_exists(config, settled_day)  # the GET changed nothing

    done = admin.post('/fls/inbox/prune', {'_csrf': csrf_token(confirm)})
    assert done.status_int == 302 and 'Pruned the inbox: dropped' in flashes(done.follow())
    assert not partition_exists(config, settled_day) and partition_exists(config, unsettled_day)
    with config.appdb_engine.connect() as conn:
        left = conn.execute(sa.text("SELECT status FROM fls_inbox WHERE id = ANY(:ids)"), {'ids': kept}).scalars()
        assert list(left) == ['rejected']  # the settled row of a kept day is deleted


def test_prune_command_says_the_same(databases, config):
    """``rattail fls-inbox prune``: the same prune and the same words as the web's flash."""
    from conftest import rattail
    day = datetime.date(2001, 3, 3)
    old_rows(config, day, ['done'])
    result = rattail(databases['config_path'], 'fls-inbox', 'prune')
    assert re.match(r'dropped [1-9]\d* daily partitions, deleted \d+ other settled rows; kept \d+ old '
                    r'partitions holding rejected or pending rows', result.stdout), result.stdout
    assert not partition_exists(config, day)
