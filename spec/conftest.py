"""pytest setup for the spec suite; it travels with the wheel (as aiayn/_spec/conftest.py),
so the specs run the same from a checkout and from an installed package.

Offline hub, one torch thread, the derandomised hypothesis profile, and the hardware
markers (`@pytest.mark.needs_cuda`): see aiayn.checks.pytest_setup.
"""

import pytest

from aiayn.checks import pytest_setup

pytest_setup.configure()


def pytest_configure(config: pytest.Config) -> None:
    pytest_setup.register_markers(config)


def pytest_runtest_setup(item: pytest.Item) -> None:
    pytest_setup.skip_without_hardware(item)
