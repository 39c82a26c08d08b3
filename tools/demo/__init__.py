"""The demo store: a realistic synthetic store with known truth.

`store.generate_store` writes one (its true parameters and planted causes are in `params`, the
simulated process in `process`, its pieces - catalogue, people, engagement, tickets - in
`signals`); `weeks` runs the store's weeks after its last day for the loop that grades
itself; `campaigns.simulate_campaign_response` answers a campaign with the planted save rates.
"""

from tools.demo.campaigns import simulate_campaign_response
from tools.demo.store import generate_store

__all__ = ["generate_store", "simulate_campaign_response"]
