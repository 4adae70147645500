import HeedIO
import HeedReport

/// `GET /`: one self-contained page (the report's stylesheet, one inline script, no external
/// request) that posts the text as the user types and paints it by the chosen method. Every piece
/// of text reaches the DOM through `textContent`, never as markup, so a typed `<script>` is shown,
/// not run; the Content-Security-Policy allows only this script (by hash) and requests to this
/// server.
enum LivePage {
    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-\(SHA256.base64(script))'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static let html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>heed serve</title>
        <style>
        \(ReportTemplate.css)
        \(css)
        </style>
        </head>
        <body>
        <main>
        <h1>heed serve</h1>
        <p class="sub">Type or paste text: the prediction, the calibrated probabilities and the painted tokens follow as you type.</p>
        <div id="controls"><label>Model <select id="model"></select></label><label>Paint by <select id="method"></select></label><span id="status" class="note" role="status"></span></div>
        <textarea id="input" rows="5" spellcheck="false" placeholder="Type a sentence…" aria-label="Text to classify"></textarea>
        <section class="card" id="result" hidden>
        <div class="dh"><span class="badge ok" id="label"></span><span id="info" class="ln"></span></div>
        <ul class="probs" id="probs"></ul>
        <p class="legend" id="legend"></p>
        <div class="text" id="painted" aria-live="polite"></div>
        </section>
        <footer>Served by heed; the API is described at <a href="/openapi.json">/openapi.json</a>.</footer>
        </main>
        <script>\(script)</script>
        </body>
        </html>

        """

    static let css = """
        #controls select{padding:3px 6px;margin-left:4px}
        #input{width:100%;font:15.5px/1.6 inherit;padding:10px 12px;border:1px solid var(--line);border-radius:8px;margin:0 0 14px;resize:vertical}
        h1{font-size:24px;margin:0 0 4px}#result[hidden]{display:none}
        """

    /// The page's only script. Token offsets are UTF-8 byte offsets, so the text is sliced as bytes.
    /// A han model's answer has `sentences`: the text is laid out one row per sentence read, as in
    /// `heed report`, a bar in the margin for the sentence's score (attention: its weight; integrated
    /// gradients and occlusion: its score against the largest |score| of the text's sentences) and
    /// its words shaded; under attention, by the word attention within the sentence (the token's
    /// weight divided by its sentence's).
    static let script = #"""
        "use strict";
        (function () {
          var $ = function (id) { return document.getElementById(id); };
          var models = [], seq = 0, timer = 0, enc = new TextEncoder(), dec = new TextDecoder();
          var signed = { "grad-input": 1, "integrated-gradients": 1, "occlusion": 1 };
          function say(s) { $("status").textContent = s; }
          function current() { for (var i = 0; i < models.length; i++) if (models[i].name === $("model").value) return models[i]; return null; }
          function option(value, text) { var o = document.createElement("option"); o.value = value; o.textContent = text; return o; }
          function fillMethods() {
            var m = current(), sel = $("method");
            sel.replaceChildren();
            m.methods.forEach(function (name) { sel.append(option(name, name)); });
            sel.append(option("none", "none (prediction only)"));
            sel.value = m.default_explain.length ? m.default_explain[0] : "none";
            var cal = m.calibration ? "temperature " + m.calibration.temperature.toFixed(3) : "not calibrated";
            $("info").textContent = m.kind + ", " + m.labels.length + " labels, " + cal;
          }
          function shades(scores, method) {
            if (method === "attention") {
              return scores.map(function (w) { var k = scores.length * w; return k <= 1 + 1e-6 ? 0 : Math.min(1, Math.log(k) / Math.log(8)); });
            }
            var a = scores.map(Math.abs).filter(isFinite).sort(function (x, y) { return x - y; });
            var scale = a.length ? a[Math.min(a.length, Math.max(1, Math.ceil(0.95 * a.length))) - 1] : 0;
            return scores.map(function (s) { return scale > 0 && isFinite(s) ? Math.min(1, Math.abs(s) / scale) : 0; });
          }
          function sentenceOf(r) {
            var of = [];
            (r.sentences || []).forEach(function (s, k) { for (var i = 0; i < s.token_count; i++) of[s.first_token + i] = k; });
            return of;
          }
          function sentenceBar(s, k, method, scale) {
            var bar = document.createElement("span"), x = method === "none" || method === "attention" ? s.weight : (s.scores || {})[method];
            var sign = signed[method] && x < 0, v = x === undefined ? "" : (signed[method] ? (sign ? "\u2212" : "+") + Math.abs(x).toPrecision(3) : x.toPrecision(3));
            var w = x === undefined ? 0 : (method === "none" || method === "attention" ? Math.min(1, Math.max(0, x)) : (scale > 0 ? Math.min(1, Math.abs(x) / scale) : 0));
            bar.className = "sb" + (sign ? " neg" : "");
            bar.style.setProperty("--w", w.toFixed(3));
            bar.dataset.v = v;
            bar.setAttribute("role", "img");
            bar.setAttribute("aria-label", "sentence " + (k + 1) + ": " + (x === undefined ? method + " not scored per sentence" : (method === "none" || method === "attention" ? "sentence attention" : method) + " " + v));
            return bar;
          }
          function show(text, r, method) {
            $("result").hidden = false;
            $("label").textContent = r.label;
            var probs = $("probs");
            probs.replaceChildren();
            r.labels.forEach(function (l, i) {
              var li = document.createElement("li"), bar = document.createElement("span"), fill = document.createElement("i");
              if (i === 0) li.className = "top";
              bar.className = "pb"; fill.style.width = (100 * l.score).toFixed(1) + "%"; bar.append(fill);
              li.append(document.createTextNode(l.label), bar, document.createTextNode((100 * l.score).toFixed(1) + "%"));
              probs.append(li);
            });
            var scores = r.tokens.map(function (t) { return t.scores && method in t.scores ? t.scores[method] : 0; });
            var han = !!(r.sentences && r.sentences.length), of = sentenceOf(r), shade;
            if (method === "none") shade = scores.map(function () { return 0; });
            else if (han && method === "attention") {
              // Within each sentence: the word attention, relative to uniform in that sentence.
              shade = scores.map(function (w, i) {
                var s = r.sentences[of[i]], k = s && s.weight > 0 ? s.token_count * w / s.weight : 0;
                return k <= 1 + 1e-6 ? 0 : Math.min(1, Math.log(k) / Math.log(8));
              });
            } else shade = shades(scores, method);
            $("legend").textContent = method === "none" ? "No method chosen: tokens are outlined, not painted."
              : "Painted by " + method + (signed[method] ? " (orange: towards " + r.label + ", blue: against)" : "") + (r.truncated ? "; the model read only the first tokens" : "") + "."
              + (han ? (method === "attention" || method === "none" ? " Bars: sentence attention; words: word attention within the sentence." : " Bars: the sentence's " + method + ", where it has one.") : "");
            var bytes = enc.encode(text), pos = 0, out = document.createDocumentFragment(), row = out;
            var scale = han ? Math.max.apply(null, r.sentences.map(function (s) { var x = (s.scores || {})[method]; return x === undefined ? 0 : Math.abs(x); })) : 0;
            function startRow(k) {
              var div = document.createElement("div"), st = document.createElement("span");
              div.className = "sent"; st.className = "st";
              div.append(sentenceBar(r.sentences[k], k, method, scale), st);
              out.append(div);
              row = st;
            }
            if (han) $("painted").classList.add("han"); else $("painted").classList.remove("han");
            r.tokens.forEach(function (t, i) {
              if (han && r.sentences[of[i]] && r.sentences[of[i]].first_token === i) {
                var cut = Math.max(pos, Math.min(t.start, r.sentences[of[i]].start));
                if (cut > pos) { row.append(document.createTextNode(dec.decode(bytes.subarray(pos, cut)))); pos = cut; }
                startRow(of[i]);
              }
              if (t.start > pos) row.append(document.createTextNode(dec.decode(bytes.subarray(pos, t.start))));
              var span = document.createElement("span");
              span.className = "t" + (signed[method] && scores[i] < 0 ? " neg" : "");
              span.style.setProperty("--a", shade[i].toFixed(3));
              span.dataset.start = t.start; span.dataset.end = t.end;
              span.tabIndex = 0;
              span.setAttribute("aria-label", t.text + (method === "none" ? "" : " " + scores[i].toPrecision(3)));
              span.textContent = dec.decode(bytes.subarray(t.start, t.end));
              row.append(span);
              pos = t.end;
            });
            if (pos < bytes.length) row.append(document.createTextNode(dec.decode(bytes.subarray(pos))));
            $("painted").replaceChildren(out);
            $("painted").dataset.seq = String(seq);
          }
          function run() {
            var text = $("input").value, m = current(), method = $("method").value, id = ++seq;
            if (!m) return;
            if (!text.trim()) { $("result").hidden = true; say(""); document.body.dataset.done = String(id); return; }
            say("…");
            fetch("/v1/models/" + encodeURIComponent(m.name) + "/predict", {
              method: "POST", headers: { "content-type": "application/json" },
              body: JSON.stringify({ text: text, explain: method, top_k: m.labels.length })
            }).then(function (resp) {
              return resp.json().then(function (b) { return [resp.status, b]; });
            }).then(function (sb) {
              if (id !== seq) return;
              if (sb[0] !== 200) { say(sb[1].error || "HTTP " + sb[0]); } else { say(""); show(text, sb[1].results[0], method); }
              document.body.dataset.done = String(id);
            }).catch(function (e) { if (id === seq) { say("request failed: " + e); document.body.dataset.done = String(id); } });
          }
          function later() { clearTimeout(timer); timer = setTimeout(run, 200); }
          fetch("/v1/models").then(function (r) { return r.json(); }).then(function (d) {
            models = d.models;
            models.forEach(function (m) { $("model").append(option(m.name, m.name)); });
            fillMethods();
            $("input").addEventListener("input", later);
            $("model").addEventListener("change", function () { fillMethods(); run(); });
            $("method").addEventListener("change", run);
            document.body.dataset.ready = "1";
          }).catch(function (e) { say("could not list the models: " + e); });
        })();
        """#
}
