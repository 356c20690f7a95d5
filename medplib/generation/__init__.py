"""Generation beyond one prompt at a time: batches of prompts and per-conversation KV-cache reuse."""

from .grounded import GroundedRequest, generate_grounded_batch
from .prefix_cache import PrefixCache

__all__ = ["GroundedRequest", "PrefixCache", "generate_grounded_batch"]
