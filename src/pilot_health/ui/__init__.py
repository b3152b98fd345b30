"""Streamlit helpers shared by every page. The only part of the package that imports Streamlit."""
