"""Stand-ins shared by the tests and the benchmarks, never deployed: the in-memory stores
and a fixed clock (fakes), the domain wired over any store (domain), the template's
functions in process behind the local routing (stack), and the recording of their AWS
calls (recording)."""
