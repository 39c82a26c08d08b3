"""Pieces of the synthetic demo store (see `tools.demo.store`): catalogue, people, engagement, tickets.

Everything here is vectorised numpy driven by one `numpy.random.Generator`, so the same
generator state gives the same arrays. Times are float days since the start of the store's
history window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# --- catalogue ------------------------------------------------------------------------------
# category -> (median price, adjectives, nouns); 8 categories x 25 products = 200 products.
CATEGORIES: dict[str, tuple[float, tuple[str, ...], tuple[str, ...]]] = {
    "Coffee": (
        18.0,
        ("Ethiopian", "Colombian", "Dark", "Decaf", "House", "Espresso", "Morning"),
        ("Roast", "Blend", "Beans", "Ground Coffee", "Cold Brew"),
    ),
    "Tea": (
        12.0,
        ("Green", "Earl Grey", "Chamomile", "Jasmine", "Rooibos", "Mint", "Chai"),
        ("Tea", "Loose Leaf", "Tea Bags", "Infusion", "Sampler"),
    ),
    "Snacks": (
        7.0,
        ("Salted", "Dark Chocolate", "Honey", "Spicy", "Almond", "Oat", "Berry"),
        ("Bites", "Granola", "Crackers", "Bar", "Trail Mix"),
    ),
    "Kitchen": (
        34.0,
        ("Ceramic", "Glass", "Steel", "Bamboo", "Cast Iron", "Enamel", "Copper"),
        ("Mug", "Pour-Over", "Kettle", "Grinder", "Canister"),
    ),
    "Apparel": (
        42.0,
        ("Merino", "Linen", "Organic", "Fleece", "Cotton", "Waxed", "Knit"),
        ("Socks", "T-Shirt", "Beanie", "Apron", "Hoodie"),
    ),
    "Skincare": (
        26.0,
        ("Rose", "Aloe", "Charcoal", "Vitamin C", "Lavender", "Oat Milk", "Citrus"),
        ("Serum", "Face Wash", "Balm", "Moisturiser", "Mask"),
    ),
    "Home": (
        38.0,
        ("Soy", "Wool", "Linen", "Stoneware", "Woven", "Cedar", "Marble"),
        ("Candle", "Throw", "Vase", "Coaster Set", "Diffuser"),
    ),
    "Accessories": (
        22.0,
        ("Leather", "Canvas", "Recycled", "Travel", "Mini", "Classic", "Cork"),
        ("Tote", "Wallet", "Keyring", "Bottle", "Pouch"),
    ),
}
PRODUCTS_PER_CATEGORY = 25


def make_products(rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """~200 products: lognormal prices around a category median, unit cost 35-65% of price,
    Zipf-like popularity within a category and one *companion* per product (same category
    60% of the time, else the next category) that is often bought in the same order.

    Returns the products table and arrays for the simulation: `cat` (category index),
    `price`, `popularity` (within-category weights), `companion` (product index),
    `cat_cum` (searchsorted table: category c spans (c, c + 1]) and `cat_weight`.
    """
    names, cats, prices = [], [], []
    for c, (_, (median, adjs, nouns)) in enumerate(CATEGORIES.items()):
        combos = [f"{a} {n}" for a in adjs for n in nouns]
        pick = rng.choice(len(combos), size=PRODUCTS_PER_CATEGORY, replace=False)
        names += [combos[i] for i in np.sort(pick)]
        cats += [c] * PRODUCTS_PER_CATEGORY
        raw = median * rng.lognormal(0.0, 0.4, PRODUCTS_PER_CATEGORY)
        prices.append(np.maximum(np.round(raw) - 0.01, 1.99))
    n = len(names)
    cat = np.asarray(cats, dtype=np.int64)
    price = np.concatenate(prices)
    unit_cost = np.round(price * rng.uniform(0.35, 0.65, n), 2)
    popularity = np.empty(n)
    for c in range(len(CATEGORIES)):
        idx = np.flatnonzero(cat == c)
        w = 1.0 / (rng.permutation(idx.size) + 1.0) ** 0.8
        popularity[idx] = w / w.sum()
    cat_cum = cat + np.concatenate(
        [np.cumsum(popularity[cat == c]) for c in range(len(CATEGORIES))]
    )
    cat_cum[np.r_[np.diff(cat) != 0, True]] = cat[np.r_[np.diff(cat) != 0, True]] + 1.0
    same = rng.random(n) < 0.6
    target_cat = np.where(same, cat, (cat + 1) % len(CATEGORIES))
    offset = rng.integers(0, PRODUCTS_PER_CATEGORY, n)
    companion = target_cat * PRODUCTS_PER_CATEGORY + offset
    itself = companion == np.arange(n)
    companion[itself] = (target_cat * PRODUCTS_PER_CATEGORY + (offset + 1) % PRODUCTS_PER_CATEGORY)[
        itself
    ]
    cat_weight = rng.dirichlet(np.full(len(CATEGORIES), 4.0))
    table = pd.DataFrame(
        {
            "product_id": [f"P{i + 1:04d}" for i in range(n)],
            "name": names,
            "category": [list(CATEGORIES)[c] for c in cats],
            "price": price,
            "unit_cost": unit_cost,
        }
    )
    arrays = {
        "cat": cat,
        "price": price,
        "popularity": popularity,
        "companion": companion,
        "cat_cum": cat_cum,
        "cat_weight": cat_weight,
    }
    return table, arrays


def sample_products(
    rng: np.random.Generator,
    cats: np.ndarray,
    target_price: np.ndarray,
    arrays: dict[str, np.ndarray],
    k: int = 3,
) -> np.ndarray:
    """One product per row from category `cats`: draw `k` candidates by popularity and keep
    the one whose price is closest (in log) to the customer's `target_price` (spend level)."""
    u = rng.random((k, cats.size))
    cand = np.searchsorted(arrays["cat_cum"], cats[None, :] + u, side="right")
    cand = np.minimum(cand, arrays["cat"].size - 1)
    gap = np.abs(np.log(arrays["price"][cand]) - np.log(target_price)[None, :])
    return cand[np.argmin(gap, axis=0), np.arange(cats.size)]


# --- people ---------------------------------------------------------------------------------
FIRST_NAMES = np.array(
    [
        "Emma",
        "Liam",
        "Olivia",
        "Noah",
        "Ava",
        "Elijah",
        "Sophia",
        "Lucas",
        "Mia",
        "Mateo",
        "Amelia",
        "Levi",
        "Harper",
        "Ethan",
        "Aria",
        "James",
        "Chloe",
        "Leo",
        "Nora",
        "Ezra",
        "Zoe",
        "Hugo",
        "Ines",
        "Arjun",
        "Priya",
        "Kenji",
        "Yuki",
        "Fatima",
        "Omar",
        "Lea",
        "Jonas",
        "Sara",
        "Mateus",
        "Ana",
        "Wei",
        "Mei",
        "Tomas",
        "Eva",
        "Kofi",
        "Amara",
    ]
)
LAST_NAMES = np.array(
    [
        "Smith",
        "Johnson",
        "Garcia",
        "Miller",
        "Davis",
        "Martinez",
        "Lopez",
        "Wilson",
        "Anderson",
        "Thomas",
        "Moore",
        "Martin",
        "Lee",
        "Walker",
        "Hall",
        "Young",
        "King",
        "Wright",
        "Scott",
        "Green",
        "Baker",
        "Adams",
        "Nelson",
        "Carter",
        "Mitchell",
        "Roberts",
        "Turner",
        "Phillips",
        "Campbell",
        "Parker",
        "Evans",
        "Edwards",
        "Collins",
        "Stewart",
        "Morris",
        "Nguyen",
        "Patel",
        "Kim",
        "Silva",
        "Muller",
    ]
)
TAGS = np.array(["", "newsletter", "vip", "wholesale", "instagram", "gift-buyer", "newsletter,vip"])
TAG_P = np.array([0.78, 0.09, 0.03, 0.01, 0.05, 0.03, 0.01])
NOTES = np.array(
    [
        "",
        "Prefers gift wrapping",
        "Asked about bulk pricing",
        "Allergic to nuts",
        "Moved to a new address in spring",
        "Likes the seasonal blends",
        "Please call before delivery",
    ]
)
NOTE_P = np.array([0.96, 0.01, 0.008, 0.006, 0.006, 0.005, 0.005])

# --- engagement -----------------------------------------------------------------------------
EVENT_TYPES = np.array(["email_open", "email_click", "site_visit", "cart_abandon"])
EVENT_P_EMAIL = np.array([0.45, 0.12, 0.33, 0.10])  # customers who accept email
EVENT_P_NO_EMAIL = np.array([0.0, 0.0, 0.80, 0.20])


def poisson_segments(
    rng: np.random.Generator,
    cust: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    rate: np.ndarray,
    *,
    ramp_down: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Events of a Poisson process with per-customer `rate` (per day) on [start, end).

    With `ramp_down` the intensity falls linearly from `rate` at `start` to 0 at `end`
    (thinning: keep a point at t with probability (end - t) / (end - start))."""
    length = np.maximum(end - start, 0.0)
    counts = rng.poisson(rate * length)
    c = np.repeat(cust, counts)
    s = np.repeat(start, counts)
    ln = np.repeat(length, counts)
    t = s + rng.random(c.size) * ln
    if ramp_down:
        keep = rng.random(c.size) * ln < (s + ln - t)
        c, t = c[keep], t[keep]
    return c, t


def event_types(rng: np.random.Generator, accepts_email: np.ndarray) -> np.ndarray:
    """Event type index per event, by the customer's email consent (no opens without it)."""
    u = rng.random(accepts_email.size)
    with_email = np.searchsorted(np.cumsum(EVENT_P_EMAIL), u, side="right")
    without = np.searchsorted(np.cumsum(EVENT_P_NO_EMAIL), u, side="right")
    return np.minimum(np.where(accepts_email, with_email, without), 3)


# --- tickets --------------------------------------------------------------------------------
SEVERITIES = np.array(["low", "medium", "high"])
# (severity, prefix, slot, suffix); slot 0 = nothing, 1 = order id, 2 = product name.
TICKET_TEMPLATES = [
    (0, "Question about sizing for ", 2, ""),
    (0, "How do I change the delivery address for ", 1, "?"),
    (0, "Can I get an invoice for order ", 1, "?"),
    (0, "Is the ", 2, " back in stock soon?"),
    (1, "Order ", 1, " arrived later than promised"),
    (1, "Discount code did not apply at checkout", 0, ""),
    (1, "Wrong colour received for ", 2, ""),
    (2, "Charged twice for order ", 1, ""),
    (2, "Order ", 1, " never arrived and nobody answers"),
    (2, "Still waiting for my refund on order ", 1, ", third time asking"),
]
QUALITY_TEMPLATES = [
    (1, "The ", 2, " fell apart after a few uses"),
    (1, "Poor quality: ", 2, " not as described, returning it"),
    (1, "Second faulty ", 2, " in a row, very disappointed"),
]


def ticket_text(
    rng: np.random.Generator,
    severity: np.ndarray,
    quality: np.ndarray,
    order_ref: np.ndarray,
    product_ref: np.ndarray,
) -> np.ndarray:
    """Short templated complaint text matching each ticket's severity (or a quality template)."""
    text = np.empty(severity.size, dtype=object)
    groups = [(quality, QUALITY_TEMPLATES)] + [
        (~quality & (severity == s), [t for t in TICKET_TEMPLATES if t[0] == s]) for s in range(3)
    ]
    for mask, templates in groups:
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            continue
        pick = rng.integers(0, len(templates), idx.size)
        pre = np.array([t[1] for t in templates], dtype=object)[pick]
        slot = np.array([t[2] for t in templates])[pick]
        post = np.array([t[3] for t in templates], dtype=object)[pick]
        fill = np.where(slot == 1, order_ref[idx], np.where(slot == 2, product_ref[idx], ""))
        text[idx] = pre + fill.astype(object) + post
    return text


def ticket_sentiment(rng: np.random.Generator, severity: np.ndarray) -> np.ndarray:
    """Noise tickets: sentiment in [-1, 1], more negative for higher severity."""
    centre = np.array([0.1, -0.2, -0.5])[severity]
    return np.round(np.clip(centre + rng.normal(0, 0.3, severity.size), -1, 1), 2)
