// An accessibility audit run in the page by the browser tests, after
// axe-core's rules of the same names (axe-core itself is on npm, which the
// CI machines cannot reach). It returns the violations as JSON: each with
// the rule, its impact (critical, serious, moderate) and the element.
(function () {
  "use strict";
  var out = [];
  var describe = function (el) {
    var s = el.tagName.toLowerCase();
    if (el.id) {
      s += "#" + el.id;
    }
    if (el.className && typeof el.className === "string") {
      s += "." + el.className.trim().split(/\s+/).join(".");
    }
    var text = (el.textContent || "").trim().replace(/\s+/g, " ");
    return s + (text ? ' "' + text.slice(0, 60) + '"' : "");
  };
  var report = function (rule, impact, el, detail) {
    out.push({ rule: rule, impact: impact, element: describe(el), detail: detail || "" });
  };
  var visible = function (el) {
    if (el.closest("[hidden]")) {
      return false;
    }
    var st = getComputedStyle(el);
    if (st.display === "none" || st.visibility === "hidden") {
      return false;
    }
    var r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  var byId = function (id) { return document.getElementById(id); };
  var refsText = function (ids) {
    return ids.split(/\s+/).map(function (id) { var e = byId(id); return e ? e.textContent.trim() : ""; }).join(" ").trim();
  };
  // The accessible name, as far as these pages need it.
  var name = function (el) {
    var n = el.getAttribute("aria-label");
    if (n && n.trim()) {
      return n.trim();
    }
    var lb = el.getAttribute("aria-labelledby");
    if (lb && refsText(lb)) {
      return refsText(lb);
    }
    if (el.labels && el.labels.length) {
      var t = Array.prototype.map.call(el.labels, function (l) { return l.textContent.trim(); }).join(" ").trim();
      if (t) {
        return t;
      }
    }
    var text = (el.textContent || "").trim();
    if (text) {
      return text;
    }
    var img = el.querySelector && el.querySelector("img[alt]");
    if (img && img.alt.trim()) {
      return img.alt.trim();
    }
    return (el.getAttribute("title") || "").trim();
  };

  // html-has-lang (serious)
  if (!document.documentElement.getAttribute("lang")) {
    report("html-has-lang", "serious", document.documentElement);
  }
  // image-alt (critical)
  document.querySelectorAll("img").forEach(function (el) {
    if (!el.hasAttribute("alt")) {
      report("image-alt", "critical", el);
    }
  });
  // label (critical): form controls have a name.
  document.querySelectorAll("input, select, textarea").forEach(function (el) {
    var type = (el.getAttribute("type") || "").toLowerCase();
    if (type === "hidden" || type === "submit" || type === "button") {
      return;
    }
    if (!name(el)) {
      report("label", "critical", el);
    }
  });
  // button-name (critical), link-name (serious)
  document.querySelectorAll("button, [role=button]").forEach(function (el) {
    if (!name(el)) {
      report("button-name", "critical", el);
    }
  });
  document.querySelectorAll("a[href]").forEach(function (el) {
    if (!name(el)) {
      report("link-name", "serious", el);
    }
  });
  // duplicate-id-aria (critical): ids that ARIA or labels point at are unique.
  var seen = {};
  document.querySelectorAll("[id]").forEach(function (el) {
    if (seen[el.id]) {
      report("duplicate-id", "serious", el);
    }
    seen[el.id] = true;
  });
  // aria-valid-attr-value (critical): references point at elements.
  document.querySelectorAll("[aria-describedby], [aria-labelledby], [for]").forEach(function (el) {
    ["aria-describedby", "aria-labelledby", "for"].forEach(function (attr) {
      var v = el.getAttribute(attr);
      if (v && v.split(/\s+/).some(function (id) { return id && !byId(id); })) {
        report("aria-valid-attr-value", "critical", el, attr + "=" + v);
      }
    });
  });
  // nested-interactive (serious)
  document.querySelectorAll("a[href] a[href], a[href] button, button a[href], button button, summary a[href], summary button, summary input").forEach(function (el) {
    report("nested-interactive", "serious", el);
  });
  // list (serious): lists hold only list items.
  document.querySelectorAll("ul, ol").forEach(function (el) {
    Array.prototype.forEach.call(el.children, function (c) {
      if (c.tagName !== "LI" && c.tagName !== "SCRIPT" && c.tagName !== "TEMPLATE") {
        report("list", "serious", el, "child " + c.tagName.toLowerCase());
      }
    });
  });
  // landmark-one-main (moderate), page-has-heading-one (moderate)
  if (document.querySelectorAll("main").length !== 1) {
    report("landmark-one-main", "moderate", document.body);
  }
  if (!document.querySelector("h1")) {
    report("page-has-heading-one", "moderate", document.body);
  }
  // color-contrast (serious): text against its effective background, 4.5:1
  // (3:1 for large text).
  var parse = function (c) {
    var m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(c);
    return m ? [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]] : null;
  };
  var lum = function (c) {
    var f = function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  var blend = function (top, bottom) {
    var a = top[3];
    return [top[0] * a + bottom[0] * (1 - a), top[1] * a + bottom[1] * (1 - a), top[2] * a + bottom[2] * (1 - a), 1];
  };
  var background = function (el) {
    var layers = [];
    for (var e = el; e; e = e.parentElement) {
      var st = getComputedStyle(e);
      if (st.backgroundImage && st.backgroundImage !== "none") {
        return null; // cannot tell
      }
      var c = parse(st.backgroundColor);
      if (c && c[3] > 0) {
        layers.push(c);
        if (c[3] >= 1) {
          break;
        }
      }
    }
    var bg = [255, 255, 255, 1];
    for (var i = layers.length - 1; i >= 0; i--) {
      bg = blend(layers[i], bg);
    }
    return bg;
  };
  var checked = 0;
  document.querySelectorAll("body *").forEach(function (el) {
    var hasText = Array.prototype.some.call(el.childNodes, function (n) { return n.nodeType === 3 && n.textContent.trim(); });
    if (!hasText || !visible(el)) {
      return;
    }
    var st = getComputedStyle(el);
    var fg = parse(st.color);
    var bg = background(el);
    if (!fg || !bg) {
      return;
    }
    checked++;
    fg = blend(fg, bg);
    var l1 = lum(fg), l2 = lum(bg);
    var ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    var size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 700;
    var need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) {
      report("color-contrast", "serious", el, ratio.toFixed(2) + ":1 < " + need + ":1 (" + st.color + " on rgb(" + bg.slice(0, 3).map(Math.round).join(", ") + "))");
    }
  });
  return JSON.stringify({ checked: checked, violations: out });
})();
