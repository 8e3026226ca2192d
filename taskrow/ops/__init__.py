"""Building blocks of the operator commands in :mod:`taskrow.cli_ops`.

- :mod:`.runtime`: the command class (one-line errors), the database for one command, and the
  translation of queue_core errors into exit codes.
- :mod:`.params`: click parameter types (durations, RFC 3339 times, JSON objects, page cursors).
- :mod:`.records`: tasks and queue stats as JSON, with the HTTP status record's field names.
- :mod:`.render`: output for people, drawn with rich (coloured on a terminal, plain text in a
  pipe).
- :mod:`.watch`: following one task until it finishes (a live progress bar on a terminal).

Errors a command reports (one line on stderr, never a traceback)::

    click.ClickException
    ├── CommandError      a refused operation, bad input, a database problem (exit 1, or its code)
    └── click.UsageError
        └── OneLineUsageError   a malformed command line (exit 2)
"""
