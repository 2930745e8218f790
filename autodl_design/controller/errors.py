"""The controller's error, apart from the agent so that the CLI can catch it without Paddle."""

__all__ = ["CheckpointError"]


class CheckpointError(RuntimeError):
    """A controller checkpoint is unreadable or was written with a different configuration."""
