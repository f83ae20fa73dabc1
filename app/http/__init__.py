"""The HTTP layer, FastAPI only: the app (:mod:`.app`), its routes (:mod:`.routes`), their
dependencies (:mod:`.deps`, :mod:`.auth`, :mod:`.body`, :mod:`.query`), the request and
response schemas (:mod:`.schemas`), errors turned into answers (:mod:`.exception_handlers`),
answers in the format the client accepts (:mod:`.answers`), the observation of every request
(:mod:`.observe`, :mod:`.metrics`) and the OpenAPI document (:mod:`.openapi`). Each route
validates, makes one call of ``app.service`` (or of the exporter) and shapes the answer."""
