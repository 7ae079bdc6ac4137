"""How the FLS pages show money, times, statuses and JSON (pure functions, one place)."""

import datetime
import decimal
import json

from webhelpers2.html import HTML

from rattail_fls.config import get_setting

#: Symbols of the currencies shops use; any other code is shown before the amount.
SYMBOLS = {'INR': '₹', 'USD': '$', 'EUR': '€', 'GBP': '£', 'AED': 'AED '}
#: Currencies written with Indian digit grouping (12,34,567.00).
INDIAN_GROUPING = {'INR'}

#: Status -> Bulma tag colour; statuses not listed are plain.
STATUS_COLOURS = {
    'done': 'is-success', 'sent': 'is-success', 'current': 'is-success', 'ok': 'is-success',
    'pending': 'is-info', 'sending': 'is-info', 'queued': 'is-info',
    'duplicate': 'is-light', 'replaced': 'is-light', 'superseded': 'is-light',
    'held': 'is-warning', 'not closed': 'is-warning',
    'rejected': 'is-danger', 'failed': 'is-danger', 'dead': 'is-danger', 'stale': 'is-danger',
    'mismatch': 'is-danger', 'warning': 'is-warning', 'critical': 'is-danger',
}


def currency(config):
    """``[rattail_fls] web.currency`` (default INR)."""
    return get_setting(config, 'web.currency')


def format_money(value, currency='INR'):
    """``Decimal('1234567.5')`` -> ``'₹12,34,567.50'`` (two decimals, grouping of the currency)."""
    if value is None:
        return ''
    amount = decimal.Decimal(value).quantize(decimal.Decimal('0.01'), rounding=decimal.ROUND_HALF_UP)
    sign = '-' if amount < 0 else ''
    whole, cents = f'{abs(amount):.2f}'.split('.')
    grouped = _indian(whole) if currency in INDIAN_GROUPING else f'{int(whole):,}'
    return f"{sign}{SYMBOLS.get(currency, currency + ' ')}{grouped}.{cents}"


def _indian(digits):
    """Last three digits, then pairs: 1234567 -> 12,34,567."""
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    pairs = []
    while len(head) > 2:
        head, pairs = head[:-2], [head[-2:]] + pairs
    return ','.join([head] + pairs + [tail])


def format_time(app, value):
    """A stored time in the app's zone, with the zone: ``2026-11-21 14:03:22 IST``.

    Naive values are UTC (how rattail stores them)."""
    if value is None:
        return ''
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(app.get_timezone()).strftime('%Y-%m-%d %H:%M:%S %Z')


def format_age(seconds):
    """How long ago, in the largest whole units: ``3725`` -> ``'1h 2m'``; None -> ``''``."""
    if seconds is None:
        return ''
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f'{n}{unit}' for n, unit in ((days, 'd'), (hours, 'h'), (minutes, 'm'), (secs, 's')) if n]
    return ' '.join(parts[:2]) or '0s'


def status_tag(status):
    """A coloured tag for a status word."""
    if not status:
        return ''
    return HTML.tag('span', class_=f"tag {STATUS_COLOURS.get(status.lower(), 'is-white')}", c=status)


def json_block(text):
    """Pretty JSON in a box that scrolls inside the page, however long the payload."""
    try:
        text = json.dumps(json.loads(text), indent=2)
    except (TypeError, ValueError):
        pass
    return HTML.tag('pre', class_='fls-json', c=text,
                    style='max-height: 32em; max-width: 100%; overflow: auto; white-space: pre-wrap; '
                          'word-break: break-all;')
