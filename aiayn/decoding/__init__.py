"""§6.1 Decoding: turning logits into output sequences.

    search      greedy decoding and beam search (beam 4, GNMT length penalty alpha 0.6,
                at most input length + 50 tokens), with the key/value cache
    sampling    generation for the decoder-only model: left-padded prompt batches, the
                key/value cache, temperature, top-k and top-p
"""
