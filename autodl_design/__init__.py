"""autodl-design: AutoDL Design neural architecture search on PaddlePaddle 3 and PARL."""

from autodl_design import (
    _compat,  # noqa: F401  (must run before paddle/protobuf/parl load)
    cpu_tuning,
)

# MKL reads its CPU type at the process's first Paddle op, which in a search process is the
# controller's, long before the evaluator is imported: apply the tuning here, first.
cpu_tuning.apply()

__version__ = "0.1.0"


def lazy_face(package: str, names: list[str], modules: str):
    """A package face that imports its names on first use (PEP 562).

    ``names``: the face's ``__all__``; ``modules``: its submodules, space-separated, searched in
    that order for a name (list the light ones first). Returns the face's ``__getattr__``, so
    that ``import autodl_design.search.command`` does not load Paddle through the face.
    """
    import importlib

    def __getattr__(name: str):
        if name in names:
            for module in modules.split():
                found = getattr(importlib.import_module(f"{package}.{module}"), name, None)
                if found is not None:
                    return found
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
