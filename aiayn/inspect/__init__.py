"""Looking inside a model (not a paper section; the learners' tools).

    introspect         every sub-layer's input and output shapes; parameters per layer and
                       the Table 3 comparison
    attention_maps     the attention weights a model used, captured by a context manager
    pictures           attention maps as PNG grids and a self-contained HTML page
    position_pictures  §3.5 drawn: the encoding, its curves, the relative-shift property
    plots              training curves (loss, learning rate) from a run's metrics
"""
