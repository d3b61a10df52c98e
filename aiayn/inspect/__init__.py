"""Looking inside a model (not a paper section; the learners' tools).

    introspect  every sub-layer's input and output shapes; parameters per layer and
                the Table 3 comparison
    plots       training curves (loss, learning rate) from a run's metrics
"""
