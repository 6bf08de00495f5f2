"""OpenAI legacy Completions inbound: translation to and from chat (pure).

``request`` checks what every body needs (``check_envelope``) and turns a
Completions body into one canonical chat request per prompt
(``to_canonical``), refusing by name what chat cannot honour; ``response``
turns the chat completions back into one ``text_completion`` and
``stream.ChunkStream`` canonical chunks into OpenAI's completion chunks. No I/O.
"""
