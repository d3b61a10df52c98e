"""The paper's results (not its mechanisms), rerun: Table 3 in miniature and Table 2's training cost.

    table3_rows      the rows of Table 3 with the paper's figures, and the miniature base
                     they are scaled onto
    table3           training and scoring each row over several seeds, resumably (§6.2)
    table3_report    table3.json, table3.md and the picture
    claims_6_2       §6.2's qualitative claims, judged against the seed spread
    training_cost    Table 2: training FLOPs from hours x GPUs x rate, and from 6 N D
"""
