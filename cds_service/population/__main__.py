"""``python -m cds_service.population NDJSON_DIR --as-of DATE --out DIR``, and the file to
hand to ``spark-submit``: the ``population`` subcommand under the submitter's master."""

from __future__ import annotations

import sys

from cds_service.cli import main

if __name__ == "__main__":
    sys.exit(main(["population", *sys.argv[1:]]))
