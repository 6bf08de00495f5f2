// The budget change form: only the target field the chosen scope uses shows.
// A row with an error or a value stays visible, so nothing the server judges
// is hidden; without this script every field shows and the server's rules
// (gateway.budgets.forms.BudgetForm) are the same.
"use strict";

(function () {
  const TARGETS = { user: "user", key: "api_key", model: "model", provider: "provider" };

  function row(name) {
    return document.querySelector(".form-row.field-" + name);
  }

  function apply(scope, first) {
    const wanted = TARGETS[scope.value];
    for (const name of Object.values(TARGETS)) {
      const r = row(name);
      if (!r) continue;
      const select = r.querySelector("select");
      const keep = name === wanted || (first && ((select && select.value) || r.querySelector(".errorlist")));
      if (!keep && select) select.value = "";
      r.hidden = !keep;
    }
    const rows = Object.values(TARGETS).map(row).filter(Boolean);
    const fieldset = rows.length ? rows[0].closest("fieldset") : null;
    if (fieldset) fieldset.hidden = rows.every((r) => r.hidden);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const scope = document.getElementById("id_scope");
    if (!scope) return;
    apply(scope, true);
    scope.addEventListener("change", function () { apply(scope, false); });
  });
})();
