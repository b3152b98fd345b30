"""Putting text that users typed or uploaded on a page without it ever being read as Markdown."""

from __future__ import annotations

import re

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=])")
_AUTOLINK_STARTS = re.compile(r"(?i)(://|www(?=\\\.)|\w@)")  # what GitHub-flavoured Markdown links by itself
WORD_JOINER = "\u2060"  # invisible; it breaks an automatic link without changing what a person reads


def md_escape(text: object) -> str:
    """Backslash-escape every character Markdown (or Streamlit's :colour[] and :icon: syntax) could
    act on, so that user text passed to st.markdown, st.caption, st.header, a toast or a label
    shows literally; and break the addresses (http://…, www.…, name@host) Markdown would link by
    itself, which no escape prevents."""
    escaped = _MARKDOWN_SPECIALS.sub(r"\\\1", str(text)).replace("\n", " ")
    return _AUTOLINK_STARTS.sub(lambda m: m.group(1)[0] + WORD_JOINER + m.group(1)[1:], escaped)
