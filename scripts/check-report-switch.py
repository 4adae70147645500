#!/usr/bin/env python3
"""Drive a `heed report` page's method switcher in headless Chromium and check the repaint.

Usage: scripts/check-report-switch.py BROWSER PAGE WORKDIR

For every method in the page's switcher data it writes a copy of the page with one extra inline
script (allowed by adding its hash to the page's Content-Security-Policy, which otherwise stays in
force) that selects the method in the "Paint by" control and fires its change event, as a click
would; Chromium runs the page and dumps the DOM. Checks, per method:
  - every token span was repainted for it (aria-label names the method, same number of spans),
    the legend now describes it, and shading changed somewhere for a non-default method;
  - selecting another method and then the default again restores the server-rendered shading
    (alphas within 0.011, the same underline/colour classes and rank badges), so the script's
    painting agrees with the Swift one.
On a han page (sentence data in the block) the same for the sentence bars in the margin: each bar
relabelled for the method (or "not computed"), some bar changed for a non-default method, and
switching back restores every bar's length (within 0.0011) and colour class.
And, where the page offers it, choosing "attention and attribution disagree most" in the Sort
control puts the cards in order of the τ(attention, IG) they show, lowest first, cards without τ
last, with every card still present; and the cards flagged as disagreeing are exactly those whose
τ is below the threshold the page states.
Python 3 standard library only. Exit status 1 on any failure (messages on stderr).
"""
import base64
import hashlib
import html
import json
import re
import subprocess
import sys

SPAN = re.compile(r'<span class="(t(?: [a-z0-9]+)*)"([^>]*)>')


def spans(dom):
    out = []
    for m in SPAN.finditer(dom):
        attrs = m.group(2)
        alpha = re.search(r'--a:\s*([0-9.]+)', attrs)
        aria = re.search(r'aria-label="([^"]*)"', attrs)
        rank = re.search(r'data-r="([0-9]+)"', attrs)
        out.append({
            "classes": sorted(m.group(1).split()),
            "alpha": float(alpha.group(1)) if alpha else None,
            "aria": html.unescape(aria.group(1)) if aria else "",
            "rank": rank.group(1) if rank else None,
        })
    return out


BAR = re.compile(r'<span class="(sb(?: [a-z]+)*)"([^>]*)>')


def bars(dom):
    out = []
    for m in BAR.finditer(dom):
        attrs = m.group(2)
        width = re.search(r'--w:\s*([0-9.]+)', attrs)
        aria = re.search(r'aria-label="([^"]*)"', attrs)
        out.append({
            "classes": sorted(m.group(1).split()),
            "width": float(width.group(1)) if width else None,
            "aria": html.unescape(aria.group(1)) if aria else "",
        })
    return out


def harness(page, script):
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    page, n = re.subn(r"script-src 'sha256-", f"script-src 'sha256-{digest}' 'sha256-", page, count=1)
    if n != 1:
        raise SystemExit("check-report-switch: no script-src in the page's Content-Security-Policy")
    return page.replace("</body>", f"<script>{script}</script>\n</body>", 1)


def select(indices):
    steps = "".join(f's.selectedIndex={i};s.dispatchEvent(new Event("change",{{bubbles:true}}));' for i in indices)
    return f'(function(){{var s=document.getElementById("method");if(!s)return;{steps}}})();'


def main():
    browser, page_path, work = sys.argv[1:4]
    page = open(page_path, encoding="utf-8").read()
    block = re.search(r'<script type="application/json" id="heed-scores">(.*?)</script>', page, re.S)
    if not block:
        print(f"check-report-switch: {page_path}: no switcher data block", file=sys.stderr)
        return 1
    data = json.loads(block.group(1))
    methods = data["methods"]
    original = spans(page)
    original_bars = bars(page)
    han = "sentences" in data
    if han and not original_bars:
        print(f"check-report-switch: {page_path}: sentence data but no sentence bars", file=sys.stderr)
        return 1
    failures = []

    def dump(name, script):
        path = f"{work}/switch-{name}.html"
        with open(path, "w", encoding="utf-8") as f:
            f.write(harness(page, script))
        run = subprocess.run(
            ["timeout", "120", browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--enable-logging=stderr", "--v=0", "--dump-dom", "file://" + path],
            capture_output=True, text=True)
        for line in run.stderr.splitlines():
            if "Uncaught" in line or "Refused to" in line:
                failures.append(f"{name}: {line.strip()}")
        return run.stdout

    for k, method in enumerate(methods):
        dom = dump(method["id"], select([k]))
        got = spans(dom)
        if len(got) != len(original) or not got:
            failures.append(f"{method['id']}: {len(got)} spans after switching, {len(original)} in the file")
            continue
        unpainted = [s["aria"] for s in got if f": {method['name']} " not in s["aria"]]
        if unpainted:
            failures.append(f"{method['id']}: {len(unpainted)} spans not repainted, e.g. {unpainted[0]!r}")
        if f'data-method="{method["id"]}"' not in dom:
            failures.append(f"{method['id']}: the page does not say it is painted by {method['id']}")
        legend = re.search(r'<span id="method-legend">([^<]*)</span>', dom)
        if not legend or html.unescape(legend.group(1)) != method["legend"]:
            failures.append(f"{method['id']}: the legend was not switched")
        if k > 0 and all(a["alpha"] == b["alpha"] and a["classes"] == b["classes"] for a, b in zip(got, original)):
            failures.append(f"{method['id']}: no span's shading changed (was it painted at all?)")
        if han:
            got_bars = bars(dom)
            label = "sentence attention" if method["id"] == "attention" else method["name"]
            if len(got_bars) != len(original_bars):
                failures.append(f"{method['id']}: {len(got_bars)} sentence bars after switching, {len(original_bars)} in the file")
            stale = [b["aria"] for b in got_bars if f": {label} " not in b["aria"] and not b["aria"].endswith(" not computed")]
            if stale:
                failures.append(f"{method['id']}: {len(stale)} sentence bars not relabelled, e.g. {stale[0]!r}")
            if k > 0 and all(a["width"] == b["width"] and a["classes"] == b["classes"] for a, b in zip(got_bars, original_bars)):
                failures.append(f"{method['id']}: no sentence bar changed (were they redrawn at all?)")
        if k > 0:
            # Away and back: the script's painting of the default method matches the server's.
            back_dom = dump(method["id"] + "-back", select([k, 0]))
            back = spans(back_dom)
            if han:
                for i, (a, b) in enumerate(zip(bars(back_dom), original_bars)):
                    if a["width"] is None or b["width"] is None or abs(a["width"] - b["width"]) > 0.0011 or a["classes"] != b["classes"]:
                        failures.append(f"{method['id']} then {methods[0]['id']}: sentence bar {i} is {a}, the file has {b}")
                        break
            for i, (a, b) in enumerate(zip(back, original)):
                if a["alpha"] is None or b["alpha"] is None or abs(a["alpha"] - b["alpha"]) > 0.011 \
                        or a["classes"] != b["classes"] or a["rank"] != b["rank"]:
                    failures.append(f"{method['id']} then {methods[0]['id']}: span {i} is {a}, the file has {b}")
                    break
    sort_note = ""
    option = re.search(r'<select id="sort">(.*?)</select>', page, re.S)
    values = re.findall(r'<option value="([a-z]+)"', option.group(1)) if option else []
    threshold = re.search(r"Below τ = ([0-9.]+) the card is flagged", page)
    if "disagreement" in values:
        k = values.index("disagreement")
        dom = dump("sort-disagreement",
                   f'(function(){{var s=document.getElementById("sort");s.selectedIndex={k};'
                   's.dispatchEvent(new Event("change",{bubbles:true}));})();')
        cards = re.findall(r'<article class="doc[^"]*" id="(d[0-9]+)"(.*?)</article>', dom, re.S)
        if len(cards) != len(re.findall(r'<article class="doc', page)):
            failures.append(f"sort disagreement: {len(cards)} cards after sorting, {len(re.findall(r'<article class=.doc', page))} in the file")
        taus = []
        for ident, body in cards:
            m = re.search(r'<span class="agr[^"]*"[^>]*>τ\(attention, IG\) (-?[0-9.]+)</span>', body)
            tau = float(m.group(1)) if m else None
            taus.append(tau)
            flagged = "⚠ attention and attribution disagree" in body
            if threshold and tau is not None and flagged != (tau < float(threshold.group(1))) and abs(tau - float(threshold.group(1))) > 0.005:
                failures.append(f"sort disagreement: {ident} shows τ {tau} but is {'' if flagged else 'not '}flagged")
        shown = [t for t in taus if t is not None]
        first_none = next((i for i, t in enumerate(taus) if t is None), len(taus))
        if any(t is not None for t in taus[first_none:]):
            failures.append("sort disagreement: a card without τ comes before one with τ")
        if any(a > b for a, b in zip(shown, shown[1:])):
            failures.append(f"sort disagreement: τ not ascending: {shown[:12]}")
        if not shown:
            failures.append("sort disagreement: no card shows τ")
        sort_note = f", disagreement sort over {len(shown)} cards with τ"
    for f in failures:
        print(f"check-report-switch: FAIL: {page_path}: {f}", file=sys.stderr)
    if not failures:
        bar_note = f" and {len(original_bars)} sentence bars" if han else ""
        print(f"check-report-switch: {page_path}: {len(methods)} methods switched, {len(original)} spans{bar_note} repainted each{sort_note}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
