"""§5 Training: everything that turns a model and a task's batches into trained weights.

    batching      §5.1  length-grouped batches under a token budget; `BatchSource`, the
                        trainer's view of any task's data
    pair_batches  §5.1  the `BatchSource` of binarized sentence pairs, collated by numpy gathers
    loader              collating the next step's batches in the background
    blocks        §5.1  contiguous token blocks for language modelling
    budget        §5.1  tokens per optimiser step on any number of processes
    schedule      §5.3  Adam's settings and the Eq. 3 learning rate
    loss          §5.4  label-smoothed cross-entropy on logits
    trainer       §5    the loop: accumulation, torchrun, bf16, exact resume, the
                        non-finite policy; it knows no task (see `aiayn.tasks`)
    distributed   §5.2  which process this is under torchrun, and its device
    checkpoint          checkpoints that verify themselves
    weights             reading and writing safetensors weights (tied tensors stored once)
    atomic              write, fsync, rename: files that are whole or absent
    averaging     §6.1  averaging the last checkpoints into one model
"""
