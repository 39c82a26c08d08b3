"""CSV written for a person is inert in a spreadsheet (OWASP CSV injection) and numbers stay numbers."""

from __future__ import annotations

import pandas as pd

from tools.csvout import inert, write_csv
from tools.ingest.load import load_orders

ATTACKS = [
    '=HYPERLINK("http://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def test_formula_cells_get_an_apostrophe_and_numbers_stay():
    df = pd.DataFrame(
        {
            "name": ATTACKS + ["Ann", "-12.50", "+15551234567"],
            "amount": [-5.0] * 6 + [1.0, 2.0, 3.0],
        }
    )
    out = inert(df)
    assert all(v.startswith("'") for v in out["name"][:6])
    assert list(out["name"][6:]) == ["Ann", "-12.50", "+15551234567"]
    assert out["amount"].tolist() == df["amount"].tolist()
    assert df["name"].tolist()[0].startswith("=")  # the caller's frame is unchanged


def test_rejects_file_of_a_hostile_store_is_inert(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "customer_id,order_id,order_date,amount\nc1,o1,2025-01-01,10\n"
        '"=HYPERLINK(""http://evil.example"")",o2,not a date,5\n'
    )
    _, rep = load_orders(path, rejects_dir=tmp_path / "rj")
    text = (tmp_path / "rj" / "orders.csv.rejects.csv").read_text()
    assert "'=HYPERLINK" in text and '\n"=HYPERLINK' not in text and ",=HYPERLINK" not in text


def test_write_csv_leaves_no_temporary_file(tmp_path):
    write_csv(pd.DataFrame({"a": ["=1"]}), tmp_path / "x.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]
    assert pd.read_csv(tmp_path / "x.csv")["a"].tolist() == ["'=1"]
