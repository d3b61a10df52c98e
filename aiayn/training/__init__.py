"""§5 Training: everything that turns a model and a task's batches into trained weights.

    batching      §5.1  length-grouped batches under a token budget
    schedule      §5.3  Adam's settings and the Eq. 3 learning rate
    loss          §5.4  label-smoothed cross-entropy on logits
    trainer       §5    the loop: accumulation, torchrun, bf16, exact resume, the
                        non-finite policy; it knows no task (see `aiayn.tasks`)
    checkpoint          checkpoints that verify themselves, atomic writes
    averaging     §6.1  averaging the last checkpoints into one model
"""
