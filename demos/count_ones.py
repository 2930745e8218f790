"""The "count the 1s" demo: the controller learns to emit op id 1 for all 20 tokens.

Run: ``python demos/count_ones.py`` (same as ``autodl-design demo count-ones``); pass
``-o controller.seed=1`` or ``-c configs/count_ones.yaml`` like the CLI.
"""

import sys

from autodl_design.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", "count-ones", *sys.argv[1:]]))
