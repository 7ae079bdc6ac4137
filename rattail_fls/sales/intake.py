"""Accepting shops' payloads: token auth, validation, duplicate check, durable inbox, enqueue.

HTTP-independent, so the web API, the benches and the tests share it.  The
order of operations is the promise to the shop: the inbox rows are committed
before :meth:`Intake.submit_sales` returns, and only then is work enqueued.
"""

import json
from dataclasses import dataclass, field

import sqlalchemy as sa

from rattail_fls import config as fls_config
from rattail_fls.db.model.inbox import REJECTED
from rattail_fls.queue.enqueue import enqueue, wake
from rattail_fls.sales import contract, inbox
from rattail_fls.sales.auth import Authenticator, intake_engine

ACCEPTED, DUPLICATE, REJECTED_ = 'accepted', 'duplicate', 'rejected'


class Forbidden(Exception):
    """The token may not submit for a retail point in the payload (HTTP 403)."""


@dataclass
class Submission:
    """What happened to a request: one result per sale, and the job that carries the work."""
    results: list = field(default_factory=list)
    job_id: str = None

    def count(self, status):
        return sum(1 for r in self.results if r['status'] == status)


class Intake:
    """One per process; cheap to call per request."""

    def __init__(self, config):
        self.config = config
        self.engine = intake_engine(config)
        self.auth = Authenticator(config, self.engine)
        self.router = config.get_app().get_fls_handler().shards
        self.max_body_bytes = fls_config.get_number(config, 'intake.max_body_bytes', int, 1024)
        self.rules = contract.Rules.from_config(config)

    def submit_sales(self, principal, orders, source='http', check_stored=True):
        """Validate and store ``orders`` (decoded JSON values) sent by ``principal``; wake the workers.

        Raises :class:`Forbidden` before storing anything.
        With ``check_stored``, sales already stored with the same content are
        answered as duplicates and not kept again (one query per shard); without
        it (the old clients' endpoint, which ignores the answer) the workers
        recognise them instead.
        """
        rules = self.rules
        checked = []
        for order in orders:
            try:
                checked.append((order, contract.validate_sale(order, rules), None))
            except contract.Invalid as invalid:
                checked.append((order, None, invalid.errors))
        submission = Submission()
        with self.engine.begin() as conn:
            claimed = {contract.identity(order)[0] for order, _, _ in checked} - {None}
            denied = sorted(claimed - principal.retail_points)
            if denied:
                raise Forbidden(f"this token may not submit for retail point(s) {', '.join(map(str, denied))}")
            stored = self.stored_hashes(conn, [sale for _, sale, _ in checked if sale]) if check_stored else {}
            items = []
            for index, (order, sale, errors) in enumerate(checked):
                rp, num, day = contract.identity(order)
                result = {'index': index, 'sale_num': num, 'retail_point_id': rp}
                if sale and stored.get((rp, num)) == sale['content_hash']:
                    result['status'] = DUPLICATE
                else:
                    item = {'retail_point_id': rp, 'sale_num': num, 'sale_date': day,
                            'body': contract.dumps(order)}
                    if errors:
                        item.update(status=REJECTED, errors=json.dumps(errors))
                        result.update(status=REJECTED_, errors=errors)
                    else:
                        result['status'] = ACCEPTED
                    items.append((result, item))
                submission.results.append(result)
            keys = inbox.accept(conn, [item for _, item in items], 'sale', source, principal.user_uuid)
            for (result, _), (_, inbox_id) in zip(items, keys):
                result['inbox_id'] = inbox_id
        if any(r['status'] == ACCEPTED for r in submission.results):
            submission.job_id = wake(self.config, 'sales_processing')
        return submission

    def submit_day_close(self, principal, form, source='http'):
        """Store a shop's day-close request and queue it; returns ``(inbox_id, job_id, request)``.

        A client-supplied ``url`` is kept in the stored request for the record
        but never used: the Odoo endpoint is server configuration.
        """
        today = self.config.get_app().today()
        with self.engine.begin() as conn:
            try:
                request = contract.validate_day_close(form, today)
            except contract.Invalid as invalid:
                keys = inbox.accept(conn, [{'body': contract.dumps(form), 'status': REJECTED,
                                            'errors': json.dumps(invalid.errors)}],
                                    'day_close', source, principal.user_uuid)
                invalid.inbox_id = keys[0][1]
                raise
            if request['retail_point_id'] not in principal.retail_points:
                raise Forbidden(f"this token may not close days for retail point {request['retail_point_id']}")
            body = dict(form, retail_point_id=request['retail_point_id'],
                        close_date=request['close_date'].isoformat())
            keys = inbox.accept(conn, [{'body': contract.dumps(body), 'retail_point_id': request['retail_point_id'],
                                        'sale_date': request['close_date']}],
                                'day_close', source, principal.user_uuid)
        return keys[0][1], enqueue(self.config, 'day_close', [keys[0][1]]), request

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
        with self.engine.begin() as conn:
            keys = inbox.accept(conn, [{'body': json.dumps(raw.decode('utf-8', 'replace')),
                                        'status': REJECTED, 'errors': json.dumps(errors)}],
                                'sale', source, principal.user_uuid)
        return keys[0][1]
