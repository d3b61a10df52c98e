"""pytest setup for the spec suite; it travels with the wheel (as aiayn/_spec/conftest.py),
so the specs run the same from a checkout and from an installed package.

Offline hub, one torch thread, the derandomised hypothesis profile, and the hardware
markers (`@pytest.mark.needs_cuda`), and the `results` checks (spec/results/) left out
unless asked for with `-m results`: see aiayn.checks.pytest_setup.
"""

import pytest

from aiayn.checks import pytest_setup

pytest_setup.configure()


def pytest_configure(config: pytest.Config) -> None:
    pytest_setup.register_markers(config)


def pytest_runtest_setup(item: pytest.Item) -> None:
    pytest_setup.skip_without_hardware(item)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    pytest_setup.deselect_results_unless_asked(config, items)
