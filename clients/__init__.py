"""Client-side tooling of the repository (not installed): ``python -m clients.regenerate``.

The installable SDK is ``clients/pmscan_client`` (``pip install ./clients``).
"""
