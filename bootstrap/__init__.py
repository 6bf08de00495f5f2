"""Operator bootstrap from a YAML file: its own app, above ``gateway``.

``bootstrap.sections`` holds the public surface (``load``, ``apply``,
``BootstrapError``); ``manage.py bootstrap`` is its command. This package
imports nothing at import time, as an installed app's package must not.
"""
