"""Shared test set-up.

``autodl_design`` must be imported before paddle/protobuf/parl (see ``autodl_design/_compat``);
test modules import paddle at the top, so the package is imported here, first.
"""

import autodl_design  # noqa: F401
