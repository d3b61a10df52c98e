"""The machinery that keeps the implementation honest to the paper.

    claims        finds the spec files (a checkout's spec/, or the copy a wheel carries)
                  and reads their sections and claims without running them
    suite         runs the specs in pytest and records each claim's outcome
    checklist     the report, TODO.md, and the spec gate that training waits on
    pytest_setup  what every spec run shares: offline hub, one thread, hypothesis profile
    shapecheck    run-time shape checking (jaxtyping + beartype), switched on from outside
    cached        the checker that checks each new call signature in full, repeats cheaply
    signature     the signature key of a call: shapes, dtypes, devices, config values
"""
