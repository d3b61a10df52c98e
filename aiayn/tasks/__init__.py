"""Tasks: what to learn, from what data, and how to judge it; one module per task.

    base            the `Task` protocol, `RunSpec`, and the table of task names
    runner          a run of a task in one folder: train, finalise, load back
    translation     the built-in number task, WMT 2014 English-German, local files
    translation_data  the translation task's data: binarized once, cached, shared by ranks
    language_model  Shakespeare with the decoder-only model
    sft             supervised fine-tuning of a language-model run on prompt/response pairs
    classification  Shakespeare genre (built in), SST-2, local JSON Lines
"""
