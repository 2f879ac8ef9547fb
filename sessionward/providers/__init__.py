"""Model providers: the streaming protocol, the scripted provider, the failover chain."""

from sessionward.providers.base import (
    MessageEnd,
    Provider,
    ProviderErrorKind,
    ProviderEvent,
    ProviderFailure,
    ProviderRequest,
    ProviderSpec,
    StreamControl,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolResult,
    Usage,
    build_provider,
)
from sessionward.providers.scripted import ScriptedProvider

__all__ = [
    "MessageEnd",
    "Provider",
    "ProviderErrorKind",
    "ProviderEvent",
    "ProviderFailure",
    "ProviderRequest",
    "ProviderSpec",
    "ScriptedProvider",
    "StreamControl",
    "TextDelta",
    "ThinkingDelta",
    "ToolCall",
    "ToolResult",
    "Usage",
    "build_provider",
]
