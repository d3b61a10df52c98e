"""Shared pytest setup for spec/ and tests/ in a checkout (see aiayn.checks.pytest_setup).

spec/conftest.py repeats the call so that the spec folder runs the same way on its own,
as it does from an installed wheel. Shape checking is switched on by the
`-p aiayn.checks.shapecheck` option in pyproject.toml (the spec gate passes it itself);
tests/test_shape_checks.py fails if it ever is not.
"""

from aiayn.checks import pytest_setup

pytest_setup.configure()
