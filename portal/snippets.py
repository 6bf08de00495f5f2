"""Ready-to-run code for calling the gateway: curl, Python ``openai``, Node ``openai``.

Values are quoted for the language they land in (JSON for model names, the
shell's quoting for the curl body), so an odd model name cannot break a snippet.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

PLACEHOLDER_MODEL = "MODEL_NAME"


@dataclass(frozen=True)
class Snippet:
    slug: str
    label: str
    code: str


def chat_snippets(base_url: str, secret: str, model: str) -> list[Snippet]:
    """A chat completion with ``model`` through the gateway at ``base_url``."""
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Hello!"}]}
    )
    base, key, name = json.dumps(base_url), json.dumps(secret), json.dumps(model)
    curl = (
        f"curl {shlex.quote(base_url + '/chat/completions')} \\\n"
        f"  -H {shlex.quote('Authorization: Bearer ' + secret)} \\\n"
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body)}"
    )
    python = (
        "from openai import OpenAI\n\n"
        f"client = OpenAI(base_url={base}, api_key={key})\n"
        "reply = client.chat.completions.create(\n"
        f"    model={name},\n"
        '    messages=[{"role": "user", "content": "Hello!"}],\n'
        ")\n"
        "print(reply.choices[0].message.content)"
    )
    node = (
        'import OpenAI from "openai";\n\n'
        f"const client = new OpenAI({{ baseURL: {base}, apiKey: {key} }});\n"
        "const reply = await client.chat.completions.create({\n"
        f"  model: {name},\n"
        '  messages: [{ role: "user", content: "Hello!" }],\n'
        "});\n"
        "console.log(reply.choices[0].message.content);"
    )
    return [
        Snippet("curl", "curl", curl),
        Snippet("python", "Python (openai)", python),
        Snippet("node", "Node (openai)", node),
    ]
