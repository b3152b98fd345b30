"""Start the dashboard exactly as `streamlit run` does, without Streamlit's `/_stcore/metrics` route.

Streamlit 1.67 always serves that route, to anyone, signed in or not, and has no setting to turn
it off; nobody using Pilot Health needs it. So `run.py` (and the browser tests) start Streamlit
through this module, which leaves the route out of the web server's route list before handing over
to Streamlit's own command line. `python -m pilot_health.ui.serve run app.py [flags]` takes exactly
what `streamlit run` takes.
"""

from __future__ import annotations

import sys


def close_metrics_route() -> bool:
    """Leave the metrics route out of the server Streamlit builds. False (and a line on stderr) when
    this Streamlit has no such route builder any more: the proxy rule in docs/operating.md then still applies."""
    from streamlit.web.server.starlette import starlette_app

    if not hasattr(starlette_app, "create_metrics_routes"):
        print(
            "[pilot-health] this Streamlit builds its routes differently: /_stcore/metrics stays open; "
            "block it at the proxy (docs/operating.md, running it as a server)",
            file=sys.stderr,
        )
        return False
    starlette_app.create_metrics_routes = lambda runtime, base_url: []
    return True


def main() -> None:
    close_metrics_route()
    from streamlit.web.cli import main as streamlit_main

    streamlit_main(prog_name="streamlit")  # the same command line `python -m streamlit` sees


if __name__ == "__main__":
    main()
