"""Safe HTML from Python: everything passes through ``esc`` unless it is already ``Html``.

The templates in ``services/timeline/templates`` are ``string.Template`` files; ``render``
escapes every value it fills in that is not ``Html``, as an autoescaping engine would.
"""

import html
import string
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlencode

from services.timeline import i18n
from services.timeline.i18n import t

TEMPLATES = Path(__file__).parents[1] / "templates"


class Html(str):
    """Markup that is already escaped."""


def esc(value: object) -> Html:
    return value if isinstance(value, Html) else Html(html.escape(str(value)))


def join(parts: Iterable[object]) -> Html:
    return Html("".join(esc(p) for p in parts))


def tag(name: str, content: object = "", **attrs: object) -> Html:
    """``<name attrs>content</name>``; attribute ``class_`` is ``class``, ``None`` omits one."""
    text = "".join(f' {k.rstrip("_").replace("_", "-")}="{html.escape(str(v))}"'
                   for k, v in attrs.items() if v is not None)
    return Html(f"<{name}{text}>{esc(content)}</{name}>")


@cache
def _template(name: str) -> string.Template:
    return string.Template((TEMPLATES / name).read_text("utf-8"))


def render(name: str, **values: object) -> Html:
    return Html(_template(name).substitute({k: esc(v) for k, v in values.items()}))


def link(path: str, lang: str, fragment: str = "") -> str:
    query = f"?{urlencode({'lang': lang})}" if lang != i18n.DEFAULT_LANG else ""
    return f"{path}{query}" + (f"#{fragment}" if fragment else "")


def household_href(ref: str, lang: str, event_id: str = "") -> str:
    return link(f"/households/{quote(ref, safe='')}", lang, f"e-{event_id}" if event_id else "")


def page(lang: str, title: str, main: Html, path: str) -> Html:
    other = "en" if lang == "id" else "id"
    return render(
        "layout.html", lang=lang, title=title, tagline=t("app.tagline", lang),
        home_href=link("/", lang), overview_label=t("nav.overview", lang),
        find_label=t("nav.find", lang), find_placeholder=t("nav.find.placeholder", lang),
        find_go=t("nav.find.go", lang), switch_href=link(path, other), switch_lang=other,
        switch_label=t("lang.switch", lang), main=main, footer=t("footer", lang),
    )
