// The site's only script: a field marked data-select-on-focus selects its text
// (the one-time API key secret). A file, not an inline handler, for the CSP.
document.addEventListener("focusin", (event) => {
  if (event.target.matches("[data-select-on-focus]")) event.target.select();
});
