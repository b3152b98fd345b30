"""Putting text that users typed or uploaded on a page without it ever being read as Markdown."""
from __future__ import annotations

import re

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=])")


def md_escape(text: object) -> str:
    """Backslash-escape every character Markdown (or Streamlit's :colour[] and :icon: syntax) could
    act on, so that user text passed to st.markdown, st.caption or a label shows literally."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", str(text)).replace("\n", " ")
