"""Delete protection never tells an organization what other tenants' keys name.

Globex's keys naming "secret-project" mean globex's own model: acme, by
creating a model of that id and deleting it, must learn nothing about them
unless acme shares its model with globex.
"""

from __future__ import annotations

from gateway.models import ApiKey
from tests.factories import AIModelFactory, GrantFactory, ProviderFactory

URL = "organizations/acme/providers/probe/models/secret-project/"


def test_another_tenants_keys_are_not_counted_for_a_model_not_shared_with_it(
    world, api
):
    ApiKey.issue(world.globex, None, "theirs", allowed_models=["secret-project"])
    ApiKey.issue(world.globex, None, "path", allowed_models=["probe/secret-project"])
    provider = ProviderFactory(organization=world.acme, name="probe")
    AIModelFactory(provider=provider, model_id="secret-project")
    answer = api.alice.delete(URL)
    assert answer.status_code == 204, answer.content
    AIModelFactory(provider=provider, model_id="secret-project")
    answer = api.alice.delete("organizations/acme/providers/probe/")
    assert answer.status_code == 204, answer.content


def test_they_count_once_the_model_or_its_provider_is_shared_with_them(world, api):
    ApiKey.issue(world.globex, None, "theirs", allowed_models=["secret-project"])
    provider = ProviderFactory(organization=world.acme, name="probe")
    model = AIModelFactory(provider=provider, model_id="secret-project")
    grant = GrantFactory(model=model, organization=world.globex)
    answer = api.alice.delete(URL)
    assert answer.status_code == 409
    assert answer.json()["dependents"]["other_organizations_api_keys"] == 1
    assert "theirs" not in answer.content.decode()
    grant.delete()
    GrantFactory(provider=provider, model=None, organization=world.globex)
    answer = api.alice.delete("organizations/acme/providers/probe/")
    assert answer.json()["dependents"]["other_organizations_api_keys"] == 1
