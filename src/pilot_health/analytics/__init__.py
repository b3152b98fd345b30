"""Computations on what is stored: adoption, alignment, evidence, each pilot's numbers, risk, the portfolio."""
