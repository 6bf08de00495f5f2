// The site's only script: a field marked data-select-on-focus selects its text
// (the one-time API key secret). A file, not an inline handler, for the CSP.
document.addEventListener("focusin", (event) => {
  if (event.target.matches("[data-select-on-focus]")) event.target.select();
});

// A select marked data-submit-on-change submits its form (the organization
// switcher); the form keeps a <noscript> button for browsers without scripts.
document.addEventListener("change", (event) => {
  if (event.target.matches("[data-submit-on-change]")) event.target.form.submit();
});
