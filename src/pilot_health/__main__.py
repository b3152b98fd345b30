"""`python -m pilot_health …` — see `pilot_health.cli`."""

import gc

from pilot_health.cli import main

code = main()
# The process ends here: its objects need no last garbage collection (the interpreter's exit would spend
# about 0.03 s on one over pydantic's and DuckDB's objects). Every store connection is closed by now.
gc.freeze()
raise SystemExit(code)
