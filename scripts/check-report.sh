#!/usr/bin/env bash
# Browser check of `heed report` pages with headless Chromium (installed from Debian when missing).
#
# Usage: scripts/check-report.sh [--heed PATH] [--injection-page FILE] [REPORT.html ...]
#
# For each REPORT given, and for three pages it makes itself (small attention and baseline models
# on the shipped sentiment corpus, and a model trained on a corpus of script-injection payloads
# with hostile labels), it renders the page, screenshots it to build/, dumps the DOM and checks that:
#   - every document and every heat span in the file is in the DOM, with the summary table;
#   - the page's own script ran (the sort/filter controls became visible) and no script error
#     or Content-Security-Policy violation was logged;
#   - the calibration section (reliability diagrams, risk–coverage) and the method comparison
#     (τ matrix, ERASER table) are in the DOM;
#   - switching the "Paint by" method repaints every token span, and switching back restores the
#     server-rendered shading; sorting by "attention and attribution disagree most" orders the
#     cards by the τ they show (scripts/check-report-switch.py);
#   - no injected payload ran: the title was not changed and no marker element was added;
#   - a han page (small han model, documents of several sentences) passes all of the above, its
#     sentence bars relabelled and redrawn by the switcher and restored on switching back.
set -euo pipefail
cd "$(dirname "$0")/.."

heed=.build/release/heed
reports=()
extra_injection=()  # pages to put through the injection checks as they are (to test this script)
while [ $# -gt 0 ]; do
    case "$1" in
        --heed) heed="$2"; shift 2 ;;
        --injection-page) extra_injection+=("$2"); shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) reports+=("$1"); shift ;;
    esac
done

if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "check-report: installing chromium" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
    else
        echo "check-report: Chromium is missing. Run:" >&2
        echo "  sudo apt-get install -y chromium" >&2
        exit 1
    fi
fi
browser=$(command -v chromium || command -v chromium-browser)
[ -x "$heed" ] || { echo "check-report: $heed not found (run make release, or pass --heed PATH)" >&2; exit 1; }

mkdir -p build
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "check-report: FAIL: $*" >&2; failures=$((failures + 1)); }

chrome() {  # chrome OUT_PREFIX PAGE EXTRA_ARGS...
    local out=$1 page=$2; shift 2
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions \
        --enable-logging=stderr --v=0 --window-size=1280,2000 "$@" "file://$(realpath "$page")" \
        >"$out.stdout" 2>"$out.stderr" || true
}

# check PAGE NAME [injection]
check() {
    local page=$1 name=$2 injection=${3:-}
    local dom="$work/$name.dom.html" log="$work/$name"
    chrome "$log.shot" "$page" --screenshot="build/$name.png"
    chrome "$log.dom" "$page" --dump-dom
    cp "$log.dom.stdout" "$dom"
    [ -s "build/$name.png" ] || fail "$name: no screenshot"
    [ -s "$dom" ] || { fail "$name: Chromium dumped no DOM (see $log.dom.stderr)"; cat "$log.dom.stderr" >&2; return; }

    local docs_file docs_dom spans_file spans_dom
    docs_file=$(grep -o '<article class="doc' "$page" | wc -l)
    docs_dom=$(grep -o '<article class="doc' "$dom" | wc -l)
    spans_file=$(grep -o '<span class="t[ "]' "$page" | wc -l)
    spans_dom=$(grep -o '<span class="t[ "]' "$dom" | wc -l)
    [ "$docs_dom" -ge 1 ] && [ "$docs_dom" -eq "$docs_file" ] || fail "$name: $docs_dom documents in the DOM, $docs_file in the file"
    [ "$spans_dom" -ge 1 ] && [ "$spans_dom" -eq "$spans_file" ] || fail "$name: $spans_dom heat spans in the DOM, $spans_file in the file"
    grep -q '<table class="summary">' "$dom" || fail "$name: no summary table"
    grep -q '<table class="cm">' "$dom" || fail "$name: no confusion matrix"
    grep -q 'id="h-calibration"' "$dom" && grep -q 'aria-label="Accuracy vs coverage' "$dom" || fail "$name: no calibration section"
    grep -q '<table class="tau">' "$dom" && grep -q '<table class="eraser">' "$dom" || fail "$name: no method comparison"
    grep -q '<div id="controls">' "$dom" || fail "$name: the page script did not run (controls still hidden)"
    if grep -hE 'Uncaught|Refused to' "$log.shot.stderr" "$log.dom.stderr" >&2; then
        fail "$name: script error or Content-Security-Policy violation logged"
    fi
    if [ -n "$injection" ]; then
        # Once as written, once without its Content-Security-Policy: escaping alone must keep every
        # payload inert (the policy would block an inline script without saying so on stderr).
        grep -v 'http-equiv="Content-Security-Policy"' "$page" >"$work/$name.nocsp.html"
        chrome "$log.nocsp" "$work/$name.nocsp.html" --dump-dom
        local d
        for d in "$dom" "$log.nocsp.stdout"; do
            grep -q '<title>[^<]*PWNED' "$d" && fail "$name: an injected script changed the title ($d)"
            grep -qE 'id="?pwned' "$d" && fail "$name: an injected script added a marker element ($d)"
            grep -qE '<[^>]*[[:space:]]on[a-z]+="' "$d" && fail "$name: an event-handler attribute reached the DOM ($d)"
            grep -qE '<[^>]*href="javascript:' "$d" && fail "$name: a javascript: link reached the DOM ($d)"
            local scripts
            scripts=$(grep -o '<script' "$d" | wc -l)
            [ "$scripts" -eq 2 ] || fail "$name: $scripts script elements in the DOM (expected the page's script and data block) ($d)"
            grep -q 'PWNED' "$d" || fail "$name: the payload text is missing: it should show as text ($d)"
        done
        grep -q 'Content-Security-Policy' "$log.nocsp.stdout" && fail "$name: could not strip the policy for the escaping check"
        if grep -hE 'Uncaught' "$log.nocsp.stderr" >&2; then fail "$name: script error without the policy"; fi
    fi
    python3 scripts/check-report-switch.py "$browser" "$page" "$work" || fail "$name: method switcher"
    echo "check-report: $name: $docs_dom documents, $spans_dom heat spans, screenshot build/$name.png"
}

# 1. A small real model on the shipped sentiment corpus.
head -n 600 corpora/sentiment-en-rt/train.tsv >"$work/train.tsv"
head -n 120 corpora/sentiment-en-rt/test.tsv >"$work/test.tsv"
"$heed" train "$work/train.tsv" --model attention --embed 16 --hidden 16 --epochs 2 --threads 1 --quiet -o "$work/small.heed"
"$heed" report "$work/small.heed" "$work/test.tsv" --limit 50 -o "$work/small.html" >/dev/null
check "$work/small.html" report-small

# 1b. The same with a baseline LSTM: occlusion is the default method, no attention to switch to.
"$heed" train "$work/train.tsv" --model lstm --embed 16 --hidden 16 --epochs 2 --threads 1 --quiet -o "$work/small-lstm.heed"
"$heed" report "$work/small-lstm.heed" "$work/test.tsv" --limit 30 -o "$work/small-lstm.html" >/dev/null
check "$work/small-lstm.html" report-small-lstm

# 1c. A han model on multi-sentence documents (two sentiment lines each): sentence bars in the margin.
paste -d' ' <(sed -n '1~2p' "$work/train.tsv") <(sed -n '2~2p' "$work/train.tsv" | cut -f2) >"$work/train-han.tsv"
paste -d' ' <(sed -n '1~2p' "$work/test.tsv") <(sed -n '2~2p' "$work/test.tsv" | cut -f2) >"$work/test-han.tsv"
"$heed" train "$work/train-han.tsv" --model han --embed 16 --hidden 16 --epochs 2 --max-sentences 8 --max-words 30 --threads 1 --quiet \
    -o "$work/small-han.heed"
"$heed" report "$work/small-han.heed" "$work/test-han.tsv" --limit 30 --steps 8 -o "$work/small-han.html" >/dev/null
han_rows=$(grep -o '<div class="sent">' "$work/small-han.html" | wc -l)
[ "$han_rows" -gt "$(grep -o '<article class="doc' "$work/small-han.html" | wc -l)" ] || fail "report-small-han: $han_rows sentence rows for 30 cards"
check "$work/small-han.html" report-small-han

# 2. Injection: hostile text and labels in training and report corpora.
label_a="<script>document.title='PWNED'</script>"
label_b="\"><img src=x onerror=\"document.title='PWNED'\">"
payloads=(
    "<script>document.title='PWNED'</script> a great film"
    "</style><script>document.body.insertAdjacentHTML('beforeend','<p id=pwned>x</p>')</script><style> dull"
    "\" onmouseover=\"document.title='PWNED'\" autofocus onfocus=\"document.title='PWNED'\" x=\" lovely"
    "<a href=\"javascript:document.title='PWNED'\">click</a> boring"
    "<img src=x onerror=\"document.body.insertAdjacentHTML('beforeend','<p id=pwned>x</p>')\"> warm"
    "<svg onload=\"document.title='PWNED'\"></svg></title></textarea><!-- cold"
    "{{title}} {{{title}}} &lt;script&gt;document.title='PWNED'&lt;/script&gt; fine"
)
: >"$work/inject.tsv"
for round in 1 2 3; do
    for i in "${!payloads[@]}"; do
        if [ $((i % 2)) -eq 0 ]; then label=$label_a; else label=$label_b; fi
        printf '%s\t%s %s\n' "$label" "${payloads[$i]}" "$round" >>"$work/inject.tsv"
    done
done
printf '%s\tnul\000byte %s\n' "$label_a" "great" >>"$work/inject.tsv" 2>/dev/null || true
if ! "$heed" train "$work/inject.tsv" --model attention --embed 8 --hidden 8 --epochs 1 --min-count 1 --dev-fraction 0.3 \
        --threads 1 --quiet -o "$work/inject.heed" 2>"$work/inject-train.err"; then
    # A NUL byte may be refused by the reader; then check the rest without it.
    grep -v -a $'nul' "$work/inject.tsv" >"$work/inject2.tsv" && mv "$work/inject2.tsv" "$work/inject.tsv"
    "$heed" train "$work/inject.tsv" --model attention --embed 8 --hidden 8 --epochs 1 --min-count 1 --dev-fraction 0.3 \
        --threads 1 --quiet -o "$work/inject.heed"
fi
"$heed" report "$work/inject.heed" "$work/inject.tsv" -o "$work/inject.html" >/dev/null
check "$work/inject.html" report-injection injection

for r in "${extra_injection[@]}"; do
    check "$r" "$(basename "${r%.html}")" injection
done

# 3. Reports given on the command line.
for r in "${reports[@]}"; do
    check "$r" "$(basename "${r%.html}")"
done

if [ "$failures" -gt 0 ]; then
    echo "check-report: $failures failed" >&2
    exit 1
fi
echo "check-report: all pages passed"
