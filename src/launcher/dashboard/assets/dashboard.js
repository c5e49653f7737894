// startup's dashboard page: fills the page from /api/run (live) or from the
// JSON embedded in it (an HTML report). No framework, no network beyond its
// own JSON. Every figure is an element with data-field (its path in the
// JSON) and data-format; after each render, data-value holds the raw value
// (JSON-encoded), which is what scripts/browser-test.sh compares.
(function () {
  "use strict";

  // ---- formatting --------------------------------------------------------
  function num(v, digits) {
    return v.toLocaleString("en-US", {
      minimumFractionDigits: digits, maximumFractionDigits: digits,
    });
  }
  function micros(us) {
    if (us < 1000) return Math.round(us) + " us";
    if (us < 1e6) return (us / 1e3).toFixed(1) + " ms";
    return (us / 1e6).toFixed(2) + " s";
  }
  function clock(s) {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    return h + ":" + String(m).padStart(2, "0") + ":" + String(sec).padStart(2, "0");
  }
  function fmt(format, v) {
    if (v === null || v === undefined) return format === "clock" ? "until Ctrl-C" : "-";
    switch (format) {
      case "int": return num(v, 0);
      case "f1": return num(v, 1);
      case "us": return micros(v);
      case "ratio": return (v * 100).toFixed(2) + "%";
      case "clock": return clock(v);
      case "bool": return v ? "yes" : "NO";
      case "flag": return v ? "yes" : "no";
      case "updown": return v ? "up" : "DOWN";
      case "verdict": return String(v).toUpperCase();
      case "list": return Array.isArray(v) ? (v.join(", ") || "none") : String(v);
      case "json": return typeof v === "object" ? JSON.stringify(v) : String(v);
      default: return String(v);
    }
  }
  function at(obj, path) {
    let v = obj;
    for (const part of path.split(".")) {
      if (v === null || v === undefined) return undefined;
      v = v[part];
    }
    return v;
  }
  function cell(tag, field, format) {
    const el = document.createElement(tag);
    el.dataset.field = field;
    el.dataset.format = format;
    return el;
  }
  function fill(view) {
    for (const el of document.querySelectorAll("[data-field]")) {
      const v = at(view, el.dataset.field);
      el.textContent = fmt(el.dataset.format, v);
      el.dataset.value = v === undefined ? "undefined" : JSON.stringify(v);
      if (el.dataset.format === "verdict") {
        el.classList.toggle("pass", v === "pass");
        el.classList.toggle("fail", v === "fail");
        el.classList.toggle("incomplete", v === "incomplete");
      }
      if (el.dataset.format === "state") {
        el.classList.toggle("saturated", v === "saturated");
      }
    }
  }

  // ---- tables built from the data ---------------------------------------
  function rows(tbody, items, columns, prefix) {
    tbody.textContent = "";
    items.forEach(function (_, i) {
      const tr = document.createElement("tr");
      for (const [name, format] of columns) {
        tr.appendChild(cell("td", prefix + "." + i + "." + name, format));
      }
      tbody.appendChild(tr);
    });
  }
  function buildOnce(view) {
    const fin = view.final;
    if (fin && !document.body.dataset.finalBuilt) {
      document.body.dataset.finalBuilt = "1";
      const reasons = document.getElementById("reasons");
      (fin.report.verdict_reasons || []).forEach(function (_, i) {
        reasons.appendChild(cell("li", "final.report.verdict_reasons." + i, "text"));
      });
      document.getElementById("reasons-none").hidden = (fin.report.verdict_reasons || []).length > 0;
      for (const tr of document.querySelectorAll("tr[data-percentiles]")) {
        for (const p of ["p50", "p90", "p99", "p999", "max"]) {
          tr.appendChild(cell("td", "final.report." + tr.dataset.percentiles + "." + p, "us"));
        }
      }
      for (const tr of document.querySelectorAll("tr[data-kind]")) {
        const k = "final.report.processes." + tr.dataset.kind + ".";
        for (const [name, format] of [["count", "int"], ["cpu_percent_avg", "f1"],
          ["cpu_us_per_op", "f1"], ["rss_mb_max", "f1"], ["rss_growth_percent_max", "f1"],
          ["threads_max", "int"]]) {
          tr.appendChild(cell("td", k + name, format));
        }
      }
      rows(document.querySelector("#final-servers tbody"), fin.report.server_stats || [],
        [["server", "text"], ["updates", "int"], ["keys", "int"], ["links_accepted", "int"],
          ["anomalies", "int"], ["protocol_errors", "int"], ["uptime_s", "f1"]],
        "final.report.server_stats");
      document.getElementById("final").hidden = false;
      document.getElementById("verdict").hidden = false;
    }
    const config = document.getElementById("config");
    if (view.config && !config.dataset.built) {
      config.dataset.built = "1";
      for (const key of Object.keys(view.config).sort()) {
        const tr = document.createElement("tr");
        const th = document.createElement("th");
        th.textContent = key;
        tr.appendChild(th);
        tr.appendChild(cell("td", "config." + key, "json"));
        config.appendChild(tr);
      }
    }
    if (view.servers) {
      rows(document.querySelector("#servers tbody"), view.servers.rows,
        [["server", "text"], ["up", "updown"], ["links", "int"], ["updates", "int"],
          ["updates_per_s", "int"], ["anomalies", "int"]], "servers.rows");
      document.getElementById("servers-when").textContent =
        "(asked at " + clock(Math.max(0, view.servers.at_s)) + ")";
    } else if (view.final || !live) {
      document.getElementById("servers-live").hidden = true;
    }
  }

  // ---- charts -------------------------------------------------------------
  const colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"];
  const charts = {};
  function line(label, i, extra) {
    return Object.assign({ label: label, stroke: colors[i], width: 1.5, spanGaps: false }, extra || {});
  }
  // Axis labels that fit: 100k, 2.5M, 0.01.
  function short(u, vals) {
    return vals.map(function (v) {
      if (v === null || v === undefined) return "";
      const a = Math.abs(v);
      if (a >= 1e6) return +(v / 1e6).toFixed(1) + "M";
      if (a >= 1e4) return +(v / 1e3).toFixed(1) + "k";
      return String(+v.toPrecision(3));
    });
  }
  function ms(v) { return v === null || v === undefined ? null : Math.max(v / 1000, 0.001); }
  const specs = {
    "chart-rate": {
      title: "Updates/s against the target",
      series: [line("updates/s", 0), line("target", 1, { dash: [6, 4] })],
      data: function (s) { return [s.rate, s.target]; },
    },
    "chart-latency": {
      title: "Latency p50 / p99 and lateness p99, ms (log)",
      y: { distr: 3 },
      series: [line("latency p50", 2), line("latency p99", 0), line("lateness p99", 1)],
      data: function (s) {
        return [s.latency_p50_us.map(ms), s.latency_p99_us.map(ms), s.lateness_p99_us.map(ms)];
      },
    },
    "chart-links": {
      title: "Links up",
      series: [line("links up", 0), line("links", 1, { dash: [6, 4] })],
      data: function (s, v) { return [s.links_up, s.t_s.map(function () { return v.layout.links; })]; },
    },
    "chart-faults": {
      title: "Errors, reconnects (left); late sends, dropped ticks (right); running totals",
      right: "late",
      series: [line("errors", 1), line("reconnects", 3), line("late sends", 4, { scale: "late" }),
        line("dropped", 0, { scale: "late", dash: [6, 4] })],
      // A view from an older startup has no dropped column: zeros.
      data: function (s) {
        return [s.errors, s.reconnects, s.late_sends, s.dropped || s.t_s.map(function () { return 0; })];
      },
    },
    "chart-cpu": {
      title: "CPU, % of one core",
      series: [line("servers", 0), line("clients", 2), line("startup", 3)],
      data: function (s) { return [s.server_cpu_percent, s.client_cpu_percent, s.startup_cpu_percent]; },
    },
    "chart-rss": {
      title: "Resident memory, MB",
      series: [line("servers", 0), line("clients", 2)],
      data: function (s) { return [s.server_rss_mb, s.client_rss_mb]; },
    },
  };
  function draw(view) {
    const s = view.series;
    if (!s || s.t_s.length === 0) return;
    for (const id of Object.keys(specs)) {
      const spec = specs[id];
      const el = document.getElementById(id);
      const data = [s.t_s].concat(spec.data(s, view));
      if (charts[id]) { charts[id].setData(data); continue; }
      // Ticks on whole seconds, minutes and hours: the axis reads h:mm:ss.
      const incrs = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
      const axes = [{ incrs: incrs, values: function (u, vals) { return vals.map(clock); } },
        { size: 56, values: short }];
      // From zero, so a dip reads as the share it is (log scales excepted).
      const fromZero = { range: function (u, min, max) { return [0, Math.max(max * 1.1, 1)]; } };
      const scales = { x: { time: false }, y: spec.y || fromZero };
      if (spec.right) {
        scales[spec.right] = fromZero;
        axes.push({ scale: spec.right, side: 1, size: 56, values: short, grid: { show: false } });
      }
      charts[id] = new uPlot({
        title: spec.title,
        width: Math.max(320, el.clientWidth - 4),
        height: 220,
        scales: scales,
        axes: axes,
        series: [{ label: "time", value: function (u, v) { return v === null ? "-" : clock(v); } }]
          .concat(spec.series),
        hooks: {
          draw: [function (u) {
            el.dataset.points = String(u.data[0].length);
            el.dataset.drawn = "1";
          }],
        },
      }, data, el);
    }
  }
  window.addEventListener("resize", function () {
    for (const id of Object.keys(charts)) {
      const el = document.getElementById(id);
      charts[id].setSize({ width: Math.max(320, el.clientWidth - 4), height: 220 });
    }
  });

  // ---- one view ------------------------------------------------------------
  function render(view) {
    buildOnce(view);
    fill(view);
    draw(view);
    const d = view.duration_s;
    document.getElementById("bar-fill").style.width =
      d ? Math.min(100, (view.elapsed_s / d) * 100).toFixed(1) + "%" : "0";
    const per = view.series ? view.series.rounds_per_point : 1;
    document.getElementById("merged").textContent =
      per > 1 ? " (now " + per + " rounds per point: the run is long)" : "";
    document.title = "mass_connect " + (view.final ? view.final.report.verdict.toUpperCase() : view.state || view.phase) +
      " " + clock(view.elapsed_s);
    document.body.dataset.phase = view.phase;
    document.body.dataset.seq = String(view.seq);
  }
  function problem(text) {
    const el = document.getElementById("problem");
    el.textContent = text;
    el.hidden = !text;
  }

  // ---- live: long polls on /api/run ---------------------------------------
  const embedded = document.getElementById("run-data").textContent.trim();
  const live = !embedded.startsWith("{");
  const token = new URLSearchParams(location.search).get("token");
  const headers = token ? { Authorization: "Bearer " + token } : {};
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
  async function poll() {
    let seq = null;
    let failures = 0;
    // Bounded: a long poll returns at each change (about once a round) or
    // after 20 s, and at most two requests go out per second; a week of
    // rounds fits. Thirty failures in a row end it: startup has gone.
    for (let i = 0; i < 2000000 && failures < 30; i++) {
      const started = Date.now();
      try {
        const r = await fetch("api/run" + (seq === null ? "" : "?after=" + seq),
          { headers: headers, cache: "no-store" });
        if (!r.ok) throw new Error(r.status + ": " + (await r.text()).trim());
        const view = await r.json();
        failures = 0;
        problem("");
        seq = view.seq;
        render(view);
        if (view.phase === "done") return;
      } catch (e) {
        failures++;
        problem("cannot reach startup (" + e.message + "); trying again");
      }
      await sleep(Math.max(failures ? 2000 : 0, 500 - (Date.now() - started)));
    }
    problem("startup has stopped answering; this page keeps what it last showed");
  }
  if (live) {
    poll();
  } else {
    document.getElementById("mode").textContent = "report";
    render(JSON.parse(embedded));
  }
})();
