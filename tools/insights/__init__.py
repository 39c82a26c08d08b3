"""What the scores say about a store: segments, next best products, KPIs and forecasts.

`segments` (RFM segments, CLV tiers, clusters, migration), `affinity` (products bought
together, each customer's next best product), `kpis` (a week's numbers, "at risk" and value at
stake) and `forecast` (a snapshot's forecast kept and graded as weeks pass).
"""

from tools.insights.affinity import next_best_product
from tools.insights.kpis import at_risk_mask, value_at_stake, week_kpis
from tools.insights.segments import clv_tiers, rfm_scores, segment_migration

__all__ = [
    "at_risk_mask",
    "clv_tiers",
    "next_best_product",
    "rfm_scores",
    "segment_migration",
    "value_at_stake",
    "week_kpis",
]
