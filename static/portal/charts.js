// The home dashboards' charts (Chart.js, vendored). Data comes from a json_script element named by data-source on each
// canvas; every canvas has an aria-label and a table of the same numbers.
(() => {
  "use strict";
  const locale = navigator.language || "en-US";
  const integer = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });

  // The same rules as portal/templatetags/numbers.py.
  function money(value) {
    const v = Number(value) || 0;
    if (v === 0) return "$0";
    const a = Math.abs(v);
    const opts = { style: "currency", currency: "USD" };
    if (a < 1) {
      const digits = Math.max(2, -Math.floor(Math.log10(a)) + 1);
      Object.assign(opts, { minimumFractionDigits: digits, maximumFractionDigits: digits });
    } else if (a < 1000) {
      Object.assign(opts, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    } else {
      Object.assign(opts, { minimumFractionDigits: 0, maximumFractionDigits: 0 });
    }
    return new Intl.NumberFormat(locale, opts).format(v);
  }
  const ms = (v) => (v === null || v === undefined ? "—" : `${integer.format(v)} ms`);

  function labelsOf(data) {
    const fmt = data.unit === "hour"
      ? { hour: "2-digit", minute: "2-digit", timeZone: "UTC" }
      : { month: "short", day: "numeric", timeZone: "UTC" };
    const f = new Intl.DateTimeFormat(locale, fmt);
    return data.labels.map((iso) => f.format(new Date(iso)));
  }

  const COLORS = { ok: "#3b4fd8", bad: "#d92d20", cost: "#137a3f", p50: "#3b4fd8", p95: "#c4320a" };

  function baseOptions(yFormat, tooltipFormat) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${tooltipFormat(c.parsed.y)}` } },
      },
      scales: {
        x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 12 } },
        y: { beginAtZero: true, ticks: { callback: (v) => yFormat(v), maxTicksLimit: 6 } },
      },
    };
  }

  function build(canvas, data) {
    const labels = labelsOf(data);
    const kind = canvas.dataset.chart;
    if (kind === "requests" || kind === "member") {
      const options = baseOptions((v) => integer.format(v), (v) => integer.format(v));
      options.scales.x.stacked = true;
      options.scales.y.stacked = true;
      return new Chart(canvas, {
        type: "bar",
        data: {
          labels,
          datasets: [
            { label: "Succeeded", data: data.successes, backgroundColor: COLORS.ok },
            { label: "Errors", data: data.errors, backgroundColor: COLORS.bad },
          ],
        },
        options,
      });
    }
    if (kind === "cost") {
      return new Chart(canvas, {
        type: "bar",
        data: { labels, datasets: [{ label: "Cost", data: data.cost, backgroundColor: COLORS.cost }] },
        options: baseOptions(money, money),
      });
    }
    if (kind === "latency") {
      const options = baseOptions(ms, ms);
      return new Chart(canvas, {
        type: "line",
        data: {
          labels,
          datasets: [
            { label: "p50", data: data.p50, borderColor: COLORS.p50, backgroundColor: COLORS.p50, spanGaps: true, tension: 0.2, pointRadius: 2 },
            { label: "p95", data: data.p95, borderColor: COLORS.p95, backgroundColor: COLORS.p95, spanGaps: true, tension: 0.2, pointRadius: 2 },
          ],
        },
        options,
      });
    }
    return null;
  }

  function drawAll() {
    if (typeof Chart === "undefined") return;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#5b6475";
    document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      const source = document.getElementById(canvas.dataset.source);
      if (!source) return;
      build(canvas, JSON.parse(source.textContent));
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
