"""The real-store score benchmark (`evals.quality.scores`) finds the shared data it names."""

import pytest

from tests.builders import SHARED_DATA


def test_the_score_benchmark_finds_the_shared_shopify_stores():
    if not (SHARED_DATA / "shopify" / "apparel_usd").is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    from evals.quality.scores import stores

    found = list(stores(["apparel_usd"]))
    assert [name for name, *_ in found] == ["apparel_usd"]
    _, orders, as_of, horizon = found[0]
    assert len(orders) > 0 and 30 <= horizon <= 365
    assert orders["order_date"].min() < as_of < orders["order_date"].max()
