"""Wire formats. One module per format; only these modules do HTTP."""

from .openai import OpenAIProvider, request_body

__all__ = ["OpenAIProvider", "request_body"]
