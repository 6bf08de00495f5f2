"""The budget form: the admin's and the management API's one validation.

The scope names exactly one target field (none for the organization): the
others must be empty, and the target must belong to the budget's organization
(``gateway.budgets.targets``). Both are checked here, so the database's
``budget_target_matches_scope`` constraint is never what refuses a budget.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms

from gateway.budgets import targets
from gateway.budgets.models import default_thresholds
from gateway.models import Budget

SCOPE_NAMES = {
    "user": "a user",
    "key": "an API key",
    "model": "a model",
    "provider": "a provider",
}
NOT_THERE = {
    "user": "This user is not a member of the budget's organization.",
    "key": "This API key is not one of the budget's organization.",
    "model": "This model is not visible to the budget's organization.",
    "provider": "This provider is not used by the budget's organization.",
}


class ThresholdsField(forms.CharField):
    """Percentages as ``50, 80, 100`` (or a JSON-looking ``[50, 80, 100]``)."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value: Any) -> list[int]:  # type: ignore[override]  # a list-valued CharField
        if isinstance(value, list):
            return value
        text = str(super().to_python(value)).strip().removeprefix("[")
        parts = [p for p in re.split(r"[\s,]+", text.removesuffix("]")) if p]
        if not all(re.fullmatch(r"[0-9]{1,7}", p) for p in parts):
            raise forms.ValidationError(
                "Enter whole percentages separated by commas, e.g. 50, 80, 100."
            )
        return [int(p) for p in parts]

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != (initial or [])
        except forms.ValidationError:
            return True


class BudgetForm(forms.ModelForm[Budget]):
    alert_thresholds = ThresholdsField(
        required=False,
        initial=default_thresholds,
        label="Alert at (% of the limit)",
        help_text="Comma-separated percentages, e.g. 50, 80, 100; empty: no alerts.",
        widget=forms.TextInput(attrs={"size": 24}),
    )

    class Meta:
        model = Budget
        fields = [
            "organization",
            "scope",
            "user",
            "api_key",
            "model",
            "provider",
            "amount",
            "period",
            "starts_at",
            "alert_thresholds",
            "is_active",
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()  # ModelForm.clean returns self.cleaned_data
        data = self.cleaned_data
        scope = data.get("scope")
        if scope is None:
            return data
        wanted = targets.TARGET_FIELDS.get(scope)
        for other in targets.TARGET_FIELDS.values():
            if other != wanted and data.get(other) is not None:
                where = SCOPE_NAMES.get(scope, "the organization")
                self.add_error(other, f"Leave this empty: the budget limits {where}.")
        if wanted is None or wanted in self.errors:
            return data
        target = data.get(wanted)
        organization = data.get("organization")
        if target is None:
            self.add_error(wanted, f"Choose {SCOPE_NAMES[scope]} for this budget.")
        elif organization is not None and not targets.belongs(
            scope, target, organization.pk
        ):
            self.add_error(wanted, NOT_THERE[scope])
        return data
