"""Load a store's side tables (products, events, tickets) in a child process.

    python -m tools.ingest.load_side IN.pkl OUT.pkl

`tools.ingest.load.load_store` starts this for a large store, so that the side tables load on the
second core while the parent loads customers and orders (pandas holds the GIL, so threads
would not overlap). A subprocess rather than multiprocessing: nothing of the caller's main
module is re-run in the child, whatever script or app called `load_store`.
"""

from __future__ import annotations

import os
import pickle
import sys

from tools.errors import DataError
from tools.ingest.load import load_side_tables


def main(argv: list[str]) -> int:
    inp, out = argv
    with open(inp, "rb") as fh:
        side, kw = pickle.load(fh)
    try:
        result = ("ok", load_side_tables(side, kw))
    except DataError as exc:  # the parent raises it as if it had loaded the file itself
        result = ("error", exc)
    with open(out + ".tmp", "wb") as fh:
        pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(out + ".tmp", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
