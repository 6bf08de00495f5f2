// The keys page: a created key's page that a reload does not submit again.
// A file of its own (no inline script, for the CSP).

// The page showing a new key answers a POST: make the history entry a plain GET
// so that a reload shows the list again instead of submitting the form twice.
if (document.querySelector("[data-replace-history]")) {
  history.replaceState(null, "", location.href);
}
