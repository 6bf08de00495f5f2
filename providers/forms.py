"""The provider form: write-only credentials and the vendor config, both encrypted.

``Provider.credentials`` and ``Provider.provider_config`` are not editable model
fields, so the form offers one explicit field per value. Credential inputs never
render a value (not even after a validation error): each says only whether a
value is configured. A blank input keeps the stored value; a new one replaces
just that key. The merged result is sealed onto the instance before model
validation, so ``Provider.clean`` (``catalog.validate``) judges the final state.

The form shows only the fields the chosen type and auth method use
(``catalog.form_field_map()``, applied live by ``static/providers/provform.js``);
``clean()`` applies the same rule, so values of fields that do not apply are
dropped, never stored. One endpoint field: an old config ``base_url`` is shown
as the endpoint and moved into it on save.

Before saving, the outbound guard checks where the credentials would go (a
private address is refused unless PROVIDERS_ALLOW_PRIVATE_IPS allows it), then
the vendor is called (``health.probe``) when the save changes how an active
provider is reached (``reach_changed``), unless "Save without verifying" is
ticked; a refusal is shown next to the field it concerns. Deactivating,
renaming, or changing priority or limits never calls the vendor. A passing
check is kept (``verification``) for the admin to record as the health.

Changing where the credentials go (endpoint, base URL, OAuth2 token URL, Bedrock
control endpoint, or a provider type with another default endpoint) on an
existing provider requires entering every kept credential again; the form
refuses in ``clean()``, before the vendor check can send anything anywhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.html import escape

from providers import catalog, verification
from providers.crypto import CryptoError
from providers.health import CheckResult, probe
from providers.models import Provider

# Form field → key in the credentials dict.
SECRET_FIELDS: dict[str, str] = {
    "api_key": "api_key",
    "aws_access_key_id": "access_key_id",
    "aws_secret_access_key": "secret_access_key",
    "aws_session_token": "session_token",
    "client_secret": "client_secret",
}
HEADERS_FIELD = "custom_headers"
CONFIG_TEXT_FIELDS = (
    "region",
    "api_version",
    "auth_header",
    "auth_prefix",
    "token_url",
    "client_id",
    "scope",
    "wire_api",
    "rerank_api",
)
# ``base_url`` is read from old rows (shown as the endpoint), never written.
CONFIG_KNOWN_KEYS = (*CONFIG_TEXT_FIELDS, "deployments", "base_url")

# Where the model's errors on its encrypted fields are shown, per auth method.
CREDENTIAL_ERROR_FIELD: dict[str, str] = {
    catalog.AuthMethod.BEARER: "api_key",
    catalog.AuthMethod.X_API_KEY: "api_key",
    catalog.AuthMethod.API_KEY: "api_key",
    catalog.AuthMethod.CUSTOM_HEADERS: HEADERS_FIELD,
    catalog.AuthMethod.OAUTH2: "client_secret",
}


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value, so submitted secrets are not echoed."""

    def format_value(self, value: Any) -> None:
        return None


class JSONObjectField(forms.JSONField):
    """A JSON object input that shows nothing (not "null") when empty."""

    def prepare_value(self, value: Any) -> Any:
        if value in (None, {}):
            return ""
        return super().prepare_value(value)


def _secret_input() -> forms.PasswordInput:
    return forms.PasswordInput(
        render_value=False, attrs={"autocomplete": "new-password"}
    )


def parse_headers(text: str) -> dict[str, str]:
    """Parse one ``Name: value`` per line; raises ValidationError on a bad line."""
    headers: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            # Never quote the line: it may hold a secret.
            raise ValidationError(f"Line {number} is not in the form 'Name: value'.")
        problem = catalog.header_name_problem(name.strip())
        if problem:
            raise ValidationError(problem)
        headers[name.strip()] = value.strip()
    return headers


class ProviderForm(forms.ModelForm[Provider]):
    #: Vendor checks already made for this request, by connection fingerprint:
    #: the admin validates a POST once before its transaction (so the vendor
    #: call holds no transaction open) and reuses the result inside it.
    probe_cache: ClassVar[dict[str, CheckResult] | None] = None

    api_key = forms.CharField(label="API key", required=False, widget=_secret_input())
    aws_access_key_id = forms.CharField(
        label="AWS access key id", required=False, widget=_secret_input()
    )
    aws_secret_access_key = forms.CharField(
        label="AWS secret access key", required=False, widget=_secret_input()
    )
    aws_session_token = forms.CharField(
        label="AWS session token", required=False, widget=_secret_input()
    )
    client_secret = forms.CharField(
        label="OAuth2 client secret", required=False, widget=_secret_input()
    )
    custom_headers = forms.CharField(
        required=False,
        strip=False,
        widget=WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off"}),
    )
    clear_credentials = forms.BooleanField(
        label="Clear stored credentials",
        required=False,
        help_text="Remove every stored secret (new values entered above are kept).",
    )
    save_without_verifying = forms.BooleanField(
        label="Save without verifying",
        required=False,
        help_text="Saving a change to how an active provider is reached (type, "
        "endpoint, auth, credentials, settings) first makes a cheap authenticated "
        "call to the vendor and refuses what it rejects. Tick this only when the "
        "vendor is down now; where the endpoint points is still checked.",
    )

    provider_type = forms.ChoiceField(label="Type", choices=catalog.TYPE_CHOICES)
    auth_method = forms.ChoiceField(
        choices=catalog.AUTH_METHOD_CHOICES,
        required=False,
        help_text="Preselected for the type; change it only when the vendor "
        "expects another way.",
    )
    region = forms.CharField(
        required=False,
        help_text="The AWS region the models run in, e.g. us-east-1 or eu-west-3.",
    )
    api_version = forms.CharField(
        label="API version",
        required=False,
        help_text="Azure OpenAI's api-version query parameter; empty for the "
        "default shown.",
    )
    auth_header = forms.CharField(
        required=False,
        help_text="The header that carries the key, e.g. X-API-Key; empty for "
        "the vendor's default when one is shown.",
    )
    auth_prefix = forms.CharField(
        required=False,
        strip=False,
        help_text="Text before the key in that header, e.g. 'Token ' (often none).",
    )
    token_url = forms.CharField(
        label="Token URL",
        required=False,
        help_text="The OAuth2 token endpoint (client credentials grant), e.g. "
        "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token.",
    )
    client_id = forms.CharField(
        label="Client ID", required=False, help_text="The OAuth2 client (app) id."
    )
    scope = forms.CharField(
        required=False,
        help_text="The OAuth2 scope to ask for, if the token endpoint needs one.",
    )
    wire_api = forms.ChoiceField(
        label="Wire API",
        required=False,
        choices=[
            ("chat_completions", "Chat Completions (/chat/completions)"),
            ("responses", "Responses (/responses)"),
        ],
        initial="chat_completions",
        help_text="The protocol the gateway speaks to this provider. Chat "
        "Completions suits every OpenAI-compatible server; Responses is OpenAI's "
        "newer API (OpenAI, Azure's v1 surface and servers that implement it): "
        "calls to /v1/responses then pass through as sent (built-in tools, "
        "reasoning items kept) and chat calls are translated to it.",
    )
    rerank_api = forms.ChoiceField(
        label="Rerank API",
        required=False,
        choices=[
            ("", "The type's default"),
            ("jina", "Jina / vLLM / Cohere v1 (POST {endpoint}/rerank)"),
            ("tei", "Text Embeddings Inference (POST /rerank at the server root)"),
            ("voyage", "Voyage (POST {endpoint}/rerank, top_k)"),
        ],
        help_text="How the gateway calls this provider's rerank models "
        "(/v1/rerank). The compatible presets default to the Jina / vLLM shape.",
    )
    deployments = JSONObjectField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Azure: model name → deployment name, e.g. {"gpt-4o": "prod-4o"}. '
        "Models without an entry are called with their name as the deployment.",
    )
    extra_config = JSONObjectField(
        label="Extra config",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="A JSON object with any other vendor settings.",
    )

    class Meta:
        model = Provider
        fields = [
            "organization",
            "name",
            "provider_type",
            "endpoint",
            "auth_method",
            "status",
            "priority",
            "instance_wide",
            "activate_discovered",
            "requests_per_minute",
            "tokens_per_minute",
            "timeout_connect",
            "timeout_first_byte",
            "timeout_total",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance: Provider = self.instance
        try:
            self._stored_credentials = instance.get_credentials()
            config = instance.get_config()
        except CryptoError:
            # Unreadable under the configured keys: the admin re-enters them.
            self._stored_credentials, config = {}, {}
        for name, key in (*SECRET_FIELDS.items(), (HEADERS_FIELD, "headers")):
            if name in self.fields:
                configured = bool(self._stored_credentials.get(key))
                self.fields[name].help_text = (
                    "configured; leave blank to keep it" if configured else "not set"
                )
        if HEADERS_FIELD in self.fields:
            self.fields[
                HEADERS_FIELD
            ].help_text += (
                ". One 'Name: value' per line; entering headers replaces all of them."
            )
        self._stored_config = config
        self._stored_destinations = (
            None
            if instance._state.adding
            else catalog.destinations(instance.provider_type, instance.endpoint, config)
        )
        for name in CONFIG_KNOWN_KEYS:
            if name in self.fields and config.get(name) not in (None, ""):
                self.initial.setdefault(name, config[name])
        extra = {k: v for k, v in config.items() if k not in CONFIG_KNOWN_KEYS}
        if extra and "extra_config" in self.fields:
            self.initial.setdefault("extra_config", extra)
        if not instance.endpoint and config.get("base_url"):
            # One endpoint field: an old row's base_url shows (and saves) there.
            self.initial["endpoint"] = config["base_url"]
        provider_type = (
            self.initial.get("provider_type")
            or instance.provider_type
            or catalog.ProviderType.OPENAI
        )
        self.initial["provider_type"] = provider_type
        # A new provider gets the form's choice (none where a key is optional);
        # a stored blank method shows what it means at run time.
        self.initial["auth_method"] = instance.auth_method or (
            catalog.form_auth_method(provider_type)
            if instance._state.adding
            else catalog.default_auth_method(provider_type)
        )
        shown = self.data.get(self.add_prefix("provider_type")) if self.is_bound else ""
        self._describe_type(shown if shown in catalog.TYPES else provider_type)
        if "endpoint" in self.fields:
            self.fields["endpoint"].help_text = (
                "Where requests go: the vendor's base URL. Leave empty for the "
                "default shown, if there is one."
            )
        self.final_credentials: dict[str, Any] | None = None
        self.final_config: dict[str, Any] | None = None
        # The vendor check this save passed (None: not checked).
        self.verification: CheckResult | None = None

    def _describe_type(self, provider_type: str) -> None:
        """The type's help and placeholders (the script updates them live)."""
        if "provider_type" in self.fields:
            spec = catalog.TYPES.get(provider_type)
            # The admin renders help text as HTML: "<resource>" must stay text.
            self.fields["provider_type"].help_text = escape(spec.help) if spec else ""
        for name, value in catalog.placeholders_for(provider_type).items():
            if name in self.fields:
                self.fields[name].widget.attrs["placeholder"] = value

    def applicable_fields(self) -> frozenset[str]:
        """The conditional fields the submitted type and auth method use."""
        data = getattr(self, "cleaned_data", {})
        provider_type = data.get("provider_type") or self.instance.provider_type
        return catalog.form_fields_for(provider_type, self._auth_method(data))

    def clean_auth_method(self) -> str:
        value: str = self.cleaned_data.get("auth_method") or ""
        if value:
            return value
        provider_type = self.cleaned_data.get("provider_type")
        return catalog.default_auth_method(provider_type or self.instance.provider_type)

    def clean_custom_headers(self) -> dict[str, str]:
        return parse_headers(self.cleaned_data.get(HEADERS_FIELD) or "")

    def _clean_json_object(self, name: str) -> dict[str, Any]:
        value = self.cleaned_data.get(name)
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise ValidationError("Enter a JSON object ({...}).")
        return value

    def clean_deployments(self) -> dict[str, Any]:
        return self._clean_json_object("deployments")

    def clean_extra_config(self) -> dict[str, Any]:
        return self._clean_json_object("extra_config")

    def clean(self) -> dict[str, Any]:
        # ModelForm.clean() returns cleaned_data itself (its stub says "or None").
        super().clean()
        data = self.cleaned_data
        # What does not apply to the type and auth method is dropped, not stored.
        applicable = self.applicable_fields()
        for name in catalog.CONDITIONAL_FORM_FIELDS - applicable:
            if name in data:
                data[name] = {} if name == "deployments" else ""
        self.final_credentials = self._merged_credentials(data)
        self.final_config = self._merged_config(data)
        self._refuse_kept_credentials_for_new_destination(data)
        return data

    def _refuse_kept_credentials_for_new_destination(
        self, data: dict[str, Any]
    ) -> None:
        """A stored secret is never sent to a destination it was not entered for."""
        if self._stored_destinations is None or not self.final_credentials:
            return
        instance: Provider = self.instance
        endpoint = (
            data.get("endpoint") or ""
            if "endpoint" in self.fields
            else instance.endpoint
        )
        after = catalog.destinations(
            data.get("provider_type") or instance.provider_type,
            endpoint,
            self.final_config,
        )
        changed = catalog.changed_destinations(self._stored_destinations, after)
        if not changed:
            return
        entered = {key for name, key in SECRET_FIELDS.items() if data.get(name)}
        if data.get(HEADERS_FIELD):
            entered.add("headers")
        kept = [k for k, v in self.final_credentials.items() if v and k not in entered]
        if not kept:
            return
        fields = {key: name for name, key in SECRET_FIELDS.items()}
        fields["headers"] = HEADERS_FIELD
        message = (
            f"The {', '.join(changed)} changed: enter the credentials again to "
            "send them there (stored credentials only go where they were entered for)."
        )
        for key in kept:
            field = fields.get(key)
            self.add_error(field if field in self.fields else None, message)

    def _auth_method(self, data: dict[str, Any]) -> str:
        return data.get("auth_method") or catalog.default_auth_method(
            data.get("provider_type") or self.instance.provider_type
        )

    def _merged_credentials(self, data: dict[str, Any]) -> dict[str, Any]:
        credentials = (
            {} if data.get("clear_credentials") else dict(self._stored_credentials)
        )
        for name, key in SECRET_FIELDS.items():
            if data.get(name):
                credentials[key] = data[name]
        if data.get(HEADERS_FIELD):
            credentials["headers"] = data[HEADERS_FIELD]
        # Keep only what the chosen auth method uses: stale secrets are dropped.
        wanted = catalog.CREDENTIAL_KEYS.get(self._auth_method(data))
        if wanted is not None:
            credentials = {k: v for k, v in credentials.items() if k in wanted}
        return credentials

    def _merged_config(self, data: dict[str, Any]) -> dict[str, Any]:
        config = dict(data.get("extra_config") or {})
        for name in CONFIG_KNOWN_KEYS:
            config.pop(name, None)
            value = data.get(name)
            if value not in (None, "", {}):
                config[name] = value
        return config

    def _post_clean(self) -> None:
        instance: Provider = self.instance
        if self.final_credentials is not None and self.final_config is not None:
            instance.seal("credentials", self.final_credentials)
            instance.seal("provider_config", self.final_config)
        super()._post_clean()  # type: ignore[misc]  # a private hook the stubs omit
        if self.errors or instance.starter or self.final_config is None:
            return
        refused = verification.refused_destinations(
            instance.provider_type, instance.endpoint, self.final_config
        )
        for name, reason in refused.items():
            self.add_error(name if name in self.fields else None, reason)
        if refused or self.cleaned_data.get("save_without_verifying"):
            return
        # Changed how it is reached, or made active (a key saved while the
        # provider was inactive is checked when it goes live).
        if instance.status == Provider.Status.ACTIVE and self.connection_changed:
            self._verify(instance)

    def _verify(self, instance: Provider) -> None:
        """Call the vendor; show its reason next to the fields it concerns."""
        result = self._probe(instance)
        if result.health == Provider.Health.AVAILABLE:
            self.verification = result
            return
        fields = [
            name
            for name in verification.failure_fields(
                result.code,
                result.message,
                instance.provider_type,
                instance.effective_auth_method,
            )
            if name in self.fields
        ]
        self.add_error(
            None,
            "The vendor check did not pass, so nothing was saved. Fix the field "
            "marked below, or tick 'Save without verifying' if the vendor is down.",
        )
        for name in fields:
            message = result.message
            if name == "auth_method":
                message += (
                    " The vendor asks for credentials: choose the auth method it "
                    "expects (e.g. Bearer token) and enter the key."
                )
            self.add_error(name, message)
        if not fields:
            self.add_error(None, result.message)

    def _probe(self, instance: Provider) -> CheckResult:
        cache = self.probe_cache
        if cache is None:
            return probe(instance)
        try:
            # Everything the check uses, secrets included (its repr hides them):
            # hashed, in memory for this request only.
            fields = dataclasses.asdict(instance.driver_config())
        except CryptoError:
            return probe(instance)
        text = json.dumps(fields, sort_keys=True, default=str)
        key = hashlib.sha256(text.encode()).hexdigest()
        if key not in cache:
            cache[key] = probe(instance)
        return cache[key]

    @property
    def reach_changed(self) -> bool:
        """Whether saving changes how the provider is reached: a new provider,
        its type, endpoint, auth method, credentials or config, or a secret
        entered (even the stored one again: what the admin typed is checked)."""
        if self.instance._state.adding or {
            "endpoint",
            "provider_type",
            "auth_method",
        } & set(self.changed_data):
            return True
        data = getattr(self, "cleaned_data", {})
        if any(data.get(name) for name in (*SECRET_FIELDS, HEADERS_FIELD)):
            return True
        return (self.final_credentials, self.final_config) != (
            self._stored_credentials,
            self._stored_config,
        )

    @property
    def connection_changed(self) -> bool:
        """Whether saving changes how or whether the provider is reached
        (its status too), so its health is checked again."""
        return self.reach_changed or "status" in self.changed_data

    def _update_errors(self, errors: ValidationError) -> None:
        """Show the model's errors on the form's fields.

        ``Provider.clean`` reports problems with the encrypted values under
        "credentials" and "provider_config", which are not form fields; a field
        that already failed the form's own checks keeps only the form's message.
        """
        if not hasattr(errors, "error_dict"):
            super()._update_errors(errors)  # type: ignore[misc]  # private, not in stubs
            return
        auth_method = self._auth_method(self.cleaned_data)
        header_problem = ""
        if auth_method == catalog.AuthMethod.API_KEY and "auth_header" in self.fields:
            header_problem = catalog.api_key_header_problem(
                self.instance.provider_type, self.final_config or {}
            )
        remapped: dict[str, list[ValidationError]] = {}
        for key, messages in errors.error_dict.items():
            if key == "credentials":
                target = CREDENTIAL_ERROR_FIELD.get(auth_method, NON_FIELD_ERRORS)
            elif key == "provider_config" or key not in self.fields:
                target = NON_FIELD_ERRORS
            else:
                target = key
            if target == NON_FIELD_ERRORS and header_problem:
                # The header's problem is shown next to the header field.
                header = [m for m in messages if header_problem in m.messages]
                if header:
                    remapped.setdefault("auth_header", []).extend(header)
                    messages = [m for m in messages if m not in header]
            # self.errors is self._errors here (the form is being cleaned).
            if not messages or (target != NON_FIELD_ERRORS and target in self.errors):
                continue
            remapped.setdefault(target, []).extend(messages)
        if remapped:
            super()._update_errors(  # type: ignore[misc]  # private, not in stubs
                ValidationError(remapped)
            )
