"""Data: tokenizers and data sets, each yielding plain records for the tasks.

    pairs           the `Pair(src, tgt)` record of translation data
    numbers         the built-in number task: lists of numbers in English and German words
                    (num2words), offline, with a fixed rule keeping test numbers out of training
    parallel        WMT 2014 from the Hugging Face hub, or local JSON Lines / aligned text files
    files           `DataError`, and reading local files with errors naming the file and line
    hub             one way to read a Hugging Face data set split, with one-line errors offline
    tokenizer       byte-level BPE (the shared vocabulary of §5.1)
    binarized       tokenized splits as memory-mapped token files with an offsets index,
                    built once per data and tokenizer, shared by every process
    characters      a character tokenizer, for comparison with character-level models
    shakespeare     the Shakespeare corpus, split by whole works
    plays           a play read as speeches (speaker, lines)
    cloze           LAMBADA-style last-word items from held-out works
    lambada         the LAMBADA test set (EleutherAI/lambada_openai)
    classification  the `LabelledText` record, local JSON Lines and SST-2
    genre           Shakespeare passages labelled by the First Folio's grouping
    instructions    prompt/response pairs: built from the corpus, Alpaca, Dolly
    chat            the chat template, its special tokens, and masked SFT targets
"""
