// The live dashboard: draws the charts with uPlot from the data the server put in the page, then
// follows the server-sent event stream, which sends the whole view again whenever the analytics
// ingest has moved. EventSource reconnects by itself and sends the last id it saw, so the server
// answers at once with the current view: nothing is lost while the connection was down.
(() => {
  const dataElement = document.getElementById("dashboard-data");
  if (!dataElement || typeof uPlot === "undefined") return;
  const boot = JSON.parse(dataElement.textContent);
  const percent = new Intl.NumberFormat(boot.locale, { style: "percent", maximumFractionDigits: 1 });
  const number = new Intl.NumberFormat(boot.locale);
  const palette = ["#1d4ed8", "#00703c", "#b3261e", "#8a5300", "#6d28d9", "#0e7490", "#be185d", "#4d7c0f"];
  const charts = {};

  function chartOptions(id, chart, timeZone) {
    const area = document.getElementById(id);
    return {
      width: Math.max(240, area.clientWidth),
      height: 220,
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), timeZone),
      legend: { live: false },
      series: [
        {},
        ...chart.lines.map((line, i) => ({
          label: line.label,
          stroke: palette[i % palette.length],
          width: 2,
        })),
      ],
    };
  }

  function draw(id, chart, timeZone) {
    const area = document.getElementById(id);
    if (!area) return;
    const data = [chart.x, ...chart.lines.map((line) => line.values)];
    const labels = chart.lines.map((line) => line.label).join("\u0000");
    const existing = charts[id];
    if (existing && existing.labels === labels) {
      existing.plot.setData(data);
      return;
    }
    if (existing) existing.plot.destroy();
    charts[id] = { labels, plot: new uPlot(chartOptions(id, chart, timeZone), data, area) };
  }

  function cell(row, text, numeric) {
    const td = document.createElement("td");
    td.textContent = text;
    if (numeric) td.className = "num";
    row.appendChild(td);
    return td;
  }

  function rate(value) {
    return value === null ? "—" : percent.format(value);
  }

  function ms(value) {
    return value === null ? "—" : `${number.format(value)} ms`;
  }

  function renderOperators(view) {
    const body = document.getElementById("operators");
    if (!body) return;
    const rows = view.operators.map((o) => {
      const row = document.createElement("tr");
      cell(row, o.operator);
      const status = cell(row, "");
      const badge = document.createElement("span");
      badge.className = `status status--${o.status === "degraded" ? "failed" : "succeeded"}`;
      badge.textContent = o.status;
      status.appendChild(badge);
      cell(row, rate(o.acceptance_rate), true);
      cell(row, rate(o.baseline_acceptance_rate), true);
      cell(row, ms(o.latency.p50_ms), true);
      cell(row, ms(o.latency.p99_ms), true);
      cell(row, rate(o.latency.error_rate), true);
      return row;
    });
    body.replaceChildren(...rows);
  }

  function renderRevenue(view) {
    const body = document.getElementById("revenue-by-currency");
    if (!body) return;
    body.replaceChildren(
      ...view.revenueRows.map((r) => {
        const row = document.createElement("tr");
        cell(row, r.currency);
        cell(row, r.text, true).dataset.amount = String(r.amount);
        return row;
      }),
    );
  }

  function render(view) {
    for (const tile of view.tiles) {
      const element = document.querySelector(`[data-tile="${tile.path}"]`);
      if (!element) continue;
      element.textContent = tile.text;
      element.dataset.value = tile.value === null ? "" : String(tile.value);
    }
    draw("chart-payments", view.charts.payments, view.timeZone);
    draw("chart-revenue", view.charts.revenue, view.timeZone);
    draw("chart-acceptance", view.charts.acceptance, view.timeZone);
    renderOperators(view);
    renderRevenue(view);
    document.body.dataset.position = view.position;
  }

  const status = document.getElementById("live-status");
  function setStatus(state) {
    if (!status) return;
    status.dataset.state = state;
    status.textContent =
      boot.labels[state === "live" ? "live" : state === "offline" ? "offline" : "connecting"];
  }

  render(boot.view);
  const source = new EventSource(boot.stream);
  source.addEventListener("open", () => setStatus("live"));
  source.addEventListener("error", () => setStatus("offline"));
  source.addEventListener("view", (event) => {
    setStatus("live");
    render(JSON.parse(event.data));
  });
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const [id, chart] of Object.entries(charts)) {
        const area = document.getElementById(id);
        if (area) chart.plot.setSize({ width: Math.max(240, area.clientWidth), height: 220 });
      }
    }, 150);
  });
})();
