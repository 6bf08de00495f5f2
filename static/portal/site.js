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

// A button marked data-copy="#id" copies that element's value or text, then
// says "Copied" for a moment (also announced to screen readers).
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = "value" in source ? source.value : source.textContent;
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch {
    // No clipboard API (an insecure origin): select it and use the old command.
    const range = document.createRange();
    if ("select" in source) source.select();
    else { range.selectNodeContents(source); getSelection().removeAllRanges(); getSelection().addRange(range); }
    copied = document.execCommand("copy");
  }
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  button.textContent = copied ? "Copied" : "Press Ctrl+C to copy";
  button.classList.toggle("copied", copied);
  const status = document.getElementById("copy-status");
  if (status) status.textContent = copied ? "Copied to the clipboard" : "";
  clearTimeout(button.copyTimer);
  button.copyTimer = setTimeout(() => {
    button.textContent = label;
    button.classList.remove("copied");
  }, 2000);
});
