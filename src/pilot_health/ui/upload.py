"""The upload page's pieces: what the engine understood, the choices a person can change, the
receipt, and the upload history. Everything from the file (names, cells, messages quoting cells)
is shown as plain text or in tables, never as Markdown."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

import pandas as pd
import streamlit as st

from pilot_health.access import Person
from pilot_health.csv_files import frame_to_csv
from pilot_health.formatting import file_size, plural
from pilot_health.ingest import KIND_LABELS, KINDS, IngestOptions, IngestResult, ingest
from pilot_health.ingest.recognise import IGNORE, LAYOUTS, describe_target, target_choices
from pilot_health.rules.metric_dictionary import MetricAnswer
from pilot_health.store.database import Store
from pilot_health.ui.text import md_escape
from pilot_health.ui.widgets import data_table, labelled

AUTO = "auto"


def target_label(kind: str, target: str) -> str:
    return "— not used —" if target == IGNORE else describe_target(kind, target)


def options_key(sha: str, options: IngestOptions) -> str:
    payload = json.dumps(asdict(options), sort_keys=True, default=str)
    return hashlib.sha256(f"{sha}|{payload}".encode()).hexdigest()


def analyse(
    store: Store, version: str, data: bytes, file_name: str, options: IngestOptions, person: Person
) -> IngestResult:
    """Check the file (nothing stored) as `person` would store it, once per file, choice of options and store version."""
    sha = hashlib.sha256(data).hexdigest()
    key = (version, person, options_key(sha, options))
    cached = st.session_state.get("upload_analysis")
    if cached and cached[0] == key:
        return cached[1]
    bar = st.progress(0.0, text=f"Reading {file_name} …")

    def progress(share: float, text: str) -> None:
        bar.progress(min(share, 1.0), text=text)

    result = ingest(store, data, file_name, options, commit=False, person=person, progress=progress)
    bar.empty()
    st.session_state["upload_analysis"] = (key, result)
    return result


def show_understanding(result: IngestResult) -> None:
    mapping = result.mapping
    facts = [("File", result.file_name), ("Size", file_size(result.size))]
    if result.format:
        facts.append(("Format", result.format.describe()))
    if mapping:
        facts.append(("Holds", KIND_LABELS[mapping.kind]))
        facts.append(("Layout", LAYOUTS.get(mapping.layout, mapping.layout)))
        if mapping.export:
            facts.append(("Recognised as", mapping.export))
    data_table(pd.DataFrame(facts, columns=["", "detected"]), "detected", "detected.csv")


def _remember(sha: str, header: str, widget_key: str) -> None:
    st.session_state.setdefault(f"mapping.{sha}", {})[header] = st.session_state[widget_key]


def mapping_editor(result: IngestResult) -> None:
    """One selectbox per column: which field it feeds. A change is remembered for this file and
    the file is checked again with it."""
    mapping = result.mapping
    if mapping is None:  # a file refused before its columns were read: nothing to map
        return
    st.caption(
        "Each column of the file and what it was taken to be. Change any that are wrong; columns set to “not used” are ignored."
    )
    columns = st.columns(3)
    for index, header in enumerate(result.headers):
        choices = target_choices(mapping, header)
        current = mapping.targets.get(header, IGNORE)
        question = mapping.questions.get(header)
        label = header if not question or question == header else f"{header}: {question}"
        with columns[index % 3]:
            key = f"map.{result.sha256[:12]}.{index}"
            st.selectbox(
                md_escape(label[:120]),
                choices,
                index=choices.index(current),
                format_func=lambda t: target_label(mapping.kind, t),
                key=key,
                on_change=_remember,
                args=(result.sha256, header, key),
            )
    unused = [h for h in result.headers if mapping.targets.get(h, IGNORE) == IGNORE]
    if unused:
        st.caption(f"Not used ({len(unused)}):")
        st.text(", ".join(unused))


def show_counts(result: IngestResult, *, stored: bool) -> None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        "Rows read",
        f"{result.rows_read:,}",
        help="Data rows in the file, after the header; title lines, totals and footers are not counted.",
    )
    c2.metric(
        "Stored" if stored else "Will be stored",
        f"{result.rows_to_store:,}",
        help="Rows (or values, for one-column-per-metric files) that go into the store.",
    )
    c3.metric(
        "Rejected",
        f"{result.rows_rejected:,}",
        help="Rows that cannot be stored, each with its reason below and in the download.",
    )
    c4.metric(
        "Left out",
        f"{result.rows_left_out:,}",
        help="Rows deliberately not stored: totals, exact duplicates, survey previews and unfinished responses, values already stored.",
    )


def show_warnings(result: IngestResult) -> None:
    for warning in result.warnings:
        st.warning(md_escape(warning), icon=":material/info:")


MAX_LISTED_PROBLEMS = 200  # listed on the page; the table's download has every one


def show_problems(result: IngestResult) -> None:
    if not result.problems:
        return
    st.markdown(f"**Why {plural(result.rows_rejected, 'row')} cannot be stored**")
    every = pd.DataFrame(
        [(p.row, p.column or "", p.message) for p in result.problems], columns=["line", "column", "reason"]
    )
    frame = every.head(MAX_LISTED_PROBLEMS)
    data_table(
        frame,
        "problems",
        f"problems_{result.file_name.rsplit('.', 1)[0]}.csv",
        download=every,
        height=min(38 + 35 * len(frame), 300),
        column_config={
            "line": st.column_config.NumberColumn("Line", format="%d", help="Line of the file, counting from 1.")
        },
    )
    if len(every) > MAX_LISTED_PROBLEMS:
        st.caption(
            f"The first {MAX_LISTED_PROBLEMS} of {len(every):,} are listed; "
            "the download under the table has all of them."
        )


def rejected_download(result: IngestResult, key: str) -> None:
    if result.rejected_rows is not None and not result.rejected_rows.empty:
        st.download_button(
            f"Download the {plural(len(result.rejected_rows), 'rejected row')} with reasons (CSV)",
            frame_to_csv(result.rejected_rows),
            file_name=f"rejected_{result.file_name.rsplit('.', 1)[0]}.csv",
            mime="text/csv",
            icon=":material/download:",
            key=key,
            on_click="ignore",
        )


def receipt(result: IngestResult) -> None:
    st.success(
        f"Stored {plural(result.rows_to_store, 'row')} from {md_escape(result.file_name)} as upload {result.upload_id}.",
        icon=":material/check_circle:",
    )
    facts = [
        ("Rows stored", f"{result.rows_to_store:,}"),
        ("Rows rejected", f"{result.rows_rejected:,}"),
        ("Rows left out", f"{result.rows_left_out:,}"),
    ]
    if result.rows_replaced:
        facts.append(("Stored values replaced", f"{result.rows_replaced:,}"))
    if result.date_range:
        facts.append(("Dates", f"{result.date_range[0]:%Y-%m-%d} to {result.date_range[1]:%Y-%m-%d}"))
    if result.pilots:
        facts.append(("Pilots", ", ".join(result.pilots)))
    if result.metrics:
        facts.append(("Metrics", ", ".join(result.metrics)))
    data_table(pd.DataFrame(facts, columns=["receipt", ""]), "receipt", f"receipt_upload_{result.upload_id}.csv")
    show_warnings(result)
    rejected_download(result, "download_rejected_receipt")


def choose_options(result: IngestResult, pilots: list[str], next_wave: int | None) -> dict[str, Any]:
    """The questions the file does not answer itself."""
    mapping = result.mapping
    answers: dict[str, Any] = {}
    if mapping is None:  # a file refused before its columns were read: nothing to ask
        return answers
    prefix = f"opt.{result.sha256[:12]}"
    left, middle, right = st.columns(3)
    if mapping.kind in ("metrics", "usage", "survey") and not result.pilot_column:
        answers["pilot_id"] = left.selectbox(
            "Which pilot do these rows belong to?",
            pilots,
            index=None,
            placeholder="Choose a pilot",
            key=f"{prefix}.pilot",
            help="The file has no pilot column, so all its rows go to the pilot you choose.",
        )
    if (
        mapping.kind == "metrics"
        and mapping.defaults.get("environment_from_names")
        and not mapping.column_for("environment")
    ):
        answers["environment"] = middle.radio(  # the run names say it: one question, answered as proposed
            "Lab or live?",
            list(NAMES_CHOICES),
            index=0,
            format_func=NAMES_CHOICES.get,
            key=f"{prefix}.environment",
            help="The run names say where each run was measured (lab, live, prod, offline …): keep that, or choose one for every row.",
        )
    elif (
        mapping.kind == "metrics"
        and not result.environment_column
        and (
            "environment" in result.needs
            or st.session_state.get(f"{prefix}.environment")
            or mapping.defaults.get("environment")
        )
    ):
        default = mapping.defaults.get("environment")
        answers["environment"] = middle.radio(
            "Lab or live?",
            ["lab", "live"],
            index=["lab", "live"].index(default) if default in ("lab", "live") else None,
            format_func={"lab": "Lab (test sets, offline evaluation)", "live": "Live (production or real data)"}.get,
            key=f"{prefix}.environment",
            help="The file does not say; choose where its numbers were measured.",
        )
    if mapping.kind == "metrics":
        kind = right.selectbox(
            "Kind of metrics",
            [AUTO, "technical", "business"],
            key=f"{prefix}.metric_kind",
            format_func=labelled(
                {
                    AUTO: "Decide per metric",
                    "technical": "All technical (model)",
                    "business": "All business KPIs",
                }
            ),
            help="Per metric: a metric named like the pilot's business KPI is business; others as the metric dictionary says (revenue, cost, availability are business; accuracy, RMSE technical). New names are asked about below.",
        )
        answers["metric_kind"] = None if kind == AUTO else kind
    if mapping.kind == "survey" and not mapping.column_for("wave"):
        answers["wave"] = right.number_input(
            "Survey wave",
            min_value=1,
            max_value=99,
            value=None,
            step=1,
            key=f"{prefix}.wave",
            placeholder=f"next wave ({next_wave})" if next_wave else "the pilot's next wave",
            help="Which round of the survey this is. Left empty: the pilot's next wave (one more than the last stored).",
        )
    if any("day-first or month-first" in w for w in result.warnings) or st.session_state.get(f"{prefix}.date_order"):
        answers["date_order"] = left.radio(
            "Dates like 03/04/2024 are",
            ["dmy", "mdy"],
            format_func={"dmy": "day first (3 April)", "mdy": "month first (March 4)"}.get,
            key=f"{prefix}.date_order",
            horizontal=True,
        )
    if mapping.layout == "wide_date" and mapping.defaults.get("metric") and not mapping.column_for("metric"):
        answers["metric_name"] = middle.text_input(
            "What do these numbers measure?",
            value=str(mapping.defaults["metric"]),
            max_chars=200,
            key=f"{prefix}.metric_name",
            help="The file has one column per date and does not name its metric; this name (taken from the file's name) is "
            "stored with every value. Each row's other columns are added to it, e.g. “revenue · Region: EMEA”.",
        )
    if mapping.export == "Weights & Biases chart export" and not mapping.column_for("observed_at"):  # steps, no dates
        answers["observed_on"] = middle.date_input("Date for these results", key=f"{prefix}.observed_on")
    if result.unfinished_runs or st.session_state.get(f"{prefix}.keep_runs"):
        answers["keep_unfinished_runs"] = st.checkbox(
            f"Keep the {plural(result.unfinished_runs, 'failed or unfinished run')}",
            key=f"{prefix}.keep_runs",
            help="Off: runs that failed, crashed, were killed or are still running are left out (their numbers are not results). "
            "On: they are stored with the others.",
        )
    if result.already_stored or st.session_state.get(f"{prefix}.replace"):
        what = "pilots" if mapping.kind == "pilot_register" else "values"
        answers["replace_existing"] = st.checkbox(
            f"Replace stored {what} this file repeats ({result.already_stored:,})",
            key=f"{prefix}.replace",
            help="Off: the stored values are kept and the file's repeats are left out. On: the file's values replace them "
            "(withdrawing this upload later does not bring the old values back).",
        )
    return answers


NAMES_CHOICES = {
    "names": "As each run's name says",
    "lab": "All lab (test sets, offline evaluation)",
    "live": "All live (production or real data)",
}


def environment_options(answer: str | None) -> dict[str, Any]:
    """The Lab-or-live answer as engine options: lab or live for every row, or from the run names."""
    if answer == "names":
        return {"environment": None, "environment_from_names": True}
    if answer in ("lab", "live"):
        return {"environment": answer, "environment_from_names": False}
    return {"environment": None, "environment_from_names": None}


KIND_WORDS = {"technical": "Technical (model metric)", "business": "Business KPI", "adoption": "Usage (adoption)"}
DIRECTION_CHOICES = ["up", "down", "unsure"]
DIRECTION_LABELS = {"up": "Higher is better", "down": "Lower is better", "unsure": "Not sure"}


def _metric_table(prefix: str) -> dict[str, Any] | None:
    """The table of new metrics as last shown: its widget key and its rows before any edit."""
    return st.session_state.get(f"{prefix}.metric_table")


def metric_answers(prefix: str) -> dict[str, MetricAnswer]:
    """The answers in the table of new metrics as it is on screen — the guesses and any change made
    to them (empty before the table is shown)."""
    table = _metric_table(prefix)
    if not table:
        return {}
    edits = (st.session_state.get(table["widget"]) or {}).get("edited_rows", {})
    answers = {}
    for index, row in enumerate(table["rows"]):
        change = edits.get(index) or edits.get(str(index)) or {}
        kind = change.get("kind") or row["kind"]
        direction = change.get("direction") or row["direction"]
        unit = change["unit"] if "unit" in change else row["unit"]
        answers[row["key"]] = MetricAnswer(
            kind if kind in KIND_WORDS else row["kind"],
            direction if direction in ("up", "down") else None,
            (unit or "").strip()[:30] or None,
            row["metric"],
        )
    return answers


def metric_questions(result: IngestResult) -> None:
    """Ask once, in one table, about the metrics nobody has described: kind, which way is better
    and unit, filled in with the guess and the reason for it. What is in the table when the file is
    stored is remembered (the store button confirms it)."""
    prefix = f"opt.{result.sha256[:12]}"
    if not result.new_metrics:
        st.session_state.pop(f"{prefix}.metric_table", None)
        return
    # The rows keep the first guess and its reason for as long as the same metrics are asked about;
    # the editor keeps the changes made to them.
    keys = [m.key for m in result.new_metrics]
    widget = f"{prefix}.new_metrics.{hashlib.sha256('|'.join(keys).encode()).hexdigest()[:8]}"
    earlier = _metric_table(prefix)
    if earlier and earlier["widget"] == widget:
        rows = earlier["rows"]
    else:
        rows = [
            {
                "key": m.key,
                "metric": m.label,
                "kind": m.kind,
                "direction": m.direction or "unsure",
                "unit": m.unit or "",
                "why": m.why or ("your answer" if m.source == "answered" else ""),
            }
            for m in result.new_metrics
        ]
    st.session_state[f"{prefix}.metric_table"] = {"widget": widget, "rows": rows}
    with st.container(border=True):
        st.markdown(f"**{plural(len(rows), 'new metric')} — check what they are**")
        st.caption(
            "The metric dictionary does not know these names yet, so each is filled in with a guess from its name, unit and "
            "values (the last column says why). Correct any that are wrong: what is in this table when you store the file is "
            "remembered for every later upload and page (anyone can correct it on the Alignment page). Which way is better "
            "matters: it decides whether a rise is good news."
        )
        st.data_editor(
            pd.DataFrame(rows, columns=["metric", "kind", "direction", "unit", "why"]).astype("str"),
            key=widget,
            hide_index=True,
            num_rows="fixed",
            width="stretch",
            disabled=["metric", "why"],
            column_config={
                "metric": st.column_config.TextColumn("Metric", help="The name as the file writes it."),
                "kind": st.column_config.SelectboxColumn(
                    "Kind",
                    options=list(KIND_WORDS),
                    format_func=labelled(KIND_WORDS),
                    required=True,
                    help="Technical: a model metric. Business KPI: a result the business measures. Usage: adoption.",
                ),
                "direction": st.column_config.SelectboxColumn(
                    "Which way is better",
                    options=DIRECTION_CHOICES,
                    format_func=labelled(DIRECTION_LABELS),
                    required=True,
                ),
                "unit": st.column_config.TextColumn("Unit", max_chars=30, help="%, €, $, hours … (optional)"),
                "why": st.column_config.TextColumn("Why this guess", help="What the guess was made from."),
            },
        )


def history(frame: pd.DataFrame) -> pd.DataFrame:
    table = frame.assign(
        status=frame["withdrawn_at"].map(lambda w: "in force" if pd.isna(w) else "withdrawn"),
        kind=frame["kind"].map(lambda k: SHORT_KINDS.get(k, k)),
        pilots=frame["pilots"].fillna(""),
    )
    return table[
        [
            "upload_id",
            "kind",
            "file_name",
            "uploaded_at",
            "uploaded_by",
            "rows_stored",
            "rows_rejected",
            "pilots",
            "status",
            "withdrawn_at",
        ]
    ]


SHORT_KINDS = {"pilot_register": "Register", "metrics": "Metrics", "survey": "Survey", "usage": "Usage"}
HISTORY_COLUMNS = {
    "upload_id": st.column_config.NumberColumn(
        "Upload", format="%d", width=65, pinned=True, help="The upload's number."
    ),
    "kind": st.column_config.TextColumn(
        "Holds",
        width=85,
        help="What the file held: the pilot register, a metric export "
        "(technical or business), survey responses (ADKAR) or a usage export.",
    ),
    "file_name": st.column_config.TextColumn("File", width=200),
    "uploaded_by": st.column_config.TextColumn("By", width=110),
    "uploaded_at": st.column_config.DatetimeColumn(
        "Uploaded", format="D MMM YYYY HH:mm", width=130, help="Day and time (UTC)."
    ),
    "rows_stored": st.column_config.NumberColumn("Stored", format="%,d", width=70, help="Rows stored."),
    "rows_rejected": st.column_config.NumberColumn(
        "Rejected", format="%,d", width=75, help="Rows left out, each with its reason in the upload's receipt."
    ),
    "pilots": st.column_config.TextColumn("Pilots", width=80),
    "status": st.column_config.TextColumn("Status", width=80),
    "withdrawn_at": st.column_config.DatetimeColumn(
        "Withdrawn", format="D MMM YYYY HH:mm", width=130, help="Day and time (UTC); “—”: still in force."
    ),
}


def example_downloads() -> None:
    """A download button per example file (pilot_health.ingest.upload_templates), each with its one sentence."""
    from pilot_health.ingest.upload_templates import examples

    with st.expander("Example files, one per layout", expanded=False):
        for example in examples():
            left, right = st.columns([2, 3], vertical_alignment="center")
            left.download_button(
                example.title,
                example.data,
                file_name=example.file_name,
                mime="text/csv",
                icon=":material/download:",
                key=f"example.{example.file_name}",
                on_click="ignore",
                width="stretch",
            )
            right.caption(md_escape(f"{example.description} ({example.file_name}, {file_size(len(example.data))})"))
        st.caption("Upload the register first: the other examples are for its pilot DF-01.")


def kind_choices() -> list[str]:
    return [AUTO, *KINDS]


def kind_label(kind: str) -> str:
    return "Detect from the file" if kind == AUTO else KIND_LABELS[kind]
