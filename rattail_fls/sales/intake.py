"""The door: accepting shops' payloads, validating them once, keeping them durably, waking the workers.

HTTP-independent, so the web API, the file importer, the replays (CLI and web),
the benches and the tests all come through it.  Every payload is checked
against the contract here and only here; an accepted sale is stored in the
inbox *normalised* and rendered for COPY (``fls_inbox.sale_rows``), so the
workers write it without parsing, validating or formatting it again.  The order of operations is the promise to the
shop: the inbox rows are committed before :meth:`Intake.submit_sales` returns,
and only then is work enqueued.
"""

import enum
import functools
import json
from dataclasses import dataclass, field

import sqlalchemy as sa

from rattail_fls import config as fls_config, jsontext
from rattail_fls.db.model.inbox import PENDING, REJECTED
from rattail_fls.sales import contract, inbox, store
from rattail_fls.sales.auth import Authenticator, intake_engine
from rattail_fls.sales.clock import ShopClock

class Answer(enum.StrEnum):
    """What the door answers for each sale of a request."""
    ACCEPTED = 'accepted'
    DUPLICATE = 'duplicate'
    REJECTED = 'rejected'


ACCEPTED, DUPLICATE, REJECTED_ = Answer


class Forbidden(Exception):
    """The token may not submit for a retail point in the payload (HTTP 403)."""


@dataclass
class Submission:
    """What happened to a request: one result per sale, and the job that carries the work."""
    results: list = field(default_factory=list)
    job_id: str = None

    def count(self, status):
        return sum(1 for r in self.results if r['status'] == status)


def identity(order, sale):
    """``(retail_point_id, sale_num, sale_date)``: the normalised sale's, else the raw order's best effort."""
    if sale is not None:
        return sale['retail_point_id'], sale['sale_num'], sale['sale_date']
    return contract.identity(order)


def undecodable_body(raw):
    """A body that is not even JSON, as storable text (escaped: no NUL or invalid UTF-8 reaches the DB)."""
    return json.dumps(raw.decode('utf-8', 'replace') if isinstance(raw, bytes) else raw)


class Intake:
    """One per process; cheap to call per request."""

    def __init__(self, config, notifier):
        self.config = config
        self.notifier = notifier
        self.engine = intake_engine(config)
        # Sales are kept by ONE statement (a multi-row INSERT, atomic by itself), so it runs in
        # autocommit: one round trip instead of BEGIN, INSERT, COMMIT, and it is still
        # committed (synchronous_commit as configured) before the shop is answered.  An engine
        # of its own: one whose connections switch to autocommit and back resets them as they
        # return to the pool, and that reset raised past the fault handling (a 500, not a 503)
        # when PostgreSQL went away just after the INSERT.
        self.autocommit = intake_engine(config, isolation_level='AUTOCOMMIT')
        self.auth = Authenticator(config, self.engine)
        self.router = config.get_app().get_fls_handler().shards
        self.max_body_bytes = fls_config.get_number(config, 'intake.max_body_bytes', int, 1024)
        self.rules = contract.Rules.from_config(config)
        self.clock = ShopClock(config)

    # -- the contract, applied once ---------------------------------------------------

    def check_sale(self, order, read=None, today=None):
        """A decoded order -> ``(sale, None)`` or ``(None, errors)``; the shop's today bounds its date.

        ``read``: the order as :func:`.contract_fast.read_sales` normalised it, if it did (then
        only the business rules are left to check); ``today(retail_point_id)``: the clock to
        read (default the intake's)."""
        today = today or self.clock.today
        try:
            if read is not None:
                return contract.finish_sale(read, self.rules, today(read['retail_point_id'])), None
            return contract.validate_sale(order, self.rules, today(contract.shop_of(order))), None
        except contract.Invalid as invalid:
            return None, invalid.errors

    def inbox_item(self, order, sale, errors, text=None):
        """The inbox row for one order: normalised when valid, the reasons when not; its body is
        ``text``, the order as the shop sent it, if given."""
        rp, num, day = identity(order, sale)
        item = {'retail_point_id': rp, 'sale_num': num, 'sale_date': day,
                'body': text if text is not None else jsontext.dumps(order)}
        if errors:
            item.update(status=REJECTED, errors=json.dumps(errors))
        else:
            item.update(status=PENDING, sale_rows=store.sale_rows(sale), errors=None)
        return item

    def check_day_close(self, form):
        """A day-close form -> ``(request, None)`` or ``(None, errors)``."""
        try:
            return contract.validate_day_close(form, self.clock.today), None
        except contract.Invalid as invalid:
            return None, invalid.errors

    # -- entry points --------------------------------------------------------------------

    def submit_sales(self, principal, orders, source='http', check_stored=True, user_uuid=None,
                     wake_workers=True, texts=None, read=None):
        """Validate and store ``orders`` (decoded JSON values) sent by ``principal``; wake the workers.

        ``texts``: each order's JSON text as sent (:func:`contract.decode_body`), kept as its
        body; without them (or for a None among them), the body is the order encoded again.
        ``read``: each order as :func:`.contract_fast.read_sales` normalised it, or None (the
        models validate it).

        Raises :class:`Forbidden` before storing anything.
        With ``check_stored``, sales already stored with the same content are
        answered as duplicates and not kept again (one query per shard); without
        it (the old clients' endpoint, which ignores the answer) the workers
        recognise them instead.  ``principal=None`` is a trusted local caller
        (files: no token, rows attributed to ``user_uuid``) that processes its
        rows itself.
        """
        today = functools.cache(self.clock.today)  # the clock read once per shop in a request
        checked = [(order, *self.check_sale(order, read and read[index], today))
                   for index, order in enumerate(orders)]
        submission = Submission()
        with self.autocommit.connect() as conn:  # one write: inbox.accept's INSERT
            if principal is not None:
                claimed = {identity(order, sale)[0] for order, sale, _ in checked} - {None}
                denied = sorted(claimed - principal.retail_points)
                if denied:
                    raise Forbidden(f"this token may not submit for retail point(s) "
                                    f"{', '.join(map(str, denied))}")
                user_uuid = principal.user_uuid
            stored = self.stored_hashes(conn, [sale for _, sale, _ in checked if sale]) if check_stored else {}
            items = []
            for index, (order, sale, errors) in enumerate(checked):
                rp, num, _ = identity(order, sale)
                result = {'index': index, 'sale_num': num, 'retail_point_id': rp}
                if sale and stored.get((rp, num)) == sale['content_hash']:
                    result['status'] = DUPLICATE
                else:
                    items.append((result, self.inbox_item(order, sale, errors, texts and texts[index])))
                    if errors:
                        result.update(status=REJECTED_, errors=errors)
                    else:
                        result['status'] = ACCEPTED
                submission.results.append(result)
            keys = inbox.accept(conn, [item for _, item in items], 'sale', source, user_uuid)
            for (result, _), (_, inbox_id) in zip(items, keys):
                result['inbox_id'] = inbox_id
        if wake_workers and any(r['status'] == ACCEPTED for r in submission.results):
            submission.job_id = self.notifier.wake('sales_processing')
        return submission

    def submit_day_close(self, principal, form, source='http'):
        """Store a shop's day-close request and queue it; returns ``(inbox_id, job_id, request)``.

        A client-supplied ``url`` is kept in the stored request for the record
        but never used: the Odoo endpoint is server configuration.
        """
        with self.engine.begin() as conn:
            request, errors = self.check_day_close(form)
            if errors:  # kept as rejected: committed before the 422 names its inbox id
                keys = inbox.accept(conn, [{'body': jsontext.dumps(form), 'status': REJECTED,
                                            'errors': json.dumps(errors)}],
                                    'day_close', source, principal.user_uuid)
            else:
                if request['retail_point_id'] not in principal.retail_points:
                    raise Forbidden(f"this token may not close days for retail point {request['retail_point_id']}")
                keys = inbox.accept(conn, [self._day_close_item(form, request)], 'day_close', source,
                                    principal.user_uuid)
        if errors:
            invalid = contract.Invalid(errors)
            invalid.inbox_id = keys[0][1]
            raise invalid
        return keys[0][1], self.notifier.enqueue('day_close', [keys[0][1]]), request

    @staticmethod
    def _day_close_item(form, request):
        body = dict(form, retail_point_id=request['retail_point_id'], close_date=request['close_date'].isoformat())
        return {'body': jsontext.dumps(body), 'retail_point_id': request['retail_point_id'],
                'sale_date': request['close_date'], 'status': PENDING, 'errors': None}

    def replay(self, ids=None, retail_point_id=None, statuses=None, body=None):
        """Put rows back through the door (optionally one with a corrected ``body``, JSON text).

        Each row is validated again like a new request: valid rows become
        pending with their normalised sale, rows still invalid stay rejected
        with the new reasons.  A corrected body that is itself invalid is
        refused (:class:`contract.Invalid`) and nothing changes.  Returns
        ``{'pending': [keys], 'rejected': [keys]}``, keys ``(received_on, id, kind)``.
        """
        if body is not None and (not ids or len(ids) != 1):
            raise ValueError("a corrected body can only be given for exactly one inbox id")
        if body is not None:
            contract.decode_body(body)  # not even JSON: said before any row is looked at
        done = {PENDING: [], REJECTED: []}
        with self.engine.begin() as conn:
            rows = inbox.replayable(conn, ids, retail_point_id, **({'statuses': statuses} if statuses else {}))
            rewritten = []
            for row in rows:
                try:
                    item = self._replayed(row.kind, contract.decode_body(body if body is not None else row.body))
                except contract.Invalid as invalid:
                    if body is not None:
                        raise
                    item = {'body': row.body, 'status': REJECTED, 'errors': json.dumps(invalid.errors)}
                if body is not None and item['status'] == REJECTED:
                    raise contract.Invalid(json.loads(item['errors']))
                rewritten.append(dict(item, received_on=row.received_on, id=row.id))
                done[item['status']].append((row.received_on, row.id, row.kind))
            inbox.rewrite(conn, rewritten)
        for kind, queue in (('sale', 'sales_processing'), ('day_close', 'day_close')):
            ids = [key[1] for key in done[PENDING] if key[2] == kind]
            if ids:
                self.notifier.enqueue(queue, ids)
        return done

    def _replayed(self, kind, value):
        if kind == 'day_close':
            request, errors = self.check_day_close(value) if isinstance(value, dict) else \
                (None, [contract.error('body', 'a day close must be an object')])
            if errors:
                return {'body': jsontext.dumps(value), 'status': REJECTED, 'errors': json.dumps(errors)}
            return self._day_close_item(value, request)
        if isinstance(value, list):
            if len(value) != 1:
                return {'body': jsontext.dumps(value), 'status': REJECTED, 'errors': json.dumps(
                    [contract.error('body', 'an inbox row holds one sale order, not a list')])}
            value = value[0]
        return self.inbox_item(value, *self.check_sale(value))

    def stored_hashes(self, conn, sales):
        """``{(rp, sale_num): content_hash}`` of these sales already in their shards."""
        if not sales:
            return {}
        routes = self.router.routes(conn, {s['retail_point_id'] for s in sales})
        by_shard = {}
        for sale in sales:
            if sale['retail_point_id'] in routes:
                by_shard.setdefault(routes[sale['retail_point_id']], []).append(sale)
        found = {}
        for shard, items in by_shard.items():
            with self.router.begin(shard) as shard_conn:
                rows = shard_conn.execute(sa.text("""
                    SELECT i.retail_point_id, i.sale_num, i.content_hash FROM sale_ident i
                    JOIN unnest(CAST(:rp AS integer[]), CAST(:num AS varchar[])) AS k(rp, num)
                      ON i.retail_point_id = k.rp AND i.sale_num = k.num"""),
                    {'rp': [s['retail_point_id'] for s in items], 'num': [s['sale_num'] for s in items]})
                found.update({(r.retail_point_id, r.sale_num): r.content_hash for r in rows})
        return found

    def keep_undecodable(self, principal, raw, errors, source='http'):
        """Store a body that is not even JSON as rejected (its sender is authenticated)."""
        with self.autocommit.connect() as conn:
            return self.keep_rejected(conn, [(raw, errors)], source, principal.user_uuid)[0][1]

    @staticmethod
    def keep_rejected(conn, bodies, source, user_uuid):
        """Store ``[(raw text or bytes, errors)]`` that are not even JSON as rejected rows."""
        return inbox.accept(conn, [{'body': undecodable_body(raw), 'status': REJECTED, 'errors': json.dumps(errors)}
                                   for raw, errors in bodies], 'sale', source, user_uuid)
