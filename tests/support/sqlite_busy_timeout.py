"""``[database] sql_alchemy_connect_args`` for the e2e stack's SQLite DB.

The scheduler, the api-server and CLI commands write the same SQLite file; sqlite3 gives up on a
lock after 5 s by default ("database is locked"), which a CLI `backfill create` clearing runs
while the scheduler works on them can exceed on a loaded 2-core machine. Wait longer instead.
"""

CONNECT_ARGS = {"timeout": 60}
