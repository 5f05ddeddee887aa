// alerter's web UI works without this script; it only makes the silence
// form validate matchers and preview the affected alerts as you type, and
// shows when a silence would end.
(function () {
  "use strict";

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

  // The server parses the matchers exactly as it will when saving, and
  // answers with the preview fragment (400 and the message if they do not
  // parse). The fragment is html/template output, escaped there.
  function refresh() {
    var value = matchers.value.trim();
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
        }
      })
      .catch(function () { /* offline: the Preview button still works */ });
  }

  matchers.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });

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
