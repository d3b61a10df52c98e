"""The machinery that keeps the implementation honest to the paper.

    checklist   runs spec/ as the paper's checklist, writes TODO.md, gates training
    shapecheck  turns jaxtyping + beartype shape checking on from outside the library
"""
