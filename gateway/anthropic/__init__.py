"""Anthropic Messages inbound: translation to and from the canonical format (pure).

``request.to_canonical`` turns a Messages request into a Chat Completions
request, ``response.from_canonical`` a chat completion into a Message,
``stream.EventStream`` canonical chunks into Anthropic SSE events, and
``errors.envelope`` a ``DriverError`` into Anthropic's error envelope. No I/O.
"""
