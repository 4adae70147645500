/// The page template. Mustache escapes every `{{value}}` for HTML; the template uses no triple
/// mustaches or `{{& }}`, so all corpus-derived text reaches the page as inert text (tested).
/// CSS and the script are part of the template itself, not values.
package enum ReportTemplate {
    /// Where the switcher data (`HTMLReport.scoresJSON`) goes; the template is split here.
    static let scoresMarker = "<!--heed-scores-->"

    package static let css = """
        :root{--ink:#1f2328;--muted:#57606a;--line:#d0d7de;--soft:#f6f8fa;--heat:234 88 12;--cold:37 99 235;--ok:26 127 55;--bad:207 34 46}
        *{box-sizing:border-box}
        body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;color:var(--ink);background:#fff}
        main{max-width:1180px;margin:0 auto;padding:24px 28px 64px}
        h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:0 0 10px}h3{font-size:15px;margin:14px 0 6px}
        .sub{color:var(--muted);margin:0 0 18px}
        .grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(330px,1fr));gap:16px;margin-bottom:16px}
        section.card{border:1px solid var(--line);border-radius:8px;padding:14px 16px;background:#fff;margin-bottom:16px;overflow-x:auto;min-width:0}
        .grid section.card{margin-bottom:0}
        .grid.many{grid-template-columns:minmax(0,1fr) minmax(0,1fr)}.grid.many .cmcard{grid-column:1/-1;order:3}
        .grid.wide{grid-template-columns:minmax(0,3fr) minmax(0,2fr)}@media (max-width:900px){.grid.wide{grid-template-columns:minmax(0,1fr)}}
        .kpis{display:flex;gap:28px;flex-wrap:wrap;margin:2px 0 8px}.kpi b{display:block;font-size:26px;line-height:1.1}.kpi span{color:var(--muted);font-size:13px}
        table{border-collapse:collapse;font-size:13.5px}th,td{padding:4px 6px;text-align:left;border-bottom:1px solid #eaeef2}th{font-weight:600;background:var(--soft);max-width:22em;overflow-wrap:break-word}
        td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
        table.tuning tr.best td{font-weight:600;background:#f6f8fa}
        table.cm td{text-align:center;min-width:56px;font-variant-numeric:tabular-nums;border:1px solid #fff}
        table.cm td.d{background:rgb(var(--ok)/var(--a));font-weight:700}table.cm td.o{background:rgb(var(--bad)/var(--a))}
        .cmnote{font-size:12px;color:var(--muted)}
        dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:1px 14px;margin:0;font-size:13px}dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;font-variant-numeric:tabular-nums;word-break:break-all}
        details summary{cursor:pointer;color:var(--muted);font-size:13px}
        .chips{display:flex;flex-wrap:wrap;gap:4px}.chip{border:1px solid var(--line);border-radius:10px;padding:0 7px;font-size:12.5px;background:var(--soft);white-space:pre}.chip i{font-style:normal;color:var(--muted);margin-left:4px}
        .note{color:var(--muted);font-size:13px;margin:6px 0 0}
        .flag{display:inline-block;border-radius:4px;padding:1px 8px;font-size:13px;font-weight:600}
        .flag.warn{background:#fff8c5;border:1px solid #d4a72c}
        svg.chart{max-width:100%;height:auto;font:11px system-ui,sans-serif}svg.chart .ax{stroke:#8c959f}svg.chart .gr{stroke:#eaeef2}
        svg.chart polyline{fill:none;stroke-width:2}svg.chart .s1{stroke:#0969da}svg.chart .s2{stroke:#cf222e;stroke-dasharray:6 4}
        svg.chart .s3{stroke:#1a7f37}svg.chart .s4{stroke:#8250df;stroke-dasharray:6 4}svg.chart circle{stroke:#fff;stroke-width:1}
        svg.chart circle.s1{fill:#0969da}svg.chart circle.s2{fill:#cf222e}svg.chart circle.s3{fill:#1a7f37}svg.chart circle.s4{fill:#8250df}
        svg.chart .best{stroke:#57606a;stroke-dasharray:2 3}svg.chart text{fill:#57606a}svg.chart text.ct{fill:#1f2328;font-weight:600;font-size:12.5px}
        .nw{white-space:nowrap}.bars{display:inline-block;width:44px;height:9px;background:#eaeef2;border-radius:2px;vertical-align:middle;margin-left:5px}.bars i{display:block;height:100%;background:rgb(var(--heat))}.bars.r i{background:#8c959f}
        .legend{font-size:13px;color:var(--muted);margin:0 0 10px}
        #controls{display:flex;gap:14px;align-items:center;flex-wrap:wrap;font-size:13.5px;margin:0 0 12px;padding:8px 12px;background:var(--soft);border:1px solid var(--line);border-radius:8px}
        #controls[hidden]{display:none}#controls input{padding:3px 6px;min-width:220px}
        article.doc{border:1px solid var(--line);border-left:4px solid rgb(var(--ok));border-radius:6px;padding:10px 14px;margin:0 0 10px;content-visibility:auto;contain-intrinsic-size:auto 140px}
        article.doc.wrong{border-left-color:rgb(var(--bad));background:#fffafa}article.doc.nolabel{border-left-color:#8c959f}
        .dh{display:flex;gap:14px;flex-wrap:wrap;align-items:baseline;font-size:13.5px;margin-bottom:6px}
        .dh a{color:var(--muted);text-decoration:none;font-variant-numeric:tabular-nums}.dh .ln{color:var(--muted)}
        .badge{border-radius:4px;padding:0 7px;font-size:12.5px;font-weight:600}.badge.bad{background:rgb(var(--bad));color:#fff}.badge.ok{background:#dafbe1;color:#116329;border:1px solid #aceebb}
        .text{white-space:pre-wrap;overflow-wrap:anywhere;margin:0 0 8px;font-size:15.5px;line-height:1.9}
        .t{position:relative;background:rgb(var(--heat)/calc(var(--a)*.78));border-radius:3px;box-shadow:inset 1px 0 0 #fff;padding:1px 0;text-decoration-line:underline;text-decoration-thickness:0;text-decoration-color:transparent;text-underline-offset:3px;outline-offset:1px}
        .t.u1{text-decoration-color:#7c2d12;text-decoration-thickness:1px}.t.u2{text-decoration-color:#7c2d12;text-decoration-thickness:2px}.t.u3{text-decoration-color:#7c2d12;text-decoration-thickness:3px}
        .t.neg{background:rgb(var(--cold)/calc(var(--a)*.6));text-decoration-color:#1e3a8a}
        .t[data-r]::after{content:attr(data-r);font-size:10px;font-weight:700;line-height:1;vertical-align:super;margin-left:1px;padding:0 3px;border-radius:6px;background:#7c2d12;color:#fff}
        .t:hover::before,.t:focus::before{content:attr(aria-label);position:absolute;left:0;bottom:calc(100% + 4px);z-index:5;white-space:pre;background:#1f2328;color:#fff;font-size:12px;line-height:1.3;padding:3px 7px;border-radius:4px;pointer-events:none}
        .t:focus{outline:2px solid #0969da}
        .cut{color:var(--muted);font-style:italic}
        .text.han{white-space:normal}.sent{display:grid;grid-template-columns:92px minmax(0,1fr);gap:10px;align-items:baseline}.st{white-space:pre-wrap}
        .sb{display:inline-flex;align-items:center;gap:4px;width:92px;font-size:11px;color:var(--muted);font-variant-numeric:tabular-nums}.sb::before{content:"";display:block;flex:none;height:9px;width:calc(var(--w)*56px);min-width:1px;background:rgb(var(--heat));border-radius:2px}.sb.neg::before{background:rgb(var(--cold))}.sb::after{content:attr(data-v)}
        .legend .sgn{display:none;white-space:nowrap}.legend.signed .sgn{display:inline}.sw{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;background:rgb(var(--heat)/.78)}.sw.neg{background:rgb(var(--cold)/.6)}
        p.alt{font-size:12.5px;color:var(--muted);margin:0 0 6px;display:flex;gap:4px 16px;flex-wrap:wrap}p.alt b{font-weight:600;color:var(--ink)}p.alt i{font-style:normal;margin-left:3px;font-variant-numeric:tabular-nums}
        ul.probs{list-style:none;margin:0;padding:0;display:flex;gap:16px;flex-wrap:wrap;font-size:12.5px;color:var(--muted)}
        ul.probs li.top{color:var(--ink);font-weight:600}ul.probs .pb{display:inline-block;width:70px;height:7px;background:#eaeef2;border-radius:2px;margin:0 5px;vertical-align:middle}ul.probs .pb i{display:block;height:100%;background:#8c959f}ul.probs li.top .pb i{background:var(--ink)}
        svg.chart .diag{stroke:#8c959f;stroke-dasharray:4 4}svg.chart .gap{stroke:rgb(var(--bad));stroke-width:2}svg.chart rect.acc{fill:#0969da;fill-opacity:.28;stroke:#0969da}
        svg.chart rect.cnt{fill:#8c959f}svg.chart circle.conf{fill:#0969da}svg.chart circle.pt{fill:rgb(var(--heat));fill-opacity:.75}svg.chart text.cl{font-size:9px}
        .plots{display:flex;gap:18px;flex-wrap:wrap;align-items:flex-start}
        table.tau td{text-align:center;min-width:86px;background:rgb(var(--ok)/calc(var(--a)*.45));font-variant-numeric:tabular-nums}table.tau td.neg{background:rgb(var(--bad)/calc(var(--a)*.45))}table.tau td.self{background:var(--soft);color:var(--muted)}table.tau td small{display:block;color:var(--muted);font-size:11px}
        table.eraser{font-size:12.5px}table.eraser td{font-variant-numeric:tabular-nums;text-align:right}table.eraser td:first-child{text-align:left;white-space:nowrap}table.eraser tr.rnd td{color:var(--muted);font-style:italic}
        .agr{color:var(--muted);font-variant-numeric:tabular-nums}.agr.low{color:#9a6700;font-weight:600}.badge.warn{background:#fff8c5;color:#7d4e00;border:1px solid #d4a72c}
        p.warnnote{color:#7d4e00;background:#fff8c5;border-radius:4px;padding:2px 8px;margin:0 0 6px}
        footer{color:var(--muted);font-size:12px;margin-top:24px}
        .sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
        """

    /// Adds the method switcher and the sort/filter controls. Only reads data attributes, the
    /// JSON data block and text; one listener per control, none per document or token. The page is
    /// complete without it. Painting mirrors `HTMLReport.doc`: same shade formulas (`Shading`),
    /// same underline thresholds and rank rule, from the same printed numbers.
    static let script = """
        (function(){var c=document.getElementById("controls"),list=document.getElementById("docs");if(!c||!list)return;
        var docs=Array.prototype.slice.call(list.querySelectorAll("article.doc"));
        var keys=docs.map(function(d){return (d.getAttribute("data-s")||"").split(" ").map(Number)});
        var texts=docs.map(function(d){var t=d.querySelector(".text");return t?t.textContent.toLowerCase():""});
        var sort=document.getElementById("sort"),show=document.getElementById("show"),q=document.getElementById("q"),count=document.getElementById("count");
        function apply(){var m=sort.selectedIndex,f=show.value,t=q.value.toLowerCase(),n=0;
        var idx=docs.map(function(_,i){return i}).sort(function(a,b){return (keys[a][m]-keys[b][m])||(a-b)});
        var frag=document.createDocumentFragment();
        idx.forEach(function(i){var d=docs[i],w=d.classList.contains("wrong");var ok=(f==="all"||(f==="wrong")===w)&&(!t||texts[i].indexOf(t)>=0);d.hidden=!ok;if(ok)n++;frag.appendChild(d)});
        list.appendChild(frag);count.textContent=n+" of "+docs.length+" documents";}
        c.hidden=false;sort.addEventListener("change",apply);show.addEventListener("change",apply);q.addEventListener("input",apply);
        var sw=document.getElementById("method"),el=document.getElementById("heed-scores"),lg=document.getElementById("method-legend");if(!sw||!el||!lg)return;
        var S=JSON.parse(el.textContent),M=S.methods,L=Math.log(S.attentionFull),H=S.sentences;
        function fmt(m,x){return m.signed?(x<0?"\\u2212":"+")+Math.abs(x):""+x}
        function bars(d,k,m){var h=H&&H[d.id],b=d.querySelectorAll(".sb");if(!h)return null;var sv=h.v[k]||[],sc=S.sscale[k];
        for(var j=0;b.length>j;j++){var x=sv[j],w=0;if(x===undefined){b[j].className="sb";b[j].setAttribute("data-v","");b[j].setAttribute("aria-label","sentence "+(j+1)+": "+m.name+" not computed")}
        else{w=m.id==="attention"?Math.min(1,Math.max(0,x)):(sc>0?Math.min(1,Math.abs(x)/sc):0);b[j].className="sb"+(m.signed&&x<0?" neg":"");b[j].setAttribute("data-v",fmt(m,x));b[j].setAttribute("aria-label","sentence "+(j+1)+": "+(m.id==="attention"?"sentence attention":m.name)+" "+fmt(m,x))}
        b[j].style.setProperty("--w",w.toFixed(3))}
        if(m.id!=="attention")return null;var p=[];h.n.forEach(function(c){for(var i=0;c>i;i++)p.push(c)});return p}
        function paint(k){var m=M[k];if(!m)return;
        docs.forEach(function(d){var v=(S.docs[d.id]||[])[k]||[],sp=d.querySelectorAll(".text .t"),P=bars(d,k,m);
        if(v.length!==sp.length){for(var j=0;sp.length>j;j++){sp[j].className="t";sp[j].style.setProperty("--a","0");sp[j].removeAttribute("data-r");sp[j].setAttribute("aria-label",sp[j].textContent+": "+m.name+" not computed")}return}
        if(P&&P.length!==v.length)P=null;var key=P?v.map(function(x,i){return P[i]*x-1}):v;
        var n=v.length,r={};v.map(function(_,i){return i}).filter(function(i){return key[i]>0}).sort(function(a,b){return (key[b]-key[a])||(a-b)}).slice(0,3).forEach(function(i,j){r[i]=j+1});
        for(var i=0;n>i;i++){var x=v[i],s=sp[i],a,u=(P?P[i]:n)*x;
        if(m.id==="attention")a=u<=1+1e-6?0:Math.min(1,Math.log(u)/L);else a=m.scale>0?Math.min(1,Math.abs(x)/m.scale):0;
        s.className="t"+(a>=0.8?" u3":a>=0.6?" u2":a>=0.4?" u1":"")+(m.signed&&x<0?" neg":"");s.style.setProperty("--a",a.toFixed(2));
        if(r[i])s.setAttribute("data-r",r[i]);else s.removeAttribute("data-r");
        s.setAttribute("aria-label",s.textContent+": "+m.name+" "+fmt(m,x)+(r[i]?", rank "+r[i]:""))}});
        lg.textContent=m.legend;lg.parentNode.classList.toggle("signed",m.signed);document.body.setAttribute("data-method",m.id)}
        sw.addEventListener("change",function(){paint(sw.selectedIndex)});})();
        """

    /// One `PlotView` as SVG (same classes and layout as the training charts).
    static let plot = """
        <svg class="chart" viewBox="0 0 {{width}} {{height}}" width="{{width}}" height="{{height}}" role="img" aria-label="{{plotTitle}}">
        <title>{{plotTitle}}</title>
        {{#yTicks}}<line class="gr" x1="{{plotLeft}}" x2="{{plotRight}}" y1="{{y}}" y2="{{y}}"/><text x="{{x}}" y="{{y}}" dy="4" text-anchor="end">{{tickLabel}}</text>{{/yTicks}}
        {{#xTicks}}<text x="{{x}}" y="{{y}}" text-anchor="middle">{{tickLabel}}</text>{{/xTicks}}
        <line class="ax" x1="{{plotLeft}}" x2="{{plotLeft}}" y1="{{plotTop}}" y2="{{plotBottom}}"/><line class="ax" x1="{{plotLeft}}" x2="{{plotRight}}" y1="{{plotBottom}}" y2="{{plotBottom}}"/>
        {{#bars}}<rect class="{{css}}" x="{{x}}" y="{{y}}" width="{{w}}" height="{{h}}"><title>{{rectTitle}}</title></rect>{{/bars}}
        {{#segments}}<line class="{{css}}" x1="{{x1}}" y1="{{y1}}" x2="{{x2}}" y2="{{y2}}"/>{{/segments}}
        {{#paths}}<polyline class="{{css}}" points="{{points}}"/>{{/paths}}
        {{#dots}}<circle class="{{css}}" cx="{{cx}}" cy="{{cy}}" r="3.5"><title>{{dotTitle}}</title></circle>{{/dots}}
        {{#labels}}<text class="cl" x="{{x}}" y="{{y}}" text-anchor="middle">{{label}}</text>{{/labels}}
        <text x="{{xLabelX}}" y="{{xLabelY}}" text-anchor="middle">{{xAxisLabel}}</text>
        <text x="{{yLabelX}}" y="{{yLabelY}}" text-anchor="middle" transform="rotate(-90 {{yLabelX}} {{yLabelY}})">{{yAxisLabel}}</text>
        <text class="ct" x="0" y="13">{{plotTitle}}</text>
        </svg>
        """

    static let page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{{scriptHash}}'; img-src data:; base-uri 'none'; form-action 'none'">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}}</title>
        <style>
        \(css)
        </style>
        </head>
        <body>
        <main>
        <h1>What the model looked at</h1>
        <p class="sub">Model <b>{{modelName}}</b> ({{modelKind}}) on corpus <b>{{corpusName}}</b>: {{documentCount}} documents, {{shownCount}} shown below.</p>
        {{#hasHanNote}}
        <p class="note">{{hanNote}}</p>
        {{/hasHanNote}}
        {{#baseline}}
        <p><span class="flag warn">No attention</span> This is a baseline LSTM without attention: its tokens are shaded by leave-one-out occlusion, not attention.</p>
        {{/baseline}}
        <div class="grid{{#manyClasses}} many{{/manyClasses}}">
        <section class="card" aria-labelledby="h-summary">
        <h2 id="h-summary">Summary</h2>
        {{#hasMetrics}}
        <div class="kpis"><div class="kpi"><b>{{accuracy}}</b><span>accuracy ({{correctCount}})</span></div><div class="kpi"><b>{{macroF1}}</b><span>macro-F1</span></div>{{#hasCalibration}}<div class="kpi"><b>{{ece}}</b><span>{{eceNote}}</span></div>{{/hasCalibration}}</div>
        <table class="summary">
        <thead><tr><th>class</th><th class="num">precision</th><th class="num">recall</th><th class="num">F1</th><th class="num">support</th></tr></thead>
        <tbody>
        {{#perClass}}
        <tr><td>{{label}}</td><td class="num">{{precision}}</td><td class="num">{{recall}}</td><td class="num">{{f1}}</td><td class="num">{{support}}</td></tr>
        {{/perClass}}
        </tbody>
        </table>
        {{/hasMetrics}}
        {{^hasMetrics}}
        <p class="note">The corpus has no labels: no accuracy or confusion matrix.</p>
        {{/hasMetrics}}
        </section>
        {{#hasMetrics}}
        <section class="card cmcard" aria-labelledby="h-confusion">
        <h2 id="h-confusion">Confusion matrix</h2>
        <table class="cm">
        <thead><tr><th>true \\ predicted</th>{{#confusionLabels}}<th>{{.}}</th>{{/confusionLabels}}<th class="num">total</th></tr></thead>
        <tbody>
        {{#confusion}}
        <tr><th>{{rowLabel}}</th>{{#cells}}<td class="{{#diagonal}}d{{/diagonal}}{{^diagonal}}o{{/diagonal}}" style="--a:{{alpha}}" title="{{title}}">{{count}}</td>{{/cells}}<td class="num">{{total}}</td></tr>
        {{/confusion}}
        </tbody>
        </table>
        <p class="cmnote">Rows: true class; columns: predicted. Shade: share of the row. Correct predictions are on the bold diagonal.</p>
        </section>
        {{/hasMetrics}}
        <section class="card" aria-labelledby="h-model">
        <h2 id="h-model">Model</h2>
        <dl class="kv">
        {{#config}}
        <dt>{{key}}</dt><dd>{{value}}</dd>
        {{/config}}
        {{#conicity}}
        <dt>encoder conicity</dt><dd>{{card}}</dd>
        {{/conicity}}
        </dl>
        {{#hasProvenance}}
        <h3>Learnt from, besides the labels</h3>
        <dl class="kv">
        {{#provenance}}
        <dt>{{key}}</dt><dd>{{value}}</dd>
        {{/provenance}}
        </dl>
        {{/hasProvenance}}
        <details><summary>training options</summary>
        <dl class="kv">
        {{#options}}
        <dt>{{key}}</dt><dd>{{value}}</dd>
        {{/options}}
        </dl>
        </details>
        </section>
        </div>
        {{#hasCompare}}
        <section class="card" aria-labelledby="h-compare">
        <h2 id="h-compare">Baseline vs attention</h2>
        <table class="compare">
        <thead><tr><th>model</th><th class="num">accuracy</th><th class="num">macro-F1</th><th class="num">test loss</th><th class="num">train time</th><th class="num">tokens/s</th><th class="num">best epoch</th></tr></thead>
        <tbody>
        {{#compareRows}}
        <tr><td>{{#isAttention}}<b>{{modelName}}</b>{{/isAttention}}{{^isAttention}}{{modelName}}{{/isAttention}}</td><td class="num">{{accuracy}}</td><td class="num">{{macroF1}}</td><td class="num">{{loss}}</td><td class="num">{{seconds}}</td><td class="num">{{speed}}</td><td class="num">{{epochs}}</td></tr>
        {{/compareRows}}
        </tbody>
        </table>
        <p class="note">{{compareNote}}</p>
        </section>
        {{/hasCompare}}
        {{#hasModelTable}}
        <section class="card" aria-labelledby="h-models">
        <h2 id="h-models">Which attention, for what: models compared</h2>
        <table class="compare models">
        <thead><tr><th>model</th><th class="num">accuracy</th><th class="num">macro-F1</th><th class="num">τ(attention, IG)</th><th class="num" title="attention against the magnitude of integrated gradients: attention says how much, never which way">τ(attention, |IG|)</th><th class="num">τ(attention, occlusion)</th><th class="num">AOPC attention</th><th class="num">AOPC IG</th><th class="num">perm TVD</th><th class="num">conicity</th><th class="num">tokens/s</th><th class="num">latency</th><th class="num">size</th></tr></thead>
        <tbody>
        {{#modelRows}}
        <tr><td>{{#isAttention}}<b>{{modelName}}</b>{{/isAttention}}{{^isAttention}}{{modelName}}{{/isAttention}}</td><td class="num">{{accuracy}}</td><td class="num">{{macroF1}}</td><td class="num">{{tauIG}}</td><td class="num">{{tauAbsIG}}</td><td class="num">{{tauOcclusion}}</td><td class="num">{{aopcAttention}}</td><td class="num">{{aopcIG}}</td><td class="num">{{tvd}}</td><td class="num">{{conicity}}</td><td class="num">{{speed}}</td><td class="num">{{latency}}</td><td class="num">{{size}}</td></tr>
        {{/modelRows}}
        </tbody>
        </table>
        <p class="note">{{modelNote}}</p>
        </section>
        {{/hasModelTable}}
        <section class="card" aria-labelledby="h-tokens">
        <h2 id="h-tokens">Tokens that matter most, per class</h2>
        <table class="mass">
        <thead><tr><th>predicted class</th>{{#tokenPanels}}<th>{{panelTitle}}</th>{{/tokenPanels}}</tr></thead>
        <tbody>
        {{#tokenRows}}
        <tr><th>{{classLabel}}</th>{{#cells}}<td><div class="chips">{{#chips}}<span class="chip" title="{{chipTitle}}">{{token}}<i>{{value}}</i></span>{{/chips}}{{#none}}<span class="note">none</span>{{/none}}</div></td>{{/cells}}</tr>
        {{/tokenRows}}
        </tbody>
        </table>
        <p class="note">{{tokenNote}}</p>
        </section>
        <div class="grid wide">
        <section class="card" aria-labelledby="h-faith">
        <h2 id="h-faith">Faithfulness: does erasing attended tokens change the prediction?</h2>
        {{#hasFaithfulness}}
        <table class="faith">
        <thead><tr><th class="num">k</th><th class="num">documents</th><th>flips: top-k attended erased</th><th>flips: k random erased</th><th class="num">Δp top-k</th><th class="num">Δp random</th></tr></thead>
        <tbody>
        {{#faithfulness}}
        <tr><td class="num">{{k}}</td><td class="num">{{documents}}</td><td class="nw">{{top}}<span class="bars" aria-hidden="true"><i style="width:{{topWidth}}%"></i></span></td><td class="nw">{{random}}<span class="bars r" aria-hidden="true"><i style="width:{{randomWidth}}%"></i></span></td><td class="num">{{topDrop}}</td><td class="num">{{randomDrop}}</td></tr>
        {{/faithfulness}}
        </tbody>
        </table>
        <p class="note">Erasing means dropping the tokens from the model's input sequence (not replacing them by &lt;unk&gt;); random tokens are drawn with a fixed seed, and only documents with more than k tokens count. Δp is the mean drop in the probability of the originally predicted class. If erasing the most-attended tokens flips the prediction far more often than erasing random ones, the attention points at tokens the decision depends on; similar rates mean the shading should not be read as an explanation.</p>
        {{/hasFaithfulness}}
        {{^hasFaithfulness}}
        <p class="note">{{faithfulnessNote}}</p>
        {{/hasFaithfulness}}
        </section>
        <section class="card" aria-labelledby="h-training">
        <h2 id="h-training">Training</h2>
        {{#charts}}
        <svg class="chart" viewBox="0 0 {{width}} {{height}}" width="{{width}}" height="{{height}}" role="img" aria-label="{{chartTitle}}">
        <title>{{chartTitle}}</title>
        {{#yTicks}}<line class="gr" x1="{{plotLeft}}" x2="{{plotRight}}" y1="{{y}}" y2="{{y}}"/><text x="{{x}}" y="{{y}}" dy="4" text-anchor="end">{{tickLabel}}</text>{{/yTicks}}
        {{#xTicks}}<text x="{{x}}" y="{{y}}" text-anchor="middle">{{tickLabel}}</text>{{/xTicks}}
        <line class="ax" x1="{{plotLeft}}" x2="{{plotLeft}}" y1="{{plotTop}}" y2="{{plotBottom}}"/><line class="ax" x1="{{plotLeft}}" x2="{{plotRight}}" y1="{{plotBottom}}" y2="{{plotBottom}}"/>
        {{#hasBest}}<line class="best" x1="{{bestX}}" x2="{{bestX}}" y1="{{plotTop}}" y2="{{plotBottom}}"/>{{/hasBest}}
        {{#series}}<polyline class="{{css}}" points="{{points}}"/>{{#dots}}<circle class="{{css}}" cx="{{cx}}" cy="{{cy}}" r="3.5"><title>{{dotTitle}}</title></circle>{{/dots}}{{/series}}
        {{#legend}}<polyline class="{{css}}" points="{{lx}},{{ly}} {{lx2}},{{ly}}"/><text x="{{tx}}" y="{{ly}}" dy="4">{{legendName}}</text>{{/legend}}
        <text x="{{xLabelX}}" y="{{xLabelY}}" text-anchor="middle">{{xAxisLabel}}</text>
        <text class="ct" x="0" y="13">{{chartTitle}}</text>
        </svg>
        {{/charts}}
        <p class="note">{{logNote}}</p>
        {{#hasTuning}}
        <h3>Settings search</h3>
        <table class="tuning">
        <thead><tr><th class="num">trial</th><th class="num">lr</th><th class="num">hidden</th><th class="num">embed</th><th class="num">dropout</th><th class="num">word dropout</th><th class="num">batch</th><th>subwords</th>{{#tuningStarts}}<th>start</th><th>fine-tuning</th>{{/tuningStarts}}<th class="num">epochs</th><th class="num">dev accuracy</th><th class="num">dev macro-F1</th><th>status</th></tr></thead>
        <tbody>
        {{#tuningRows}}
        <tr{{#isBest}} class="best"{{/isBest}}><td class="num">{{trial}}</td><td class="num">{{learningRate}}</td><td class="num">{{hidden}}</td><td class="num">{{embed}}</td><td class="num">{{dropout}}</td><td class="num">{{wordDropout}}</td><td class="num">{{batch}}</td><td>{{subwords}}</td>{{#showStart}}<td>{{start}}</td><td>{{fineTuning}}</td>{{/showStart}}<td class="num">{{epochs}}</td><td class="num">{{accuracy}}</td><td class="num">{{macroF1}}</td><td>{{status}}</td></tr>
        {{/tuningRows}}
        </tbody>
        </table>
        <p class="note">{{tuningNote}}</p>
        {{/hasTuning}}
        </section>
        </div>
        {{#hasCalibration}}
        <section class="card" aria-labelledby="h-calibration">
        <h2 id="h-calibration">Calibration: can the probabilities be taken at face value?</h2>
        <div class="plots">{{#reliability}}\(plot){{/reliability}}</div>
        <p class="note">{{calibrationNote}}</p>
        <h3>Risk and coverage: what a confidence threshold buys</h3>
        <div class="plots">{{#riskPlot}}\(plot){{/riskPlot}}
        <table class="risk">
        <thead><tr><th>answer when confidence</th><th class="num">answered</th><th class="num">coverage</th><th class="num">accuracy</th></tr></thead>
        <tbody>
        {{#riskRows}}
        <tr><td>{{threshold}}</td><td class="num">{{answered}}</td><td class="num">{{coverage}}</td><td class="num">{{accuracy}}</td></tr>
        {{/riskRows}}
        </tbody>
        </table></div>
        <p class="note">{{riskNote}}</p>
        </section>
        {{/hasCalibration}}
        <section class="card" aria-labelledby="h-methods">
        <h2 id="h-methods">Method comparison: do the explanations agree, and are they faithful?</h2>
        <p class="note">{{comparisonNote}}</p>
        {{#hasComparison}}
        <h3>Agreement: mean Kendall τ-b per pair of methods</h3>
        <table class="tau">
        <thead><tr><th></th>{{#tauNames}}<th>{{.}}</th>{{/tauNames}}</tr></thead>
        <tbody>
        {{#tauRows}}
        <tr><th>{{rowName}}</th>{{#cells}}<td class="{{css}}" style="--a:{{alpha}}" title="{{cellTitle}}">{{text}}<small>{{sub}}</small></td>{{/cells}}</tr>
        {{/tauRows}}
        </tbody>
        </table>
        <p class="note">Per document, τ-b compares the order two methods put the tokens in (1: the same order, 0: unrelated, −1: reversed); the cell is the mean over the documents (± standard deviation) and the share where τ is significant at p &lt; 0.05. Signed methods are ordered by signed score, most in favour of the predicted class first.</p>
        <h3>ERASER: removing and keeping each method's top tokens</h3>
        <table class="eraser">
        <thead><tr><th>ranking</th>{{#eraserPercentages}}<th class="num">comp. {{.}}</th>{{/eraserPercentages}}<th class="num">AOPC comp. ↑</th>{{#eraserPercentages}}<th class="num">suff. {{.}}</th>{{/eraserPercentages}}<th class="num">AOPC suff. ↓</th></tr></thead>
        <tbody>
        {{#eraserRows}}
        <tr{{#isRandom}} class="rnd"{{/isRandom}}><td>{{ranking}}</td>{{#comprehensiveness}}<td>{{.}}</td>{{/comprehensiveness}}<td><b>{{aopcC}}</b></td>{{#sufficiency}}<td>{{.}}</td>{{/sufficiency}}<td><b>{{aopcS}}</b></td></tr>
        {{/eraserRows}}
        </tbody>
        </table>
        <p class="note">Comprehensiveness: how much the predicted class's probability falls when the ranking's top k% of tokens (at least one) are removed; higher is more faithful. Sufficiency: how much it falls when only those tokens are kept; lower is more faithful. AOPC is the mean over the five shares. The random ranking is the floor: a method no better than it does not point at what the decision depends on. The erasure table above asks the same of attention alone, over every document, by flips.</p>
        {{#conicity}}
        <h3>Conicity of the encoder states</h3>
        <table class="conicity">
        <thead><tr><th class="num">documents</th><th class="num">mean</th><th class="num">sd</th><th class="num">median</th></tr></thead>
        <tbody><tr><td class="num">{{documents}}</td><td class="num">{{mean}}</td><td class="num">{{sd}}</td><td class="num">{{median}}</td></tr></tbody>
        </table>
        <p class="note">{{note}}</p>
        {{/conicity}}
        {{#hasPermutation}}
        <h3>Attention permutation</h3>
        {{#permutationPlot}}\(plot){{/permutationPlot}}
        <p class="note">{{permutationNote}}</p>
        {{/hasPermutation}}
        {{/hasComparison}}
        </section>
        <section aria-labelledby="h-docs">
        <h2 id="h-docs">Documents</h2>
        <p class="legend{{#legendSigned}} signed{{/legendSigned}}"><span class="sgn" aria-hidden="true"><span class="sw"></span> towards <span class="sw neg"></span> against </span><span id="method-legend">{{scoreLegend}}</span> Order: {{sortName}}.</p>
        {{#hasCapNote}}<p class="note">{{capNote}}</p>{{/hasCapNote}}
        {{#hasTauLegend}}<p class="note">{{tauLegend}}</p>{{/hasTauLegend}}
        <div id="controls" hidden>
        {{#hasMethods}}<label>Paint by <select id="method">{{#methodOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{text}}</option>{{/methodOptions}}</select></label>{{/hasMethods}}
        <label>Sort <select id="sort">{{#sortOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{text}}</option>{{/sortOptions}}</select></label>
        <label>Show <select id="show"><option value="all">all</option><option value="wrong">misclassified</option><option value="right">correct</option></select></label>
        <label>Find <input id="q" type="search" placeholder="text contains…"></label>
        <span id="count" aria-live="polite"></span>
        </div>
        <div id="docs">
        {{#documents}}
        <article class="doc{{#wrong}} wrong{{/wrong}}{{^hasTruth}} nolabel{{/hasTruth}}" id="d{{n}}" data-s="{{sortKeys}}">
        <div class="dh"><a href="#d{{n}}">#{{n}}</a><span class="ln">line {{line}}</span>{{#hasTruth}}<span>true <b>{{truthLabel}}</b></span>{{/hasTruth}}<span>predicted <b>{{predictedLabel}}</b> ({{confidence}})</span>{{#wrong}}<span class="badge bad">✗ misclassified</span>{{/wrong}}{{#right}}<span class="badge ok">✓ correct</span>{{/right}}<span class="ln">{{tokenCount}} tokens</span>{{#hasTau}}<span class="agr{{#disagrees}} low{{/disagrees}}" title="{{tauTitle}}">τ(attention, IG) {{tau}}</span>{{/hasTau}}{{#disagrees}}<span class="badge warn">⚠ attention and attribution disagree</span>{{/disagrees}}</div>
        {{#hierarchical}}<div class="text han">{{#sentenceRows}}<div class="sent"><span class="sb{{#barNeg}} neg{{/barNeg}}" style="--w:{{barWidth}}" role="img" aria-label="{{barAria}}" data-v="{{barValue}}"></span><span class="st">{{#segments}}{{#isToken}}<span class="t{{css}}" tabindex="0" style="--a:{{alpha}}" aria-label="{{aria}}"{{#hasRank}} data-r="{{rank}}"{{/hasRank}}>{{text}}</span>{{/isToken}}{{^isToken}}{{text}}{{/isToken}}{{/segments}}</span></div>{{/sentenceRows}}{{#hiddenTail}}<span class="cut">{{tailNote}}</span>{{/hiddenTail}}</div>{{/hierarchical}}{{^hierarchical}}<p class="text">{{#segments}}{{#isToken}}<span class="t{{css}}" tabindex="0" style="--a:{{alpha}}" aria-label="{{aria}}"{{#hasRank}} data-r="{{rank}}"{{/hasRank}}>{{text}}</span>{{/isToken}}{{^isToken}}{{text}}{{/isToken}}{{/segments}}{{#hiddenTail}}<span class="cut">{{tailNote}}</span>{{/hiddenTail}}</p>{{/hierarchical}}
        {{#disagrees}}<p class="note warnnote">{{disagreeNote}}</p>{{/disagrees}}
        {{#hasAlternatives}}<p class="alt">{{#alternatives}}<span><b>{{methodName}}</b>{{#top}} {{token}}<i>{{value}}</i>{{/top}}{{#none}} <i>none</i>{{/none}}</span>{{/alternatives}}</p>{{/hasAlternatives}}{{#partial}}<p class="note">Other methods not computed for this document (beyond the attribution limit).</p>{{/partial}}
        {{#noTokens}}<p class="note">No token of this document is in the tokenizer's output; the model scored it on its prior.</p>{{/noTokens}}
        <ul class="probs" aria-label="class probabilities">{{#probabilities}}<li{{#isTop}} class="top"{{/isTop}}>{{probLabel}}<span class="pb" aria-hidden="true"><i style="width:{{pct}}%"></i></span>{{value}}</li>{{/probabilities}}</ul>
        </article>
        {{/documents}}
        </div>
        </section>
        <footer>Generated by {{generator}}. One self-contained file: no network requests; the page reads fully without JavaScript (the script only adds the method switcher and the sort and filter controls).</footer>
        </main>
        <script type="application/json" id="heed-scores">\(scoresMarker)</script>
        <script>\(script)</script>
        </body>
        </html>

        """
}
