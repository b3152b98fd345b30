"""Pilot Health: which AI pilots are heading for the 80–90% that never reach production, and why.

The domain (store, models, computations) lives in this package and never imports Streamlit;
`pilot_health.ui` holds the Streamlit helpers that the pages use.
"""

__version__ = "0.1.0"
