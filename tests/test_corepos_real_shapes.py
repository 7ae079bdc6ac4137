"""The CORE-POS import against the shapes a real CORE-POS holds (``add_real_shapes``):
rows without or sharing a UPC (HQ-mode rows per store among them), a card without person
number 1, a member type without its memtype row, a product pointing at a department and a
subdepartment CORE does not have; and a deleted card, an unreachable office_op database,
a new store.  Tests run in file order on one CORE-POS and one Theo.
"""

import re

import pytest
from rattail.config import make_config

from fls_dev.loopback.corepos import add_real_shapes

from conftest import ROOT
from coreenv import core_env, sample_catalog
from test_corepos_import import core_delete, core_update, transactions, versions

PRODUCTS = 200


@pytest.fixture(scope='module')
def shaped(tmp_path_factory):
    store = sample_catalog()
    added = add_real_shapes(store)
    with core_env(tmp_path_factory, 'coreshapes', store) as env:
        yield env, added


def member_requests(env, since=0):
    return [r['params']['cardNo'] for r in env.server.requests[since:]
            if isinstance(r, dict) and str(r.get('method')).endswith('FannieMember')]


def summary(result):
    """The summary lines import-corepos-api printed on stdout."""
    lines = result.stdout.splitlines()
    assert lines and lines[0].startswith('import-corepos-api ('), result.stdout
    return [line.strip() for line in lines[1:]]


def test_bulk_import_reports_what_it_could_not_read(shaped):
    env, added = shaped
    cards = sorted({int(p['CardNo']) for p in env.store['Custdata'].rows()})
    result = env.cli('-P', 'import-corepos-api', '--no-versioning')

    # one FannieMember request per card, also for the card CORE answers false for
    assert sorted(member_requests(env)) == cards
    lines = summary(result)
    same_upc = len(added['duplicate']) + len(added['store_rows'])
    assert (f"Product: {2 + same_upc} CORE-POS record(s) could not be read: 2 without a UPC; "
            f"{same_upc} with the UPC of an earlier row (duplicate, or another store's row in "
            "HQ mode)") in lines
    card = added['no_person_1']
    assert any(line.startswith("Customer, CustomerShopper, Member: 1 member card(s) could not "
                               f"be read (FannieMember answers false; no person number 1 in "
                               f"custdata): {card}") for line in lines), lines
    assert re.search(rf"WARNI .*member card {card}: CORE-POS FannieMember answers false "
                     r"\(custdata has no person number 1", result.stderr)
    for product_id in added['no_upc'] + added['duplicate'] + added['store_rows']:
        assert f"Product: CORE-POS product id {product_id} with" in result.stderr
    assert "Product: CORE-POS product id %s without a UPC" % added['no_upc'][0] in result.stderr

    assert env.scalar("SELECT count(*) FROM product") == PRODUCTS + 1        # + the orphan
    assert env.scalar("SELECT count(*) FROM customer WHERE number = :c", c=card) == 0
    assert env.scalar("SELECT count(*) FROM member WHERE number = :c",
                      c=added['unknown_memtype']) == 1
    assert env.rows("""SELECT d.name, s.name FROM product p JOIN department d
                       ON d.uuid = p.department_uuid JOIN subdepartment s
                       ON s.uuid = p.subdepartment_uuid WHERE p.item_id = :u""",
                    u=added['orphan']) == [('(auto-created)', '(auto-created)')]
    env.cli('-P', '--runas', 'corepos', 'import-versions', '-m', 'initial data from POS')


def test_a_second_capture_with_nothing_new_writes_no_transaction(shaped):
    env, _ = shaped
    before = transactions(env)
    env.cli('--runas', 'corepos', 'import-versions', '-m', 'nothing new')
    assert transactions(env) == before


def test_the_real_department_adopts_the_placeholder(shaped):
    env, added = shaped
    department, subdept = added['missing_department'], added['missing_subdept']
    env.store['Departments'].insert({'dept_no': department, 'dept_name': 'SEASONAL'})
    env.store['SubDepts'].insert({'subdept_no': subdept, 'subdept_name': 'SEASONAL GIFTS',
                                  'dept_ID': department})
    result = env.cli('--runas', 'corepos', 'import-corepos-api', 'Department', 'Subdepartment',
                     'Product')
    tx = transactions(env)[-1][0]
    assert env.rows("SELECT d.name, c.corepos_number FROM department d JOIN corepos_department c"
                    " ON c.uuid = d.uuid WHERE d.number = :n", n=department) == [
        ('SEASONAL', department)]
    assert env.scalar("SELECT count(*) FROM department WHERE number = :n", n=department) == 1
    assert env.scalar("SELECT count(*) FROM subdepartment WHERE number = :n", n=subdept) == 1
    assert env.rows("""SELECT d.name, s.name FROM product p JOIN department d
                       ON d.uuid = p.department_uuid JOIN subdepartment s
                       ON s.uuid = p.subdepartment_uuid WHERE p.item_id = :u""",
                    u=added['orphan']) == [('SEASONAL', 'SEASONAL GIFTS')]
    assert versions(env, 'department', tx, f"number = {department} AND operation_type = 1") == 1
    assert "Department: 0 added, 1 updated, 0 deleted" in summary(result)
    assert 'duplicated keys' not in result.stderr

    result = env.cli('--runas', 'corepos', 'import-corepos-api', 'Department', 'Subdepartment',
                     'Product')
    assert 'duplicated keys' not in result.stderr and "no changes" in summary(result)


def test_a_theo_with_both_records_is_repaired(shaped):
    env, _ = shaped
    app = make_config([str(env.config_path)], versioning=False).get_app()
    model = app.model
    session = app.make_session()
    placeholder = model.Department(number=2, name='(auto-created)')
    session.add(placeholder)
    product = session.query(model.Product).join(model.Department)\
                     .filter(model.Department.number == 2).first()
    product.department = placeholder
    item_id = product.item_id
    session.commit()
    session.close()
    result = env.cli('--runas', 'corepos', 'import-corepos-api', 'Department', 'Product')
    assert "Department: 1 placeholder(s) merged into the CORE-POS record of the same number" \
        in summary(result)
    assert env.scalar("SELECT count(*) FROM department WHERE number = 2") == 1
    assert env.scalar("""SELECT c.corepos_number FROM product p JOIN corepos_department c
                         ON c.uuid = p.department_uuid WHERE p.item_id = :u""", u=item_id) == 2
    assert 'duplicated keys' not in result.stderr


def test_rows_dropped_for_their_upc_are_never_deletion_candidates(shaped):
    env, added = shaped
    products = env.store['Products']
    blanked, deleted = products.rows()[10], products.rows()[11]
    with env.store.lock:
        products.load([{k: v for k, v in blanked.items() if k != 'upc'}])     # upc now NULL
        products.delete(deleted)
    result = env.cli('--runas', 'corepos', 'import-corepos-api', 'Product', '--delete',
                     check=False)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert ("Product: 1 record(s) missing from CORE-POS not deleted: 10 CORE-POS record(s) "
            "could not be read") in result.stderr
    assert any(line.startswith("Product: 10 CORE-POS record(s) could not be read: 3 without a "
                               "UPC; 7 with the UPC") for line in summary(result))

    env.cli('--runas', 'corepos', 'import-corepos-api', 'Product', '--delete', '--force-delete')
    flagged = dict(env.rows("SELECT item_id, deleted FROM product WHERE item_id IN (:a, :b)",
                            a=blanked['upc'], b=deleted['upc']))
    assert flagged == {blanked['upc']: False, deleted['upc']: True}
    assert env.scalar("SELECT count(*) FROM product WHERE deleted") == 1


def test_a_card_without_person_1_is_kept_and_a_deleted_card_made_inactive(shaped):
    env, _ = shaped
    custdata = env.store['Custdata']
    cards = sorted({row['CardNo'] for row in custdata.rows()}, key=int)
    unread, gone = cards[0], cards[1]
    with env.store.lock:
        for row in custdata.find({'CardNo': unread, 'personNum': 1}):
            custdata.update(row, {'personNum': 9})
        for row in custdata.find({'CardNo': gone}):
            custdata.delete(row)
    from fls_dev.loopback.office_op import load_office_op
    load_office_op(env.op_url, env.store)
    shoppers = env.scalar("SELECT count(*) FROM customer_shopper")
    gone_shoppers = env.scalar("""SELECT count(*) FROM customer_shopper s JOIN corepos_customer c
                                  ON c.uuid = s.customer_uuid WHERE c.corepos_card_number = :c""",
                               c=int(gone))
    assert gone_shoppers >= 1
    result = env.cli('--runas', 'corepos', 'import-corepos-api', 'Customer', 'CustomerShopper',
                     'Member', '--delete', '--force-delete')
    tx = transactions(env)[-1][0]
    state = env.rows("""SELECT c.number, c.active_in_pos, bool_and(s.active), count(s.uuid)
                        FROM customer c JOIN customer_shopper s ON s.customer_uuid = c.uuid
                        WHERE c.number IN (:a, :b) GROUP BY c.number, c.active_in_pos
                        ORDER BY c.number""",
                     a=int(unread), b=int(gone))
    assert state == [(int(unread), True, True, state[0][3]), (int(gone), False, False, gone_shoppers)]
    assert env.scalar("SELECT count(*) FROM customer_shopper") == shoppers        # none deleted
    assert versions(env, 'customer', tx, f"number = {gone} AND NOT active_in_pos") == 1
    assert versions(env, 'customer_shopper', tx, "NOT active") == gone_shoppers
    assert env.scalar("SELECT active FROM member WHERE number = :c", c=int(unread)) is True
    assert any(line.startswith("Customer, CustomerShopper, Member: 2 member card(s) could not")
               for line in summary(result))


def test_an_unreachable_office_op_is_one_line(shaped, tmp_path):
    env, _ = shaped
    core_update(env, 'Departments', {'dept_no': 1}, dept_name='NOT COMMITTED')
    bad = tmp_path / 'bad_op.conf'
    bad.write_text(f"[rattail.config]\nrequire = {env.config_path}\n\n[corepos.db.office_op]\n"
                   "default.url = mysql+pymysql://root:secret@127.0.0.1:9/nosuch_op\n")
    count = len(transactions(env))
    result = env.cli('--runas', 'corepos', 'import-corepos-api', 'Department', 'Customer',
                     check=False, config=bad)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
    assert errors == [errors[0]] and errors[0].startswith(
        "error: CORE-POS office_op database nosuch_op at 127.0.0.1:9: cannot read custdata: "
        "(2003, \"Can't connect to MySQL server"), result.stderr
    assert 'Traceback' not in result.stderr and 'secret' not in result.stderr
    assert len(transactions(env)) == count
    assert env.scalar("SELECT name FROM department WHERE number = 1") != 'NOT COMMITTED'


def test_a_new_store_arrives_with_one_insert_version(shaped):
    env, _ = shaped
    env.store['Stores'].insert({'storeID': 4, 'description': 'STORE 4'})
    env.cli('--runas', 'corepos', 'import-corepos-api', 'Store', 'FlsRetailPoint')
    tx = transactions(env)[-1][0]
    assert env.rows("""SELECT operation_type, shard_uuid IS NOT NULL FROM fls_retail_point_version
                       WHERE retail_point_id = 4""") == [(0, True)]
    assert versions(env, 'fls_retail_point', tx) == 1
    core_delete(env, 'Stores', {'storeID': 4})


def test_a_nightly_under_the_shipped_quiet_conf_prints_its_counts(shaped):
    env, _ = shaped
    quiet = env.config_path.parent / 'quiet.conf'
    quiet.write_text((ROOT / 'app' / 'quiet.conf').read_text())     # requires ./rattail.conf
    core_update(env, 'Vendors', {'vendorID': 2}, vendorName='QUIET RENAME')
    result = env.cli('--runas', 'corepos', 'import-corepos-api', 'Vendor', config=quiet)
    assert summary(result) == ["Vendor: 0 added, 1 updated, 0 deleted"]
    assert ' INFO ' not in result.stderr
