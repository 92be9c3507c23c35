"""Exceptions raised by the inference engine.

They are real exceptions (never asserts) so the web app can turn each into a clear
message for the user.
"""

from __future__ import annotations


class InferenceError(Exception):
    """Base class for every error raised by `inference`."""


class PromptError(InferenceError, ValueError):
    """A prompt is malformed: empty, out of bounds, NaN, too many points, bad labels."""


class ModelUnavailableError(InferenceError, RuntimeError):
    """A model spec cannot be loaded: unknown name, no network, wrong path, not SAM."""


class DeviceOutOfMemoryError(InferenceError, MemoryError):
    """The device had no room for the model just now (a busy GPU). Unlike the other
    errors here it is transient: callers retry later instead of failing for good."""


class EmbeddingError(InferenceError, ValueError):
    """A stored embedding is corrupt, truncated, or belongs to another model."""


class ImageError(InferenceError, ValueError):
    """An image given to the encoder is not an HxWx3 uint8 RGB array of usable size."""
