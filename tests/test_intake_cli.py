"""The intake's operator commands: import-fls-sales, fls-inbox, fls-sweep (fls-tokens: test_tokens.py)."""

import datetime
import random

import simplejson
import sqlalchemy as sa

from fls_dev.loopback.shops import make_order
from rattail_fls.sales import files

from conftest import make_shop, rattail

DAY = datetime.date.today() - datetime.timedelta(days=5)


def dump(value):
    return simplejson.dumps(value, use_decimal=True)


def stored(shards, shard, rp):
    with shards.begin(shard) as conn:
        return conn.execute(sa.text("SELECT count(*) FROM sale WHERE retail_point_id = :r"), {'r': rp}).scalar()


def test_import_fls_sales_from_files(databases, config, app, shards, tmp_path):
    make_shop(app, shards, 8201, 's02')
    rng = random.Random(8)
    orders = [make_order(rng, 8201, DAY, n) for n in range(6)]
    bad = dict(orders[0], sale_num='F-BAD', total_including_miscellaneous=0)
    (tmp_path / 'one.json').write_text(dump(orders[0]))                                  # one object
    (tmp_path / 'list.json').write_text(dump(orders[1:3]))                               # a list
    (tmp_path / 'lines.jsonl').write_text('\n'.join([dump(o) for o in orders[3:]] + [dump(bad), '{broken']))
    (tmp_path / 'notes.txt').write_text('ignored')
    path = databases['config_path']

    dry_run = rattail(path, 'import-fls-sales', '--input-dir', str(tmp_path), '--dry-run', check=False)
    assert dry_run.returncode == 1, "rejections make even a dry run exit non-zero"
    dry = dry_run.stdout
    assert 'sales would be created: 6, replaced: 0, duplicate: 0, superseded: 0, rejected: 2' in dry
    assert stored(shards, 's02', 8201) == 0

    run = rattail(path, 'import-fls-sales', '--input-dir', str(tmp_path), check=False)
    assert run.returncode == 1, "a run that rejected orders must exit non-zero"
    assert 'sales created: 6, replaced: 0, duplicate: 0, superseded: 0, rejected: 2' in run.stdout
    assert stored(shards, 's02', 8201) == 6
    again = rattail(path, 'import-fls-sales', '--input-dir', str(tmp_path), check=False).stdout
    assert 'sales created: 0, replaced: 0, duplicate: 6' in again
    assert stored(shards, 's02', 8201) == 6
    with config.appdb_engine.connect() as conn:  # the inbox keeps each order as the file held it
        bodies = dict(conn.execute(sa.text("SELECT sale_num, body FROM fls_inbox WHERE source = 'file' "
                                           "AND retail_point_id = 8201 AND status <> 'rejected'")).all())
    assert bodies == {o['sale_num']: dump(o) for o in orders}


def test_files_are_read_as_held(tmp_path):
    """Each order's text as the file holds it, read by the fast reader; a line that is not one
    order is the models' to refuse; a broken line is refused by itself."""
    orders = [make_order(random.Random(4), 8203, DAY, n) for n in range(3)]
    (tmp_path / 'list.json').write_text(' [ ' + ' ,\n'.join(dump(o) for o in orders) + ' ]\n')
    (tmp_path / 'lines.jsonl').write_text(f"{dump(orders[0])}\n\n[{dump(orders[1])}]\n{{broken\n")
    read = list(files.read_orders(tmp_path / 'list.json'))
    assert [(where, text) for where, _, _, text, _ in read] == [(f'list.json[{i}]', dump(o))
                                                                 for i, o in enumerate(orders)]
    assert all(sale is not None and errors is None for _, _, errors, _, sale in read)
    one, listed, broken = files.read_orders(tmp_path / 'lines.jsonl')
    assert one[0] == 'lines.jsonl:1' and one[3] == dump(orders[0]) and one[4] is not None
    assert listed[0] == 'lines.jsonl:3' and isinstance(listed[1], list) and listed[4] is None
    assert broken[0] == 'lines.jsonl:4' and broken[2][0]['field'] == 'lines.jsonl:4'


def test_inbox_commands_show_and_replay_a_fixed_row(databases, app, shards, tmp_path):
    make_shop(app, shards, 8202, 's01')
    good = make_order(random.Random(9), 8202, DAY, 1)
    (tmp_path / 'in').mkdir()
    (tmp_path / 'in' / 'bad.json').write_text(dump(dict(good, sale_line_ids='none')))
    path = databases['config_path']
    assert rattail(path, 'import-fls-sales', '--input-dir', str(tmp_path / 'in'), check=False).returncode == 1

    listing = rattail(path, 'fls-inbox', 'list', '--status', 'rejected', '--retail-point', '8202').stdout
    row = next(line for line in listing.splitlines() if good['sale_num'] in line)
    inbox_id = row.split()[0]
    assert 'sale_line_ids: must be a list' in row
    shown = rattail(path, 'fls-inbox', 'show', inbox_id).stdout
    assert 'status: rejected' in shown and '"sale_line_ids": "none"' in shown

    (tmp_path / 'fixed.json').write_text(dump(good))
    replayed = rattail(path, 'fls-inbox', 'replay', inbox_id, '--body', str(tmp_path / 'fixed.json'),
                       '--now').stdout
    assert 'replayed 1 rows: done: 1' in replayed
    assert stored(shards, 's01', 8202) == 1
    nothing = rattail(path, 'fls-inbox', 'replay', inbox_id, check=False)
    assert nothing.returncode == 1 and 'no replayable rows matched' in nothing.stderr
    bad_body = tmp_path / 'worse.json'
    bad_body.write_text('{nope')
    refused = rattail(path, 'fls-inbox', 'replay', inbox_id, '--body', str(bad_body), check=False)
    assert refused.returncode == 1 and 'is not valid JSON' in refused.stderr


def test_sweep_command(databases):
    out = rattail(databases['config_path'], 'fls-sweep').stdout
    assert out.startswith('re-enqueued ')
