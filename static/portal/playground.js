// The playground: sends the conversation to the site's playground endpoint and
// shows the reply as it streams (fetch + ReadableStream over server-sent events),
// then its latency, tokens and cost. A file, not inline code, for the CSP.
(() => {
  "use strict";
  const form = document.getElementById("playground");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const prices = JSON.parse($("pg-prices").textContent);
  const conversation = $("pg-conversation");
  const errorBox = $("pg-error");
  const message = $("pg-message");
  const send = $("pg-send");
  const stop = $("pg-stop");
  const history = []; // {role, content}: user turns and the replies kept
  let controller = null;

  const ms = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const count = new Intl.NumberFormat();
  function formatMs(value) { return `${ms.format(value)} ms`; }
  function formatCost(value) {
    if (value === 0) return "$0";
    if (value >= 0.01) {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: "USD", maximumFractionDigits: 4 }).format(value);
    }
    return `$${value.toPrecision(2)}`;
  }

  function setStat(id, text) { $(id).textContent = text; }
  function resetStats() { ["pg-ttft", "pg-total", "pg-tokens", "pg-cost"].forEach((id) => setStat(id, "–")); }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }
  function hideError() { errorBox.hidden = true; errorBox.textContent = ""; }

  function addTurn(role, text) {
    const empty = conversation.querySelector(".pg-empty");
    if (empty) empty.remove();
    const item = document.createElement("li");
    item.className = `pg-turn ${role}`;
    const label = document.createElement("span");
    label.className = "pg-role";
    label.textContent = role === "user" ? "You" : "Assistant";
    const body = document.createElement("span");
    body.className = "pg-text";
    body.textContent = text;
    item.append(label, body);
    conversation.append(item);
    conversation.scrollTop = conversation.scrollHeight;
    return item;
  }

  function showEmpty() {
    const empty = document.createElement("li");
    empty.className = "pg-empty muted";
    empty.textContent = "Your conversation shows here.";
    conversation.append(empty);
  }

  function csrfToken() { return form.querySelector("input[name=csrfmiddlewaretoken]").value; }

  // An error envelope ({"error": {...}}) as one readable line.
  function describe(payload, status) {
    const err = payload && payload.error;
    if (!err) return `The request failed (HTTP ${status}).`;
    let text = err.message || "The request failed.";
    if (status === 429) text = `Rate limited: ${text}`;
    else if (status) text = `Error ${status}: ${text}`;
    return text;
  }

  function requestBody() {
    const messages = [];
    const system = $("pg-system").value.trim();
    if (system) messages.push({ role: "system", content: system });
    messages.push(...history);
    const body = { model: $("pg-model").value, messages };
    const temperature = $("pg-temperature").value;
    const maxTokens = $("pg-max-tokens").value;
    if (temperature !== "") body.temperature = Number(temperature);
    if (maxTokens !== "") body.max_tokens = Number(maxTokens);
    return body;
  }

  function busy(on) {
    send.disabled = on;
    stop.hidden = !on;
    form.setAttribute("aria-busy", on ? "true" : "false");
  }

  async function run() {
    const text = message.value.trim();
    if (!text) { showError("Write a message first."); message.focus(); return; }
    hideError();
    resetStats();
    history.push({ role: "user", content: text });
    const userTurn = addTurn("user", text);
    message.value = "";
    const model = $("pg-model").value;
    const started = performance.now();
    let firstAt = null;
    let reply = "";
    let usage = null;
    let done = false;
    let replyTurn = null;
    controller = new AbortController();
    busy(true);

    // On failure the user's turn leaves the history (and goes back to the box),
    // so the conversation sent next time is the one on screen.
    function fail(text) {
      history.pop();
      userTurn.remove();
      if (replyTurn && !reply) replyTurn.remove();
      if (replyTurn) replyTurn.classList.remove("streaming");
      if (!message.value) message.value = text;
      if (!conversation.children.length) showEmpty();
    }

    try {
      const response = await fetch(form.dataset.endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "text/event-stream" },
        body: JSON.stringify(requestBody()),
        signal: controller.signal,
      });
      if (!response.ok) {
        let payload = null;
        try { payload = await response.json(); } catch (e) { payload = null; }
        if (response.status === 403 && !payload) {
          showError("The page has expired (security token). Reload the page and try again.");
        } else {
          showError(describe(payload, response.status));
        }
        fail(text);
        return;
      }
      replyTurn = addTurn("assistant", "");
      replyTurn.classList.add("streaming");
      const out = replyTurn.querySelector(".pg-text");
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      while (!done) {
        const { value, done: ended } = await reader.read();
        if (ended) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          for (const line of event.split("\n")) {
            if (!line.startsWith("data:")) continue;
            const data = line.slice(5).trim();
            if (data === "[DONE]") { done = true; break; }
            let chunk;
            try { chunk = JSON.parse(data); } catch (e) { continue; }
            if (chunk.error) { throw new Error(describe(chunk, 0)); }
            if (chunk.usage) usage = chunk.usage;
            for (const choice of chunk.choices || []) {
              const piece = choice.delta && choice.delta.content;
              if (piece) {
                if (firstAt === null) { firstAt = performance.now(); setStat("pg-ttft", formatMs(firstAt - started)); }
                reply += piece;
                out.textContent = reply;
                conversation.scrollTop = conversation.scrollHeight;
              }
            }
          }
        }
      }
      if (!done) throw new Error("The stream ended before the reply was complete.");
      replyTurn.classList.remove("streaming");
      history.push({ role: "assistant", content: reply });
      setStat("pg-total", formatMs(performance.now() - started));
      if (usage) {
        const tokensIn = usage.prompt_tokens || 0;
        const tokensOut = usage.completion_tokens || 0;
        setStat("pg-tokens", `${count.format(tokensIn)} / ${count.format(tokensOut)}`);
        const price = prices[model];
        if (price) {
          const cost = (tokensIn * Number(price.input) + tokensOut * Number(price.output)) / 1e6;
          setStat("pg-cost", formatCost(cost));
        }
      } else {
        setStat("pg-tokens", "not reported");
      }
    } catch (err) {
      if (err.name === "AbortError") {
        showError("Stopped.");
      } else {
        showError(err.message || "The request failed.");
      }
      if (reply) {
        // What arrived stays, on screen and in the history, marked incomplete.
        history.push({ role: "assistant", content: reply });
        replyTurn.classList.remove("streaming");
        replyTurn.classList.add("incomplete");
      } else {
        fail(text);
      }
    } finally {
      controller = null;
      busy(false);
    }
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
  message.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); run(); }
  });
  stop.addEventListener("click", () => { if (controller) controller.abort(); });
  $("pg-clear").addEventListener("click", () => {
    if (controller) controller.abort();
    history.length = 0;
    conversation.replaceChildren();
    showEmpty();
    hideError();
    resetStats();
    message.focus();
  });
})();
