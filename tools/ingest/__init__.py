"""Data in: a store folder read into the canonical tables (DESIGN.md, "Data in").

`load` is the front door (`load_store`, `load_orders`); `tables` turns one kind's files into
its canonical table and load report (`FileReport`); `read` reads one file as text (encoding,
delimiter, size limit), `shopify` maps Shopify's own exports onto the canonical columns,
`validate` types each table and gives every unusable row its reason (kept in a rejects file),
`parse` holds the value parsers (dates, numbers, yes/no flags) and `keys` turns customer ids
into integer codes. Change here when a store's files are read wrongly.
"""

from tools.ingest.load import Store, load_orders, load_store, load_table, store_summary
from tools.ingest.tables import FileReport

__all__ = ["FileReport", "Store", "load_orders", "load_store", "load_table", "store_summary"]
