// The live dashboard: draws the series with uPlot, then applies each server-sent view (whole
// views, so a reconnect with Last-Event-ID loses nothing). No inline script: the CSP forbids it.
(() => {
  const root = document.getElementById("dashboard");
  if (!root) return;
  let view = JSON.parse(root.dataset.view);
  const chartEl = document.getElementById("chart");
  const status = document.getElementById("live-status");
  let plot = null;

  function series() {
    return [view.chart.t, view.chart.succeeded, view.chart.failed];
  }

  function draw() {
    if (typeof uPlot === "undefined") return;
    const width = Math.max(chartEl.clientWidth, 240);
    if (plot) plot.destroy();
    plot = new uPlot(
      {
        width,
        height: 220,
        series: [
          {},
          { label: chartEl.dataset.succeeded, stroke: "#1a7f37", width: 2 },
          { label: chartEl.dataset.failed, stroke: "#b42318", width: 2 },
        ],
        axes: [{}, { size: 40 }],
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), chartEl.dataset.tz || "UTC"),
      },
      series(),
      chartEl,
    );
  }

  function apply(next) {
    view = next;
    for (const name of ["succeeded", "failed", "acceptance", "canceled"]) {
      const el = root.querySelector(`[data-tile="${name}"]`);
      if (el) el.textContent = view.tiles[name].text;
    }
    const list = document.getElementById("revenue");
    list.replaceChildren(
      ...view.revenue.map((r) => {
        const li = document.createElement("li");
        li.dataset.currency = r.currency;
        li.textContent = r.text;
        return li;
      }),
    );
    document.getElementById("no-revenue").hidden = view.revenue.length > 0;
    // Server-rendered and escaped parts (reporting total, more metrics, funnels per operator).
    if (view.parts) {
      document.getElementById("dashboard-money").innerHTML = view.parts.money;
      document.getElementById("dashboard-funnels").innerHTML = view.parts.funnels;
    }
    for (const s of view.funnel) {
      const cell = root.querySelector(`[data-step="${s.step}"]`);
      if (cell) cell.textContent = s.text;
    }
    root.dataset.version = view.version;
    root.dataset.from = view.from;
    root.dataset.to = view.to;
    if (plot) plot.setData(series());
    else draw();
  }

  draw();
  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(draw, 200);
  });

  const url = `${root.dataset.stream}&lang=${encodeURIComponent(document.documentElement.lang)}`;
  let source = null;
  function connect(extra) {
    source = new EventSource(url + (extra || ""));
    source.addEventListener("totals", (event) => apply(JSON.parse(event.data)));
    source.addEventListener("open", () => {
      root.dataset.connected = "true";
      status.dataset.state = "open";
    });
    source.addEventListener("error", () => {
      root.dataset.connected = "false";
      status.dataset.state = "reconnecting";
    });
  }
  connect("");
  // A dropped connection is taken up again by EventSource itself (sending Last-Event-ID). This
  // does the same by hand, for tests and for a tab that comes back from sleep.
  window.centimeDashboard = {
    reconnect() {
      source.close();
      root.dataset.connected = "false";
      connect(`&last_event_id=${encodeURIComponent(root.dataset.version)}`);
    },
  };
})();
