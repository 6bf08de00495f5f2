"""Seed a benchmark database: an org, a user, a key, providers on the fake.

Run against a dedicated, migrated database (the harness sets ``DATABASE_URL`` /
``DATA_DIR``)::

    DJANGO_SETTINGS_MODULE=config.settings python -m bench.seed \
        --fake-url http://127.0.0.1:9100 --out bench/.run/seed.json [--scale]

Creates organization ``bench`` with member ``bench-user``; providers
``bench-openai`` (OpenAI type, ``<fake>/v1``: ``gpt-4o-mini`` and the embedding
model ``text-embedding-3-small``), ``bench-anthropic`` (Anthropic type:
``claude-sonnet-4-5``) and ``bench-openai-responses`` (OpenAI type, wire API
Responses: ``gpt-4.1-mini``), every model granted to the organization; a user
key with a requests-per-minute cap (and model/provider caps) far above any
benchmark rate, so admission runs but never refuses. Writes the
key's secret and the model names as JSON to ``--out``.

``--scale`` adds 1,000 organizations, 10,000 providers with one model each,
100,000 random API keys, and grants 998 of those models to ``bench`` so its user
sees 1,000 models (bulk inserts, no signals).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

HIGH_RPM = 100_000_000
SCALE_ORGS = 1_000
SCALE_PROVIDERS_PER_ORG = 10
SCALE_KEYS = 100_000
SCALE_VISIBLE = 1_000


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def seed_small(fake_url: str) -> dict[str, Any]:
    from accounts.models import Membership, Organization, User
    from gateway.models import ApiKey
    from models_catalog.models import AIModel, Grant
    from providers.models import Provider

    org = Organization.objects.create(slug="bench", name="Bench")
    user = User.objects.create_user(username="bench-user", password=None)
    Membership.objects.create(user=user, organization=org)
    inference, embedding = AIModel.ModelType.INFERENCE, AIModel.ModelType.EMBEDDING
    openai_models = [("gpt-4o-mini", inference), ("text-embedding-3-small", embedding)]
    specs: list[tuple[str, str, str, str, dict[str, Any], list[Any]]] = [
        ("bench-openai", "openai", f"{fake_url}/v1", "bearer", {}, openai_models),
        (
            "bench-anthropic",
            "anthropic",
            fake_url,
            "x_api_key",
            {},
            [("claude-sonnet-4-5", inference)],
        ),
        # /v1/responses passes through to a Responses-wire provider (as the peers'
        # do), rather than being translated to chat completions.
        (
            "bench-openai-responses",
            "openai",
            f"{fake_url}/v1",
            "bearer",
            {"wire_api": "responses"},
            [("gpt-4.1-mini", inference)],
        ),
    ]
    models = []
    for name, ptype, endpoint, auth, config, model_specs in specs:
        provider = Provider(
            organization=org,
            name=name,
            provider_type=ptype,
            endpoint=endpoint,
            auth_method=auth,
            requests_per_minute=HIGH_RPM,
        )
        provider.seal("credentials", {"api_key": f"sk-bench-{ptype}"})
        if config:
            provider.seal("provider_config", config)
        provider.save()
        for model_id, model_type in model_specs:
            model = AIModel.objects.create(
                provider=provider,
                organization=org,
                model_id=model_id,
                model_type=model_type,
                input_cost_per_million=3,
                output_cost_per_million=15,
                requests_per_minute=HIGH_RPM,
            )
            Grant.objects.create(model=model, organization=org)
            models.append(model_id)
    _key, secret = ApiKey.issue(
        organization=org, user=user, name="bench", requests_per_minute=HIGH_RPM
    )
    return {"key": secret, "models": models, "org_id": org.pk, "user_id": user.pk}


def seed_scale() -> dict[str, Any]:
    from accounts.models import Organization
    from gateway.apikeys import display_prefix, hash_secret
    from gateway.models import ApiKey
    from models_catalog.models import AIModel, Grant
    from providers.models import Provider

    started = time.monotonic()
    bench_org = Organization.objects.get(slug="bench")
    orgs = Organization.objects.bulk_create(
        [
            Organization(slug=f"scale-{i:04d}", name=f"Scale org {i:04d}")
            for i in range(SCALE_ORGS)
        ],
        batch_size=1000,
    )
    orgs = list(Organization.objects.filter(slug__startswith="scale-").order_by("pk"))
    providers = [
        Provider(
            organization=org,
            name=f"p{j}",
            provider_type="openai",
            endpoint="http://127.0.0.1:9/v1",
            auth_method="bearer",
        )
        for org in orgs
        for j in range(SCALE_PROVIDERS_PER_ORG)
    ]
    Provider.objects.bulk_create(providers, batch_size=2000)
    providers = list(
        Provider.objects.filter(organization__slug__startswith="scale-").order_by("pk")
    )
    models = [
        AIModel(
            provider=p,
            organization_id=p.organization_id,
            model_id=f"scale-model-{i:05d}",
            model_type=AIModel.ModelType.INFERENCE,
        )
        for i, p in enumerate(providers)
    ]
    AIModel.objects.bulk_create(models, batch_size=2000)
    visible = list(
        AIModel.objects.filter(model_id__startswith="scale-model-")
        .order_by("pk")
        .values_list("pk", flat=True)[: SCALE_VISIBLE - 2]
    )
    Grant.objects.bulk_create(
        [Grant(model_id=pk, organization=bench_org) for pk in visible], batch_size=2000
    )
    keys = []
    for i in range(SCALE_KEYS):
        secret = "mg-" + secrets.token_urlsafe(30)
        org = orgs[i % len(orgs)]
        keys.append(
            ApiKey(
                organization=org,
                name=f"k{i}",
                prefix=display_prefix(secret),
                secret_hash=hash_secret(secret),
            )
        )
    ApiKey.objects.bulk_create(keys, batch_size=5000)
    return {
        "scale": {
            "organizations": Organization.objects.count(),
            "providers": Provider.objects.count(),
            "models": AIModel.objects.count(),
            "api_keys": ApiKey.objects.count(),
            "visible_to_bench_user": len(visible) + 2,
            "seed_seconds": round(time.monotonic() - started, 1),
        }
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seed a benchmark database")
    parser.add_argument("--fake-url", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--scale", action="store_true")
    args = parser.parse_args(argv)
    _setup()
    from django.db import transaction

    with transaction.atomic():
        info = seed_small(args.fake_url.rstrip("/"))
        if args.scale:
            info.update(seed_scale())
    Path(args.out).write_text(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
