"""The assistant's tools: typed functions over a StoreSession, the same in both modes.

`TOOLS` is the one registry, name -> tool: the analytics tools of `tools` (scores, customers,
segments, KPIs, playbooks) and the outreach and reporting tools of `outreach` (the plan, drafts,
the approval queue, the brief, campaign results), both read here so the registry is whole
whichever module a caller imported first. `ToolRunner` runs a tool with validated arguments and
keeps the turn's trace. Each tool is thin: a docstring the model reads, a call into `tools/`,
`knowledge/` or the agent's packages, and a compact result.
"""

from agent.toolbox import outreach as _outreach  # noqa: F401  (registers the outreach tools)
from agent.toolbox.tools import TOOLS, Answer, ToolRunner, TraceStep

__all__ = ["TOOLS", "Answer", "ToolRunner", "TraceStep"]
