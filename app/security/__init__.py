"""Who may ask: bearer tokens and their file (:mod:`.tokens`), the process at the other end of a
Unix socket (:mod:`.peers`), and principals with their scopes and per-process rule
(:mod:`.principals`). No FastAPI here: ``app.http.auth`` applies them to requests."""
