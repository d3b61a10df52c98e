"""Scoring a model's output, one module per kind of task.

    translation  sacreBLEU with its signature, chrF, exact match, and the paper's
                 tokenized, compound-split BLEU (§6.1)
"""
