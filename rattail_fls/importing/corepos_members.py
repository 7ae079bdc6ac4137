"""CORE-POS member accounts for the import: one API request per card, unreadable cards kept.

rattail-corepos lists the cards from CORE's ``office_op.custdata`` over SQL
and asks ``FannieMember get`` for each row, so a card is requested once per
person, and again for every person when CORE answers ``false``: it does that
for every card without a person number 1 (``MemberREST`` reads the account
from that row), and rattail-corepos logs it at DEBUG only.  Here each card is
requested once; a card answered ``false`` is reported at WARNING, counted in
the run's summary, and its Theo customer, shoppers and member are never
deletion candidates (they exist in CORE).  An unreachable ``office_op``
database is one :class:`OfficeOpError` line naming it.
"""

import logging

import sqlalchemy as sa
from corepos.db.office_op import Session as CoreSession, model as office_op

from rattail_fls.coreapi import CorePosError

log = logging.getLogger(__name__)


class OfficeOpError(CorePosError):
    """CORE's ``office_op`` database could not be read; the message names it and why."""


def describe_database(engine):
    """``database office_op at host:port`` of an engine, never its credentials."""
    url = engine.url
    where = url.host or 'localhost'
    if url.port:
        where = f'{where}:{url.port}'
    return f"database {url.database} at {where}"


def first_line(error):
    """The database's own reason for a SQLAlchemy error, on one line."""
    reason = getattr(error, 'orig', None) or error
    return ' '.join(str(reason).split())


def list_cards(config):
    """``{card number: [person numbers]}`` of CORE's ``custdata``, in card order (one query)."""
    engine = getattr(config, 'corepos_engine', None)
    if engine is None:
        raise OfficeOpError("CORE-POS office_op database: [corepos.db.office_op] default.url is "
                            "not set; member cards are listed from its custdata table")
    app = config.get_app()
    table = office_op.CustomerClassic
    try:
        with app.short_session(factory=CoreSession) as session:
            rows = session.query(table.card_number, table.person_number)\
                          .order_by(table.card_number, table.person_number).all()
    except sa.exc.SQLAlchemyError as error:
        raise OfficeOpError(f"CORE-POS office_op {describe_database(engine)}: cannot read "
                            f"custdata: {first_line(error)}") from None
    cards = {}
    for card, person in rows:
        cards.setdefault(card, []).append(person)
    return cards


def fetch_members(config, api, progress=None):
    """``(members, unread)``: the ``FannieMember`` account of each custdata card, asked once
    per card, and ``{card: [person numbers]}`` of the cards CORE answered ``false`` for."""
    app = config.get_app()
    cards = list_cards(config)
    members, unread = [], {}

    def fetch(card, i):
        member = api.get_member(card)
        if member:
            members.append(member)
            return
        unread[card] = cards[card]
        why = ("custdata has no person number 1 for it, which FannieMember reads the "
               "account from" if 1 not in cards[card] else "CORE gave no reason")
        log.warning("member card %s: CORE-POS FannieMember answers false (%s; persons %s): "
                    "not imported, and kept as it is in Theo", card, why,
                    ', '.join(str(p) for p in cards[card]))

    app.progress_loop(fetch, list(cards), progress, message="Fetching Member data from CORE API")
    return members, unread
