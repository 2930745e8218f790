"""Started with every Python process of a local xparl cluster (see backends/loopback.py)."""

import os

if os.environ.get("AUTODL_XPARL_IP"):
    from autodl_design.search.backends.loopback import install

    install(os.environ["AUTODL_XPARL_IP"])
