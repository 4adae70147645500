"""PyTorch reference of Heed's classifier (HeedClassifier).

Tensor names equal Heed's safetensors names, so a Heed model file loads with
`safetensors.torch.load_file` + `load_state_dict`. Config keys are Heed's ClassifierConfig
JSON keys (vocabSize, embedDim, hiddenDim, bidirectional, pooling, scorer, attentionDim,
classes, dropout).
"""
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Attention(nn.Module):
    def __init__(self, dim, scorer, attention_dim):
        super().__init__()
        self.scorer = scorer
        if scorer == "linear":
            self.score = nn.Linear(dim, 1)
        elif scorer == "additive":
            self.proj = nn.Linear(dim, attention_dim)
            self.context = nn.Linear(attention_dim, 1, bias=False)
        else:
            raise ValueError(f"unknown scorer {scorer}")

    def forward(self, h, mask):
        # h: [B, T, D]; mask: [B, T] bool (True = real token). Softmax over time.
        if self.scorer == "linear":
            s = self.score(h).squeeze(-1)
        else:
            s = self.context(torch.tanh(self.proj(h))).squeeze(-1)
        s = s.masked_fill(~mask, float("-inf"))
        a = torch.softmax(s, dim=1)  # masked positions are exactly 0
        ctx = torch.bmm(a.unsqueeze(1), h).squeeze(1)
        return ctx, a


class HeedClassifier(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        V, E, H = config["vocabSize"], config["embedDim"], config["hiddenDim"]
        self.bidirectional = bool(config["bidirectional"])
        D = 2 * H if self.bidirectional else H
        self.pooling = config["pooling"]
        self.embedding = nn.Embedding(V, E, padding_idx=0)
        self.lstm = nn.LSTM(E, H, batch_first=True, bidirectional=self.bidirectional)
        if self.pooling == "attention":
            A = config.get("attentionDim") or D
            self.attention = Attention(D, config["scorer"], A)
        self.dropout = nn.Dropout(float(config.get("dropout", 0.0)))
        self.classifier = nn.Linear(D, config["classes"])

    def forward(self, ids, lengths):
        """ids: [B, T] long, 0-padded; lengths: [B] long. Returns (logits [B, C], attention [B, T] or None)."""
        B, T = ids.shape
        x = self.dropout(self.embedding(ids))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h_n, _) = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        attn = None
        if self.pooling == "attention":
            mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
            pooled, attn = self.attention(out, mask)
        elif self.bidirectional:
            pooled = torch.cat([h_n[-2], h_n[-1]], dim=1)
        else:
            pooled = h_n[-1]
        return self.classifier(self.dropout(pooled)), attn
