"""`python -m aiayn ...` (and `torchrun ... -m aiayn train ...`) run the `aiayn` command."""

from aiayn.cli import main

raise SystemExit(main())
