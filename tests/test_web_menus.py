"""Menus without entries whose back end is not configured (pure logic, table-driven)."""

from types import SimpleNamespace

import pytest

from rattail_fls.web.menus import missing_backend, prune


def config(settings=None, **attrs):
    settings = settings or {}
    return SimpleNamespace(get=settings.get, **attrs)


@pytest.mark.parametrize('route, attrs, settings, missing', [
    ('corepos.products', {}, {}, "CORE-POS office_op database"),
    ('corepos.products', {'core_office_op_engine': object()}, {}, None),
    ('corepos.transaction_details', {'core_office_op_engine': object()}, {}, "CORE-POS office_trans database"),
    ('corepos.transaction_details_archive', {'core_office_trans_engine': object()}, {},
     "CORE-POS office_arch database"),
    ('corepos.stock_purchases', {'core_office_trans_engine': object()}, {}, None),
    ('corepos.lanes', {'core_office_op_engine': object()}, {}, "[corepos] srcdir (CORE-POS source tree)"),
    ('corepos.lanes', {}, {'corepos.srcdir': '/srv/corepos'}, None),
    ('trainwreck.transactions', {'trainwreck_engines': {}}, {}, "Trainwreck database"),
    ('trainwreck.transactions', {'trainwreck_engines': {'default': object()}}, {}, None),
    ('fls.summaries', {}, {}, None),
    ('products', {}, {}, None),
])
def test_missing_backend(route, attrs, settings, missing):
    assert missing_backend(config(settings, **attrs), route) == missing


def test_prune_drops_entries_empty_menus_and_stray_separators():
    menus = [
        {'title': "CORE-POS", 'type': 'menu', 'items': [
            {'title': "Office", 'url': 'http://office/'}, {'type': 'sep'},
            {'title': "People", 'type': 'menu', 'items': [{'title': "Members", 'route': 'corepos.members'}]},
            {'type': 'sep'}, {'title': "Lanes", 'route': 'corepos.lanes'}]},
        {'title': "Reports", 'type': 'menu', 'items': [
            {'title': "Problems", 'route': 'problem_reports'}, {'type': 'sep'},
            {'title': "Trainwreck", 'route': 'trainwreck.transactions'}]},
        {'title': "Only CORE", 'type': 'menu', 'items': [{'title': "Tenders", 'route': 'corepos.tenders'}]},
    ]
    pruned = prune(config(trainwreck_engines={}), menus)
    assert pruned == [
        {'title': "CORE-POS", 'type': 'menu', 'items': [{'title': "Office", 'url': 'http://office/'}]},
        {'title': "Reports", 'type': 'menu', 'items': [{'title': "Problems", 'route': 'problem_reports'}]},
    ]
