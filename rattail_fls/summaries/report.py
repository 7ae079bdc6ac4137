"""What a push run did, for the operator (CLI), the queue job and the tests."""

from dataclasses import dataclass, field

from rattail_fls.db.model.summaries import PushOutcome, SummaryStatus


@dataclass
class Report:
    """One outcome dict per summary looked at, plus those waiting and the superseded records."""

    outcomes: list = field(default_factory=list)
    #: Live summaries in the selection that this run did not push and that are
    #: not delivered: held ones, failed ones not due (yet, or ever), ones being sent by another run.
    waiting: list = field(default_factory=list)
    #: Retiring superseded Odoo records through the external API: one outcome dict each.
    retired: list = field(default_factory=list)
    #: Superseded records still live in Odoo, listed for the operator (no API credentials).
    to_retire: list = field(default_factory=list)

    def by(self, outcome):
        return [o for o in self.outcomes if o['outcome'] == outcome]

    def counts(self):
        """``{'sent', 'failed', 'held', 'skipped', 'would_send'}``: failed and held include waiting ones;
        one being sent by another run is skipped here (that run reports its outcome, and one left
        ``sending`` by a run that stopped is held by the first run after its claim lapses)."""
        counts = {name.value: len(self.by(name)) for name in PushOutcome}
        for row in self.waiting:
            counts[_WAITING_AS[row['status']]] += 1
        return counts

    @property
    def ok(self):
        counts = self.counts()
        return (not counts[PushOutcome.FAILED] and not counts[PushOutcome.HELD]
                and all(r['outcome'] == PushOutcome.SENT for r in self.retired))


_WAITING_AS = {SummaryStatus.HELD: PushOutcome.HELD, SummaryStatus.FAILED: PushOutcome.FAILED,
               SummaryStatus.SENDING: PushOutcome.SKIPPED}


def outcome(row, what, message, status, result=None, **extra):
    """The outcome dict of one summary (``row``: its columns) in a run."""
    data = {key: row.get(key) for key in ('uuid', 'sale_num', 'version', 'retail_point_id', 'sale_date',
                                          'amount_total', 'total_including_miscellaneous')}
    data.update(outcome=what, status=status, message=message)
    if result is not None:
        data.update(failure_class=result.failure, http_status=result.http_status,
                    local_data_id=result.local_data_id, maybe_delivered=result.maybe_delivered)
    data.update(extra)
    return data
