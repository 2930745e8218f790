"""Command-line interface: ``autodl-design <command> ...``.

Every command that takes a configuration accepts ``-c CONFIG.yaml`` and any number of
``-o key.path=value`` overrides; both are merged in :func:`autodl_design.config.load_config`.
Errors the user can fix (bad config, missing data, malformed architecture) end with a one-line
message and exit status 2; so do command-line usage errors.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from autodl_design import __version__
from autodl_design.config import ConfigError
from autodl_design.space import ArchitectureError


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions whose message is enough for the user: printed as one line, no traceback."""
    from autodl_design.controller.errors import CheckpointError
    from autodl_design.data import DataError
    from autodl_design.fileio import OutputPathError
    from autodl_design.nn.onnx_engine import OnnxExportError, OnnxUnavailable
    from autodl_design.search import HistoryError, SearchError
    from autodl_design.search.backends.cluster import ClusterError
    from autodl_design.train.config import TrainingError
    from autodl_design.train.distillation import TargetsError
    from autodl_design.zoo.manifest import PretrainedError

    return (
        ConfigError,
        ArchitectureError,
        FileNotFoundError,
        OutputPathError,
        DataError,
        SearchError,
        HistoryError,
        ClusterError,
        CheckpointError,
        TrainingError,
        PretrainedError,
        TargetsError,
        OnnxUnavailable,
        OnnxExportError,
    )


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line, like every other user error; ``--help`` has the usage.

    Subcommand parsers are made of the parent's class, so this covers every command.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="autodl-design",
        description="AutoDL Design neural architecture search on PaddlePaddle 3 and PARL.",
    )
    parser.add_argument("--version", action="version", version=f"autodl-design {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    from autodl_design.controller import count_ones
    from autodl_design.data import command as data_command
    from autodl_design.search import command as search_command
    from autodl_design.space import command as space_command
    from autodl_design.train import command as train_command
    from autodl_design.zoo import commands as zoo_commands
    from autodl_design.zoo import pipeline as zoo_pipeline
    from autodl_design.zoo import teacher_targets

    count_ones.register(sub)  # demo count-ones
    search_command.register(sub)  # search
    space_command.register(sub)  # show
    data_command.register(sub)  # data info
    train_command.register(sub)  # train
    teacher_targets.register(sub)  # teacher-targets
    zoo_commands.register(sub)  # ensemble, predict, export, add-pretrained
    zoo_pipeline.register(sub)  # zoo build, zoo status
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except _user_errors() as e:
        print(f"autodl-design: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autodl-design: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
