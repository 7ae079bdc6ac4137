"""Pure logic of the CORE-POS import: the run's summary, the office_op error wording and the
loopback's answers for paths that are not the API endpoint (table-driven, no services)."""

from collections import Counter, OrderedDict

import pytest
import sqlalchemy as sa

from fls_dev.loopback.corepos import route
from rattail_fls.importing.corepos import summarize
from rattail_fls.importing.corepos_members import describe_database, first_line

NONE = OrderedDict()


@pytest.mark.parametrize('changes, cards, unread, repairs, expected', [
    (NONE, {}, NONE, NONE, ["no changes"]),
    (OrderedDict([('Vendor', ([], [1], [])), ('Product', ([1, 2], [], [3]))]), {}, NONE, NONE,
     ["Vendor: 0 added, 1 updated, 0 deleted", "Product: 2 added, 0 updated, 1 deleted"]),
    (NONE, {1006: [2, 3]}, NONE, NONE,
     ["no changes", "Customer, CustomerShopper, Member: 1 member card(s) could not be read "
                    "(FannieMember answers false; no person number 1 in custdata): 1006; kept as "
                    "they are in Theo"]),
    (NONE, dict.fromkeys(range(12), [2]), NONE, NONE,
     ["no changes", "Customer, CustomerShopper, Member: 12 member card(s) could not be read "
                    "(FannieMember answers false; no person number 1 in custdata): 0, 1, 2, 3, 4, "
                    "5, 6, 7, 8, 9 and 2 more; kept as they are in Theo"]),
    (NONE, {}, OrderedDict([('Product', Counter({'without a UPC': 2, 'with the UPC of an '
                                                 'earlier row': 1}))]),
     OrderedDict([('Department', Counter({'placeholder(s) merged': 1}))]),
     ["no changes", "Product: 3 CORE-POS record(s) could not be read: 2 without a UPC; 1 with "
                    "the UPC of an earlier row", "Department: 1 placeholder(s) merged"]),
])
def test_summary(changes, cards, unread, repairs, expected):
    assert summarize(changes, cards, unread, repairs) == expected


@pytest.mark.parametrize('url, expected', [
    ('mysql+pymysql://root:secret@db1:3306/office_op', 'database office_op at db1:3306'),
    ('mysql+pymysql://u@db1/op', 'database op at db1'),
    ('mysql+pymysql:///op', 'database op at localhost'),
])
def test_office_op_database_is_named_without_credentials(url, expected):
    assert describe_database(sa.create_engine(url)) == expected


def test_office_op_reason_is_the_drivers_on_one_line():
    error = sa.exc.OperationalError('SELECT 1', {}, Exception('(2003, "Can\'t connect\n to x")'))
    assert first_line(error) == '(2003, "Can\'t connect to x")'


@pytest.mark.parametrize('path, status, location', [
    ('/fannie/ws/', None, None),
    ('/fannie/ws/index.php?json=x', None, None),
    ('/fannie/', 302, '/fannie/item/ItemEditorPage.php'),
    ('/fannie/index.php', 302, '/fannie/item/ItemEditorPage.php'),
    ('/fannie', 301, 'http://h:8/fannie/'),
    ('/fannie/ws', 301, 'http://h:8/fannie/ws/'),
    ('/fannie/item/ItemEditorPage.php', 200, None),
    ('/', 404, None),
    ('/fannie/ws/index.php/extra', 404, None),
])
def test_paths_other_than_the_endpoint(path, status, location):
    answer = route(path, 'h', 8)
    if status is None:
        assert answer is None
    else:
        assert (answer[0], answer[1].get('Location')) == (status, location)
