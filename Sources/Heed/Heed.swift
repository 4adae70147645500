// Readers, tokenizer and vocabularies are part of the API (`CorpusReader`, `LabelledText`,
// `TokenizerSettings`, `Vocabulary`); the network layers, BLAS and the optimizer are not.
@_exported import HeedText
