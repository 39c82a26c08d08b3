"""The assistant's tools: typed functions over a StoreSession, the same in both modes.

`TOOLS` is the one registry, name -> tool, kept by `tools` (with `ToolRunner`, which runs a tool
with validated arguments and keeps the turn's trace): the customer tools of `customers`
(at risk, lists, one customer explained, cross-sell), the store-wide tools of `store` (overview,
KPIs, segments, LTV:CAC, playbooks, tickets), the outreach tools of `outreach` (the plan, drafts,
the approval queue), the reporting tools of `reporting` (the brief, campaign results, a
customer's history) and `agent.outreach.policy`'s outreach_rules. All are read here, so the
registry is whole, in the order of `ORDER`, whichever module a caller imported first. Each tool
is thin: a docstring the model reads, a call into `tools/`, `knowledge/` or the agent's
packages, and a compact result.
"""

from agent.outreach import policy as _policy  # noqa: F401  (each registers its tools)
from agent.toolbox import customers as _customers  # noqa: F401
from agent.toolbox import outreach as _outreach  # noqa: F401
from agent.toolbox import reporting as _reporting  # noqa: F401
from agent.toolbox import store as _store  # noqa: F401
from agent.toolbox.tools import TOOLS, Answer, ToolRunner, TraceStep

ORDER = (
    "store_overview",
    "at_risk_customers",
    "list_customers",
    "explain_customer",
    "segment_summary",
    "segment_migration",
    "clv_ltv_cac",
    "next_best_product",
    "search_playbooks",
    "store_kpis",
    "support_tickets",
    "prioritise_interventions",
    "draft_message",
    "queue_drafts",
    "weekly_brief",
    "campaign_results",
    "customer_history",
    "outreach_rules",
)
"""The order the tools are listed in (to a model, in an unknown tool's error); others follow."""
_ranked = sorted(TOOLS.items(), key=lambda kv: ORDER.index(kv[0]) if kv[0] in ORDER else len(ORDER))
TOOLS.clear()
TOOLS.update(_ranked)

__all__ = ["TOOLS", "Answer", "ToolRunner", "TraceStep"]
