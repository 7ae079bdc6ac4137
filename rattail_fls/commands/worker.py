"""``rattail fls-worker`` and ``rattail fls-sweep``: run the queues and re-enqueue stranded work."""

import threading
from typing import List, Optional

import typer
from typing_extensions import Annotated

from rattail.commands import rattail_typer

from rattail_fls.commands.base import get_config, handle_errors


@rattail_typer.command('fls-worker')
def fls_worker(
        ctx: typer.Context,
        queue: Annotated[Optional[List[str]], typer.Option(
            help="Queue kind to work: sales_processing, day_close, send_summary "
                 "(repeatable; default: all three). Names come from [rattail_fls] queue.*")] = None,
        burst: Annotated[bool, typer.Option(help="Exit when the queues are empty")] = False,
        sweep_every: Annotated[int, typer.Option(
            help="Also run the sweeper every N seconds in this worker (0 = never)")] = 0,
        fork: Annotated[bool, typer.Option(
            help="Run each job in a forked child (isolation) instead of in-process (speed)")] = False):
    """Run an RQ worker for the plugin's queues (config loaded once per process)."""
    from rattail_fls.queue.worker import check_kinds, run, start_sweeping, KINDS

    config = get_config(ctx)
    with handle_errors():
        check_kinds(config, queue or list(KINDS))  # settings checked before anything runs
    stop = threading.Event()
    if sweep_every > 0:
        start_sweeping(config, sweep_every, stop)
    try:
        run(config, queue or list(KINDS), fork=fork, burst=burst)
    finally:
        stop.set()


@rattail_typer.command('fls-sweep')
def fls_sweep(ctx: typer.Context):
    """Re-enqueue inbox rows accepted but not settled in time; make inbox and shard partitions ahead."""
    from rattail_fls.queue.sweeper import sweep

    with handle_errors():
        result = sweep(get_config(ctx))
    total = sum(result.values())
    typer.echo(f"re-enqueued {total} overdue rows" +
               (f" ({', '.join(f'{k}: {v}' for k, v in result.items())})" if total else ""))
