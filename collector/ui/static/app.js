// Attesta kiosk: one page, one screen visible at a time.
// Personal data lives only in the DOM inputs, the signature canvas and the
// `visitor` object below; reset() wipes all three. Nothing is written to
// web storage, cookies or the history.
(function () {
  "use strict";

  var API = "/api/v1";
  var FLOW = ["language", "identity", "notice", "purposes", "signature", "review", "saved"];
  var STEPS = ["identity", "notice", "purposes", "signature", "review"];
  var EMAIL_RE = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
  var PHONE_RE = /^\+?[0-9 ().\/-]{6,24}$/;

  var $ = function (id) { return document.getElementById(id); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  var config = null;      // GET /api/v1/config
  var pending = null;     // a newer config from the hub, taken at the next reset so a visitor finishes on what they started
  var catalogs = {};      // language code -> messages
  var languages = [];     // from the language buttons in index.html: the one list of languages
  var defaultLang = "it";
  var lang = "it";
  var screen = "loading";
  var visitor = newVisitor();
  var operator = null;    // {id, pin} while the staff screen is open

  function newVisitor() {
    return { notice: null, viewedAt: null, strokes: [], png: null, saving: false };
  }

  // ---- i18n ---------------------------------------------------------------

  function t(key, vars, code) {
    var cat = catalogs[code || lang] || {};
    var s = cat[key];
    if (s == null) s = (catalogs[defaultLang] || {})[key];
    if (s == null) s = key;
    if (vars) s = s.replace(/\{(\w+)\}/g, function (m, k) { return vars[k] != null ? String(vars[k]) : m; });
    return s;
  }

  // tn picks the plural form key.one / key.other for n.
  function tn(key, n, vars) {
    var form = "other";
    try { form = new Intl.PluralRules(lang).select(n); } catch (e) { form = n === 1 ? "one" : "other"; }
    var k = key + "." + form;
    if (!(catalogs[lang] || {})[k]) k = key + ".other";
    vars = vars || {};
    vars.n = n;
    return t(k, vars);
  }

  function applyI18n() {
    document.documentElement.lang = lang;
    $$("[data-i18n]").forEach(function (el) {
      el.textContent = t(el.getAttribute("data-i18n"), null, el.getAttribute("data-i18n-lang") || lang);
    });
    $$("[data-i18n-aria-label]").forEach(function (el) {
      el.setAttribute("aria-label", t(el.getAttribute("data-i18n-aria-label")));
    });
    // The welcome line greets in every language at once.
    $("welcome").textContent = languages.map(function (c) { return t("language.welcome", null, c); }).join(" · ");
    $("welcome-lead").textContent = languages.map(function (c) { return t("language.prompt", null, c); }).join(" · ");
    $("loading-text").textContent = t("loading.text");
  }

  // ---- screens ------------------------------------------------------------

  function show(name) {
    screen = name;
    $$("[data-screen]").forEach(function (s) { s.hidden = s.getAttribute("data-screen") !== name; });
    var step = STEPS.indexOf(name);
    $("progress").hidden = step < 0;
    $$("#progress li").forEach(function (li, i) {
      li.classList.toggle("done", i < step);
      if (i === step) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
    });
    if (name === "notice") enterNotice();
    if (name === "signature") pad.resize();
    if (name === "review") renderReview();
    var sec = $("s-" + name);
    var body = sec.querySelector(".screen-body");
    if (body) body.scrollTop = 0;
    var h = sec.querySelector("h1");
    if (h && name !== "loading") h.focus({ preventScroll: true });
    idle.touch();
  }

  function go(delta) {
    var i = FLOW.indexOf(screen);
    if (i >= 0 && FLOW[i + delta]) show(FLOW[i + delta]);
  }

  // ---- errors -------------------------------------------------------------

  function announce(msg) {
    var live = $("live");
    live.textContent = "";
    // A fresh text node makes screen readers speak the same message twice in a row.
    setTimeout(function () { live.textContent = msg; }, 30);
  }

  function setError(id, msg, input) {
    var el = $(id);
    el.textContent = msg || "";
    if (input) {
      if (msg) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    }
    if (msg) announce(msg);
  }

  function clearErrors() {
    $$(".field-error, .form-error").forEach(function (el) { el.textContent = ""; });
    $$("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
  }

  // ---- language -----------------------------------------------------------

  function chooseLanguage(code) {
    lang = code;
    applyI18n();
    renderPurposes();
    visitor.notice = pickNotice();
    renderNotice();
    show("identity");
  }

  // ---- identity -----------------------------------------------------------

  var FIELDS = ["given_name", "family_name", "email", "phone"];

  function subject() {
    var s = {};
    FIELDS.forEach(function (f) { s[f] = $(f).value.trim().replace(/\s+/g, " "); });
    return s;
  }

  function validateIdentity() {
    var s = subject();
    var first = null;
    function check(field, msg) {
      setError("err-" + field, msg, $(field));
      if (msg && !first) first = field;
    }
    check("given_name", s.given_name ? "" : t("error.given_name"));
    check("family_name", s.family_name ? "" : t("error.family_name"));
    check("email", !s.email ? t("error.email_required") : EMAIL_RE.test(s.email) ? "" : t("error.email_invalid"));
    check("phone", !s.phone || (PHONE_RE.test(s.phone) && s.phone.replace(/\D/g, "").length >= 6) ? "" : t("error.phone_invalid"));
    if (first) { $(first).focus(); return false; }
    return true;
  }

  // ---- notice -------------------------------------------------------------

  function pickNotice() {
    var ns = (config && config.notices) || [];
    for (var i = 0; i < ns.length; i++) if (ns[i].language === lang) return ns[i];
    return ns[0] || null;
  }

  function renderNotice() {
    var n = visitor.notice;
    var box = $("notice-text");
    box.textContent = "";
    if (!n) return;
    $("notice-title").textContent = n.title || "";
    $("notice-summary").textContent = n.summary || "";
    renderMarkdown(box, n.text || "");
    $("notice-qr").src = API + "/notices/" + encodeURIComponent(n.id) + "/" + encodeURIComponent(n.version) + "/qr.png";
    $("notice-qr").alt = t("notice.qr_title");
    $("notice-url").textContent = n.url || "";
    $("notice-version").textContent = t("notice.version", { version: n.version, hash: String(n.sha256 || "").slice(0, 12) });
  }

  function enterNotice() {
    // Presa visione: the first time this visitor sees the notice.
    if (!visitor.viewedAt) visitor.viewedAt = rfc3339(new Date());
    $("notice-text").scrollTop = 0;
  }

  // renderMarkdown shows the small Markdown subset notices use (# headings,
  // paragraphs, **bold**) with DOM nodes and text only: no HTML parsing.
  function renderMarkdown(root, text) {
    text.replace(/\r\n/g, "\n").split(/\n{2,}/).forEach(function (block) {
      block = block.trim();
      if (!block) return;
      var m = /^(#{1,6})\s+(.*)$/.exec(block);
      var el;
      if (m && block.indexOf("\n") < 0) {
        el = document.createElement(m[1].length === 1 ? "h3" : "h4");
        inline(el, m[2]);
      } else {
        el = document.createElement("p");
        inline(el, block.replace(/\n/g, " "));
      }
      root.appendChild(el);
    });
    function inline(el, s) {
      s.split(/(\*\*[^*]+\*\*)/).forEach(function (part) {
        if (/^\*\*[^*]+\*\*$/.test(part)) {
          var b = document.createElement("strong");
          b.textContent = part.slice(2, -2);
          el.appendChild(b);
        } else if (part) {
          el.appendChild(document.createTextNode(part));
        }
      });
    }
  }

  // ---- purposes -----------------------------------------------------------

  function purposeText(p) {
    var tx = p.text || {};
    return tx[lang] || tx[defaultLang] || { title: p.title || p.code, description: p.description || "" };
  }

  function retention(days) {
    if (!days) return "";
    var months = Math.round(days / 30.44);
    if (days >= 60 && Math.abs(months * 30.44 - days) <= 3) return tn("retention.months", months);
    return tn("retention.days", days);
  }

  function renderPurposes() {
    var box = $("purposes");
    var checked = {};
    $$("input[data-purpose]", box).forEach(function (i) { checked[i.getAttribute("data-purpose")] = i.checked; });
    $$(".purpose", box).forEach(function (el) { el.remove(); });
    ((config && config.purposes) || []).forEach(function (p) {
      var tx = purposeText(p);
      var id = "p-" + p.code;
      var label = document.createElement("label");
      label.className = "purpose";
      label.htmlFor = id;
      var text = document.createElement("span");
      text.className = "purpose-text";
      var title = document.createElement("span");
      title.className = "purpose-title";
      title.textContent = tx.title;
      var desc = document.createElement("span");
      desc.className = "purpose-desc";
      desc.id = id + "-desc";
      desc.textContent = tx.description;
      var ret = document.createElement("span");
      ret.className = "purpose-ret";
      ret.id = id + "-ret";
      ret.textContent = retention(p.retention_days);
      text.appendChild(title);
      text.appendChild(desc);
      text.appendChild(ret);
      var input = document.createElement("input");
      input.type = "checkbox";
      input.id = id;
      input.setAttribute("role", "switch");
      input.setAttribute("data-purpose", p.code);
      input.setAttribute("data-testid", "purpose-" + p.code);
      input.setAttribute("aria-describedby", id + "-desc " + id + "-ret");
      input.checked = !!checked[p.code]; // off unless this visitor switched it on
      input.addEventListener("change", function () { if (input.checked) setError("err-purposes", ""); });
      label.appendChild(text);
      label.appendChild(input);
      box.appendChild(label);
    });
  }

  function choices() {
    var out = {};
    $$("input[data-purpose]").forEach(function (i) { out[i.getAttribute("data-purpose")] = i.checked; });
    return out;
  }

  function anyGranted() {
    var c = choices();
    return Object.keys(c).some(function (k) { return c[k]; });
  }

  // ---- signature pad ------------------------------------------------------
  // Strokes are arrays of {x, y, t, p}: CSS pixels from the canvas' top left,
  // ms since the stroke began, pen pressure (0.5 for a mouse).

  var pad = (function () {
    var canvas = $("signature");
    var ctx = canvas.getContext("2d");
    var cur = null;
    var dpr = 1;
    var INK = "#111418";
    var WIDTH = 3;

    function point(e) {
      var r = canvas.getBoundingClientRect();
      var p = typeof e.pressure === "number" && e.pressure > 0 ? e.pressure : 0.5;
      return {
        x: Math.round((e.clientX - r.left) * 10) / 10,
        y: Math.round((e.clientY - r.top) * 10) / 10,
        t: Math.max(0, Math.round(e.timeStamp - cur.start)),
        p: Math.round(p * 1000) / 1000
      };
    }

    function width(p) { return WIDTH * (0.6 + 0.8 * p); }

    // drawStroke draws a whole stroke as quadratic curves through midpoints.
    function drawStroke(c, pts) {
      c.strokeStyle = INK;
      c.fillStyle = INK;
      c.lineCap = "round";
      c.lineJoin = "round";
      if (pts.length === 1) {
        c.beginPath();
        c.arc(pts[0].x, pts[0].y, width(pts[0].p) / 2, 0, 2 * Math.PI);
        c.fill();
        return;
      }
      for (var i = 1; i < pts.length; i++) segment(c, pts, i);
    }

    function segment(c, pts, i) {
      var a = pts[i - 2] || pts[i - 1], b = pts[i - 1], d = pts[i];
      var m1 = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
      var m2 = { x: (b.x + d.x) / 2, y: (b.y + d.y) / 2 };
      if (i === 1) m1 = b;
      c.lineWidth = width((b.p + d.p) / 2);
      c.beginPath();
      c.moveTo(m1.x, m1.y);
      c.quadraticCurveTo(b.x, b.y, m2.x, m2.y);
      c.stroke();
    }

    function redraw() {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      visitor.strokes.forEach(function (s) { drawStroke(ctx, s); });
      $("pad").classList.toggle("signed", visitor.strokes.length > 0);
    }

    function resize() {
      var r = canvas.getBoundingClientRect();
      if (!r.width) return;
      dpr = window.devicePixelRatio || 1;
      var w = Math.round(r.width * dpr), h = Math.round(r.height * dpr);
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
      redraw();
    }

    function add(e) {
      var pts = cur.pts, p = point(e), last = pts[pts.length - 1];
      if (last && last.x === p.x && last.y === p.y) return;
      pts.push(p);
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      if (pts.length === 1) drawStroke(ctx, pts); else segment(ctx, pts, pts.length - 1);
    }

    canvas.addEventListener("pointerdown", function (e) {
      if (cur || (e.pointerType === "mouse" && e.button !== 0)) return;
      e.preventDefault();
      try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* synthetic events */ }
      cur = { id: e.pointerId, start: e.timeStamp, pts: [] };
      visitor.strokes.push(cur.pts);
      add(e);
      $("pad").classList.add("signed");
    });
    canvas.addEventListener("pointermove", function (e) {
      if (!cur || e.pointerId !== cur.id) return;
      e.preventDefault();
      var evs = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
      (evs.length ? evs : [e]).forEach(add);
    });
    function end(e) {
      if (!cur || e.pointerId !== cur.id) return;
      cur = null;
      visitor.png = null;
      setError("err-signature", "");
    }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    canvas.addEventListener("lostpointercapture", end);

    function render(w, h, ox, oy, scale) {
      var c = document.createElement("canvas");
      c.width = Math.max(1, Math.round(w));
      c.height = Math.max(1, Math.round(h));
      var x = c.getContext("2d");
      x.fillStyle = "#fff";
      x.fillRect(0, 0, c.width, c.height);
      x.setTransform(scale, 0, 0, scale, -ox * scale, -oy * scale);
      visitor.strokes.forEach(function (s) { drawStroke(x, s); });
      return c.toDataURL("image/png");
    }

    if (window.ResizeObserver) new ResizeObserver(function () { if (screen === "signature") resize(); }).observe(canvas);

    return {
      resize: resize,
      clear: function () { cur = null; visitor.strokes = []; visitor.png = null; redraw(); },
      empty: function () { return !visitor.strokes.some(function (s) { return s.length > 0; }); },
      // png renders the vector points at 1x on white, in the same coordinates
      // as the points: small, and the same on every screen density.
      png: function () {
        var r = canvas.getBoundingClientRect();
        return render(Math.round(r.width || canvas.width / dpr), Math.round(r.height || canvas.height / dpr), 0, 0, 1);
      },
      // thumb is the signature cropped to its ink, for the review screen only.
      thumb: function () {
        var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
        visitor.strokes.forEach(function (s) {
          s.forEach(function (p) { x0 = Math.min(x0, p.x); y0 = Math.min(y0, p.y); x1 = Math.max(x1, p.x); y1 = Math.max(y1, p.y); });
        });
        var m = 10, scale = 2;
        return render((x1 - x0 + 2 * m) * scale, (y1 - y0 + 2 * m) * scale, x0 - m, y0 - m, scale);
      }
    };
  })();

  // ---- review and submit --------------------------------------------------

  function kv(dl, pairs) {
    dl.textContent = "";
    pairs.forEach(function (p) {
      var dt = document.createElement("dt");
      dt.textContent = p[0];
      var dd = document.createElement("dd");
      dd.textContent = p[1];
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
  }

  function renderReview() {
    var s = subject();
    var langName = ($$('[data-lang="' + lang + '"] .lang-name')[0] || {}).textContent || lang;
    var n = visitor.notice || {};
    var viewed = visitor.viewedAt ? new Date(visitor.viewedAt) : null;
    kv($("review-details"), [
      [t("review.name"), s.given_name + " " + s.family_name],
      [t("review.email"), s.email],
      [t("review.phone"), s.phone || t("review.none")],
      [t("review.language"), langName],
      [t("review.notice"), t("review.notice_value", {
        version: n.version,
        time: viewed ? viewed.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" }) : ""
      })]
    ]);
    var ul = $("review-choices");
    ul.textContent = "";
    var c = choices();
    ((config && config.purposes) || []).forEach(function (p) {
      var li = document.createElement("li");
      li.className = c[p.code] ? "yes" : "no";
      var name = document.createElement("span");
      name.textContent = purposeText(p).title;
      var v = document.createElement("span");
      v.className = "chip";
      v.textContent = c[p.code] ? t("review.yes") : t("review.no");
      li.appendChild(name);
      li.appendChild(v);
      ul.appendChild(li);
    });
    var img = $("review-signature");
    if (pad.empty()) {
      img.removeAttribute("src");
      img.alt = t("review.no_signature");
    } else {
      img.src = pad.thumb();
      img.alt = t("review.signature");
    }
    setError("err-submit", "");
  }

  function submit() {
    if (visitor.saving) return;
    clearErrors();
    if (!validateIdentity()) { show("identity"); validateIdentity(); return; } // again: show() moved focus
    if (!anyGranted()) { show("purposes"); setError("err-purposes", t("error.no_purpose")); return; }
    if (config.signature_required !== false && pad.empty()) { show("signature"); setError("err-signature", t("error.no_signature")); return; }
    var n = visitor.notice || {};
    var body = {
      subject: subject(),
      purposes: choices(),
      notice: { id: n.id, version: n.version, viewed_at: visitor.viewedAt },
      language: lang
    };
    if (!pad.empty()) {
      visitor.png = visitor.png || pad.png();
      body.signature = { png: visitor.png.slice(visitor.png.indexOf(",") + 1), points: visitor.strokes };
    }
    var btn = $("confirm");
    visitor.saving = true;
    btn.disabled = true;
    btn.textContent = t("review.saving");
    var given = body.subject.given_name;
    request("POST", API + "/consents", body).then(function (res) {
      visitor.saving = false;
      btn.disabled = false;
      btn.textContent = t("review.confirm");
      if (res.status === 201 && res.body) return saved(res.body, given);
      var err = (res.body && res.body.error) || {};
      if (res.status >= 400 && res.status < 500 && err.message) return serverError(err);
      setError("err-submit", t("error.save_failed"));
    }, function () {
      visitor.saving = false;
      btn.disabled = false;
      btn.textContent = t("review.confirm");
      setError("err-submit", t("error.save_failed"));
    });
  }

  // serverError puts a 400's message next to the field it names.
  function serverError(err) {
    var f = String(err.field || "");
    var m = /^subject\.(\w+)$/.exec(f);
    if (m && FIELDS.indexOf(m[1]) >= 0) {
      show("identity");
      setError("err-" + m[1], err.message, $(m[1]));
      $(m[1]).focus();
    } else if (/^purposes/.test(f)) {
      show("purposes");
      setError("err-purposes", err.message);
    } else if (/^signature/.test(f)) {
      show("signature");
      setError("err-signature", err.message);
    } else {
      setError("err-submit", err.message);
    }
  }

  function saved(res, given) {
    // The visitor's data is no longer needed on this screen: wipe it now.
    wipe();
    $("saved-title").textContent = given ? t("saved.title", { name: given }) : t("saved.title_anon");
    var qr = $("receipt-qr");
    if (typeof res.receipt_qr === "string" && res.receipt_qr.indexOf("data:image/png;base64,") === 0) qr.src = res.receipt_qr;
    qr.alt = t("saved.qr");
    show("saved");
  }

  // ---- reset between visitors ---------------------------------------------

  // wipe clears every trace of the current visitor and staff member.
  function wipe() {
    $$("input").forEach(function (i) {
      if (i.type === "checkbox") i.checked = false; else i.value = "";
    });
    $$("form").forEach(function (f) { f.reset(); });
    visitor = newVisitor();
    pad.clear();
    clearErrors();
    ["review-details", "review-choices", "saved-title", "op-who"].forEach(function (id) { $(id).textContent = ""; });
    $("review-signature").removeAttribute("src");
    $("receipt-qr").removeAttribute("src");
    closeOperator();
  }

  function reset() {
    wipe();
    if (pending) { useConfig(pending); pending = null; }
    lang = defaultLang;
    applyI18n();
    renderPurposes();
    // Drop any #operator or other state from the current entry; never push.
    if (location.hash || history.state) history.replaceState(null, "", location.pathname + location.search);
    show(config ? "language" : "loading");
  }

  var idle = (function () {
    var last = Date.now();
    var timer = null;
    function seconds() { return (config && config.idle_seconds > 0) ? config.idle_seconds : 60; }
    function tick() {
      var limit = seconds();
      if (screen === "saved") limit = Math.min(limit, 30);
      var left = limit - (Date.now() - last) / 1000;
      var quiet = screen === "language" || screen === "loading";
      if (quiet) { $("idle").hidden = true; return; }
      if (left <= 0) {
        $("idle").hidden = true;
        reset();
        return;
      }
      var warn = limit >= 30 ? 10 : 0;
      if (screen !== "saved" && left <= warn) {
        $("idle-text").textContent = t("idle.text", { n: Math.ceil(left) });
        if ($("idle").hidden) { $("idle").hidden = false; $("idle-continue").focus(); }
      } else {
        $("idle").hidden = true;
      }
    }
    return {
      start: function () { if (!timer) timer = setInterval(tick, 250); },
      touch: function () { last = Date.now(); if (!$("idle").hidden) $("idle").hidden = true; }
    };
  })();

  // ---- staff screen -------------------------------------------------------

  var opTimer = null;

  function openOperator() {
    wipe();
    $("f-operator").hidden = false;
    $("op-dash").hidden = true;
    $("op-sync").hidden = true;
    show("operator");
    $("op-id").focus();
  }

  function closeOperator() {
    operator = null;
    if (opTimer) { clearInterval(opTimer); opTimer = null; }
    $("op-pin").value = "";
    $("op-id").value = "";
  }

  function operatorLogin(e) {
    e.preventDefault();
    var id = $("op-id").value.trim(), pin = $("op-pin").value;
    if (!id || !pin) return setError("err-operator", t("error.operator_missing"));
    request("POST", API + "/operator/session", { operator: id, pin: pin }).then(function (res) {
      $("op-pin").value = "";
      if (res.status === 200 || res.status === 204) {
        operator = { id: id, pin: pin };
        setError("err-operator", "");
        $("f-operator").hidden = true;
        $("op-dash").hidden = false;
        $("op-sync").hidden = false;
        $("op-who").textContent = t("operator.signed_in_as", { id: id });
        refreshStatus();
        opTimer = setInterval(refreshStatus, 4000);
      } else if (res.status === 401 || res.status === 403) {
        setError("err-operator", t("error.operator_pin"));
        $("op-pin").focus();
      } else {
        setError("err-operator", (res.body && res.body.error && res.body.error.message) || t("error.network"));
      }
    }, function () { setError("err-operator", t("error.network")); });
  }

  function refreshStatus() {
    if (!operator) return;
    request("GET", API + "/status", null, { "X-Operator-PIN": operator.pin }).then(function (res) {
      if (!operator) return;
      if (res.status === 401 || res.status === 403) { openOperator(); setError("err-operator", t("error.operator_pin")); return; }
      if (res.status !== 200 || !res.body) { $("err-dash").textContent = t("error.network"); return; }
      $("err-dash").textContent = "";
      renderStatus(res.body);
    }, function () { if (operator) $("err-dash").textContent = t("error.network"); });
  }

  function fmtTime(s) {
    if (!s) return t("operator.never");
    var d = new Date(s);
    if (isNaN(d) || d.getFullYear() < 2000) return t("operator.never");
    var sameDay = d.toDateString() === new Date().toDateString();
    return sameDay ? d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" })
      : d.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
  }

  function renderStatus(st) {
    var pending = Number(st.pending) || 0;
    var connected = !!st.connected;
    $("op-pending").textContent = String(pending);
    $("op-acked").textContent = st.acked_through != null ? String(st.acked_through) : "—";
    $("op-connected").textContent = connected ? t("operator.connected") : t("operator.offline");
    $("op-connected").className = connected ? "ok" : "warn";
    $("op-last-sync").textContent = fmtTime(st.last_sync_at);
    $("op-today").textContent = st.captures_today != null ? String(st.captures_today) : "—";
    var ns = st.notices || st.active_notices || [];
    $("op-notices").textContent = ns.map(function (n) {
      return typeof n === "string" ? n : (n.id + " v" + n.version);
    }).join(", ") || "—";
    var b = $("op-banner");
    b.textContent = "";
    var strong = document.createElement("strong");
    strong.textContent = pending === 0 ? t("operator.all_synced") : tn("operator.waiting", pending);
    b.appendChild(strong);
    if (pending > 0 && !connected) {
      var note = document.createElement("span");
      note.textContent = t("operator.offline_note");
      b.appendChild(note);
    }
    b.className = "banner " + (pending === 0 ? "ok" : "warn");
  }

  function syncNow() {
    if (!operator) return;
    var btn = $("op-sync");
    btn.disabled = true;
    btn.textContent = t("operator.syncing");
    request("POST", API + "/sync", {}, { "X-Operator-PIN": operator.pin }).then(done, done);
    function done() {
      setTimeout(function () {
        btn.disabled = false;
        btn.textContent = t("operator.sync_now");
        refreshStatus();
      }, 800);
    }
  }

  // ---- plumbing -----------------------------------------------------------

  function request(method, url, body, headers) {
    var opts = { method: method, cache: "no-store", credentials: "same-origin", headers: headers || {} };
    if (body != null) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (txt) {
        var data = null;
        try { data = txt ? JSON.parse(txt) : null; } catch (e) { data = null; }
        return { status: r.status, body: data };
      });
    });
  }

  // rfc3339 formats d in local time with its UTC offset, e.g. 2025-05-02T10:04:05.123+02:00.
  function rfc3339(d) {
    function p(n, w) { n = String(Math.abs(n)); while (n.length < (w || 2)) n = "0" + n; return n; }
    var off = -d.getTimezoneOffset();
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" +
      p(d.getMinutes()) + ":" + p(d.getSeconds()) + "." + p(d.getMilliseconds(), 3) +
      (off >= 0 ? "+" : "-") + p(Math.floor(Math.abs(off) / 60)) + ":" + p(Math.abs(off) % 60);
  }

  function route() {
    if (!config) return;
    if (location.hash === "#operator") { if (screen !== "operator") openOperator(); }
    else if (screen === "operator") reset();
  }

  function loadConfig() {
    return request("GET", API + "/config").then(function (res) {
      if (res.status !== 200 || !res.body) throw new Error("config " + res.status);
      return res.body;
    });
  }

  function useConfig(c) {
    config = c;
    document.documentElement.setAttribute("data-config-seq", String(c.config_seq));
    var tp = c.touchpoint || {};
    if (tp.language && languages.indexOf(tp.language) >= 0) defaultLang = tp.language;
    $("brand-name").textContent = (c.controller && c.controller.name) || "Attesta";
    $("brand-place").textContent = tp.name || "";
    document.title = $("brand-name").textContent;
  }

  // refreshConfig looks for a configuration the hub sent since the page
  // loaded (a new notice version, a purpose). It is taken at once on the
  // welcome screen and otherwise when the visitor is done: someone half way
  // through finishes on the notice they read, and the record names it.
  function refreshConfig() {
    return loadConfig().then(function (c) {
      if (!config || c.config_seq === config.config_seq) return;
      pending = c;
      if (screen === "language") reset();
    }, function () { /* offline or restarting: try again at the next tick */ });
  }

  function start() {
    languages = $$("[data-lang]").map(function (b) { return b.getAttribute("data-lang"); });
    var loads = languages.map(function (code) {
      return request("GET", "i18n/" + code + ".json").then(function (res) { catalogs[code] = res.body || {}; });
    });
    Promise.all(loads).then(function () {
      applyI18n();
      (function attempt() {
        loadConfig().then(function (c) {
          useConfig(c);
          var staff = location.hash === "#operator";
          reset();
          if (staff) openOperator();
          setInterval(refreshConfig, 20000);
        }, function () {
          $("loading-text").textContent = t("loading.error");
          setTimeout(attempt, 3000);
        });
      })();
    });

    $$("[data-lang]").forEach(function (b) {
      b.addEventListener("click", function () { chooseLanguage(b.getAttribute("data-lang")); });
    });
    $$("[data-back]").forEach(function (b) {
      b.addEventListener("click", function () { clearErrors(); go(-1); });
    });
    $("f-identity").addEventListener("submit", function (e) {
      e.preventDefault();
      if (validateIdentity()) go(1);
    });
    FIELDS.forEach(function (f) {
      $(f).addEventListener("input", function () { if ($(f).getAttribute("aria-invalid")) setError("err-" + f, "", $(f)); });
    });
    $$("[data-next]").forEach(function (b) {
      b.addEventListener("click", function () {
        if (screen === "purposes" && !anyGranted()) return setError("err-purposes", t("error.no_purpose"));
        if (screen === "signature" && config.signature_required !== false && pad.empty()) {
          return setError("err-signature", t("error.no_signature"));
        }
        go(1);
      });
    });
    $("clear-signature").addEventListener("click", function () { pad.clear(); announce(t("signature.cleared")); });
    $("confirm").addEventListener("click", submit);
    $("new-visitor").addEventListener("click", function () { reset(); refreshConfig(); });
    $("f-operator").addEventListener("submit", operatorLogin);
    $("op-sync").addEventListener("click", syncNow);
    $("op-close").addEventListener("click", reset);
    $("idle-continue").addEventListener("click", idle.touch);
    window.addEventListener("hashchange", route);
    // A page restored from the back-forward cache must not show the last visitor.
    window.addEventListener("pageshow", function (e) { if (e.persisted) reset(); });
    ["pointerdown", "keydown", "input", "wheel", "touchstart"].forEach(function (ev) {
      document.addEventListener(ev, idle.touch, { capture: true, passive: true });
    });
    $$(".screen-body, .notice-text").forEach(function (el) {
      el.addEventListener("scroll", idle.touch, { passive: true });
    });
    idle.start();
  }

  start();
})();
