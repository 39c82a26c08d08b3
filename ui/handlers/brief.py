"""The Weekly brief tab's handler: the brief made (one at a time), its KPI cards and charts in
the page, its HTML and Markdown files offered as the downloads."""

from __future__ import annotations

import logging
import math
import re

import gradio as gr

from agent.display import date_words, plain_words
from ui import views
from ui.handlers.context import AppContext, JobRunning, error_message, progress_callback

log = logging.getLogger(__name__)


def make_brief(ctx: AppContext, week_ending: str | None, cac, progress=None) -> tuple:
    """The Weekly brief tab: (status, KPI cards, 3 charts as embedded HTML, cohort plot, Markdown,
    HTML file, Markdown file). The charts are data: URIs in the page, so nothing but the two
    downloads is served; the HTML file carries them too. A second click while one is being made
    is refused, not run twice."""
    from agent.reports.brief import weekly_brief
    from agent.reports.render import charts_html
    from ui.charts import cohort_retention

    try:
        with ctx.job("the weekly brief"):
            cost = _amount(cac, "the customer acquisition cost")
            s = ctx.session(progress_callback(progress))
            b = weekly_brief(
                s.store,
                workspace=ctx.ws,
                week_ending=(week_ending or "").strip() or None,
                cac=cost,
                settings=ctx.settings,
                horizon_days=getattr(s, "horizon_days", 365),
                progress=progress_callback(progress),
            )
    except JobRunning as exc:  # the first click's brief carries on: what it shows stays
        return (str(exc),) + (gr.update(),) * 8
    except Exception as exc:  # a failed brief clears the old one: nothing on screen it did not make
        if type(exc) is not ValueError:
            log.exception("brief failed")
        ctx.downloads.withdraw("brief")
        return (error_message(exc), "", "", "", "", None, "", None, None)
    p = b.paths
    html_, md = ctx.downloads.offer("brief", [p.get("html"), p.get("md")])
    images = getattr(b, "images", None) or {}
    clv, churn, mig = (
        charts_html({k: images[k]}) if k in images else ""
        for k in ("clv_distribution", "churn_by_segment", "segment_migration")
    )
    return (
        f"Brief for the week ending **{date_words(b.week_ending)}** is ready (download it below).",
        views.kpi_cards(
            b.facts.get("kpi", {}), b.facts.get("kpi_change", {}), b.facts.get("currency")
        ),
        clv,
        churn,
        mig,
        cohort_retention(s.orders),
        plain_words(_without_images(b.markdown)),
        html_,
        md,
    )


def _amount(value, what: str) -> float | None:
    """An optional amount the merchant typed ("35", "35.50", "1,200"); None when left empty."""
    text = str(value if value is not None else "").strip().replace(",", "")
    if not text:
        return None
    try:
        n = float(text)
    except ValueError:
        raise ValueError(
            f"{what} must be an amount such as 35 or 35.50; got {str(value)!r}"
        ) from None
    if not math.isfinite(n) or n < 0:
        raise ValueError(f"{what} must be an amount of 0 or more; got {str(value)!r}")
    return n or None


def _without_images(markdown: str) -> str:
    """The brief's Markdown as the tab shows it: its charts are the images above it, so its
    image links (file names next to the .md file in the workspace, not served) are left out."""
    return re.sub(r"!\[[^\]]*\]\([^)]*\)[ \t]*\n?", "", markdown or "")
