"""Templates and the small formatting helpers they use (durations, times, money, JSON).

JSON is rendered in Python, not in a recursive template: a 1 MB output renders in a few ms
and every string is escaped in one place.
"""

from __future__ import annotations

import functools
import html
import math
import time
from pathlib import Path
from typing import Any

import jinja2
import msgspec
from markdown_it import MarkdownIt
from markupsafe import Markup

from hivelog.ui.snippets import snippets

TEMPLATES = Path(__file__).parent / "templates"
_encode = msgspec.json.Encoder(order="sorted").encode
OPEN_DEPTH = 2  # nested objects deeper than this start collapsed
MANY = 20  # containers with more items than this start collapsed


def duration(ms: float | int | None) -> str:
    """`850 ms`, `1.24 s`, `3 m 04 s`, `2 h 05 m`: short, and exact where it matters."""
    if ms is None:
        return ""
    ms = float(ms)
    if not math.isfinite(ms):  # data stored by an older version may hold one
        return _non_finite(ms)
    if ms < 1:
        return f"{ms:.2f} ms" if ms else "0 ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    s = ms / 1000
    if s < 60:
        return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"
    m, s = divmod(int(s), 60)
    if m < 60:
        return f"{m} m {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} m"


def _non_finite(value: float) -> str:
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def when(ms: int | None) -> str:
    """UTC, to the second: the same everywhere the server is read from."""
    if not ms:
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000))
    except (OverflowError, OSError, ValueError):  # a time no calendar date can carry
        return f"{ms} ms since 1970"


def moment(ms: int | None) -> Markup:
    """A `<time>` in UTC that app.js rewrites in the browser's time zone (unless the person
    chose UTC); without JavaScript the UTC text stays, marked as such."""
    if not ms:
        return Markup("")
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))
    return Markup('<time datetime="{}" data-ms="{}" title="{} UTC">{}</time>').format(
        iso, int(ms), when(ms), when(ms)
    )


def number(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return _non_finite(value)
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def money(value: float | None) -> str:
    if not value:
        return ""
    if not math.isfinite(value):
        return _non_finite(value)
    if value >= 1:
        return f"${value:,.2f}"
    if value >= 0.01:
        return f"${value:.3f}"
    return f"${value:.5f}".rstrip("0")


def _markdown() -> MarkdownIt:
    """CommonMark with tables and strikethrough; raw HTML is shown as text, never parsed;
    links open in a new tab with `rel=noopener noreferrer`; images become links (a message
    may not make the browser fetch from anywhere by being read)."""
    md = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(
        ["table", "strikethrough"]
    )

    def link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
        tokens[idx].attrSet("target", "_blank")
        return str(renderer.renderToken(tokens, idx, options, env))

    def image(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        src = html.escape(str(token.attrGet("src") or ""))
        alt = html.escape(token.content or "image")
        return (
            f'<a href="{src}" rel="noopener noreferrer nofollow" target="_blank">[image: {alt}]</a>'
        )

    md.add_render_rule("link_open", link_open)
    md.add_render_rule("image", image)
    return md


_MD = _markdown()
MARKDOWN_MAX = 200_000  # longer texts are shown as written (rendering them would be slow)


def markdown(text: str) -> Markup:
    """A message's text as safe HTML (the raw text stays beside it, see `_message.html`)."""
    if len(text) > MARKDOWN_MAX:
        return Markup("<pre>{}</pre>").format(text)
    return Markup(_MD.render(text))


def cut(text: str | None, chars: int = 120) -> str:
    """Text for a narrow cell: at most `chars` characters, ending with "…" when cut. The
    cell's CSS cuts what does not fit with an ellipsis too; its `title` holds the whole
    value, so nothing is lost to the cut (the page stays small: a cell shows ~30 characters
    and need not carry a thousand)."""
    if not text:
        return ""
    return text if len(text) <= chars else text[:chars].rstrip() + "…"


def is_long(text: str) -> bool:
    """Long enough to fold after a few lines behind "show more"."""
    return len(text) > 700 or text.count("\n") > 10


def money_exact(value: float | None) -> str:
    """A known cost, zero included ($0 is shown only when the cost is known to be zero)."""
    if value is None:
        return ""
    if value == 0:
        return "$0.00"
    return money(value) if value >= 0.00001 else f"${value:.2e}"


def money_or_dash(value: float | None) -> str:
    """A cost, or "–" when it is not known separately."""
    return "–" if value is None else money_exact(value)


_UNSAFE_IN_SCRIPT = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def embed_json(value: Any) -> Markup:
    """`value` as JSON safe to put inside `<script type="application/json">`: the one way pages
    embed JSON for their scripts.

    Escaping only `</` is not enough: `<!--<script>` in a stored name switches the HTML parser
    into the "double escaped" script state, where `</script>` no longer ends the element and the
    rest of the page is swallowed. With `<`, `>` and `&` written as `\\u003c`, `\\u003e`,
    `\\u0026` the JSON holds no markup at all, and U+2028/U+2029 are escaped for old parsers
    that treat them as line ends. `JSON.parse` reads the same value back.
    """
    return Markup(_encode(value).decode().translate(_UNSAFE_IN_SCRIPT))


def to_json(value: Any) -> str:
    """Pretty JSON for copy buttons (sorted keys, UTF-8 as is)."""
    return msgspec.json.format(_encode(value), indent=2).decode()


def _json_html(value: Any, depth: int, out: list[str]) -> None:
    if isinstance(value, dict):
        if not value:
            out.append('<span class="j-p">{}</span>')
            return
        is_open = " open" if depth < OPEN_DEPTH and len(value) <= MANY else ""
        out.append(f'<details class="j"{is_open}><summary>{{{len(value)}}}</summary><ul>')
        for k, v in value.items():
            out.append(f'<li><span class="j-k">{html.escape(str(k))}</span>: ')
            _json_html(v, depth + 1, out)
            out.append("</li>")
        out.append("</ul></details>")
    elif isinstance(value, list):
        if not value:
            out.append('<span class="j-p">[]</span>')
            return
        is_open = " open" if depth < OPEN_DEPTH and len(value) <= MANY else ""
        out.append(f'<details class="j"{is_open}><summary>[{len(value)}]</summary><ol start="0">')
        for v in value:
            out.append("<li>")
            _json_html(v, depth + 1, out)
            out.append("</li>")
        out.append("</ol></details>")
    elif isinstance(value, str):
        out.append(f'<span class="j-s">{html.escape(value)}</span>')
    elif isinstance(value, bool) or value is None:
        out.append(f'<span class="j-p">{"null" if value is None else str(value).lower()}</span>')
    else:
        out.append(f'<span class="j-n">{html.escape(str(value))}</span>')


def json_html(value: Any) -> Markup:
    """A JSON value as nested, collapsible HTML (objects and lists fold with <details>)."""
    out: list[str] = []
    _json_html(value, 0, out)
    return Markup("".join(out))


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.tests["long"] = is_long
    env.filters.update(
        duration=duration,
        when=when,
        moment=moment,
        markdown=markdown,
        number=number,
        cut=cut,
        money=money,
        money_exact=money_exact,
        money_or_dash=money_or_dash,
        to_json=to_json,
        embed_json=embed_json,
        json_html=json_html,
    )
    env.globals["snippets"] = snippets
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
