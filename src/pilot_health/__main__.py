"""`python -m pilot_health …` — see `pilot_health.cli`."""
from .cli import main

raise SystemExit(main())
