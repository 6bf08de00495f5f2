// The provider change form (issue 11): only the fields the chosen type and auth
// method use, the type's defaults as placeholders and its help; after a save,
// the status panel polls until the check that followed the save has finished.
// The field map comes from the vendor specs (catalog.form_field_map()); the
// server applies the same rules, and without this script every field shows.
"use strict";

(function () {
  const PLACEHOLDER_FIELDS = ["endpoint", "api_version", "region", "auth_header", "auth_prefix", "scope"];
  const POLL_MS = 2000;
  const MAX_POLLS = 60;

  function row(name) {
    return document.querySelector(".form-row.field-" + name);
  }

  function setHelp(text) {
    const help = document.getElementById("id_provider_type_helptext");
    if (!help) return;
    const inner = help.querySelector("div") || help;
    inner.textContent = text;
  }

  function hideEmptyFieldsets(form) {
    for (const fieldset of form.querySelectorAll("fieldset.module")) {
      const rows = fieldset.querySelectorAll(".form-row");
      fieldset.hidden = rows.length > 0 && Array.from(rows).every((r) => r.hidden);
    }
  }

  function fieldMap(map, typeSelect, authSelect) {
    function apply() {
      const spec = map.types[typeSelect.value];
      if (!spec) return;
      for (const option of authSelect.options) {
        const allowed = spec.auths.includes(option.value);
        option.disabled = !allowed;
        option.hidden = !allowed;
      }
      if (!spec.auths.includes(authSelect.value)) authSelect.value = spec.auths[0];
      const wanted = new Set([...(map.auth[authSelect.value] || []), ...spec.settings]);
      for (const name of map.conditional) {
        const r = row(name);
        if (r) r.hidden = !wanted.has(name);
      }
      for (const name of PLACEHOLDER_FIELDS) {
        const input = document.getElementById("id_" + name);
        if (input) input.placeholder = spec.placeholders[name] || "";
      }
      setHelp(spec.help);
      hideEmptyFieldsets(typeSelect.form);
    }
    typeSelect.addEventListener("change", function () {
      const spec = map.types[typeSelect.value];
      if (spec) authSelect.value = spec.auths[0];
      apply();
    });
    authSelect.addEventListener("change", apply);
    apply();
  }

  function show(panel, data) {
    const set = (key, text) => {
      const node = panel.querySelector('[data-status="' + key + '"]');
      if (node) node.textContent = text;
    };
    set("label", data.label);
    panel.querySelector('[data-status="label"]').dataset.health = data.health;
    set("message", data.message || "—");
    set("checked_at_display", data.checked_at_display);
    set("latency", data.latency_ms === null ? "—" : data.latency_ms + " ms");
    set("model_count", String(data.model_count));
  }

  function poll(panel) {
    const queued = Date.parse(panel.dataset.queued);
    const pending = panel.querySelector('[data-status="pending"]');
    let polls = 0;
    let waitsForModels = 0;
    async function tick() {
      polls += 1;
      try {
        const response = await fetch(panel.dataset.url, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (!response.ok) return;
        const data = await response.json();
        const checked = data.checked_at !== null && Date.parse(data.checked_at) >= queued;
        if (checked) {
          show(panel, data);
          // Discovery follows a passing check: wait a little for its models.
          const modelsDue = data.health === "available" && data.model_count === 0;
          if (!modelsDue || waitsForModels++ >= 5) {
            pending.hidden = true;
            panel.dataset.done = "true";
            return;
          }
        }
      } catch (error) {
        // A network blip: try again at the next tick.
      }
      if (polls < MAX_POLLS) {
        window.setTimeout(tick, POLL_MS);
      } else {
        pending.textContent = "the check is taking long; reload the page later";
      }
    }
    window.setTimeout(tick, 0);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const mapNode = document.getElementById("provider-field-map");
    const typeSelect = document.getElementById("id_provider_type");
    const authSelect = document.getElementById("id_auth_method");
    if (mapNode && typeSelect && authSelect) {
      fieldMap(JSON.parse(mapNode.textContent), typeSelect, authSelect);
    }
    const panel = document.getElementById("provider-status");
    if (panel && panel.dataset.queued) poll(panel);
  });
})();
