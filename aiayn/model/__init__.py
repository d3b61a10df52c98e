"""§3 Model architecture: the paper's model, one module per subsection, in its order.

    attention           §3.2.1  scaled dot-product attention (Eq. 1)
    multi_head          §3.2.2  multi-head attention
    kv_cache                    the key/value cache of incremental decoding, preallocated, written in place
    masks               §3.2.3  padding and subsequent-position masks
    feed_forward        §3.3    position-wise feed-forward network (Eq. 2)
    embedding           §3.4    embeddings * sqrt(d_model), the tied pre-softmax map
    positions           §3.5    sinusoidal positions (learned ones: Table 3 row E)
    residual            §3.1    LayerNorm(x + Sublayer(x)); pre-norm as a departure
    dropout             §5.4    residual dropout (a cheaper mask on the CPU, same distribution)
    layers              §3.1    encoder and decoder layers, and their stacks
    transformer         §3.1    the encoder-decoder Transformer of Figure 1
    decoder_only                GPT-style variant built from the same blocks (not in the paper)
    encoder_classifier          encoder with a classification head (not in the paper)
    config              Table 3 the architecture's hyperparameters and presets
    inputs                      clear errors for token ids outside the vocabulary

Nothing here knows about data, training or decoding; those build on this package.
"""
