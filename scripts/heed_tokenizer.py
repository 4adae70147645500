#!/usr/bin/env python3
"""Heed's tokenizer in Python: text to the `ids` (and `pieces`) an exported ONNX graph reads.

Reads the tokenizer JSON that `heed export` writes beside MODEL.onnx and reproduces Heed's path
from text to network input (docs/onnx.md): ICU word segmentation of the UTF-8 text, each word
segment normalised as the settings say (NFKC with case folding by default), emoji kept as written,
punctuation dropped or kept, numbers kept or masked as `<num>`; vocabulary lookup (`<unk>` = 1);
the first `maxLength` tokens; a text without tokens is a lone `<unk>`; with subwords, each token's
FNV-1a n-gram buckets (docs/model-format.md, "Subwords"). For a han model (a tokenizer JSON with
"sentences"), ICU's sentence break iterator groups the tokens into sentences, and the first
`maxSentences` sentences keep their first `maxWords` tokens each (docs/onnx.md).

It calls the system ICU (libicuuc, Debian's `libicu72` and later) through ctypes, so it needs no
package beyond Python. Segmentation rules come with the ICU version: ids equal Heed's when both
run the same ICU major version (Heed's is in `heed --version`; this script's in `icu_version()`).
`make onnx-check` asserts that the ids and pieces equal those Heed fed the network for every test
document of the shipped corpora.

Usage:
    scripts/heed_tokenizer.py MODEL.tokenizer.json < texts.txt > inputs.jsonl
      one text per line; prints {"tokens": [...], "ids": [...], "pieces": [[...], ...]} per line
      (for a han model's tokenizer, a list per sentence in each field)
    scripts/heed_tokenizer.py MODEL.tokenizer.json --tsv TEST.tsv
      label<TAB>text lines (blank lines skipped, as Heed does); adds "line" and "label"

In Python:
    from heed_tokenizer import HeedTokenizer
    tok = HeedTokenizer("model.tokenizer.json")
    ids, pieces = tok.encode("A gripping film.")
    ids, pieces = tok.encode_sentences("A gripping film. Too long.")  # a han model: per sentence
"""
import argparse
import ctypes
import ctypes.util
import json
import sys

_UBRK_WORD = 1
_UBRK_SENTENCE = 3
_UBRK_DONE = -1
_UCHAR_EXTENDED_PICTOGRAPHIC = 64
_U_DECIMAL_DIGIT_NUMBER = 9
_U_BUFFER_OVERFLOW_ERROR = 15
# Rule statuses below 100 are UBRK_WORD_NONE: whitespace, punctuation, symbols, emoji.
_UBRK_WORD_NONE_LIMIT = 100


class _ICU:
    """The handful of ICU C functions Heed's tokenizer calls (Sources/CHeedICU/heed_icu.c)."""

    def __init__(self):
        path = ctypes.util.find_library("icuuc") or "libicuuc.so"
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            raise SystemExit(f"heed_tokenizer: cannot load ICU ({path}): {e}. Install it (Debian: apt-get install libicu72)")
        self.suffix = next((s for s in [""] + [f"_{v}" for v in range(90, 49, -1)] if hasattr(lib, "u_getVersion" + s)), None)
        if self.suffix is None:
            raise SystemExit(f"heed_tokenizer: {path} exports no u_getVersion: not an ICU library")
        self.lib = lib
        f = self.fn
        c_int32, c_int64, vp = ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p
        err = ctypes.POINTER(ctypes.c_int)
        self.u_getVersion = f("u_getVersion", None, [ctypes.c_uint8 * 4])
        self.ubrk_open = f("ubrk_open", vp, [ctypes.c_int, ctypes.c_char_p, vp, c_int32, err])
        self.utext_openUTF8 = f("utext_openUTF8", vp, [vp, ctypes.c_char_p, c_int64, err])
        self.ubrk_setUText = f("ubrk_setUText", None, [vp, vp, err])
        self.ubrk_first = f("ubrk_first", c_int32, [vp])
        self.ubrk_next = f("ubrk_next", c_int32, [vp])
        self.ubrk_getRuleStatus = f("ubrk_getRuleStatus", c_int32, [vp])
        self.u_hasBinaryProperty = f("u_hasBinaryProperty", ctypes.c_int8, [c_int32, ctypes.c_int])
        self.u_isUWhiteSpace = f("u_isUWhiteSpace", ctypes.c_int8, [c_int32])
        self.u_isUAlphabetic = f("u_isUAlphabetic", ctypes.c_int8, [c_int32])
        self.u_charType = f("u_charType", ctypes.c_int8, [c_int32])
        self.unorm2_getNFKCInstance = f("unorm2_getNFKCInstance", vp, [err])
        self.unorm2_getNFKCCasefoldInstance = f("unorm2_getNFKCCasefoldInstance", vp, [err])
        u16 = ctypes.POINTER(ctypes.c_uint16)
        self.u_strFromUTF8WithSub = f("u_strFromUTF8WithSub", u16,
                                      [u16, c_int32, ctypes.POINTER(c_int32), ctypes.c_char_p, c_int32, c_int32,
                                       ctypes.POINTER(c_int32), err])
        self.unorm2_normalize = f("unorm2_normalize", c_int32, [vp, u16, c_int32, u16, c_int32, err])
        self.u_strToUTF8 = f("u_strToUTF8", ctypes.c_char_p, [ctypes.c_char_p, c_int32, ctypes.POINTER(c_int32), u16, c_int32, err])

    def fn(self, name, restype, argtypes):
        g = getattr(self.lib, name + self.suffix)
        g.restype, g.argtypes = restype, argtypes
        return g

    def version(self):
        v = (ctypes.c_uint8 * 4)()
        self.u_getVersion(v)
        parts = list(v)
        while len(parts) > 2 and parts[-1] == 0:
            parts.pop()
        return ".".join(str(x) for x in parts)


def _check(status, what):
    if status.value > 0:
        raise RuntimeError(f"ICU {what} failed with error {status.value}")


class HeedTokenizer:
    """Text to Heed's network input, from the tokenizer JSON of `heed export`."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
        if spec.get("format") != "heed-tokenizer" or spec.get("version") != 1:
            raise SystemExit(f"heed_tokenizer: {path}: not a heed-tokenizer version 1 file")
        s = spec["tokenizer"]
        self.normalization = s["normalization"]
        self.keep_punctuation = s["keepPunctuation"]
        self.mask_numbers = s["maskNumbers"]
        self.vocabulary = spec["vocabulary"]
        self.index = {t: i for i, t in enumerate(self.vocabulary)}
        self.unknown_id = spec["unknownId"]
        self.max_length = spec["maxLength"]
        self.subwords = spec.get("subwords")
        self.sentences = spec.get("sentences")  # a han model's splitter and limits, else None
        self.icu = _ICU()
        status = ctypes.c_int(0)
        locale = "" if s["locale"] == "root" else s["locale"]
        self._breaker = self.icu.ubrk_open(_UBRK_WORD, locale.encode(), None, 0, ctypes.byref(status))
        _check(status, "ubrk_open(%r)" % s["locale"])
        self._utext = None
        self._sentence_breaker = None
        if self.sentences is not None:
            if self.sentences.get("splitter") != "icu-sentence-break":
                raise SystemExit(f"heed_tokenizer: {path}: unknown sentence splitter {self.sentences.get('splitter')!r}")
            # heed_sentence_segmenter_open: CLDR's abbreviation suppressions ("Mr. Smith" stays one
            # sentence); root has no list of its own and reads the English one.
            base = locale or "en"
            name = base + (";" if "@" in base else "@") + "ss=standard"
            self._sentence_breaker = self.icu.ubrk_open(_UBRK_SENTENCE, name.encode(), None, 0, ctypes.byref(status))
            _check(status, "ubrk_open(sentence, %r)" % name)
            self._sentence_utext = None
        self._normalizer = None
        if self.normalization != "none":
            get = self.icu.unorm2_getNFKCInstance if self.normalization == "nfkc" else self.icu.unorm2_getNFKCCasefoldInstance
            self._normalizer = get(ctypes.byref(status))
            _check(status, "unorm2 instance")

    def icu_version(self):
        return self.icu.version()

    def _attach(self, breaker, utext, data):
        """Points `breaker` at UTF-8 `data` through the UText `utext` (reused; None at first).
        Returns the UText and the buffer, which must outlive the iteration."""
        status = ctypes.c_int(0)
        buf = ctypes.create_string_buffer(data, len(data))
        utext = self.icu.utext_openUTF8(utext, buf, len(data), ctypes.byref(status))
        _check(status, "utext_openUTF8")
        self.icu.ubrk_setUText(breaker, utext, ctypes.byref(status))
        _check(status, "ubrk_setUText")
        return utext, buf

    def tokens(self, text):
        """[(normalised token, start byte, end byte)] of `text` (str or UTF-8 bytes), all of them."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        if not data:
            return []
        icu = self.icu
        self._utext, buf = self._attach(self._breaker, self._utext, data)
        out, start = [], icu.ubrk_first(self._breaker)
        while True:
            end = icu.ubrk_next(self._breaker)
            if end == _UBRK_DONE:
                break
            span = data[start:end]
            if icu.ubrk_getRuleStatus(self._breaker) < _UBRK_WORD_NONE_LIMIT:
                chars = [ord(c) for c in span.decode("utf-8", "replace")]
                if any(icu.u_hasBinaryProperty(c, _UCHAR_EXTENDED_PICTOGRAPHIC) for c in chars):
                    out.append((span.decode("utf-8", "replace"), start, end))  # emoji stay as written
                elif self.keep_punctuation and not all(icu.u_isUWhiteSpace(c) for c in chars):
                    self._emit(out, span, start, end, numeric=False)
            else:
                self._emit(out, span, start, end, numeric=self.mask_numbers and self._is_numeric(span))
            start = end
        return out

    def _is_numeric(self, span):
        digit = False
        for c in span.decode("utf-8", "replace"):
            c = ord(c)
            if self.icu.u_isUAlphabetic(c):
                return False
            digit = digit or self.icu.u_charType(c) == _U_DECIMAL_DIGIT_NUMBER
        return digit

    def _emit(self, out, span, start, end, numeric):
        if numeric:
            out.append(("<num>", start, end))
            return
        norm = self._normalize(span)
        if norm:  # a segment of only default-ignorable code points normalises to nothing
            out.append((norm, start, end))

    def _normalize(self, span):
        """heed_normalize: UTF-8 (invalid bytes as U+FFFD) to UTF-16, NFKC[_Casefold], back to UTF-8."""
        if self._normalizer is None:
            return span.decode("utf-8", "replace")
        icu, status = self.icu, ctypes.c_int(0)
        n = ctypes.c_int32(0)
        cap = 2 * len(span) + 16
        src = (ctypes.c_uint16 * cap)()
        icu.u_strFromUTF8WithSub(src, cap, ctypes.byref(n), span, len(span), 0xFFFD, None, ctypes.byref(status))
        _check(status, "u_strFromUTF8WithSub")
        tcap = 4 * n.value + 16
        while True:
            status.value = 0
            dst = (ctypes.c_uint16 * tcap)()
            m = icu.unorm2_normalize(self._normalizer, src, n.value, dst, tcap, ctypes.byref(status))
            if status.value == _U_BUFFER_OVERFLOW_ERROR:
                tcap = m + 1
                continue
            _check(status, "unorm2_normalize")
            break
        return bytes(memoryview(dst).cast("B")[: 2 * m]).decode("utf-16-le", "surrogatepass")

    def buckets(self, token):
        """The subword buckets of a normalised token: FNV-1a of each n-gram of `<token>`."""
        sub, wrapped, out = self.subwords, "<" + token + ">", []
        for first in range(len(wrapped)):
            for n in range(1, min(sub["maxn"], len(wrapped) - first) + 1):
                if n < sub["minn"] or (n == 1 and first in (0, len(wrapped) - 1)):
                    continue  # too short, or a lone boundary marker
                h = 2166136261
                for byte in wrapped[first:first + n].encode("utf-8"):
                    h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
                out.append(h % sub["buckets"])
        return out

    def sentence_boundaries(self, text):
        """ICU's sentence boundaries in `text` (str or UTF-8 bytes): ascending byte offsets after 0,
        the last one the text's length (none for empty text)."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        if not data:
            return []
        icu = self.icu
        self._sentence_utext, buf = self._attach(self._sentence_breaker, self._sentence_utext, data)
        icu.ubrk_first(self._sentence_breaker)
        out = []
        while (end := icu.ubrk_next(self._sentence_breaker)) != _UBRK_DONE:
            out.append(end)
        return out

    @staticmethod
    def group(token_ranges, boundaries, text_length):
        """[(first token, end token)] per sentence, as Heed's Sentence.group: a boundary strictly
        inside a token is dropped, and a segment without tokens joins the sentence before it (at
        the start of the text, the one after it), so every token is in exactly one sentence."""
        out, start, token = [], 0, 0
        for boundary in boundaries:
            if not start < boundary < text_length:
                continue
            end = token
            while end < len(token_ranges) and token_ranges[end][0] < boundary:
                end += 1
            if end > token and token_ranges[end - 1][1] > boundary:
                continue
            if end == token:
                if out:
                    start = boundary
                continue
            out.append((token, end))
            start, token = boundary, end
        if token < len(token_ranges):
            out.append((token, len(token_ranges)))
        return out

    def sentence_tokens(self, text):
        """For a han model: the normalised tokens of the first maxSentences sentences, the first
        maxWords of each ([] for a text without tokens)."""
        if self.sentences is None:
            raise ValueError("heed_tokenizer: a flat model's tokenizer (no \"sentences\" in its JSON): use encode()")
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        toks = self.tokens(data)
        if not toks:
            return []
        spans = self.group([(s, e) for _, s, e in toks], self.sentence_boundaries(data), len(data))
        return [[t for t, _, _ in toks[first:end][: self.sentences["maxWords"]]]
                for first, end in spans[: self.sentences["maxSentences"]]]

    def encode_sentences(self, text):
        """For a han model: (ids, pieces) per sentence, as the graph's `ids` and `pieces` rows take
        them (a text without tokens is one sentence of a lone `<unk>`)."""
        sentences = self.sentence_tokens(text)
        if not sentences:
            return [[self.unknown_id]], ([[[]]] if self.subwords else None)
        ids = [[self.index.get(t, self.unknown_id) for t in sentence] for sentence in sentences]
        return ids, ([[self.buckets(t) for t in sentence] for sentence in sentences] if self.subwords else None)

    def encode(self, text):
        """(ids, pieces): the first maxLength tokens' ids (a lone `<unk>` for a text without tokens)
        and, for a model with subwords, each token's buckets (else None)."""
        toks = [t for t, _, _ in self.tokens(text)[: self.max_length]]
        if not toks:
            return [self.unknown_id], ([[]] if self.subwords else None)
        ids = [self.index.get(t, self.unknown_id) for t in toks]
        return ids, ([self.buckets(t) for t in toks] if self.subwords else None)


def main():
    ap = argparse.ArgumentParser(description="Text to the ids (and pieces) of a Heed ONNX export.")
    ap.add_argument("tokenizer", help="MODEL.tokenizer.json written by heed export")
    ap.add_argument("--tsv", help="read label<TAB>text lines from this file instead of texts from stdin")
    args = ap.parse_args()
    tok = HeedTokenizer(args.tokenizer)
    src = open(args.tsv, "rb") if args.tsv else sys.stdin.buffer
    out = sys.stdout
    for number, raw in enumerate(src, 1):
        line = raw.rstrip(b"\n")
        line = line[:-1] if line.endswith(b"\r") else line
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        rec = {}
        if not line.strip(b" \t"):
            if args.tsv:
                continue  # Heed skips lines of only spaces and tabs in a corpus
        if args.tsv:
            if b"\t" not in line:
                sys.exit(f"heed_tokenizer: {args.tsv}:{number}: no tab between label and text")
            label, line = line.split(b"\t", 1)
            rec = {"line": number, "label": label.decode("utf-8", "replace")}
        if tok.sentences is not None:  # a han model: tokens, ids and pieces per sentence
            ids, pieces = tok.encode_sentences(line)
            rec["tokens"] = tok.sentence_tokens(line)
        else:
            ids, pieces = tok.encode(line)
            rec["tokens"] = [t for t, _, _ in tok.tokens(line)[: tok.max_length]]
        rec["ids"] = ids
        if pieces is not None:
            rec["pieces"] = pieces
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
