"""Spend control: budgets in currency per period, their counters and alerts.

- ``models``: ``Budget`` (a limit on an organization, a user in it, a key, or
  a model or provider as the organization uses it), ``AlertSettings`` (where an
  organization's alerts go) and ``AlertSent`` (each alert once per period).
- ``periods``: the calendar of a budget's periods (pure).
- ``spend``: the authoritative spend, summed from usage records.
- ``ledger``: reservations and settlements in Redis (one Lua script with the
  rate limits) or in this process, rebuilt from ``spend`` when lost.
"""
