"""Copy-ready snippets for calling the gateway: curl, Python and Node ``openai``.

The key is always the placeholder ``$MODELGATE_KEY`` (an environment variable
the user sets to one of their keys): no page ever prints a secret here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from models_catalog.models import AIModel

KEY_VARIABLE = "MODELGATE_KEY"
PLACEHOLDER_MODEL = "your-model"


@dataclass(frozen=True)
class Snippet:
    slug: str
    title: str
    code: str


def call_name(model: AIModel) -> str:
    """The name an agent sends: the alias when set, else the vendor's model id."""
    return model.alias or model.model_id


def pick_model(models: list[AIModel]) -> AIModel | None:
    """The model the snippets use: the first chat model, else the first at all."""
    chat = [m for m in models if m.model_type == AIModel.ModelType.INFERENCE]
    found = chat or models
    return found[0] if found else None


def snippets(base_url: str, model_name: str) -> list[Snippet]:
    base = json.dumps(base_url)
    model = json.dumps(model_name)
    body = json.dumps(
        {"model": model_name, "messages": [{"role": "user", "content": "Hello!"}]}
    ).replace("'", "'\\''")
    return [
        Snippet(
            "curl",
            "curl",
            f"curl {base_url}/chat/completions \\\n"
            f'  -H "Authorization: Bearer ${KEY_VARIABLE}" \\\n'
            '  -H "Content-Type: application/json" \\\n'
            f"  -d '{body}'",
        ),
        Snippet(
            "python",
            "Python (openai)",
            "import os\n"
            "from openai import OpenAI\n\n"
            f'client = OpenAI(base_url={base}, api_key=os.environ["{KEY_VARIABLE}"])\n'
            "reply = client.chat.completions.create(\n"
            f"    model={model},\n"
            '    messages=[{"role": "user", "content": "Hello!"}],\n'
            ")\n"
            "print(reply.choices[0].message.content)",
        ),
        Snippet(
            "node",
            "Node (openai)",
            'import OpenAI from "openai";\n\n'
            "const client = new OpenAI({\n"
            f"  baseURL: {base},\n"
            f"  apiKey: process.env.{KEY_VARIABLE},\n"
            "});\n"
            "const reply = await client.chat.completions.create({\n"
            f"  model: {model},\n"
            '  messages: [{ role: "user", content: "Hello!" }],\n'
            "});\n"
            "console.log(reply.choices[0].message.content);",
        ),
    ]
