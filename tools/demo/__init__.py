"""The demo store: a realistic synthetic store with known truth.

`store.generate_store` writes one (its pieces - catalogue, people, engagement, tickets - are
in `signals`); `weeks` runs the store's weeks after its last day for the loop that grades
itself; `store.simulate_campaign_response` answers a campaign with the planted save rates.
"""

from tools.demo.store import generate_store, simulate_campaign_response

__all__ = ["generate_store", "simulate_campaign_response"]
