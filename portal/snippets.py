"""Ready-to-run code for calling the gateway: curl, Python ``openai``, Node ``openai``.

One set of snippets for the two places that show them: the home page's
quickstart (no secret: the key comes from the ``MODELGATE_KEY`` environment
variable) and the keys page right after a key is created (its secret, shown
that once). Values are quoted for the language they land in (JSON for strings,
the shell's quoting for curl), so an odd model name cannot break a snippet.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from models_catalog.models import AIModel

KEY_VARIABLE = "MODELGATE_KEY"
PLACEHOLDER_MODEL = "your-model"


@dataclass(frozen=True)
class Snippet:
    slug: str
    label: str
    code: str


def call_name(model: AIModel) -> str:
    """The name an agent sends: the alias when set, else the vendor's model id."""
    return model.alias or model.model_id


def pick_model(models: Sequence[AIModel]) -> AIModel | None:
    """The model the quickstart uses: the first chat model, else the first at all."""
    chat = [m for m in models if m.model_type == AIModel.ModelType.INFERENCE]
    found = chat or list(models)
    return found[0] if found else None


def chat_snippets(
    base_url: str, model: str, secret: str | None = None
) -> list[Snippet]:
    """A chat completion with ``model`` through the gateway at ``base_url``.

    With ``secret`` the snippets carry it (the keys page, once); without, they
    read the key from ``$MODELGATE_KEY``.
    """
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Hello!"}]}
    )
    base, name = json.dumps(base_url), json.dumps(model)
    if secret is None:
        # Double quotes: the shell expands the variable.
        header = f'"Authorization: Bearer ${KEY_VARIABLE}"'
        python_key, python_import = f'os.environ["{KEY_VARIABLE}"]', "import os\n"
        node_key = f"process.env.{KEY_VARIABLE}"
    else:
        header = shlex.quote(f"Authorization: Bearer {secret}")
        python_key, python_import = json.dumps(secret), ""
        node_key = json.dumps(secret)
    curl = (
        f"curl {shlex.quote(base_url + '/chat/completions')} \\\n"
        f"  -H {header} \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body)}"
    )
    python = (
        f"{python_import}from openai import OpenAI\n\n"
        f"client = OpenAI(base_url={base}, api_key={python_key})\n"
        "reply = client.chat.completions.create(\n"
        f"    model={name},\n"
        '    messages=[{"role": "user", "content": "Hello!"}],\n'
        ")\n"
        "print(reply.choices[0].message.content)"
    )
    node = (
        'import OpenAI from "openai";\n\n'
        f"const client = new OpenAI({{ baseURL: {base}, apiKey: {node_key} }});\n"
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
