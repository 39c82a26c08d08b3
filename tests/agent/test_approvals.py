"""The approval queue: state machine, person-only approval, append-only audit, idempotent
approve and export, and no double export from two concurrent sessions."""

from __future__ import annotations

import json
import threading
from datetime import UTC

import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from agent.approvals.database import AuditRow
from agent.approvals.errors import ApprovalError
from agent.approvals.export import EXPORT_COLUMNS
from agent.approvals.queue import open_queue
from agent.outreach.drafts import Draft
from agent.outreach.guardrails import Flag
from tests.builders import CUSTOMERS, draft, plan


@pytest.fixture(autouse=True)
def _local_database(monkeypatch):
    """The queue is the workspace's SQLite file, whatever DATABASE_URL says outside."""
    monkeypatch.delenv("DATABASE_URL", raising=False)


@pytest.fixture
def queue(workspace):
    q = open_queue(workspace)
    block = Flag("consent", "block", "no email consent")
    ids = q.add_campaign(
        plan(), [draft("C1"), draft("C2"), draft("C3", [block]), draft("C4")], store_path="/nowhere"
    )
    assert ids == [1, 2, 3, 4]
    q.add_person("Maria")
    return q


def test_new_drafts_are_pending_or_blocked(queue):
    assert [d.status for d in queue.list_drafts()] == ["pending", "pending", "blocked", "pending"]
    assert [d.id for d in queue.list_drafts(state="blocked")] == [3]
    with pytest.raises(ApprovalError, match="already recorded"):
        queue.add_campaign(plan(), [])


def test_only_a_person_approves(queue):
    for bot in ("assistant", "agent", "  Assistant ", ""):
        with pytest.raises(ApprovalError, match="only a person"):
            queue.approve([1], actor=bot)
    with pytest.raises(ApprovalError, match="only a person"):
        queue.reject(1, actor="agent")
    with pytest.raises(ApprovalError, match="only a person"):
        queue.edit(1, actor="assistant", body="Hi", discount_cap=0.15)
    assert queue.get(1).state == "pending"


def test_state_machine_and_audit(queue):
    [t] = queue.approve([1], actor="Maria")
    assert (t.before, t.after, t.changed) == ("pending", "approved", True)
    [again] = queue.approve([1], actor="Maria")
    assert not again.changed and "already approved" in again.message
    assert [a.action for a in queue.audit(1)] == [
        "created",
        "approved",
    ]  # one row per real transition
    d = queue.get(1)
    assert d.decided_by == "Maria" and d.decided_at is not None

    t = queue.edit(2, actor="Maria", subject="Hello {first_name}", discount_cap=0.15)
    assert t.after == "edited" and queue.get(2).subject == "Hello {first_name}"
    queue.approve([2], actor="Maria")
    assert queue.get(2).state == "approved"
    queue.edit(2, actor="Maria", body="Hi {first_name}, new text.", discount_cap=0.15)
    assert queue.get(2).state == "edited"  # an edit needs approving again

    with pytest.raises(ApprovalError, match="guardrails"):
        queue.edit(4, actor="Maria", body="Hurry, last chance!", discount_cap=0.15)
    with pytest.raises(ApprovalError, match="blocked"):
        queue.approve([3], actor="Maria")
    with pytest.raises(ApprovalError, match="guardrails"):  # consent cannot be edited away
        queue.edit(3, actor="Maria", body="Hi {first_name}", discount_cap=0.15)
    queue.reject(4, actor="Maria", reason="not this week")
    with pytest.raises(ApprovalError, match="cannot be approved"):
        queue.approve([4], actor="Maria")
    assert not queue.reject(4, actor="Maria").changed
    audit = queue.audit(4)
    assert audit[-1].action == "rejected" and audit[-1].note == "not this week"
    assert audit[-1].before["state"] == "pending" and audit[-1].after["state"] == "rejected"
    with pytest.raises(ApprovalError, match="no draft"):
        queue.approve([99], actor="Maria")


def test_audit_log_is_append_only(queue):
    queue.approve([1], actor="Maria")
    with Session(queue.engine) as s:
        s.get(AuditRow, 1).actor = "someone else"
        with pytest.raises(ApprovalError, match="append-only"):
            s.commit()
        s.rollback()
        s.delete(s.get(AuditRow, 1))
        with pytest.raises(ApprovalError, match="append-only"):
            s.commit()
        s.rollback()
    with pytest.raises(Exception, match="append-only"), queue.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
    with pytest.raises(Exception, match="append-only"), queue.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'x'"))
    assert [a.actor for a in queue.audit(1)] == ["assistant", "Maria"]


def test_export_only_approved_once_with_the_csv_columns(queue, workspace):
    exports = workspace / "exports"
    assert queue.export(CUSTOMERS, exports_dir=exports).path is None  # nothing approved yet
    queue.approve([1, 4], actor="Maria")
    res = queue.export(CUSTOMERS, exports_dir=exports)
    assert res.draft_ids == [1] and "nothing was sent" in res.message
    assert res.skipped == ["draft 4: no email for customer C4"]
    table = pd.read_csv(res.path, keep_default_na=False)
    assert list(table.columns) == EXPORT_COLUMNS
    assert list(table.columns[:6]) == [
        "email",
        "first_name",
        "subject",
        "body",
        "offer_code",
        "campaign_id",
    ]
    row = table.iloc[0]
    assert (row["email"], row["first_name"], row["campaign_id"]) == ("ann@example.com", "Ann", "c1")
    assert (
        row["subject"] == "A note for Ann"
        and row["body"].startswith("Hi Ann,")
        and "{" not in row["body"]
    )
    assert (
        queue.export(CUSTOMERS, exports_dir=exports).path is None
    )  # exporting twice: no duplicate
    assert queue.get(1).status == "exported"
    with pytest.raises(ApprovalError):
        queue.edit(1, actor="Maria", body="Hi", discount_cap=0.15)
    again = queue.export_again(1, CUSTOMERS, out=workspace / "again.csv")
    assert again.draft_ids == [1] and len(pd.read_csv(again.path)) == 1
    assert [a.action for a in queue.audit(1)] == ["created", "approved", "exported"]


def test_two_sessions_approving_and_exporting_the_same_draft_export_it_once(queue, workspace):
    queue.add_person("Bo", by="Maria")
    sessions = [open_queue(workspace), open_queue(workspace)]  # two engines on one SQLite file
    assert sessions[0].engine is not sessions[1].engine
    barrier = threading.Barrier(2)
    results, errors = [], []

    def work(i):
        try:
            q = sessions[i]
            barrier.wait()
            q.approve([1, 2], actor=("Maria", "Bo")[i])
            results.append(
                q.export(
                    CUSTOMERS, exports_dir=workspace / "exports", out=workspace / f"out{i}.csv"
                )
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    exported = [i for r in results for i in r.draft_ids]
    assert sorted(exported) == [1, 2]
    rows = sum(len(pd.read_csv(r.path)) for r in results if r.path is not None)
    assert rows == 2
    for d in (1, 2):
        actions = [a.action for a in queue.audit(d)]
        assert actions.count("approved") == 1 and actions.count("exported") == 1


def test_cli_refuses_the_assistant_and_says_nothing_is_sent(tmp_path, workspace):
    from typer.testing import CliRunner

    from agent.cli.approvals import approvals_app

    store = tmp_path / "store"
    store.mkdir()
    pd.DataFrame(
        {"customer_id": ["C1"], "order_id": ["O1"], "order_date": ["2026-01-05"], "amount": [10.0]}
    ).to_csv(store / "orders.csv", index=False)
    CUSTOMERS.to_csv(store / "customers.csv", index=False)
    q = open_queue(workspace)
    q.add_campaign(plan(), [draft("C1")], store_path=str(store))
    run = CliRunner().invoke
    ws = ["--workspace", str(workspace)]
    res = run(approvals_app, ["approve", "1", "--by", "assistant", *ws])
    assert isinstance(res.exception, ApprovalError)
    res = run(approvals_app, ["approve", "--all-pending", *ws])
    assert isinstance(res.exception, ApprovalError) and "--yes" in str(res.exception)
    res = run(
        approvals_app, ["approve", "--all-pending", "--yes", "--by", "Maria", *ws], input="y\n"
    )
    assert res.exit_code == 0 and "1 approved" in res.output
    res = run(approvals_app, ["export", *ws])
    assert res.exit_code == 0, res.output
    assert "exported 1 drafts" in res.output and "Nothing is sent" in res.output
    res = run(approvals_app, ["list", "--state", "exported", *ws])
    assert "C1" in res.output and "exported" in res.output


def test_campaign_store_and_export_are_one_agent_call_for_cli_and_app(tmp_path, workspace):
    from agent.reports.campaigns import campaign_store, export_approved

    q = open_queue(workspace)
    with pytest.raises(ApprovalError, match="give --store DIR or --demo"):
        campaign_store(workspace, q)
    with pytest.raises(ApprovalError, match="no such store folder"):
        campaign_store(workspace, q, tmp_path / "gone")
    store = tmp_path / "store"
    store.mkdir()
    pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "order_id": ["O1", "O2"],
            "order_date": ["2026-01-05"] * 2,
            "amount": [10.0, 12.0],
        }
    ).to_csv(store / "orders.csv", index=False)
    q.add_campaign(plan("a"), [draft("C1", cam="a"), draft("C2", cam="a")], store_path=str(store))
    assert len(campaign_store(workspace, q).orders) == 2  # the one store the campaigns name
    q.approve([1], actor="Maria", first_approver=True)
    with pytest.raises(ApprovalError, match="no customers file"):
        export_approved(workspace, q, actor="Maria")
    CUSTOMERS.to_csv(store / "customers.csv", index=False)
    res = export_approved(workspace, q, actor="Maria")
    rows = pd.read_csv(res.path)
    assert list(rows["draft_id"]) == [1] and rows.loc[0, "email"] == "ann@example.com"
    assert "Hi Ann," in rows.loc[0, "body"]
    q.add_campaign(plan("b"), [draft("C3", cam="b")], store_path=str(tmp_path / "other"))
    with pytest.raises(ApprovalError, match="2 different stores"):
        campaign_store(workspace, q)


# --- issue 15: approvers, paths, inert exports ---------------------------------------------------

PROGRAMS = (
    "AI assistant",
    "gpt-4o-mini",
    "retention-bot",
    "\u0430ssistant",
    "RetentionBot",
    "ChatGPT",
    "assistant\u200b",
    "Claude-3.5",
    "o3",
    "agent",
    "ａｓｓｉｓｔａｎｔ",
)
"""Names of programs, and look-alike spellings of them (a Cyrillic а, a zero-width space,
full-width letters): none of them approves, and none can be registered."""


@pytest.fixture
def bare(workspace):
    """A queue with drafts and nobody registered to decide on them."""
    q = open_queue(workspace)
    q.add_campaign(plan(), [draft("C1"), draft("C2"), draft("C4")], store_path="/nowhere")
    return q


def test_an_approval_names_a_person_registered_in_the_workspace(bare):
    q = bare
    with pytest.raises(ApprovalError, match="nobody is registered"):
        q.approve([1], actor="Maria")  # a free string: refused
    for name in PROGRAMS:
        for call in (
            lambda n: q.approve([1], actor=n, first_approver=True),
            lambda n: q.add_person(n),
            lambda n: q.reject(1, actor=n, first_approver=True),
            lambda n: q.edit(
                1, actor=n, body="Hi {first_name}", discount_cap=0.15, first_approver=True
            ),
        ):
            with pytest.raises(ApprovalError, match="only a person"):
                call(name)
    assert q.people() == [] and q.get(1).state == "pending"

    [t] = q.approve([1], actor="Maria", first_approver=True)  # the first, at first use, confirmed
    assert t.changed and [p.name for p in q.people()] == ["Maria"]
    assert [(a.action, a.actor) for a in q.audit() if a.action == "person_added"] == [
        ("person_added", "Maria")
    ]
    with pytest.raises(ApprovalError, match="'Bo' is not registered"):
        q.approve([2], actor="Bo", first_approver=True)  # only while nobody is registered
    with pytest.raises(ApprovalError, match="a registered person adds people"):
        q.add_person("Bo")
    with pytest.raises(ApprovalError, match="not registered to add people"):
        q.add_person("Bo", by="Eve")
    row, added = q.add_person("Bo", by="maria")
    assert added and row.added_by == "Maria"
    assert q.add_person("bo ", by="Maria")[1] is False  # already there
    [t] = q.approve([2], actor="  bo")
    assert t.changed and q.get(2).decided_by == "Bo"  # the registered spelling goes into the log
    for name in PROGRAMS:
        with pytest.raises(ApprovalError, match="only a person"):
            q.approve([3], actor=name)
    assert q.get(3).state == "pending"


def test_cli_registers_the_first_approver_only_when_they_confirm(bare, workspace):
    from typer.testing import CliRunner

    from agent.cli.approvals import approvals_app

    run = CliRunner().invoke
    ws = ["--workspace", str(workspace)]
    assert "Nobody is registered yet" in run(approvals_app, ["people", "list", *ws]).output
    res = run(approvals_app, ["approve", "1", "--by", "Maria", *ws], input="n\n")
    assert isinstance(res.exception, ApprovalError) and "nothing done" in str(res.exception)
    res = run(approvals_app, ["approve", "1", "--by", "Maria", *ws])  # no terminal, no answer: no
    assert (
        isinstance(res.exception, ApprovalError)
        and bare.people() == []
        and bare.get(1).state == "pending"
    )
    res = run(approvals_app, ["approve", "1", "--by", "gpt-4o-mini", *ws], input="y\n")
    assert isinstance(res.exception, ApprovalError) and "only a person" in str(res.exception)
    assert "Register" not in res.output  # refused before anything is asked
    res = run(approvals_app, ["approve", "1", "--by", "Maria", *ws], input="y\n")
    assert res.exit_code == 0 and "first approver" in res.output and "1 approved" in res.output
    res = run(approvals_app, ["approve", "2", "--by", "Bo", *ws], input="y\n")
    assert isinstance(res.exception, ApprovalError) and "'Bo' is not registered" in str(
        res.exception
    )
    for name in ("retention-bot", "AI assistant", "\u0430ssistant"):
        res = run(approvals_app, ["people", "add", name, "--yes", "--by", "Maria", *ws])
        assert isinstance(res.exception, ApprovalError) and "only a person" in str(res.exception)
    res = run(approvals_app, ["people", "add", "Bo", "--by", "Maria", *ws], input="y\n")
    assert res.exit_code == 0 and "Registered Bo" in res.output and "added by Maria" in res.output
    res = run(approvals_app, ["reject", "2", "--by", "Bo", "--reason", "not now", *ws])
    assert res.exit_code == 0 and bare.get(2).state == "rejected" and bare.get(2).decided_by == "Bo"
    out = run(approvals_app, ["people", "list", "--json", *ws]).output
    assert [(p["name"], p["added_by"]) for p in json.loads(out)] == [
        ("Maria", "Maria"),
        ("Bo", "Maria"),
    ]


def _cli_store(tmp_path, customers=CUSTOMERS):
    store = tmp_path / "store"
    store.mkdir()
    pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "order_id": ["O1", "O2"],
            "order_date": ["2026-01-05"] * 2,
            "amount": [10.0, 12.0],
        }
    ).to_csv(store / "orders.csv", index=False)
    customers.to_csv(store / "customers.csv", index=False)
    return store


def test_export_again_from_another_folder_writes_inside_the_workspace(tmp_path, monkeypatch):
    """The paths the queue stores are the workspace's: `export --again` run from another folder
    re-writes the file inside the workspace, not next to wherever it was run."""
    from agent.cli.main import main

    store = _cli_store(tmp_path)
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(here)
    q = open_queue(here / ".retention")
    q.add_campaign(plan(), [draft("C1"), draft("C2")], store_path=str(store))
    q.add_person("Maria")
    q.approve([1, 2], actor="Maria")
    assert main(["approvals", "export", "--by", "Maria", "--workspace", ".retention"]) == 0
    [exp] = q.exports()
    assert exp.path.startswith("exports/export_0001_")  # relative to the workspace, not to here
    first = here / ".retention" / exp.path
    before = first.read_text()

    monkeypatch.chdir(elsewhere)
    assert (
        main(
            [
                "approvals",
                "export",
                "--again",
                "1",
                "--by",
                "Maria",
                "--workspace",
                str(here / ".retention"),
            ]
        )
        == 0
    )
    assert list(elsewhere.rglob("*")) == []  # nothing written where it was run
    assert first.read_text() == before and len(q.exports()) == 2

    # a path recorded outside the workspace (a planted row, an old --out): re-written inside it
    outside = tmp_path / "outside"
    with q.engine.begin() as conn:
        conn.execute(
            text("UPDATE exports SET path = :p WHERE id = 1"), {"p": str(outside / "x.csv")}
        )
    assert (
        main(
            [
                "approvals",
                "export",
                "--again",
                "1",
                "--by",
                "Maria",
                "--workspace",
                str(here / ".retention"),
            ]
        )
        == 0
    )
    assert not outside.exists()
    latest = q.exports()[-1]
    assert (
        latest.path.startswith("exports/x_again_0003")
        and (here / ".retention" / latest.path).exists()
    )


def test_out_never_overwrites_an_earlier_export(tmp_path, workspace, capsys):
    from agent.reports.campaigns import export_approved

    store = _cli_store(tmp_path)
    q = open_queue(workspace)
    q.add_campaign(plan(), [draft("C1"), draft("C2")], store_path=str(store))
    q.add_person("Maria")
    q.approve([1], actor="Maria")
    out = tmp_path / "klaviyo.csv"
    first = export_approved(workspace, q, actor="Maria", out=out)
    assert first.draft_ids == [1] and first.path == out.resolve()
    before = out.read_text()
    q.approve([2], actor="Maria")
    with pytest.raises(ApprovalError, match="is the file of export 1: --out never overwrites"):
        export_approved(workspace, q, actor="Maria", out=out)
    with pytest.raises(ApprovalError, match="is the file of export 1"):
        export_approved(workspace, q, actor="Maria", out=out, again="1")
    mine = tmp_path / "mine.csv"
    mine.write_text("my own notes\n")
    with pytest.raises(ApprovalError, match="already exists: --out never overwrites a file"):
        export_approved(workspace, q, actor="Maria", out=mine)
    assert out.read_text() == before and mine.read_text() == "my own notes\n"
    assert q.get(2).status == "approved"  # still waiting, nothing claimed
    second = export_approved(workspace, q, actor="Maria", out=tmp_path / "klaviyo_2.csv")
    assert second.draft_ids == [2] and out.read_text() == before


def test_export_csv_is_inert_in_a_spreadsheet(tmp_path, workspace):
    """A customer's name or email that is a formula reaches the export as text, not live."""
    from agent.reports.campaigns import export_approved

    hostile = CUSTOMERS.assign(
        first_name=[
            '=HYPERLINK("http://evil.example","x")',
            "+cmd|' /C calc'!A0",
            "@SUM(1+1)",
            "-2+3",
        ],
        email=["ann@example.com", "=1+1@example.com", "cy@example.com", "di@example.com"],
    )
    store = _cli_store(tmp_path, hostile)
    q = open_queue(workspace)
    q.add_campaign(plan(), [draft("C1"), draft("C2")], store_path=str(store))
    q.add_person("Maria")
    q.approve([1, 2], actor="Maria")
    res = export_approved(workspace, q, actor="Maria")
    rows = pd.read_csv(res.path, dtype=str, keep_default_na=False).set_index("customer_id")
    assert rows.loc["C1", "first_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert (
        rows.loc["C2", "first_name"] == "'+cmd|' /C calc'!A0"
        and rows.loc["C2", "email"] == "'=1+1@example.com"
    )
    assert list(pd.read_csv(res.path)["draft_id"]) == [1, 2]  # numbers stay numbers
    for cell in (c for col in rows.columns for c in rows[col]):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_export_writes_klaviyo_and_shopify_files_that_import_unchanged(workspace):
    """Next to the export: Klaviyo's profile CSV (its own Email, First Name, Last Name, Phone
    Number fields; subject, message and offer code as properties) and Shopify's customer-tag
    CSV (the customer's tags kept, the campaign's added). Paragraphs kept, lines never
    wrapped, the offer code read from the edited text, the phone there for an email draft."""
    from agent.approvals.export import KLAVIYO_COLUMNS, SHOPIFY_TAG_COLUMNS, format_paths

    customers = CUSTOMERS.assign(
        last_name=["Lee", "Ray", "Kim", "Fox"],
        phone=["+447700900123", "", "+447700900125", ""],
        tags=["vip, tea", "", "@evil", ""],
    )
    q = open_queue(workspace)
    offer = Draft(
        campaign_id="c1",
        customer_id="C1",
        channel="email",
        subject="For you, {first_name}",
        body="Hi {first_name},\n\nHere is 10% off with the code SAVE10-ABC123.\n\nOur store",
        offer="10% off",
        offer_percent=0.1,
        offer_code="SAVE10-ABC123",
        reason="at risk",
        playbook_id="win-back-lapsed",
    )
    q.add_campaign(plan(), [offer, draft("C2"), draft("C3")], store_path="/nowhere")
    q.add_person("Maria")
    q.edit(
        1,
        actor="Maria",
        body="Hi {first_name},\n\nUse the code WELCOME15 at checkout.\n\nOur store",
        discount_cap=0.15,
    )
    q.edit(
        2,
        actor="Maria",
        body="Hi {first_name},\n\nThanks for every order.\n\nOur store",
        discount_cap=0.15,
    )
    q.approve([1, 2, 3], actor="Maria")
    res = q.export(customers, exports_dir=workspace / "exports")
    paths = format_paths(res.path)
    kl = pd.read_csv(paths["klaviyo"], dtype=str, keep_default_na=False)
    assert list(kl.columns) == KLAVIYO_COLUMNS and len(kl) == 3
    ann = kl.set_index("Email").loc["ann@example.com"]
    assert (ann["First Name"], ann["Last Name"], ann["Phone Number"]) == (
        "Ann",
        "Lee",
        "+447700900123",
    )
    assert ann["Offer Code"] == "WELCOME15"  # the edited text's, not the generated SAVE10-ABC123
    assert ann["Retention Message"] == "Hi Ann,\n\nUse the code WELCOME15 at checkout.\n\nOur store"
    assert ann["Retention Subject"] == "For you, Ann" and ann["Retention Campaign"] == "c1"
    bo = kl.set_index("Email").loc["bo@example.com"]
    assert bo["Offer Code"] == "" and bo["Phone Number"] == ""
    main = pd.read_csv(res.path, dtype=str, keep_default_na=False).set_index("customer_id")
    assert (
        main.loc["C1", "phone"] == "+447700900123" and main.loc["C1", "offer_code"] == "WELCOME15"
    )
    sh = pd.read_csv(paths["shopify_tags"], dtype=str, keep_default_na=False)
    assert list(sh.columns) == SHOPIFY_TAG_COLUMNS
    tags = dict(zip(sh["Email"], sh["Tags"]))
    assert tags == {
        "ann@example.com": "vip, tea, retention-c1",
        "bo@example.com": "retention-c1",
        "cy@example.com": "'@evil, retention-c1",
    }  # inert: a tag that is a formula is text
    assert sh.set_index("Email").loc["ann@example.com", "Phone"] == "+447700900123"


def test_score_csv_is_inert_in_a_spreadsheet(tmp_path):
    from agent.cli.scoring import write_table

    scores = pd.DataFrame(
        {
            "customer_id": ["=1+2", "C2"],
            "next_best_product": ["@SUM(A1)", "-x"],
            "predicted_clv": [-12.5, 3.0],
            "segment": ["\tTab", "Loyal"],
        }
    )
    write_table(scores, tmp_path / "s.csv")
    back = pd.read_csv(tmp_path / "s.csv", dtype=str)
    assert list(back["customer_id"]) == ["'=1+2", "C2"] and list(back["next_best_product"]) == [
        "'@SUM(A1)",
        "'-x",
    ]
    assert list(back["segment"]) == ["'\tTab", "Loyal"]
    assert list(pd.read_csv(tmp_path / "s.csv")["predicted_clv"]) == [-12.5, 3.0]


def test_an_interrupted_export_never_overwrites_a_file_that_is_not_its_own(tmp_path, workspace):
    """A recorded export without its file (a kill, or a planted row) is finished only where no
    other file stands: a file that is not that export's is left alone."""
    from datetime import datetime, timedelta

    from agent.approvals.database import ExportRow

    q = open_queue(workspace)
    q.add_campaign(plan(), [draft("C1")], store_path="/nowhere")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    with Session(q.engine) as s, s.begin():
        s.add(
            ExportRow(
                path=str(victim),
                draft_ids=[1],
                actor="x",
                completed_at=None,
                at=datetime.now(UTC) - timedelta(hours=1),
            )
        )
    with pytest.raises(ApprovalError, match="holds another file: not overwritten"):
        q.export(CUSTOMERS, exports_dir=workspace / "exports")
    assert victim.read_text() == "precious\n"


def test_a_queue_made_by_an_earlier_version_gets_the_new_columns(workspace):
    """exports.completed_at and .writer are added to an existing database; the exports it holds
    were complete, and are not written again."""
    q = open_queue(workspace)
    q.add_campaign(plan(), [draft("C1")], store_path="/nowhere")
    q.add_person("Maria")
    q.approve([1], actor="Maria")
    res = q.export(CUSTOMERS, exports_dir=workspace / "exports")
    with q.engine.begin() as conn:
        conn.execute(text("ALTER TABLE exports DROP COLUMN completed_at"))
        conn.execute(text("ALTER TABLE exports DROP COLUMN writer"))
    q.engine.dispose()
    res.path.unlink()
    again = open_queue(workspace)
    [exp] = again.exports()
    assert exp.completed_at is not None
    assert (
        again.export(CUSTOMERS, exports_dir=workspace / "exports").path is None
        and not res.path.exists()
    )


def test_the_klaviyo_and_shopify_files_never_overwrite_a_file_of_the_merchants(workspace):
    """Next to an --out file, a file of the same name that is not an export's is left alone;
    the export's own pattern (export_*.csv) still finds only the export."""
    from agent.approvals.export import format_paths

    q = open_queue(workspace)
    q.add_campaign(plan(), [draft("C1")], store_path="/nowhere")
    q.add_person("Maria")
    q.approve([1], actor="Maria")
    out = workspace / "mine" / "june.csv"
    out.parent.mkdir()
    theirs = format_paths(out)["klaviyo"]
    theirs.parent.mkdir()
    theirs.write_text("my,own\n1,2\n")
    res = q.export(CUSTOMERS, exports_dir=workspace / "exports", out=out)
    assert theirs.read_text() == "my,own\n1,2\n" and format_paths(out)["shopify_tags"].exists()
    q2 = open_queue(workspace)
    q2.add_campaign(plan("c2"), [draft("C2", cam="c2")], store_path="/nowhere")
    q2.approve([2], actor="Maria")
    res = q2.export(CUSTOMERS, exports_dir=workspace / "exports")
    assert [p.name for p in (workspace / "exports").glob("*.csv")] == [
        res.path.name
    ]  # the exports only
    assert sorted(
        str(p.relative_to(workspace / "exports")) for p in (workspace / "exports").glob("*/*.csv")
    ) == [f"klaviyo/klaviyo_{res.path.name}", f"shopify/shopify_tags_{res.path.name}"]
