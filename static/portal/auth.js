// The keys page: copy buttons, and a created key's page that a reload does not
// submit again. A file of its own (no inline script, for the CSP).

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

// The page showing a new key answers a POST: make the history entry a plain GET
// so that a reload shows the list again instead of submitting the form twice.
if (document.querySelector("[data-replace-history]")) {
  history.replaceState(null, "", location.href);
}
