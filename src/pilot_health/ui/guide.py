"""The in-app Guide: the user documentation (docs/*.md, our own files) shown on the Guide page,
one topic at a time, so that a page links to “How risk is judged” rather than naming a file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from pilot_health.config import project_root

GUIDE_PAGE = "pages/8_Guide.py"
GUIDE_URL = "Guide"  # the page's address, relative to the dashboard's (classic multipage mode)


@dataclass(frozen=True)
class Topic:
    key: str  # the Guide's ?topic= value
    file: str  # under docs/
    title: str  # as the Guide's chooser and links name it


# The documentation written for the people who use the dashboard. configuration.md and schema.md
# are for whoever runs it (environment variables, the database's tables) and stay in the repository.
TOPICS = (
    Topic("risk", "risk.md", "How risk is judged"),
    Topic("alignment", "alignment.md", "How alignment is judged"),
    Topic("adoption", "adoption.md", "How adoption is judged"),
    Topic("register", "pilot-register.md", "The pilot register"),
    Topic("uploads", "uploads.md", "Uploading data"),
    Topic("metrics", "metrics.md", "The metric dictionary"),
    Topic("steering", "steering.md", "Steering meetings, links and packs"),
    Topic("decisions", "decisions.md", "Committee decisions"),
    Topic("meetings", "meetings.md", "Since last meeting"),
    Topic("alerts", "alerts.md", "Alerts and escalation"),
    Topic("access", "access.md", "Sign-in, roles and business units"),
    Topic("demo", "demo.md", "The demo portfolio"),
)
BY_KEY = {t.key: t for t in TOPICS}
BY_FILE = {t.file: t for t in TOPICS}

_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def docs_folder() -> Path:
    return project_root() / "docs"


def guide_address(topic: str, anchor: str = "") -> str:
    """The Guide's relative address for a topic (works from every page: they all sit at the root)."""
    return f"{GUIDE_URL}?topic={topic}" + (f"#{anchor}" if anchor else "")


def _relink(match: re.Match, current: Topic) -> str:
    text, target = match.group(1), match.group(2)
    if target.startswith(("http://", "https://", "mailto:")):
        return match.group(0)
    path, _, anchor = target.partition("#")
    if not path:  # a section of this same page
        return f"[{text}]({guide_address(current.key, anchor)})"
    topic = BY_FILE.get(Path(path).name) if path.endswith(".md") and "/" not in path else None
    if topic is not None:
        return f"[{text}]({guide_address(topic.key, anchor)})"
    return text  # a file in the repository (the operators' pages, the shipped settings): its words, no link


def guide_markdown(topic: Topic) -> str:
    """The topic's page as the Guide shows it: links to other topics open them in the Guide, links
    to files that only exist in the repository become plain words."""
    text = (docs_folder() / topic.file).read_text(encoding="utf-8")
    return _LINK.sub(lambda m: _relink(m, topic), text)


def guide_link(topic: str, label: str | None = None, *, icon: str = ":material/menu_book:", container=None) -> None:
    """A link to a Guide topic (“How risk is judged”) that opens the Guide page inside the dashboard."""
    chosen = BY_KEY[topic]
    (container or st).page_link(GUIDE_PAGE, label=label or chosen.title, icon=icon, query_params={"topic": topic})
