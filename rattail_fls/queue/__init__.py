"""Redis/RQ: enqueue helpers, the job functions workers run, and the sweeper.

Redis only carries work (inbox keys); PostgreSQL stays the source of truth, so
losing Redis loses nothing: the sweeper re-enqueues what is still pending.
"""
