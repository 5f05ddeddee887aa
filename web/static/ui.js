// alerter's web UI works without this script. It adds: on the silence
// form, live validation and a preview of the affected alerts, and when a
// silence would end; on the alerts page, live updates (pausable), ages
// that count, Alt-click on a label to exclude it, and completion of label
// names and values in the filter.
(function () {
  "use strict";

  // ---- Ages: "5m ago" from <time data-age datetime=...>.
  function fmtAge(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 1) {
      return "just now";
    }
    var units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]], parts = [];
    for (var i = 0; i < units.length && parts.length < 2; i++) {
      if (s >= units[i][1]) {
        parts.push(Math.floor(s / units[i][1]) + units[i][0]);
        s %= units[i][1];
      } else if (parts.length) {
        break;
      }
    }
    return parts.join(" ") + " ago";
  }
  function tickAges(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[data-age]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(t)) {
        el.textContent = fmtAge(now - t);
      }
    });
  }
  tickAges();
  setInterval(tickAges, 10000);

  // ---- Alerts page: Alt-click (or Shift-click, or Alt-Enter on a
  // focused label) on a label excludes it.
  var exclude = function (ev) {
    var a = ev.target.closest && ev.target.closest("a.label[data-exclude]");
    if (a && (ev.altKey || ev.shiftKey)) {
      ev.preventDefault();
      window.location.href = a.getAttribute("data-exclude");
    }
  };
  document.addEventListener("click", exclude);
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") {
      exclude(ev);
    }
  });

  // ---- Alerts page: live updates. The script asks for the live part
  // with the ETag of the one it shows: 304 while nothing changed.
  var live = document.getElementById("live");
  if (live) {
    var liveURL = live.getAttribute("data-live");
    var status = document.getElementById("live-status");
    var ageEl = document.getElementById("live-age");
    var toggle = document.getElementById("live-toggle");
    var etag = "", paused = false, updated = Date.now(), busy = false, failed = false;
    status.hidden = false;
    var showAge = function () {
      ageEl.textContent = (paused ? "paused; " : "") + (failed ? "update failed; " : "") + "updated " + fmtAge(Date.now() - updated);
    };
    var poll = function () {
      if (paused || busy || document.hidden) {
        showAge();
        return;
      }
      busy = true;
      var headers = etag ? { "If-None-Match": etag } : {};
      fetch(liveURL, { credentials: "same-origin", headers: headers })
        .then(function (resp) {
          if (resp.status === 304) {
            return null;
          }
          if (!resp.ok) {
            throw new Error(resp.status);
          }
          etag = resp.headers.get("ETag") || "";
          return resp.text();
        })
        .then(function (html) {
          failed = false;
          updated = Date.now();
          if (html !== null) {
            // html/template output, escaped on the server.
            live.innerHTML = html;
            tickAges(live);
          }
        })
        .catch(function () { failed = true; })
        .then(function () { busy = false; showAge(); });
    };
    toggle.addEventListener("click", function () {
      paused = !paused;
      toggle.setAttribute("aria-pressed", paused ? "true" : "false");
      toggle.textContent = paused ? "Resume updates" : "Pause updates";
      if (!paused) {
        poll();
      }
      showAge();
    });
    setInterval(poll, 5000);
    setInterval(showAge, 1000);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        poll();
      }
    });
  }

  // ---- Alerts page: complete label names and values in the filter, from
  // the active alerts' labels (fetched once, on first focus).
  var filter = document.getElementById("filter");
  var completions = document.getElementById("filter-completions");
  if (filter && completions) {
    var index = null;
    var complete = function () {
      if (!index) {
        return;
      }
      var v = filter.value;
      // The matcher being typed: after the last "{" or ",".
      var cut = Math.max(v.lastIndexOf("{"), v.lastIndexOf(","));
      var head = v.slice(0, cut + 1), tok = v.slice(cut + 1).replace(/^\s+/, "");
      if (head === "") {
        head = "{";
      }
      var sep = head.slice(-1) === "," ? " " : "";
      var opts = [];
      var m = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"?([^"]*)$/.exec(tok);
      if (m && index[m[1]]) {
        index[m[1]].forEach(function (val) {
          if (val.indexOf(m[3]) === 0 && opts.length < 30) {
            opts.push(head + sep + m[1] + m[2] + JSON.stringify(val) + "}");
          }
        });
      } else if (!m) {
        Object.keys(index).forEach(function (name) {
          if (name.indexOf(tok) === 0 && opts.length < 30) {
            opts.push(head + sep + name + "=");
          }
        });
      }
      completions.textContent = "";
      opts.forEach(function (o) {
        var el = document.createElement("option");
        el.value = o;
        completions.appendChild(el);
      });
    };
    filter.addEventListener("focus", function () {
      if (index) {
        return;
      }
      fetch(filter.getAttribute("data-labels"), { credentials: "same-origin" })
        .then(function (resp) { return resp.ok ? resp.json() : {}; })
        .then(function (data) { index = data; complete(); })
        .catch(function () { index = {}; });
    }, { once: true });
    filter.addEventListener("input", complete);
  }

  // ---- The silence form.
  var form = document.getElementById("silence-form");
  if (!form) {
    return;
  }
  var matchers = document.getElementById("matchers");
  var matchersError = document.getElementById("matchers-error");
  var preview = document.getElementById("preview");
  var startsAt = document.getElementById("startsAt");
  var duration = document.getElementById("duration");
  var endsAt = document.getElementById("endsAt");
  var endsHint = document.getElementById("ends-hint");
  var previewURL = form.getAttribute("data-preview");
  var timer = null;
  var seq = 0;

  function showMatcherError(msg) {
    if (msg) {
      matchersError.textContent = msg;
      matchersError.hidden = false;
      matchers.setAttribute("aria-invalid", "true");
    } else {
      matchersError.textContent = "";
      matchersError.hidden = true;
      matchers.removeAttribute("aria-invalid");
    }
  }

  // allMatchers joins the ticked labels and the typed matchers, as the
  // server does.
  function allMatchers() {
    var parts = [];
    form.querySelectorAll('input[name="tick"]:checked').forEach(function (el) { parts.push(el.value); });
    var typed = matchers.value.trim().replace(/^\{/, "").replace(/\}$/, "").trim();
    if (typed !== "") {
      parts.push(typed);
    }
    return parts.length ? "{" + parts.join(", ") + "}" : "";
  }

  // The server parses the matchers exactly as it will when saving, and
  // answers with the preview fragment (400 and the message if they do not
  // parse). The fragment is html/template output, escaped there.
  function refresh() {
    var value = allMatchers();
    if (value === "") {
      showMatcherError("");
      return;
    }
    var mine = ++seq;
    fetch(previewURL + "?matchers=" + encodeURIComponent(value), { credentials: "same-origin" })
      .then(function (resp) {
        return resp.text().then(function (html) { return { ok: resp.ok, html: html }; });
      })
      .then(function (r) {
        if (mine !== seq) {
          return; // a newer request is on its way
        }
        var box = document.createElement("div");
        box.innerHTML = r.html;
        var err = box.querySelector("[data-error]");
        showMatcherError(r.ok ? "" : (err ? err.textContent : "invalid matchers"));
        if (r.ok) {
          preview.innerHTML = r.html;
          tickAges(preview);
        }
      })
      .catch(function () { /* offline: the Preview button still works */ });
  }

  var later = function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  };
  matchers.addEventListener("input", later);
  form.querySelectorAll('input[name="tick"]').forEach(function (el) { el.addEventListener("change", later); });

  var units = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000, w: 604800000, y: 31536000000 };

  // parseDuration reads Prometheus durations: 1h30m, 2d, 1w.
  function parseDuration(s) {
    var re = /(\d+)(ms|s|m|h|d|w|y)/g;
    var total = 0, used = 0, m;
    s = s.trim();
    while ((m = re.exec(s)) !== null) {
      total += parseInt(m[1], 10) * units[m[2]];
      used += m[0].length;
    }
    return used === s.length && total > 0 ? total : null;
  }

  function utc(s) {
    if (!s) {
      return null;
    }
    var t = Date.parse(s.length === 16 ? s + ":00Z" : s + "Z");
    return isNaN(t) ? null : t;
  }

  function fmt(ms) {
    return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function updateHint() {
    var start = utc(startsAt.value) || Date.now();
    var end = utc(endsAt.value);
    if (end === null) {
      var d = parseDuration(duration.value);
      end = d === null ? null : start + d;
    }
    endsHint.textContent = end === null ? "" : "The silence will end at " + fmt(end) + ".";
  }

  [startsAt, duration, endsAt].forEach(function (el) {
    el.addEventListener("input", updateHint);
  });
  updateHint();
})();
