"""Chat messages of a model event, in one shape the detail view can draw by role.

Providers and SDKs log messages differently: OpenAI style (`content` a string or a list of
parts, `tool_calls` with JSON `arguments`, `role: tool` answers with `tool_call_id`),
Anthropic style (`tool_use` / `tool_result` content blocks), HoneyHive's
`inputs.chat_history`, and outputs as a message, `choices[].message`, or bare `content`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import msgspec

ROLES = ("system", "user", "assistant", "tool")


@dataclasses.dataclass
class ToolCall:
    name: str
    arguments: Any  # parsed JSON when the arguments were a JSON string
    id: str | None = None


@dataclasses.dataclass
class Message:
    role: str
    text: str = ""
    tool_calls: list[ToolCall] = dataclasses.field(default_factory=list)
    tool_call_id: str | None = None  # a tool result: the call it answers
    name: str | None = None
    output: bool = False  # the model's answer rather than its input
    images: list[str] = dataclasses.field(default_factory=list)  # http(s) or data:image URLs

    @property
    def kind(self) -> str:
        """The CSS class: one of ROLES, or `other`."""
        return self.role if self.role in ROLES else "other"


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return raw
    return raw


_IMAGE_DATA = re.compile(r"^data:image/(png|jpeg|jpg|gif|webp|avif|bmp);base64,[A-Za-z0-9+/=\s]+$")


def image_src(part: dict[str, Any]) -> str | None:
    """The URL of an image content part (OpenAI `image_url` / `input_image`, Anthropic
    `image` with a base64 or url source) when it is one a page may show: http(s), or a data
    URL of a raster image (never SVG, never another scheme; plain http is not shown on an https
    page and the Content-Security-Policy allows https images only)."""
    url: Any = part.get("image_url")
    if isinstance(url, dict):
        url = url.get("url")
    source = part.get("source")
    if url is None and isinstance(source, dict):
        if source.get("type") == "base64" and isinstance(source.get("data"), str):
            url = f"data:{source.get('media_type', 'image/png')};base64,{source['data']}"
        else:
            url = source.get("url")
    if url is None:
        url = part.get("url")
    if not isinstance(url, str):
        return None
    if url.startswith("https://") and len(url) <= 4096:
        return url
    return url if _IMAGE_DATA.match(url) else None


def _text(content: Any, msg: Message) -> str:
    """Text of a content value; tool blocks inside it become tool calls or results."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return str(content)
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            kind = part.get("type")
            if kind == "tool_use":
                msg.tool_calls.append(
                    ToolCall(str(part.get("name", "")), part.get("input"), part.get("id"))
                )
            elif kind == "tool_result":
                msg.tool_call_id = part.get("tool_use_id")
                parts.append(_text(part.get("content"), msg))
            elif isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif kind in ("image_url", "image", "input_image"):
                src = image_src(part)
                if src is not None:
                    msg.images.append(src)
                else:
                    parts.append("[image]")
            else:
                parts.append(msgspec.json.encode(part).decode())
    return "\n".join(p for p in parts if p)


def message(raw: Any, output: bool = False) -> Message | None:
    if isinstance(raw, str):
        return Message(role="assistant" if output else "user", text=raw, output=output)
    if not isinstance(raw, dict):
        return None
    role = str(raw.get("role") or ("assistant" if output else "user")).lower()
    if role in ("human",):
        role = "user"
    elif role in ("ai", "model"):
        role = "assistant"
    elif role in ("function", "tool_result"):
        role = "tool"
    msg = Message(role=role, output=output, name=raw.get("name"))
    msg.text = _text(raw.get("content", raw.get("text")), msg)
    for call in raw.get("tool_calls") or ():
        if isinstance(call, dict):
            fn = call["function"] if isinstance(call.get("function"), dict) else call
            msg.tool_calls.append(
                ToolCall(str(fn.get("name", "")), _arguments(fn.get("arguments")), call.get("id"))
            )
    fc = raw.get("function_call")
    if isinstance(fc, dict):
        msg.tool_calls.append(ToolCall(str(fc.get("name", "")), _arguments(fc.get("arguments"))))
    if raw.get("tool_call_id"):
        msg.tool_call_id = str(raw["tool_call_id"])
    return msg


def _input_messages(inputs: dict[str, Any]) -> list[Any]:
    for key in ("chat_history", "messages", "prompt"):
        value = inputs.get(key)
        if isinstance(value, list) and value:
            return value
    return []


def _output_messages(outputs: dict[str, Any]) -> list[Any]:
    choices = outputs.get("choices")
    if isinstance(choices, list) and choices:
        found = [c.get("message") or c.get("text") for c in choices if isinstance(c, dict)]
        return [m for m in found if m]
    if "role" in outputs or "tool_calls" in outputs or "content" in outputs:
        return [outputs]
    for key in ("message", "response", "completion", "text", "output", "answer"):
        value = outputs.get(key)
        if isinstance(value, (dict, str)) and value:
            return _output_messages(value) if isinstance(value, dict) else [value]
    return []


def conversation(inputs: dict[str, Any], outputs: dict[str, Any]) -> list[Message]:
    """The messages sent to the model, then its answer; empty when there is no chat here."""
    sent = [message(m) for m in _input_messages(inputs)]
    got = [message(m, output=True) for m in _output_messages(outputs)]
    if not any(sent):
        return []
    return [m for m in [*sent, *got] if m is not None]
