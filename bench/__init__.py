"""`make bench`: measurements of the session service, written to docs/performance.md.

Each module measures one thing and returns plain data; `bench.report` turns it into
markdown and `bench.chart` into docs/performance.png. Nothing here runs in `make test`."""
