"""Upload data: drop an export, see what was understood, store it all at once — or withdraw it."""

import hashlib

import streamlit as st

from pilot_health.formatting import plural
from pilot_health.ingest import IngestOptions, ingest, withdraw
from pilot_health.ui import data, upload
from pilot_health.ui.guide import guide_link
from pilot_health.ui.page import friendly_errors, page_setup
from pilot_health.ui.text import md_escape
from pilot_health.ui.widgets import data_table

ctx = page_setup("Upload data", pinnable=False)  # uploads always act on the store as it is now


def reset_upload() -> None:
    st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1
    for key in [k for k in st.session_state.keys() if str(k).startswith(("opt.", "map.", "mapping.", "upload_"))]:
        if key != "upload_round":
            del st.session_state[key]


def withdraw_upload(upload_id: int) -> None:
    withdraw(ctx.store, upload_id, ctx.person)
    st.session_state["flash"] = f"Upload {upload_id} withdrawn: its rows no longer count anywhere."
    st.session_state.pop("confirm_withdraw", None)


with friendly_errors():
    st.title("Upload data")
    st.caption(
        "Drop the exports your teams already have — CSV, TSV or Excel: metric exports (MLflow, Weights & Biases, BI tools), "
        "survey results (Qualtrics, SurveyMonkey, Google Forms, Microsoft Forms), usage exports, or the pilot register. "
        "You see what was understood before anything is stored, and a file is stored whole or not at all."
    )
    guide_link("uploads", "How uploads are read")
    if flash := st.session_state.pop("flash", None):
        st.toast(md_escape(flash), icon=":material/check_circle:")

    stored = st.session_state.get("upload_receipt")
    if not ctx.person.can("upload"):
        st.info(
            "You can see what has been uploaded; uploading and withdrawing data needs the editor role.",
            icon=":material/upload_file:",
        )
    elif stored:
        upload.receipt(stored)
        st.button("Upload another file", on_click=reset_upload, key="upload_another", type="primary")
    else:
        round_ = st.session_state.get("upload_round", 0)
        kind = st.selectbox(
            "What does the file hold?",
            upload.kind_choices(),
            format_func=upload.kind_label,
            key="upload_kind",
            help="Leave it on “Detect from the file” unless the guess below is wrong.",
        )
        file = st.file_uploader(
            "Drop a CSV, TSV or Excel (.xlsx) export here",
            key=f"upload_file_{round_}",
            help=f"Up to {ctx.config.max_upload_mb} MB. The file's type is judged by its content, not its name.",
        )
        if file is None:
            st.info(
                "No file chosen yet. The examples below show each layout that is understood; "
                "your tools' own exports are read as they are.",
                icon=":material/upload_file:",
            )
            upload.example_downloads()
        else:
            payload = file.getvalue()
            sha = hashlib.sha256(payload).hexdigest()
            prefix = f"opt.{sha[:12]}"
            state = st.session_state
            options = IngestOptions(
                kind=None if kind == upload.AUTO else kind,
                pilot_id=state.get(f"{prefix}.pilot"),
                **upload.environment_options(state.get(f"{prefix}.environment")),
                keep_unfinished_runs=bool(state.get(f"{prefix}.keep_runs")),
                metric_kind=None
                if state.get(f"{prefix}.metric_kind", upload.AUTO) == upload.AUTO
                else state.get(f"{prefix}.metric_kind"),
                wave=int(state[f"{prefix}.wave"]) if state.get(f"{prefix}.wave") else None,
                date_order=state.get(f"{prefix}.date_order"),
                observed_on=state.get(f"{prefix}.observed_on"),
                metric_name=(state.get(f"{prefix}.metric_name") or "").strip() or None,
                replace_existing=bool(state.get(f"{prefix}.replace")),
                store_again=bool(state.get(f"{prefix}.again")),
                mapping=dict(state.get(f"mapping.{sha}", {})),
                uploaded_by=ctx.person.name,
                metric_answers=upload.metric_answers(prefix),
            )
            result = upload.analyse(ctx.store, ctx.version, payload, file.name, options, ctx.person)
            if result.status == "refused":
                st.error(md_escape(result.refusal), icon=":material/block:")
                st.caption("Nothing was stored. Correct the file and drop it again.")
                if result.format:
                    upload.show_understanding(result)
                upload.show_problems(result)
                upload.rejected_download(result, "download_rejected_refused")
            elif result.status == "duplicate":
                for warning in result.warnings:
                    st.info(md_escape(warning), icon=":material/content_copy:")
                st.checkbox(
                    "Store it anyway",
                    key=f"{prefix}.again",
                    help="Only useful if the earlier upload was stored by mistake with other choices; it will not add new rows otherwise.",
                )
            else:
                st.subheader("What was understood")
                upload.show_understanding(result)
                waves = data.next_waves(*ctx.cache_key)
                pilots = data.pilot_register(*ctx.cache_key)["pilot_id"].tolist()
                upload.choose_options(result, pilots, waves.get(options.pilot_id or "", None))
                upload.metric_questions(result)
                with st.expander("Columns and what they feed", expanded=bool(result.mapping.notes)):
                    upload.mapping_editor(result)
                st.subheader("Check before storing")
                upload.show_counts(result, stored=False)
                upload.show_warnings(result)
                upload.show_problems(result)
                upload.rejected_download(result, "download_rejected_preview")
                st.markdown("**First rows as they will be stored**")
                data_table(result.preview, "preview", f"preview_{file.name.rsplit('.', 1)[0]}.csv")
                missing = {"pilot_id": "choose the pilot", "environment": "choose lab or live"}
                if result.needs:
                    st.info(
                        "Before storing: " + " and ".join(missing[n] for n in result.needs) + ".",
                        icon=":material/help:",
                    )
                if st.button(
                    f"Store {plural(result.rows_to_store, 'row')}",
                    type="primary",
                    key="store_upload",
                    disabled=bool(result.needs) or result.rows_to_store == 0,
                    icon=":material/save:",
                ):
                    bar = st.progress(0.0, text="Storing …")
                    options.metric_answers = upload.metric_answers(prefix)  # as on screen now, guesses included
                    final = ingest(
                        ctx.store,
                        payload,
                        file.name,
                        options,
                        commit=True,
                        person=ctx.person,
                        progress=lambda share, text: bar.progress(min(share, 1.0), text=text),
                    )
                    bar.empty()
                    if final.status == "stored":
                        st.session_state["upload_receipt"] = final
                        st.session_state.pop("upload_analysis", None)
                        st.rerun()
                    elif final.status == "duplicate":
                        st.info(md_escape(" ".join(final.warnings)), icon=":material/content_copy:")
                    else:
                        st.error(md_escape(final.refusal or "Not stored."), icon=":material/block:")

    st.divider()
    st.subheader("Uploads so far")
    include_demo = st.toggle("Include the demo's simulated uploads", key="history_demo", value=False)
    frame = data.uploads(*ctx.cache_key, include_demo)
    if frame.empty:
        st.caption("No uploads yet." + ("" if include_demo else " (The demo's simulated uploads are hidden.)"))
    else:
        data_table(
            upload.history(frame),
            "history",
            "pilot_health_uploads.csv",
            height=min(38 + 35 * len(frame), 400),
            column_config=upload.HISTORY_COLUMNS,
            missing_note=False,
        )
        in_force = frame[frame["withdrawn_at"].isna() & frame["uploaded_by"].map(ctx.person.may_withdraw)]
        if ctx.person.can("withdraw_own") and not ctx.person.can("withdraw_any"):
            st.caption("You can withdraw uploads you made; an administrator can withdraw anyone's.")
        if not in_force.empty and ctx.person.can("withdraw_own"):
            labels = {
                int(r.upload_id): f"{int(r.upload_id)} · {r.file_name} · {r.uploaded_at:%Y-%m-%d}"
                for r in in_force.itertuples()
            }
            left, right = st.columns([3, 1], vertical_alignment="bottom")
            chosen = left.selectbox(
                "Withdraw an upload",
                list(labels),
                format_func=labels.get,
                index=None,
                placeholder="Choose an upload to withdraw",
                key="withdraw_choice",
                help="Its rows disappear from every page; the upload stays listed with the date it was withdrawn.",
            )
            if chosen is not None:
                if st.session_state.get("confirm_withdraw") == chosen:
                    right.button(
                        f"Yes, withdraw {chosen}",
                        type="primary",
                        on_click=withdraw_upload,
                        args=(chosen,),
                        key="confirm_withdraw_button",
                    )
                else:
                    right.button(
                        "Withdraw",
                        key="withdraw_button",
                        on_click=lambda c=chosen: st.session_state.update(confirm_withdraw=c),
                    )
