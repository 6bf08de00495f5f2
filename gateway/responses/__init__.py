"""OpenAI Responses inbound: translation to and from the canonical format (pure).

``request.to_canonical`` turns a Responses create body (and the items of the
previous turns) into a Chat Completions request, ``request.input_items`` lists
the request's input the way ``GET /v1/responses/{id}/input_items`` does,
``response.from_canonical`` turns a chat completion into a Response object and
``stream.EventStream`` canonical chunks into Responses SSE events. ``ids``
mints the ``resp_``/``msg_``/``fc_``/``rs_`` ids. No I/O.
"""
