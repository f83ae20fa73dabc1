"""The use cases, without FastAPI: the scan pool (:mod:`.pool`) and shutdown (:mod:`.shutdown`),
scans in three formats (:mod:`.scans`, :mod:`.encoders`), summaries (:mod:`.summaries`),
watches (:mod:`.watches`), what else is done to processes (:mod:`.processes`), and the audit
record and log (:mod:`.audit`). Each call takes plain values and an ``Authorize`` rule, runs
the domain's blocking work in the pool, and returns domain results."""
