"""The Guide: the user documentation inside the dashboard, one topic per address (?topic=risk),
with links between topics kept inside the dashboard and no link to a repository file."""

from __future__ import annotations

import re

from conftest import ROOT
from streamlit.testing.v1 import AppTest

from pilot_health.ui.guide import BY_KEY, TOPICS, guide_markdown

HOME = str(ROOT / "app.py")
GUIDE = "pages/8_Guide.py"


def visit(page: str, **query) -> AppTest:
    at = AppTest.from_file(HOME, default_timeout=120)
    at.switch_page(page)
    at.query_params.update(query)
    return at.run()


def test_every_topic_is_a_user_document_and_its_links_stay_in_the_dashboard():
    shipped = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert {t.file for t in TOPICS} <= shipped
    assert not {"configuration.md", "schema.md"} & {t.file for t in TOPICS}, "operators' pages stay in the repository"
    for topic in TOPICS:
        text = guide_markdown(topic)
        targets = re.findall(r"\]\(([^)\s]+)\)", text)
        for target in targets:
            assert target.startswith(("Guide?topic=", "http://", "https://", "mailto:")), (topic.key, target)
            if target.startswith("Guide?topic="):
                assert target.removeprefix("Guide?topic=").split("#")[0] in BY_KEY, (topic.key, target)
    uploads = guide_markdown(BY_KEY["uploads"])
    assert "](Guide?topic=uploads#dates-and-periods)" in uploads, (
        "a link to a section of the same page keeps its section"
    )
    assert "](configuration.md)" not in guide_markdown(BY_KEY["metrics"]) and "configuration.md" not in "".join(
        re.findall(r"\]\([^)]*\)", guide_markdown(BY_KEY["metrics"]))
    ), "a link to an operators' page becomes its words"


def test_the_guide_opens_the_topic_its_address_names(demo_store, app_env):
    app_env(demo_store)
    at = visit(GUIDE, topic="uploads")
    assert not at.exception
    assert at.selectbox(key="topic").value == "uploads"
    assert any(str(m.value).startswith("# Uploading data") for m in at.markdown)
    first = visit(GUIDE)
    assert first.selectbox(key="topic").value == TOPICS[0].key
    wrong = visit(GUIDE, topic="nothing")
    assert any("“nothing”, which does not exist here" in str(w.value) for w in wrong.warning)


def test_pages_link_to_the_guide_by_topic_not_to_a_file(demo_store, app_env):
    app_env(demo_store)
    for page, label, topic in (
        ("pages/1_Pilot_register.py", "What each column of the register means", "register"),
        ("pages/7_Thresholds.py", "How the thresholds are used: how risk is judged", "risk"),
    ):
        [link] = [n.proto for n in visit(page).get("page_link") if n.proto.label == label]
        assert (link.page, link.query_string) == ("Guide", f"topic={topic}")
