"""PyTorch reference of Heed's hierarchical attention network (HeedHAN, Yang et al. 2016).

Tensor names equal Heed's (HierarchicalConfig.tensorShapes): embedding, subwords, word_lstm,
word_attention, sentence_lstm, sentence_attention, classifier. Config keys are
HierarchicalConfig's JSON keys (vocabSize, embedDim, wordHiddenDim, sentenceHiddenDim,
bidirectional, scorer, wordAttentionDim, sentenceAttentionDim, classes, dropout, subwordBuckets).

A batch is flat, as Heed takes it: every token of every sentence of every document in reading
order (`ids` [N]), the tokens per sentence (`sentence_lengths` [S]) and the sentences per document
(`sentence_counts` [B]). Both levels run packed (`pack_padded_sequence`), so every sentence's and
every document's recurrence stops at its own length: Heed's masking exactly. Dropout sits after
the embedding, on the sentence vectors and before the classifier.
"""
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from heed_torch import Attention


def packed_lstm(lstm, rows, lengths):
    """Runs `lstm` over the variable-length groups of `rows` [sum(lengths), D_in]; returns the
    padded outputs [len(lengths), max(lengths), D_out] and the real-position mask."""
    padded = pad_sequence(torch.split(rows, lengths.tolist()), batch_first=True)
    T = padded.shape[1]
    packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    return out, mask


class HeedHAN(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        V, E = config["vocabSize"], config["embedDim"]
        Hw, Hs = config["wordHiddenDim"], config["sentenceHiddenDim"]
        bi = bool(config["bidirectional"])
        Dw, Ds = (2 * Hw, 2 * Hs) if bi else (Hw, Hs)
        scorer = config.get("scorer", "additive")
        self.embedding = nn.Embedding(V, E, padding_idx=0)
        buckets = config.get("subwordBuckets")
        self.subwords = nn.EmbeddingBag(buckets, E, mode="mean") if buckets else None
        self.word_lstm = nn.LSTM(E, Hw, batch_first=True, bidirectional=bi)
        self.word_attention = Attention(Dw, scorer, config.get("wordAttentionDim") or Dw)
        self.sentence_lstm = nn.LSTM(Dw, Hs, batch_first=True, bidirectional=bi)
        self.sentence_attention = Attention(Ds, scorer, config.get("sentenceAttentionDim") or Ds)
        self.dropout = nn.Dropout(float(config.get("dropout", 0.0)))
        self.classifier = nn.Linear(Ds, config["classes"])

    def forward(self, ids, sentence_lengths, sentence_counts, pieces=None, input_scales=None):
        """ids [N] long; sentence_lengths [S] long; sentence_counts [B] long; pieces: (buckets,
        offsets) per token for nn.EmbeddingBag; input_scales [B] multiply each document's embedded
        tokens (integrated gradients). Returns (logits [B, C], word attention [N], sentence
        attention [S], the embedded tokens as the word LSTM reads them before dropout [N, E])."""
        x = self.embedding(ids)
        if self.subwords is not None and pieces is not None:
            x = x + self.subwords(pieces[0], pieces[1])
        if input_scales is not None:
            doc_of_sentence = torch.repeat_interleave(torch.arange(len(sentence_counts)), sentence_counts)
            doc_of_token = torch.repeat_interleave(doc_of_sentence, sentence_lengths)
            x = x * input_scales[doc_of_token].unsqueeze(1)
        words, word_mask = packed_lstm(self.word_lstm, self.dropout(x), sentence_lengths)
        vectors, word_attention = self.word_attention(words, word_mask)
        sentences, sentence_mask = packed_lstm(self.sentence_lstm, self.dropout(vectors), sentence_counts)
        document, sentence_attention = self.sentence_attention(sentences, sentence_mask)
        logits = self.classifier(self.dropout(document))
        return logits, word_attention[word_mask], sentence_attention[sentence_mask], x
