"""Tasks: what to learn, from what data, and how to judge it; one module per task.

    translation  the built-in number task, WMT 2014 English-German, local files
"""
