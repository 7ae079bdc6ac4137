"""How the FLS pages write money, statuses and JSON (pure functions, table-driven)."""

import datetime
from decimal import Decimal

import pytest

from rattail_fls.web import render


@pytest.mark.parametrize('value, currency, shown', [
    (Decimal('0'), 'INR', '₹0.00'),
    (Decimal('999.999'), 'INR', '₹1,000.00'),
    (Decimal('1234.5'), 'INR', '₹1,234.50'),
    (Decimal('123456.7800'), 'INR', '₹1,23,456.78'),
    (Decimal('1234567.005'), 'INR', '₹12,34,567.01'),
    (Decimal('123456789012.3456'), 'INR', '₹1,23,45,67,89,012.35'),
    (Decimal('-98765.4321'), 'INR', '-₹98,765.43'),
    (Decimal('1234567.5'), 'USD', '$1,234,567.50'),
    (Decimal('1234.5'), 'CHF', 'CHF 1,234.50'),
    (None, 'INR', ''),
])
def test_format_money(value, currency, shown):
    assert render.format_money(value, currency) == shown


@pytest.mark.parametrize('status, colour', [
    ('sent', 'is-success'), ('done', 'is-success'), ('pending', 'is-info'), ('held', 'is-warning'),
    ('rejected', 'is-danger'), ('failed', 'is-danger'), ('MISMATCH', 'is-danger'),
    ('superseded', 'is-light'), ('something new', 'is-white'),
    ('ok', 'is-success'), ('warning', 'is-warning'), ('critical', 'is-danger'),
])
def test_status_tag(status, colour):
    assert str(render.status_tag(status)) == f'<span class="tag {colour}">{status}</span>'


@pytest.mark.parametrize('seconds, shown', [
    (None, ''), (0, '0s'), (59.9, '59s'), (60, '1m'), (3725, '1h 2m'), (86400 + 7200 + 59, '1d 2h'),
    (3 * 86400 + 5, '3d 5s'),
])
def test_format_age(seconds, shown):
    assert render.format_age(seconds) == shown


def test_json_block_scrolls_inside_the_page():
    block = str(render.json_block('{"sale_line_ids": [' + ', '.join(['{"qty": 1}'] * 500) + ']}'))
    assert block.startswith('<pre class="fls-json"') and 'overflow: auto' in block
    assert 'white-space: pre-wrap' in block and '&#34;qty&#34;: 1' in block
    assert str(render.json_block('not json')).endswith('>not json</pre>')


def test_format_time_in_the_app_zone_with_the_zone(app):
    """The example config's zone is Asia/Kolkata; naive values are UTC."""
    utc = datetime.datetime(2026, 11, 21, 8, 30, tzinfo=datetime.timezone.utc)
    assert render.format_time(app, utc) == '2026-11-21 14:00:00 IST'
    assert render.format_time(app, utc.replace(tzinfo=None)) == '2026-11-21 14:00:00 IST'
    assert render.format_time(app, None) == ''
