"""`bench/run serve`: `heed serve` under load from wrk, side by side in one run with the FastAPI +
uvicorn + PyTorch server a Python user would write (bench/reference/serve_torch.py, same weights,
same JSON), then a soak of `heed serve` alone.

Load: POST /v1/models/rt/predict with one RT test sentence per request ({"text": ..., "explain":
"attention"}), cycling through the test set, at 1, 16 and 64 connections for --duration seconds each
(default 20) after a short warm-up: requests/s, p50/p99 latency, errors (non-2xx, socket errors,
timeouts), and the server's RSS (the whole process tree) before and after.

Soak: at least --soak-requests requests (default 200,000) in rounds of --duration s at 16 connections, mixing valid
bodies (70%), malformed ones (15%: not JSON, wrong field types, unknown fields) and oversized ones
(15%: over a --max-body-bytes of 16 KiB, so the test moves megabytes, not gigabytes). Pass: no 5xx,
no socket error, every body answered with the status it calls for (checked one by one first; under
load the shares of 200/400/413 must match the mix), and RSS after every round within 10% of the RSS
after the first (warm-up) round.

Overload (between the load levels and the FastAPI run): 4× the requests/s heed sustained at 64
connections, from 512 paced connections with a 2 s timeout. Pass: only 200s and 503s with
Retry-After (the bounded queue, --max-queue), no timeout or socket error; then 16 connections right
after get only 200s. `python3 bench/serve.py [--heed PATH] [--duration S]` runs this part alone.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

VALID_SHARE, MALFORMED_SHARE = 0.70, 0.15
SOAK_CONNECTIONS, SOAK_MAX_BODY = 16, 16384
OVERLOAD_FACTOR, OVERLOAD_CONNECTIONS, RECOVERY_SHARE = 4, 512, 0.8


def ensure_tools_wrk(h):
    if subprocess.run(["which", "wrk"], stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run([os.path.join(h.ROOT, "scripts", "ensure-deps.sh"), "wrk"], check=True)


def ensure_tools(h):
    ensure_tools_wrk(h)
    try:
        import fastapi, uvicorn  # noqa: F401
    except ImportError:
        h.log("serve: installing fastapi uvicorn into the bench venv")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "fastapi", "uvicorn"], check=True)


def tree_rss_mb(pid):
    """RSS of pid and all its descendants (uvicorn --workers forks), in MiB."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return round(total / 1024, 1)


def wait_health(port, proc, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not answer /health")


def lua_script(path, bodies, delay_ms=0):
    """A wrk script cycling through (body, expected status) pairs, each thread from its own offset,
    each connection waiting delay_ms before each request; done() prints one JSON line with the
    latency percentiles and the count of each status."""
    for b, _ in bodies:
        assert "]==]" not in b
    items = ",\n".join("{[==[%s]==], %d}" % (b, s) for b, s in bodies)
    with open(path, "w") as f:
        f.write("""
local items = {%s}
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  i = id * 7919 %% #items
  s5xx, s200, s400, s413, s503, noretry, other = 0, 0, 0, 0, 0, 0, 0
end
%s
function request()
  i = i %% #items + 1
  return wrk.format("POST", "/v1/models/rt/predict", {["Content-Type"] = "application/json"}, items[i][1])
end
function response(status, headers, body)
  if status >= 500 then s5xx = s5xx + 1 end
  if status == 200 then s200 = s200 + 1 elseif status == 400 then s400 = s400 + 1 elseif status == 413 then s413 = s413 + 1
  elseif status == 503 then
    s503 = s503 + 1
    if headers["Retry-After"] == nil and headers["retry-after"] == nil then noretry = noretry + 1 end
  else other = other + 1 end
end
function done(summary, latency, requests)
  local c = {s5xx = 0, s200 = 0, s400 = 0, s413 = 0, s503 = 0, noretry = 0, other = 0}
  for _, t in ipairs(threads) do for k, _ in pairs(c) do c[k] = c[k] + t:get(k) end end
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d, "s5xx": %%d, "s200": %%d, "s400": %%d, "s413": %%d, "s503": %%d, "noretry": %%d, "other": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout,
    c.s5xx, c.s200, c.s400, c.s413, c.s503, c.noretry, c.other))
end
""" % (items, "function delay() return %d end" % delay_ms if delay_ms > 0 else ""))


def wrk(h, url, script, connections, duration, timeout="10s"):
    threads = min(2, connections)
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", timeout, "-s", script, url]
    out, err, rc, secs = h.run(cmd, check=False, timeout=duration + 120)
    m = re.search(r"WRKJSON (\{.*\})", out)
    if rc != 0 or not m:
        raise RuntimeError(f"wrk failed ({rc}): {err[-500:]} {out[-500:]}")
    r = json.loads(m.group(1))
    r["requests_per_s"] = round(r["requests"] / (r["duration_us"] / 1e6), 1)
    r["p50_ms"] = round(r["p50_us"] / 1000, 2)
    r["p99_ms"] = round(r["p99_us"] / 1000, 2)
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return r


def start(cmd, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=e, text=True)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return None


def status_of(port, body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/rt/predict", body.encode(), {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def load_run(h, name, proc, port, script, levels, duration):
    wait_health(port, proc)
    url = f"http://127.0.0.1:{port}"
    wrk(h, url, script, 4, 2)  # warm-up: allocators, caches, uvicorn's workers
    res = {"rss_mb_before": tree_rss_mb(proc.pid), "levels": {}}
    for c in levels:
        r = wrk(h, url, script, c, duration)
        res["levels"][str(c)] = r
        h.log(f"serve: {name} c={c}: {r['requests_per_s']} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, errors {r['errors']}, non-2xx {r['status']}")
    res["rss_mb_after"] = tree_rss_mb(proc.pid)
    res["exit_code_on_sigterm"] = stop(proc)
    return res


def overload_run(h, heed, model, bodies, sustainable, port, duration):
    """`heed serve` offered OVERLOAD_FACTOR× the sustainable rate (requests/s at 64 connections,
    measured in the same run): OVERLOAD_CONNECTIONS connections, each pausing between requests so
    that together they offer that rate; wrk's --timeout is 2 s. Pass: every answer a 200 or a 503
    with Retry-After, no timeout, no socket error, some 503s; then, right after, 16 connections get
    only 200s at no less than RECOVERY_SHARE of the rate the server sustained under overload.
    The pacing is closed-loop (a connection waits for its answer), so the offered rate is measured
    and the pause shortened (at most twice) while it is under 95% of the target. The server runs
    with the default --max-queue."""
    d = os.path.join(h.OUT, "serve")
    target = OVERLOAD_FACTOR * sustainable
    cmd = heed("serve", model, "--port", str(port), "--workers", str(min(2, h.ncores())), "--quiet")
    proc = start(cmd)
    wait_health(port, proc)
    url = f"http://127.0.0.1:{port}"
    res = {"command": h.show(cmd), "sustainable_requests_per_s": sustainable, "target_requests_per_s": round(target, 1),
           "connections": OVERLOAD_CONNECTIONS, "timeout_s": 2, "attempts": []}
    # Accepted requests wait in the queue before their connection sends again: start with a shorter pause.
    delay = 0.7 * 1000 * OVERLOAD_CONNECTIONS / target
    for _ in range(3):
        script = os.path.join(d, "overload.lua")
        lua_script(script, bodies, delay_ms=max(1, round(delay)))
        r = wrk(h, url, script, OVERLOAD_CONNECTIONS, duration, timeout="2s")
        r["delay_ms"] = max(1, round(delay))
        r["offered_factor"] = round(r["requests_per_s"] / sustainable, 2)
        res["attempts"].append(r)
        h.log(f"serve: overload {r['offered_factor']}x ({r['requests_per_s']} req/s, pause {r['delay_ms']} ms): 200 {r['s200']}, 503 {r['s503']} "
              f"(without Retry-After {r['noretry']}), other {r['other']}, timeouts {r['timeout']}, socket errors {r['connect'] + r['read'] + r['write']}, "
              f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms")
        if r["requests_per_s"] >= 0.95 * target:
            break
        delay *= r["requests_per_s"] / target
    r = res["attempts"][-1]
    r["share_503"] = round(r["s503"] / max(r["requests"], 1), 4)
    r["ok_requests_per_s"] = round(r["s200"] / (r["duration_us"] / 1e6), 1)
    res["overload"] = r
    # Recovery: at once, a normal load gets only 200s at the rate the server managed under overload.
    t0 = time.time()
    wait_health(port, proc, seconds=10)
    res["health_after_s"] = round(time.time() - t0, 3)
    recovery_script = os.path.join(d, "recovery.lua")
    lua_script(recovery_script, bodies)
    rec = wrk(h, url, recovery_script, 16, max(5, duration // 2))
    res["recovery"] = rec
    res["exit_code_on_sigterm"] = stop(proc)
    socket_errors = r["connect"] + r["read"] + r["write"]
    res["pass"] = (r["timeout"] == 0 and socket_errors == 0 and r["s503"] > 0 and r["noretry"] == 0 and r["s200"] + r["s503"] == r["requests"]
                   and rec["s200"] == rec["requests"] and rec["errors"] == 0 and rec["requests_per_s"] >= RECOVERY_SHARE * r["ok_requests_per_s"]
                   and res["exit_code_on_sigterm"] == 0)
    h.log(f"serve: recovery: {rec['requests_per_s']} req/s at 16 connections, all 200: {rec['s200'] == rec['requests']}, p99 {rec['p99_ms']} ms, "
          f"errors {rec['errors']} -> {'pass' if res['pass'] else 'FAIL'}")
    return res


def soak_bodies(texts):
    valid = [json.dumps({"text": t, "explain": "attention"}) for t in texts[:70]]
    malformed = ["not json", '{"text": 3}', '{"texts": "x"}', '{"text": "a", "top_k": 0}', '{"txet": "a"}',
                 '{"text": "a", "explain": "magic"}', "[1,2]", '{"texts": []}', '{"text": "a", "threshold": "x"}',
                 '{"text": "unterminated', '{}', '{"text": "a", "steps": -1}', '{"texts": [1]}', "", '{"text": null}']
    big = ["{\"text\": \"" + ("word " * (SOAK_MAX_BODY // 5 + 50 + 40 * i)) + "\"}" for i in range(15)]
    return [(b, 200) for b in valid] + [(b, 400) for b in malformed] + [(b, 413) for b in big]


def rt_model(h, heed, res):
    """The RT attention model (trained when missing) and the RT test texts; notes both in res."""
    d = os.path.join(h.OUT, "serve")
    os.makedirs(d, exist_ok=True)
    corpus = next(x for x in h.corpora() if x["name"] == "sentiment-en-rt")
    model = os.path.join(d, "rt.heed")
    train = heed("train", corpus["train"], "--model", "bilstm-attention", "--epochs", "2", "--seed", "1", "--quiet", "-o", model)
    res["model_command"] = h.show(train) + " (reused when present)"
    if not os.path.exists(model):
        h.run(train)
    res["model_sha256"] = h.sha256(model)
    texts = []
    with open(corpus["test"], encoding="utf-8") as f:
        for line in f:
            t = line.rstrip("\n").partition("\t")[2]
            if t.strip():
                texts.append(t)
    res["texts"] = len(texts)
    res["mean_text_bytes"] = round(sum(len(t.encode()) for t in texts) / len(texts), 1)
    return d, model, texts


def run_part(args, heed, h):
    ensure_tools(h)
    res = {"date": h.now(), "duration_s": args.duration, "soak_requests": args.soak_requests, "connections": [1, 16, 64]}
    d, model, texts = rt_model(h, heed, res)
    script = os.path.join(d, "load.lua")
    lua_script(script, [(json.dumps({"text": t, "explain": "attention"}), 200) for t in texts])
    levels = [1, 16, 64]
    workers = str(min(2, h.ncores()))

    heed_port, torch_port = 18080, 18081
    heed_cmd = heed("serve", model, "--port", str(heed_port), "--workers", workers, "--quiet")
    res["heed_command"] = h.show(heed_cmd)
    res["heed"] = load_run(h, "heed", start(heed_cmd), heed_port, script, levels, args.duration)
    bodies = [(json.dumps({"text": t, "explain": "attention"}), 200) for t in texts]
    res["heed_overload"] = overload_run(h, heed, model, bodies, res["heed"]["levels"]["64"]["requests_per_s"], heed_port, args.duration)

    ref = os.path.join(h.ROOT, "bench", "reference")
    torch_cmd = [sys.executable, "-m", "uvicorn", "serve_torch:app", "--app-dir", ref, "--host", "127.0.0.1",
                 "--port", str(torch_port), "--workers", workers, "--no-access-log", "--log-level", "warning"]
    res["torch_command"] = "MODEL=%s HEED_TORCH_THREADS=1 %s" % (h.show([model]), h.show(torch_cmd))
    res["torch"] = load_run(h, "fastapi+torch", start(torch_cmd, {"MODEL": model, "HEED_TORCH_THREADS": "1"}), torch_port, script, levels,
                            args.duration)
    res["ratios"] = {c: {"requests_per_s": round(res["heed"]["levels"][c]["requests_per_s"] / max(res["torch"]["levels"][c]["requests_per_s"], 1e-9), 2),
                         "p99": round(res["heed"]["levels"][c]["p99_ms"] / max(res["torch"]["levels"][c]["p99_ms"], 1e-9), 3)}
                     for c in map(str, levels)}
    res["ratios"]["rss_after"] = round(res["heed"]["rss_mb_after"] / max(res["torch"]["rss_mb_after"], 1e-9), 3)

    # Soak: first every body once, in order, for the status it calls for; then rounds of --duration
    # seconds at 16 connections until --soak-requests are answered, RSS after every round.
    soak_script = os.path.join(d, "soak.lua")
    bodies = soak_bodies(texts)
    lua_script(soak_script, bodies)
    soak_cmd = heed("serve", model, "--port", str(heed_port), "--workers", workers, "--quiet", "--max-body-bytes", str(SOAK_MAX_BODY))
    proc = start(soak_cmd)
    wait_health(heed_port, proc)
    wrong = [(b[:40], want, got) for b, want in bodies if (got := status_of(heed_port, b)) != want]
    rounds = []
    while sum(r["requests"] for r in rounds) < args.soak_requests:
        r = wrk(h, f"http://127.0.0.1:{heed_port}", soak_script, SOAK_CONNECTIONS, args.duration)
        r["rss_mb"] = tree_rss_mb(proc.pid)
        rounds.append(r)
        h.log(f"serve: soak round {len(rounds)}: {r['requests']} requests (200: {r['s200']}, 400: {r['s400']}, 413: {r['s413']}, "
              f"other: {r['other']}), 5xx {r['s5xx']}, socket errors {r['errors'] - r['status']}, RSS {r['rss_mb']} MiB")
    code = stop(proc)
    base = rounds[0]["rss_mb"]
    drift = max(abs(r["rss_mb"] - base) / base for r in rounds[1:]) if len(rounds) > 1 else 0.0
    total = sum(r["requests"] for r in rounds)
    res["soak"] = {"command": h.show(soak_cmd), "rounds": rounds, "requests": total,
                   "s5xx": sum(r["s5xx"] for r in rounds), "other_status": sum(r["other"] for r in rounds),
                   "status_shares": {k: round(sum(r[k] for r in rounds) / total, 4) for k in ("s200", "s400", "s413")},
                   "wrong_status_sequential": wrong, "socket_errors": sum(r["errors"] - r["status"] for r in rounds),
                   "rss_mb_warm": base, "rss_max_drift": round(drift, 4), "exit_code_on_sigterm": code,
                   "mix": {"valid": VALID_SHARE, "malformed": MALFORMED_SHARE, "oversized": round(1 - VALID_SHARE - MALFORMED_SHARE, 2)}}
    s = res["soak"]
    s["pass"] = (s["s5xx"] == 0 and s["other_status"] == 0 and not wrong and s["socket_errors"] == 0 and drift <= 0.10 and code == 0
                 and abs(s["status_shares"]["s200"] - VALID_SHARE) < 0.03)
    h.log(f"serve: soak: {total} requests, 5xx {s['s5xx']}, shares {s['status_shares']}, sequential mismatches {len(wrong)}, "
          f"socket errors {s['socket_errors']}, RSS drift {100 * drift:.1f}% -> {'pass' if s['pass'] else 'FAIL'}")
    print(table(res))
    return res


def overload_only(argv):
    """`python3 bench/serve.py [--heed PATH] [--duration S]`: the sustainable rate (64 connections)
    and the overload run alone, without the FastAPI comparison or the soak; prints the JSON."""
    import argparse
    import harness as h
    ap = argparse.ArgumentParser(description=overload_only.__doc__)
    ap.add_argument("--heed")
    ap.add_argument("--duration", type=int, default=20)
    args = ap.parse_args(argv)
    ensure_tools_wrk(h)
    heed = h.Heed(h.find_heed(args.heed))
    res = {"date": h.now(), "heed": heed.path, "duration_s": args.duration}
    d, model, texts = rt_model(h, heed, res)
    bodies = [(json.dumps({"text": t, "explain": "attention"}), 200) for t in texts]
    script = os.path.join(d, "load.lua")
    lua_script(script, bodies)
    port = 18080
    cmd = heed("serve", model, "--port", str(port), "--workers", str(min(2, h.ncores())), "--quiet")
    res["load"] = load_run(h, "heed", start(cmd), port, script, [64], args.duration)
    res["heed_overload"] = overload_run(h, heed, model, bodies, res["load"]["levels"]["64"]["requests_per_s"], port, args.duration)
    with open(os.path.join(d, "overload.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))
    print(overload_line(res["heed_overload"]))
    return 0 if res["heed_overload"]["pass"] else 1



def table(res):
    lines = ["| connections | heed req/s | torch req/s | ratio | heed p50 / p99 ms | torch p50 / p99 ms | errors heed / torch |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for c in map(str, res["connections"]):
        a, b = res["heed"]["levels"][c], res["torch"]["levels"][c]
        lines.append(f"| {c} | {a['requests_per_s']} | {b['requests_per_s']} | {res['ratios'][c]['requests_per_s']}× | {a['p50_ms']} / {a['p99_ms']} | "
                     f"{b['p50_ms']} / {b['p99_ms']} | {a['errors']} / {b['errors']} |")
    lines.append(f"\nRSS MiB before → after: heed {res['heed']['rss_mb_before']} → {res['heed']['rss_mb_after']}, "
                 f"torch {res['torch']['rss_mb_before']} → {res['torch']['rss_mb_after']} (heed/torch {res['ratios']['rss_after']})")
    s = res["soak"]
    lines.append(f"Soak: {s['requests']} requests ({', '.join(f'{k[1:]}: {100 * v:.1f}%' for k, v in s['status_shares'].items())}), "
                 f"5xx {s['s5xx']}, other statuses {s['other_status']}, socket errors {s['socket_errors']}, "
                 f"RSS warm {s['rss_mb_warm']} MiB, max drift {100 * s['rss_max_drift']:.1f}%: {'pass' if s['pass'] else 'FAIL'}")
    if "heed_overload" in res:
        lines.append(overload_line(res["heed_overload"]))
    return "\n".join(lines)


def overload_line(o):
    r, rec = o["overload"], o["recovery"]
    return (f"Overload: {r['requests_per_s']} req/s offered ({r['offered_factor']}× the sustainable {o['sustainable_requests_per_s']}) by "
            f"{o['connections']} connections: 200 at {r['ok_requests_per_s']} req/s, 503 {100 * r['share_503']:.1f}% (all with Retry-After: "
            f"{r['noretry'] == 0}), p50 {r['p50_ms']} / p99 {r['p99_ms']} ms, timeouts {r['timeout']}, socket errors "
            f"{r['connect'] + r['read'] + r['write']}; right after: /health in {o['health_after_s']} s, {rec['requests_per_s']} req/s at 16 "
            f"connections, all 200: {rec['s200'] == rec['requests']}, p99 {rec['p99_ms']} ms: {'pass' if o['pass'] else 'FAIL'}")


def explain_load(argv):
    """`python3 bench/serve.py --explain-methods attention,integrated-gradients [--heed [NAME=]PATH ...]
    [--duration S] [--out bench/results/serve-explain.json]`: `heed serve` under wrk at 1, 16 and 64
    connections, once per explanation method asked for in every request (issue 27: explanations at
    serving speed), each binary given in turn on the same RT model and texts; requests/s and p50/p99
    per method, beside attention-only. Appends the run, with the commit, the machine and each
    binary's sha256, to --out."""
    import argparse
    import common
    import harness as h
    import provenance
    ap = argparse.ArgumentParser(description=explain_load.__doc__)
    ap.add_argument("--heed", action="append", help="NAME=PATH or PATH; repeat to compare binaries in one run")
    ap.add_argument("--explain-methods", default="attention,integrated-gradients")
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--levels", default="1,16,64")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "serve-explain.json"))
    args = ap.parse_args(argv)
    where = provenance.stamp()
    ensure_tools_wrk(h)
    binaries = []
    for spec in args.heed or [None]:
        name, _, path = (spec or "").rpartition("=") if spec and "=" in spec else ("heed", "", spec)
        binaries.append((name or "heed", h.Heed(h.find_heed(path))))
    methods = [m for m in args.explain_methods.split(",") if m]
    levels = [int(x) for x in args.levels.split(",")]
    res = {**where, "command": "bench/serve.py " + " ".join(argv), "duration_s": args.duration, "levels": levels,
           "methods": methods, "machine": h.machine_tag(binaries[0][1]), "workers": min(2, h.ncores()), "binaries": {}}
    d, model, texts = rt_model(h, binaries[0][1], res)
    port = 18082
    for name, heed in binaries:
        b = {"path": heed.path, "version": heed.version, "sha256": h.sha256(heed.path), "methods": {}}
        for method in methods:
            script = os.path.join(d, "explain-%s.lua" % method)
            lua_script(script, [(json.dumps({"text": t, "explain": method}), 200) for t in texts])
            cmd = heed("serve", model, "--port", str(port), "--workers", str(res["workers"]), "--quiet")
            b["command"] = h.show(cmd)
            b["methods"][method] = load_run(h, "%s explain=%s" % (name, method), start(cmd), port, script, levels, args.duration)
        res["binaries"][name] = b
    common.append_run(args.out, res)
    for name, b in res["binaries"].items():
        for method, r in b["methods"].items():
            print("%s explain=%s: %s" % (name, method, ", ".join("c=%s %.1f req/s p99 %.2f ms" % (
                c, x["requests_per_s"], x["p99_ms"]) for c, x in r["levels"].items())))
    return 0


if __name__ == "__main__":
    sys.exit(explain_load(sys.argv[1:]) if any(a.startswith("--explain-methods") for a in sys.argv[1:])
             else overload_only(sys.argv[1:]))
