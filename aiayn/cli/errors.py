"""User errors: what every command prints in one line on stderr, with exit status 2."""

import sys

from aiayn.data.files import DataError
from aiayn.data.tokenizer import TokenizerError
from aiayn.model.config import ConfigError
from aiayn.model.inputs import InputError
from aiayn.tasks.base import RunError
from aiayn.training.checkpoint import CheckpointError
from aiayn.training.trainer import TrainingError

# Errors that describe a problem with what the user asked for: printed in one line, exit 2.
USER_ERRORS = (RunError, ConfigError, DataError, CheckpointError, TokenizerError, TrainingError, InputError)


def fail(command: str, message: object) -> int:
    """Print `aiayn COMMAND: message` on stderr as one line; return the exit status for user errors."""
    print(f"aiayn {command}: {message}", file=sys.stderr)
    return 2
