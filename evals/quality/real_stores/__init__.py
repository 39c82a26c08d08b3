"""Real stores end to end: every merchant step on every real store.

    python -m evals.quality.real_stores [--quick] [--store NAME ...] [--data DIR] [--subprocess] [--json F]

The stores are the real files in `../shared/data/` (see its README): each Shopify folder under
`shopify/` used as it is (read-only), the Online Retail sample CSV and the full Online Retail
parquet (each copied into a temp store folder as `orders.csv` / `orders.parquet`), and the full
CDNOW master that ships inside lifetimes (converted into a temp `orders.csv`). Each store gets
its own temporary workspace and goes through what a merchant does, with the CLI commands
(in-process by default, `--subprocess` for a fresh `python -m agent.cli.main` per step):

    load       tools.ingest.load.load_store (the load report and the rejects files are read from it)
    summary    retention summary
    score      retention score --out scores.csv  (default model; CDNOW --as-of 1997-09-30
               --horizon-days 273; the others as of their last order, 365 days)
    backtest   retention backtest  (CDNOW 1997-09-30 / 273 days; full Online Retail 2011-06-30 /
               162 days; the others a holdout of a third of their history, 7 to 180 days; a
               store with under 14 days of history is expected to be refused in one line)
    brief      retention brief  (CDNOW --week-ending 1997-09-30)
    chat       retention chat, one-shot: "who should I contact this week?", "why is customer
               <top> at risk?" (top: the scores' largest churn probability x predicted CLV),
               "draft a win-back email for my top 3 at-risk customers", and "what should I
               recommend to customer <top>?" (where a next best product is shown)
    plan       retention campaigns plan
    list/show  retention approvals list --json / show <first draft>
    approve    retention approvals approve <up to 3 pending drafts> --by real-stores-eval
    export     retention approvals export --out <workspace>/exports/eval_export.csv

`--quick` (what `make test` runs, tests/evals/test_real_stores.py) is the shared stores without the
full Online Retail file and CDNOW, through load, summary, score, the first chat turn, plan and
list. The chat runs offline (RETENTION_MODEL is cleared); its playbook index is built once per
playbook version and copied into each workspace (cache: $RETENTION_EVAL_CACHE, default
~/.cache/retention/evals), since indexing 288 chunks costs ~20 s on two cores. On a 2-core
machine the quick part takes ~35 s with that cache, ~60 s on the first run; the full run ~5 min
(the full Online Retail file ~3 min of it).

Invariants, each a named check on every store (pass / FAIL / n/a), exit status 1 when any fails:

- every step ok: each step exits 0 with its output (a clean one-line refusal counts only
  where the eval expects one: a file without amounts or customers, a history too short for a
  backtest, an export with nothing approved);
- no traceback: no step's stderr, no log the step wrote to <workspace>/logs (where the CLI
  keeps a bug's traceback) and no warning the agent/tools loggers gave has a traceback;
- rows read = accepted + rejected: per file of the load report, and rows read = the file's
  own row count, the rejects file holds exactly the rejected rows, each line once;
- no NaN or infinite score: every numeric column of every scores table written (the --out
  file and each workspace snapshot);
- one score row per customer seen: each scores table has exactly the customers with an
  order row on or before its as-of date (loaded orders), each once;
- no placeholder customer id: no scored id is "", "nan", "none", "0", "guest", ... ;
- customers = file: distinct real customer ids in the file = customers loaded (Online Retail
  and CDNOW, whose id column is unambiguous; n/a for Shopify, whose key is the loader's choice);
- revenue = file, to the cent: the loaded orders' amount sum = the revenue the file gives its
  customers, net of refunds, computed here from the raw file with pandas, independently of
  the loader (definitions below);
- revenue accounted for: loaded + the rejected rows' revenue, by reason = the file's revenue
  (all orders, with or without a customer), so that a gap shows rows lost or counted twice;
- product names, not codes: the next best product in the scores file and in the chat's
  recommendation is a product name from the file, and no product code (SKU / StockCode)
  appears in a chat answer, the brief or a draft without its name beside it (n/a: no names);
- currency shown: the file's Currency values appear in the summary and the brief output
  (n/a: no Currency column);
- store folder untouched: no file of the store folder was written, added or removed.

Expected revenue, from the raw files:

- Shopify orders export: per order (Shopify's order `Id`, or `Name` where there is no Id; an
  order in several overlapping exports counts once, the copy in the most recent export
  winning), the order-level `Total` (what the customer paid: after discounts, with shipping,
  tax and tips; Subtotal + Shipping + Taxes where there is no Total) minus `Refunded Amount`.
  Refunds are taken from the Total (a full refund equals it, shipping and tax included), so
  this is the only basis on which "net of refunds, to the cent" is defined by the file itself:
  on the Subtotal basis a refund that includes shipping or tax cannot be split from the file
  (Subtotal minus Refunded Amount gives a fully refunded order minus its shipping). It is also
  how tools/ingest/shopify.py defines a line's amount now (its share, by quantity x price, of the
  order's Total). The merchandise figure (Subtotal less the refund capped at the Subtotal) is
  shown beside it, for a store that wants revenue without shipping and tax. (Total minus
  Shipping minus Taxes is not a merchandise figure either: for tax-inclusive stores, e.g.
  cosmetics_eur, the Subtotal already contains the tax.) Cancelled (`Cancelled at` set) and
  voided orders are not revenue. An order has a customer when it carries an Email, a Phone,
  a Billing or Shipping Phone or a Customer ID. Name is not unique across exports:
  repeat_exports_bdt has Names that stand for 2 or 3 different orders (different Ids, dates
  and products), so orders are told apart by Id.
- Online Retail: Quantity x UnitPrice of every line (returns net), the customer's revenue
  being that of lines with a real CustomerID.
- CDNOW: the amount column (every row has a customer).

The modules: `stores` (the stores found and prepared, the steps and the invariants' names),
`expected` (what the raw files say, read here with pandas, independently of tools/),
`accounting` (the revenue in the rejected rows), `runner` (the CLI run in this process or a
fresh one, the playbook index seeded once), `results` (a step's and a check's outcome),
`checks` (the invariants on one store), `store_eval` (one store through every step, then all
of them), `report` (the Markdown report and the JSON) and `__main__` (the command line).
"""
