"""Spend control: budgets in currency per period, their counters and alerts.

- ``models``: ``Budget`` (a limit on an organization, a user in it, a key, or
  a model or provider as the organization uses it), ``AlertSettings`` (where an
  organization's alerts go) and ``AlertSent`` (each alert once per period).
- ``periods``: the calendar of a budget's periods (pure).
- ``spend``: the authoritative spend, summed from usage records.
- ``ledger``: reservations and settlements in Redis (one Lua script with the
  rate limits) or in this process, rebuilt from ``spend`` when lost.
- ``status``: where a budget stands in its current period (the pages, the API).
- ``targets``: what a budget of an organization may limit (its members, keys,
  the models visible to it and their providers); ``forms``: ``BudgetForm``,
  the admin's and the management API's one validation; ``admin``: the
  scoped budget admin.
- ``shown``: which budgets each page shows; ``display``: the spend bar.
"""
