"""The PostgreSQL channel that wakes the webhook dispatcher: every statement that makes deliveries due NOTIFYs it,
and the dispatcher LISTENs (`ledger.webhook_listener`).

NOTIFY is delivered only when its transaction commits, so a rolled-back write wakes nobody and the dispatcher
never looks for a row before it is visible; notifications of one transaction with the same payload collapse
into one. Writers fold the notify into the statement that writes the rows (`WAKE` in its select list, evaluated
only when rows were written), so making deliveries due costs no extra statement.

A notification is only a hint: the dispatcher's fallback poll still finds every due row (a dropped LISTEN
connection, a notification sent while it was reconnecting).
"""

from __future__ import annotations

CHANNEL = "luntrex_webhook_due"

# An SQL expression that notifies the channel; `::text` because pg_notify returns void, which drivers cannot load.
WAKE = f"pg_notify('{CHANNEL}', '')::text"
