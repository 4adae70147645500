#!/usr/bin/env python3
"""Browser check of `heed serve`'s live page in headless Chromium, driven over the DevTools
protocol on a pipe (--remote-debugging-pipe: no port, no extra packages).

Usage: scripts/check-serve-page.py [--heed PATH] [--out DIR] MODEL [MODEL ...]

Starts `heed serve MODEL... --port 0`, opens http://127.0.0.1:PORT/ and:
  - types a sentence key by key, waits for the debounced request, screenshots the page, and checks
    that every painted span has the byte offsets of the API's token for the same text, shows
    exactly those bytes of the text, and that the attention shading is not blank;
  - switches "Paint by" to each other method and checks the spans again;
  - for a han model (listed first), also one row per sentence of the API's answer holding its
    tokens, each with its bar (under attention: at the sentence's weight);
  - pastes a text holding <script> and <img onerror> payloads and checks that it renders as text:
    the title is unchanged, no element was added, the painted text equals the typed text;
  - sees no console error, exception or Content-Security-Policy violation;
  - SIGTERMs the server and expects it to exit 0.
Screenshots go to DIR (default build/). Exits 1 on any failure.
"""
import argparse, base64, json, os, re, shutil, signal, subprocess, sys, time, urllib.request

failures = []


def fail(msg):
    print(f"check-serve-page: FAIL: {msg}", file=sys.stderr)
    failures.append(msg)


class Browser:
    """Chromium with the DevTools protocol on fds 3 (commands) and 4 (replies), NUL-separated."""

    def __init__(self, binary):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        # The child must see the pipes as fds 3 and 4 (copied high first, so neither overwrites the other).
        def setup():
            r, w = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(r, 3)
            os.dup2(w, 4)
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--remote-debugging-pipe", "--window-size=1100,900", "about:blank"],
            preexec_fn=setup, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer, self.next_id, self.events, self.session = b"", 0, [], None

    def _read(self):
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, session=True, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, seconds=15):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.evaluate(expression):
                return True
            time.sleep(0.05)
        return False

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def api(port, model, text, method):
    body = json.dumps({"text": text, "explain": method}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/{model}/predict", body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())["results"][0]


def painted(browser):
    return browser.evaluate("""JSON.stringify({
        spans: [...document.querySelectorAll('#painted span.t')].map(s => ({start: +s.dataset.start, end: +s.dataset.end,
            text: s.textContent, a: parseFloat(s.style.getPropertyValue('--a'))})),
        text: document.getElementById('painted').textContent, label: document.getElementById('label').textContent,
        rows: [...document.querySelectorAll('#painted .sent')].map(r => ({tokens: r.querySelectorAll('span.t').length,
            w: parseFloat(r.querySelector('.sb').style.getPropertyValue('--w')), aria: r.querySelector('.sb').getAttribute('aria-label')}))})""")


def check_spans(name, typed, shown, result, method):
    shown = json.loads(shown)
    data = typed.encode()
    want = [(t["start"], t["end"]) for t in result["tokens"]]
    got = [(s["start"], s["end"]) for s in shown["spans"]]
    if not want:
        fail(f"{name}: the API found no tokens in {typed!r}")
    if got != want:
        fail(f"{name}: painted spans at {got}, the API's tokens at {want}")
    for s in shown["spans"]:
        if s["text"] != data[s["start"]:s["end"]].decode():
            fail(f"{name}: span {s['start']}..{s['end']} shows {s['text']!r}, the text there is {data[s['start']:s['end']].decode()!r}")
    if shown["text"] != typed:
        fail(f"{name}: the painted text is {shown['text']!r}, typed {typed!r}")
    if shown["label"] != result["label"]:
        fail(f"{name}: the page says {shown['label']!r}, the API {result['label']!r}")
    if method != "none" and not any(s["a"] > 0 for s in shown["spans"]):
        fail(f"{name}: no span is shaded by {method}")
    # A han answer: one row per sentence, holding its tokens, its bar labelled for the method; under
    # attention the bar is the sentence weight.
    sentences = result.get("sentences") or []
    if [r["tokens"] for r in shown["rows"]] != [x["token_count"] for x in sentences]:
        fail(f"{name}: rows of {[r['tokens'] for r in shown['rows']]} tokens, the API's sentences {[x['token_count'] for x in sentences]}")
    for k, (r, x) in enumerate(zip(shown["rows"], sentences)):
        if method == "attention" and abs(r["w"] - min(1, x["weight"])) > 0.0011:
            fail(f"{name}: sentence {k + 1}'s bar is {r['w']}, its weight {x['weight']}")
        if not r["aria"].startswith(f"sentence {k + 1}: "):
            fail(f"{name}: sentence {k + 1}'s bar is labelled {r['aria']!r}")
    return len(got)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heed", default=".build/release/heed")
    ap.add_argument("--out", default="build")
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        sys.exit("check-serve-page: Chromium is missing (apt-get install -y chromium)")
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "serve-check.log"), "w+")
    server = subprocess.Popen([args.heed, "serve", *args.models, "--port", "0", "--workers", "2"], stderr=subprocess.PIPE, text=True)
    port, lines = None, []
    deadline = time.time() + 60
    while port is None and time.time() < deadline:
        line = server.stderr.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        port = int(m.group(1)) if m else None
    if port is None:
        server.kill()
        sys.exit("check-serve-page: heed serve did not start:\n" + "".join(lines))
    model = os.path.splitext(os.path.basename(args.models[0]))[0]
    browser = Browser(binary)
    try:
        target = browser.send("Target.createTarget", session=False, url=f"http://127.0.0.1:{port}/")["targetId"]
        browser.session = browser.send("Target.attachToTarget", session=False, targetId=target, flatten=True)["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            browser.send(domain)
        if not browser.wait_for("document.body && document.body.dataset.ready === '1'"):
            fail("the page never listed the models")
            return
        browser.evaluate(f"document.getElementById('model').value = {json.dumps(model)}; document.getElementById('model').dispatchEvent(new Event('change'))")
        method = browser.evaluate("document.getElementById('method').value")
        if method != "attention":
            fail(f"{model}: the page paints by {method!r} by default, not attention")

        # Typed key by key, as a person would; the page debounces and asks once typing stops.
        typed = "A gripping, beautifully acted film. Though the ending drags!"
        browser.evaluate("document.getElementById('input').focus()")
        for ch in typed:
            browser.send("Input.dispatchKeyEvent", type="keyDown", text=ch, unmodifiedText=ch)
            browser.send("Input.dispatchKeyEvent", type="keyUp")
        # Painted for this text: a request finished after the text was entered, and it was the last one sent.
        done = ("(() => { const d = document.body.dataset.done, p = document.getElementById('painted').dataset.seq; "
                "return d && d !== %s && d === p && document.getElementById('input').value === %s; })()")
        if not browser.wait_for(done % ("undefined", json.dumps(typed))):
            fail("the typed text was never painted")
            return
        browser.screenshot(os.path.join(args.out, "serve-page.png"))
        n = check_spans("typed", typed, painted(browser), api(port, model, typed, "attention"), "attention")
        print(f"check-serve-page: typed {len(typed)} characters; {n} painted spans match the API's offsets (attention)")

        for other in browser.evaluate("[...document.getElementById('method').options].map(o => o.value)"):
            if other == "attention":
                continue
            before = browser.evaluate("document.body.dataset.done")
            browser.evaluate(f"document.getElementById('method').value = {json.dumps(other)}; document.getElementById('method').dispatchEvent(new Event('change'))")
            if not browser.wait_for(f"document.body.dataset.done !== {json.dumps(before)} && document.body.dataset.done === document.getElementById('painted').dataset.seq"):
                fail(f"switching to {other} never repainted")
                continue
            check_spans(other, typed, painted(browser), api(port, model, typed, other), other)
        print("check-serve-page: every method repaints with the API's offsets")

        # Pasted hostile text renders as text.
        hostile = 'great <script>document.title="pwned"</script> <img src=x onerror="document.title=\'pwned\'"> & <b>bold</b> movie'
        elements = browser.evaluate("document.getElementsByTagName('*').length")
        browser.evaluate("document.getElementById('method').value = 'attention'; const i = document.getElementById('input'); i.focus(); i.select()")
        before = json.dumps(browser.evaluate("document.body.dataset.done"))
        browser.send("Input.insertText", text=hostile)
        if not browser.wait_for(done % (before, json.dumps(hostile))):
            fail("the pasted text was never painted")
            return
        browser.screenshot(os.path.join(args.out, "serve-page-injection.png"))
        check_spans("pasted", hostile, painted(browser), api(port, model, hostile, "attention"), "attention")
        title = browser.evaluate("document.title")
        if title != "heed serve":
            fail(f"an injected script ran: the title is {title!r}")
        if browser.evaluate("document.querySelectorAll('script').length") != 1 or browser.evaluate("document.querySelectorAll('img, b').length") != 0:
            fail("pasted markup became elements")
        grown = browser.evaluate("document.getElementsByTagName('*').length") - elements
        print(f"check-serve-page: pasted <script>/<img onerror>/<b> render as text (title unchanged; {grown} more elements, all token spans)")

        problems = []
        for e in browser.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                problems.append(p["exceptionDetails"].get("text", "exception"))
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                problems.append(p["entry"]["text"])
            elif m == "Runtime.consoleAPICalled" and p["type"] == "error":
                problems.append(str(p["args"]))
        for problem in problems:
            fail(f"the page logged: {problem}")
    finally:
        browser.close()
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            code = None
        rest = server.stderr.read()
        log.write("".join(lines) + rest)
        if code != 0:
            fail(f"heed serve exited with {code} after SIGTERM (expected 0)")
        elif "stopped" not in rest:
            fail("heed serve did not say it stopped")
        else:
            print(f"check-serve-page: SIGTERM: heed serve exited 0 ({rest.count(' ms')} requests in its access log)")
    if failures:
        sys.exit(1)
    print(f"check-serve-page: ok (screenshots in {args.out}/serve-page.png, serve-page-injection.png)")


if __name__ == "__main__":
    main()
