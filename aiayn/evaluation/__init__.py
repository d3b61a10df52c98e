"""Scoring a model's output, one module per kind of task.

    translation     sacreBLEU with its signature, chrF, exact match, and the paper's
                    Moses-tokenized, compound-split BLEU (§6.1)
    language_model  loss per token, perplexity and bits per character on a whole text;
                    last-word cloze accuracy scored as lm-evaluation-harness does
    classification  accuracy, macro-F1, the confusion matrix, the majority baseline
"""
