"""Keep a single-machine xparl cluster on the loopback interface.

PARL 2.2.1 finds "its" IP address by asking the routing table how to reach a public address
and refuses 127.0.0.1, so master, worker, jobs and client advertise the machine's network
address to each other even when everything runs on one machine. For a local cluster (tests,
``scripts/start_cluster.sh``) we pin that address to 127.0.0.1 instead, so no traffic uses
anything but loopback:

* in this process, :func:`install` patches ``parl.utils.get_ip_address`` (now or on import);
* in the cluster's processes, :func:`site_env` puts ``loopback_site/`` (a ``sitecustomize``)
  on ``PYTHONPATH`` with ``AUTODL_XPARL_IP`` set; job processes inherit both from the worker.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path

ENV_VAR = "AUTODL_XPARL_IP"
SITE_DIR = Path(__file__).with_name("loopback_site")
_MODULE = "parl.utils.machine_info"


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _patch(module, ip: str) -> None:
    module.get_ip_address = lambda: ip
    # Modules that already did ``from parl.utils import get_ip_address`` hold the old function.
    for name in ("parl.utils", "parl.remote.client", "parl.remote.job", "parl.remote.master"):
        loaded = sys.modules.get(name)
        if loaded is not None and hasattr(loaded, "get_ip_address"):
            loaded.get_ip_address = module.get_ip_address


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def __init__(self, ip: str):
        self.ip = ip

    def find_spec(self, name, path, target=None):
        if name != _MODULE:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        original = spec.loader.exec_module
        ip = self.ip

        def exec_module(module):
            original(module)
            _patch(module, ip)

        spec.loader.exec_module = exec_module
        return spec


def install(ip: str = "127.0.0.1") -> None:
    """Make PARL in this process use ``ip`` as its own address."""
    os.environ[ENV_VAR] = ip
    if _MODULE in sys.modules:
        _patch(sys.modules[_MODULE], ip)
    elif not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport(ip))


def site_env(env: dict[str, str], ip: str = "127.0.0.1") -> dict[str, str]:
    """``env`` plus what makes every Python process started with it call :func:`install`."""
    env = dict(env)
    env[ENV_VAR] = ip
    parts = [str(SITE_DIR), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env
