"""The server a Python user would write for a Heed model: FastAPI + uvicorn + PyTorch
(bench/reference/heed_torch.py's HeedClassifier) on the same weights, answering
POST /v1/models/{name}/predict with the same JSON as `heed serve` for {"text": ...} or
{"texts": [...]} with explain "attention" or "none" (the methods the load test uses).

  MODEL=path/to/rt.heed uvicorn serve_torch:app --host 127.0.0.1 --port 8081 [--workers 2]

The tokenizer is the usual regex one (NFKC + casefold, words with inner apostrophes), with byte
offsets; Heed's ICU word breaker agrees with it on ordinary English text. Probabilities use the
model's calibration temperature, like Heed. Torch threads: HEED_TORCH_THREADS (default 1 per
worker process).
"""
import json
import os
import re
import sys
import unicodedata

import torch
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from safetensors import safe_open

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from heed_torch import HeedClassifier  # noqa: E402

torch.set_num_threads(int(os.environ.get("HEED_TORCH_THREADS", "1")))
WORD = re.compile(r"\w+(?:['’]\w+)*")


def load(path):
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
        state = {k: f.get_tensor(k) for k in f.keys()}
    options = json.loads(meta["heed.training"])
    labels = json.loads(meta["heed.labels"])
    vocab = {t: i + 2 for i, t in enumerate(json.loads(meta["heed.vocabulary"]))}
    calibration = json.loads(meta["heed.calibration"]) if "heed.calibration" in meta else None
    config = json.loads(meta["config"])
    model = HeedClassifier(config, variant="packed")
    model.load_state_dict(state, strict=True)
    model.eval()
    return {"model": model, "labels": labels, "vocab": vocab, "max_length": int(options.get("maxLength", 400)),
            "temperature": calibration["temperature"] if calibration else 1.0}


MODELS = {os.path.splitext(os.path.basename(p))[0]: load(p) for p in os.environ["MODEL"].split(",")}
app = FastAPI()


class PredictRequest(BaseModel):
    text: str | None = None
    texts: list[str] | None = None
    explain: str = "attention"
    top_k: int | None = None


def tokenize(text):
    tokens, byte = [], 0
    last = 0
    for m in WORD.finditer(text):
        byte += len(text[last:m.start()].encode())
        start = byte
        byte += len(m.group().encode())
        last = m.end()
        tokens.append((unicodedata.normalize("NFKC", m.group()).casefold(), start, byte))
    return tokens


@app.get("/health")
def health():
    return {"status": "ok", "models": len(MODELS)}


@app.post("/v1/models/{name}/predict")
def predict(name: str, req: PredictRequest):
    m = MODELS.get(name)
    if m is None:
        raise HTTPException(404, f"no model named {name}")
    texts = [req.text] if req.text is not None else req.texts
    if not texts:
        raise HTTPException(400, "give text or texts")
    toks = [tokenize(t) for t in texts]
    cut = [tk[: m["max_length"]] for tk in toks]
    ids = [[m["vocab"].get(t, 1) for t, _, _ in tk] or [1] for tk in cut]
    T = max(len(x) for x in ids)
    batch = torch.tensor([x + [0] * (T - len(x)) for x in ids])
    lengths = torch.tensor([len(x) for x in ids])
    with torch.inference_mode():
        logits, attn = m["model"](batch, lengths)
        probs = torch.softmax(logits / m["temperature"], dim=1)
    results = []
    for i, text in enumerate(texts):
        p = probs[i].tolist()
        order = sorted(range(len(p)), key=lambda k: (-p[k], k))[: (req.top_k or 1)]
        r = {"text": text, "label": m["labels"][order[0]], "probabilities": dict(zip(m["labels"], p)),
             "labels": [{"label": m["labels"][k], "score": p[k]} for k in order]}
        if req.explain == "attention" and attn is not None:
            a = attn[i].tolist()
            r["tokens"] = [{"text": t, "start": s, "end": e, "scores": {"attention": a[j]}} for j, (t, s, e) in enumerate(cut[i])]
            r["truncated"] = len(toks[i]) > m["max_length"]
            r["target"] = "logit"
        else:
            r["tokens"] = [{"text": t, "start": s, "end": e} for t, s, e in cut[i]]
        results.append(r)
    return {"model": name, "explain": ["attention"] if req.explain == "attention" else [], "results": results}
