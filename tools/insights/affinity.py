"""Products bought together (association rules) and each customer's next best product.

- `product_affinity`: pairwise association rules a -> b over orders (Agrawal, Imielinski &
  Swami 1993): support = P(a and b), confidence = P(b | a), lift = P(a and b) / (P(a) P(b))
  (Brin, Motwani, Ullman & Tsur 1997). Co-occurrence counts come from one sparse product
  X^T X of the orders x products incidence matrix X.
- `next_best_product`: item-to-item collaborative filtering (Linden, Smith & York 2003):
  a customer's score for product b is the sum over the products a they bought of
  confidence(a -> b), over rules with lift > 1; bought products are masked out; customers
  without a signal get the best seller of the category they buy most (products' `category`)
  that they have not bought, else the store's best seller they have not bought.

Only purchase lines (amount >= 0) make baskets; a refunded product still counts as bought
when excluding what a customer already has. Everything is vectorised with scipy.sparse.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from tools.errors import DataError
from tools.ingest.keys import factorize_sorted
from tools.schema import NON_PRODUCT_PATTERN

AFFINITY_COLUMNS = ("product_a", "product_b", "n_orders_together", "support", "confidence", "lift")
BEST_SELLER = "best seller"
NOTHING_LEFT = "nothing left to suggest"
NO_PRODUCTS = "no product data"
_NEIGHBOURS = 20  # strongest rules kept per product for recommendations
_CHUNK = 200_000  # customers per sparse block


def product_affinity(
    orders: pd.DataFrame,
    *,
    min_support: float = 0.001,
    min_orders: int = 2,
    max_products: int = 3000,
    max_pairs: int = 200_000,
) -> pd.DataFrame:
    """Frequently-bought-together rules a -> b, one row per direction, strongest lift first.

    Baskets are orders (order_id) of purchase lines (amount >= 0) with a product_id; a product
    counted once per order. N = number of such baskets; n_a = baskets with a;
    n_ab = baskets with both. Columns: product_a, product_b, n_orders_together (n_ab),
    support (n_ab / N), confidence (n_ab / n_a = P(b | a)), lift (N n_ab / (n_a n_b)).

    Only the `max_products` products in most baskets are paired (a rule needs support, and
    this bounds the X^T X product); a pair needs at least `min_orders` baskets and support
    >= `min_support`. At most `max_pairs` rows are kept, by lift then n_orders_together.
    Sorted by lift, n_orders_together, product_a, product_b (deterministic).
    """
    if min_orders < 1 or not 0.0 <= min_support <= 1.0 or max_products < 2 or max_pairs < 0:
        raise ValueError(
            "need min_orders >= 1, 0 <= min_support <= 1, max_products >= 2, max_pairs >= 0"
        )
    _require(orders, ("order_id", "amount", "product_id"))
    lines = orders["amount"].to_numpy(dtype=float) >= 0
    lines &= orders["product_id"].notna().to_numpy()
    o_codes, _ = pd.factorize(orders["order_id"].to_numpy()[lines])
    p_codes, p_ids = pd.factorize(orders["product_id"].to_numpy()[lines])
    n_baskets = int(o_codes.max()) + 1 if len(o_codes) else 0
    empty = pd.DataFrame(
        {
            c: pd.Series(dtype=t)
            for c, t in zip(AFFINITY_COLUMNS, (object, object, np.int64, float, float, float))
        }
    )
    if n_baskets == 0:
        return empty
    X = _incidence(o_codes, p_codes, n_baskets, len(p_ids))
    n_item = np.asarray(X.sum(axis=0)).ravel()
    eligible = n_item >= max(min_orders, min_support * n_baskets)
    top = np.flatnonzero(eligible)
    if len(top) > max_products:
        top = top[np.lexsort((top, -n_item[top]))[:max_products]]
    if len(top) < 2:
        return empty
    Xt = X[:, top]
    C = (Xt.T @ Xt).tocoo()
    a, b, n_ab = C.row, C.col, C.data.astype(np.int64)
    keep = (a != b) & (n_ab >= min_orders) & (n_ab >= min_support * n_baskets)
    a, b, n_ab = top[a[keep]], top[b[keep]], n_ab[keep]
    na, nb = n_item[a].astype(float), n_item[b].astype(float)
    lift = n_ab * float(n_baskets) / (na * nb)
    ids = np.asarray(p_ids, dtype=object)
    out = pd.DataFrame(
        {
            "product_a": ids[a],
            "product_b": ids[b],
            "n_orders_together": n_ab,
            "support": n_ab / float(n_baskets),
            "confidence": n_ab / na,
            "lift": lift,
        }
    )
    out = out.sort_values(
        ["lift", "n_orders_together", "product_a", "product_b"],
        ascending=[False, False, True, True],
        kind="stable",
    )
    return out.head(max_pairs).reset_index(drop=True)


def next_best_product(
    orders: pd.DataFrame,
    *,
    as_of=None,
    affinity: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
    top_n: int = 1,
) -> pd.DataFrame:
    """The product(s) each customer is most likely to buy next and have not bought yet.

    History is every line up to `as_of` (a day, inclusive; all lines when None). Each
    customer's score for b = sum over the products a they bought of confidence(a -> b),
    using the rules of `affinity` (computed from the history when None) with lift > 1, the
    20 strongest per product (Linden, Smith & York 2003). Products the customer already has
    (bought or returned) are excluded; ties go to the better seller. When there is no such
    signal, the best seller (most distinct buyers) they have not bought is suggested.

    Returns customer_id, rank (1..top_n), next_best_product (product_id), product_name
    (products' `name`, else the orders' product_name, else ""), score (summed confidence;
    for a best seller, the share of customers who bought it) and reason ("often bought with
    <name (else id) of the bought product contributing most>", "best seller", "nothing left to
    suggest", or "no product data" when orders have no product_id). Every customer in the
    history has a rank-1 row (product "" when nothing is left); ranks beyond 1 appear only
    when filled. Sorted by customer_id, rank.
    """
    if top_n < 1:
        raise ValueError("top_n must be at least 1")
    _require(orders, ("customer_id", "amount"))
    hist = orders
    if as_of is not None:
        _require(orders, ("order_date",))
        cutoff = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
        hist = orders.loc[orders["order_date"].to_numpy() < cutoff.to_datetime64()]
    c_codes, c_ids = factorize_sorted(hist["customer_id"].to_numpy())
    n_cust = len(c_ids)
    raw_p, raw_ids = (
        pd.factorize(hist["product_id"].to_numpy())
        if "product_id" in hist.columns
        else (np.full(len(hist), -1), [])
    )  # NaN -> -1
    service = _non_products(hist, raw_p, raw_ids)
    if service.any():  # postage, fees, tips: revenue, never a product to suggest
        raw_p = np.where(service[raw_p] & (raw_p >= 0), -1, raw_p)
        raw_p, raw_ids = _recode(raw_p, raw_ids)
    if len(raw_ids) == 0:
        return _frame(
            c_ids,
            np.ones(n_cust, np.int64),
            np.full(n_cust, "", object),
            np.full(n_cust, "", object),
            np.zeros(n_cust),
            np.full(n_cust, NO_PRODUCTS, object),
        )
    has_p = raw_p >= 0
    buy = has_p & (hist["amount"].to_numpy(dtype=float) >= 0)
    # products ordered by popularity (distinct buyers, then lines, then id): code 0 = best seller
    n_raw = len(raw_ids)
    bought = _incidence(c_codes[buy], raw_p[buy], n_cust, n_raw)  # customer x product, bought
    buyers = np.bincount(bought.indices, minlength=n_raw)
    n_lines = np.bincount(raw_p[buy], minlength=n_raw)
    raw_ids = np.asarray(raw_ids, dtype=object)
    order = np.lexsort((raw_ids.astype(str), -n_lines, -buyers))
    rank_of = np.empty(n_raw, np.int64)
    rank_of[order] = np.arange(n_raw)
    p_ids, popularity = raw_ids[order], buyers[order] / max(n_cust, 1)
    bought.indices = rank_of[bought.indices].astype(bought.indices.dtype)
    bought.has_sorted_indices = False
    bought.sort_indices()
    H = _incidence(c_codes[has_p], rank_of[raw_p[has_p]], n_cust, n_raw)  # bought or returned
    names = _names(p_ids, hist, products)
    W = _rules(affinity if affinity is not None else product_affinity(hist), p_ids)

    rec_p = np.full((n_cust, top_n), -1, np.int64)
    rec_s = np.zeros((n_cust, top_n))
    rec_why = np.full((n_cust, top_n), -1, np.int64)  # history product behind an affinity pick
    for start in range(0, n_cust, _CHUNK):
        rows = slice(start, min(start + _CHUNK, n_cust))
        _affinity_picks(bought[rows], H[rows], W, rec_p[rows], rec_s[rows], rec_why[rows])
    rec_cat = np.full((n_cust, top_n), -1, np.int64)  # the category behind a category pick
    cats, cat_ids = _categories(p_ids, products)
    if len(cat_ids):
        _category_fill(bought, H, rec_p, rec_s, rec_cat, popularity, cats)
    _best_seller_fill(H, rec_p, rec_s, popularity)

    label = np.where(names != "", names, p_ids.astype(str)).astype(object)  # a name, else the id
    cat_words = np.asarray([f"{BEST_SELLER} in {c}" for c in cat_ids] or [""], dtype=object)
    fallback = np.where(rec_cat >= 0, cat_words[np.maximum(rec_cat, 0)], BEST_SELLER)
    reason = np.where(rec_why >= 0, "often bought with " + _take(label, rec_why), fallback)
    reason = np.where(rec_p < 0, NOTHING_LEFT, reason).astype(object)
    keep = (rec_p >= 0) | (np.arange(top_n) == 0)
    cust = np.broadcast_to(np.arange(n_cust)[:, None], rec_p.shape)[keep]
    return _frame(
        c_ids[cust],
        np.broadcast_to(np.arange(1, top_n + 1), rec_p.shape)[keep],
        _take(p_ids, rec_p)[keep],
        _take(names, rec_p)[keep],
        rec_s[keep],
        reason[keep],
    )


# --- helpers -----------------------------------------------------------------------------


def _non_products(hist: pd.DataFrame, raw_p: np.ndarray, raw_ids) -> np.ndarray:
    """Per product code: True for lines that are not merchandise (`schema.NON_PRODUCT_PATTERN`
    in the product's id or in a name it carries)."""
    if len(raw_ids) == 0:
        return np.zeros(0, bool)
    text = pd.Series(np.asarray(raw_ids, dtype=object)).astype(str)
    hit = text.str.contains(NON_PRODUCT_PATTERN, regex=True).to_numpy()
    if "product_name" in hist.columns:
        first = pd.Series(hist["product_name"].to_numpy()).groupby(raw_p).first()
        first = first[first.index >= 0]
        named = first.astype(str).str.contains(NON_PRODUCT_PATTERN, regex=True)
        hit[named.index.to_numpy()[named.to_numpy()]] = True
    return hit


def _recode(codes: np.ndarray, ids) -> tuple[np.ndarray, list]:
    """Codes renumbered over the ids still in use (-1 stays -1)."""
    ids = np.asarray(ids, dtype=object)
    used = np.unique(codes[codes >= 0])
    new = np.full(len(ids), -1, np.int64)
    new[used] = np.arange(len(used))
    return np.where(codes >= 0, new[np.maximum(codes, 0)], -1), list(ids[used])


def _incidence(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> sparse.csr_matrix:
    """0/1 CSR matrix with a 1 wherever (row, col) occurs at least once."""
    m = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_rows, n_cols))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _rules(affinity: pd.DataFrame, p_ids: np.ndarray) -> sparse.csr_matrix:
    """product x product weights: confidence(a -> b) for lift > 1, strongest 20 per a."""
    n = len(p_ids)
    _require(affinity, ("product_a", "product_b", "confidence", "lift"), what="affinity")
    idx = pd.Index(p_ids)
    a = idx.get_indexer(affinity["product_a"])
    b = idx.get_indexer(affinity["product_b"])
    conf = affinity["confidence"].to_numpy(dtype=float)
    ok = (a >= 0) & (b >= 0) & (a != b) & (affinity["lift"].to_numpy(dtype=float) > 1) & (conf > 0)
    a, b, conf = a[ok], b[ok], conf[ok]
    order = np.lexsort((b, -conf, a))
    a, b, conf = a[order], b[order], conf[order]
    first = np.searchsorted(a, a, side="left")
    top = (np.arange(len(a)) - first) < _NEIGHBOURS
    W = sparse.csr_matrix((conf[top], (a[top], b[top])), shape=(n, n))
    W.sum_duplicates()
    return W


def _row_argmax(M: sparse.csr_matrix, row_of: np.ndarray):
    """Per row with a positive entry: (row, column of the largest entry, value, position in
    M.data). Ties go to the lowest column (the better seller); indices need not be sorted."""
    counts = np.diff(M.indptr)
    nz = np.flatnonzero(counts)
    if len(nz) == 0:
        return (np.zeros(0, np.int64),) * 2 + (np.zeros(0), np.zeros(0, np.int64))
    best = np.maximum.reduceat(M.data, M.indptr[nz])
    hit = np.flatnonzero((M.data == np.repeat(best, counts[nz])) & (M.data > 0))
    hr, hc = row_of[hit], M.indices[hit]
    new_row = np.r_[True, hr[1:] != hr[:-1]] if len(hr) else np.zeros(0, bool)
    mincol = np.minimum.reduceat(hc, np.flatnonzero(new_row)) if len(hr) else hc
    sel = hit[hc == mincol[np.cumsum(new_row) - 1]]
    return row_of[sel], M.indices[sel].astype(np.int64), M.data[sel], sel


def _affinity_picks(B, H, W, rec_p, rec_s, rec_why) -> None:
    """Fill the affinity recommendations of one block of customers in place (B: bought,
    the signal; H: bought or returned, excluded)."""
    if W.nnz == 0:
        return
    S = (B @ W).tocsr()
    S = (S - S.multiply(H)).tocsr()  # owned products drop out
    S.data[S.data < 1e-12] = 0.0
    S.eliminate_zeros()
    row_of = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    for r in range(rec_p.shape[1]):
        rows, cols, vals, where = _row_argmax(S, row_of)
        if len(rows) == 0:
            break
        rec_p[rows, r], rec_s[rows, r] = cols, vals
        rec_why[rows, r] = _strongest_source(B, W, rows, cols)
        S.data[where] = 0.0  # picked: not again at the next rank


def _strongest_source(H, W, rows, cols) -> np.ndarray:
    """For each (customer row, recommended col): the owned product a with the largest W[a, col]."""
    Hs = H[rows]
    owner = np.repeat(np.arange(len(rows)), np.diff(Hs.indptr))
    a = Hs.indices.astype(np.int64)
    n = W.shape[0]
    W.sort_indices()
    key_w = np.repeat(np.arange(n, dtype=np.int64), np.diff(W.indptr)) * n + W.indices  # sorted
    key_q = a * n + cols[owner]
    pos = np.minimum(np.searchsorted(key_w, key_q), len(key_w) - 1)
    val = np.where(key_w[pos] == key_q, W.data[pos], -1.0)
    order = np.lexsort((a, -val, owner))  # per customer: strongest, then the better seller
    first = np.searchsorted(owner[order], np.arange(len(rows)))
    return a[order][first]


def _best_seller_fill(H, rec_p, rec_s, popularity) -> None:
    """Empty ranks get the best sellers the customer neither owns nor was already given."""
    n_sold = int((popularity > 0).sum())  # columns are in popularity order; unsold ones last
    top_n = rec_p.shape[1]
    need = np.flatnonzero((rec_p < 0).any(axis=1))
    width = min(n_sold, 32 + 2 * top_n)
    while len(need) and width > 0:
        taken = H[need][:, :width].toarray() > 0
        given = rec_p[need]
        rr, cc = np.nonzero((given >= 0) & (given < width))
        taken[rr, given[rr, cc]] = True
        was_empty = given < 0
        for j in range(top_n):
            empty = np.flatnonzero(given[:, j] < 0)
            if len(empty) == 0:
                continue
            col = np.argmin(taken[empty], axis=1)  # the first product not taken
            ok = ~taken[empty, col]
            given[empty[ok], j] = col[ok]
            taken[empty[ok], col[ok]] = True
        filled = was_empty & (given >= 0)
        rec_p[need] = given
        rec_s[need] = np.where(filled, popularity[np.maximum(given, 0)], rec_s[need])
        if width == n_sold:
            break
        need = need[(given < 0).any(axis=1)]
        width = min(n_sold, width * 4)


def _categories(p_ids: np.ndarray, products: pd.DataFrame | None) -> tuple[np.ndarray, list]:
    """Each product's category code (-1: none known) and the names, from products' `category`."""
    none: tuple[np.ndarray, list] = np.full(len(p_ids), -1, np.int64), []
    if products is None or not {"product_id", "category"} <= set(products.columns):
        return none
    p = products.loc[products["category"].notna()].drop_duplicates("product_id")
    cat = pd.Series(
        p["category"].astype(str).str.strip().to_numpy(), index=p["product_id"].to_numpy()
    )
    cat = cat[cat != ""]
    per_product = pd.Series(pd.Index(p_ids)).map(cat)
    codes, names = pd.factorize(per_product, sort=True)  # NaN -> -1
    return codes.astype(np.int64), list(names)


def _category_fill(B, H, rec_p, rec_s, rec_cat, popularity, cats) -> None:
    """Empty ranks of customers with a main category (the one they bought most lines of,
    ties to the first by name) get that category's best sellers they neither own nor were
    given already: a tea buyer without a bought-together signal is offered the best tea, not
    the store's best-selling T-shirt."""
    n_cat = int(cats.max()) + 1 if len(cats) else 0
    known = np.flatnonzero(cats >= 0)
    if n_cat == 0 or len(known) == 0:
        return
    P = sparse.csr_matrix((np.ones(len(known)), (known, cats[known])), shape=(len(cats), n_cat))
    per_cat = (B @ P).toarray()  # customers x categories: products bought in each
    main = np.where(per_cat.max(axis=1) > 0, per_cat.argmax(axis=1), -1)
    need = np.flatnonzero((rec_p < 0).any(axis=1) & (main >= 0))
    for c in np.unique(main[need]):
        rows = need[main[need] == c]
        prods = np.flatnonzero((cats == c) & (popularity > 0))  # popularity order: best first
        prods = prods[: 32 + 2 * rec_p.shape[1]]  # the rest fall back to the store's best sellers
        if len(prods) == 0:
            continue
        taken = H[rows][:, prods].toarray() > 0
        given = rec_p[rows]
        for j in range(rec_p.shape[1]):
            taken |= given[:, [j]] == prods[None, :]
        for j in range(rec_p.shape[1]):
            empty = np.flatnonzero(given[:, j] < 0)
            if len(empty) == 0:
                continue
            col = np.argmin(taken[empty], axis=1)  # the first (best-selling) product not taken
            ok = ~taken[empty, col]
            r, k = empty[ok], col[ok]
            given[r, j] = prods[k]
            taken[r, k] = True
            rec_s[rows[r], j] = popularity[prods[k]]
            rec_cat[rows[r], j] = c
        rec_p[rows] = given


def _names(p_ids: np.ndarray, hist: pd.DataFrame, products: pd.DataFrame | None) -> np.ndarray:
    """Each product's name: the products table's `name`, else the first product_name the
    orders give it (looked up only for the products the table does not name)."""
    names = pd.Series("", index=pd.Index(p_ids), dtype=object)
    if products is not None and {"product_id", "name"} <= set(products.columns):
        p = products.loc[products["name"].notna() & (products["name"].astype(str) != "")]
        p = p.drop_duplicates("product_id").set_index("product_id")["name"]
        names.update(p[p.index.isin(names.index)].astype(str))
    todo = names.index[names == ""]
    if "product_name" in hist.columns and len(todo):
        ok = hist["product_id"].notna() & hist["product_name"].notna()
        if len(todo) < len(names):
            ok &= hist["product_id"].isin(todo)
        known = hist.loc[ok, ["product_id", "product_name"]]
        first = known.drop_duplicates("product_id").set_index("product_id")["product_name"]
        names.update(first[first.index.isin(todo)].astype(str))
    return names.to_numpy(dtype=object)


def _take(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """values[idx] with "" where idx < 0."""
    if len(values) == 0:
        return np.full(idx.shape, "", dtype=object)
    return np.where(idx >= 0, values[np.maximum(idx, 0)], "").astype(object)


def _frame(cust, rank, product, name, score, reason) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": cust,
            "rank": np.asarray(rank, np.int64),
            "next_best_product": product,
            "product_name": name,
            "score": np.asarray(score, float),
            "reason": reason,
        }
    )


def _require(frame: pd.DataFrame, columns, *, what: str = "orders") -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"column '{missing[0]}' is missing; have {', '.join(map(str, frame.columns))}",
            file=what,
            column=missing[0],
        )
