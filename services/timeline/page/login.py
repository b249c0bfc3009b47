"""Signing in to the pages: a form that trades an agency token for the ``sinergi_token`` cookie.

``GET /login`` shows the form; posting it checks the token, sets an HttpOnly cookie and
redirects to ``next``. A token in the URL is ignored: it would stay in browser histories
and proxies' logs, and a link could sign someone in as another agency. ``/logout`` clears
the cookie.
"""

from urllib.parse import parse_qs, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.runtime.auth import COOKIE, AgencyTokens
from services.timeline.page.markup import Html, esc, join, link, page, tag

TEXT = {
    "title": ("Masuk", "Sign in"),
    "intro": ("Masukkan token instansi Anda untuk membuka linimasa.",
              "Enter your agency's token to open the timeline."),
    "token": ("Token instansi", "Agency token"),
    "go": ("Masuk", "Sign in"),
    "unknown": ("Token tidak dikenal.", "Unknown token."),
    "forbidden": ("Token instansi Anda tidak membuka halaman ini.",
                  "Your agency's token does not open this page."),
    "other": ("Masuk dengan token lain", "Sign in with another token"),
}
MAX_AGE = 12 * 60 * 60
MAX_FORM_BYTES = 4096
"""A sign-in form: a token, a path to go back to, a language."""


def text(key: str, lang: str) -> str:
    return TEXT[key][0 if lang == "id" else 1]


def safe_next(target: str | None) -> str:
    """Only a path on this site: no scheme, host or protocol-relative ``//`` target."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def login_page(lang: str, next_path: str, error: str | None = None) -> Html:
    form = tag("form", join([
        Html(f'<input type="hidden" name="next" value="{esc(next_path)}">'),
        Html(f'<input type="hidden" name="lang" value="{esc(lang)}">'),
        tag("label", text("token", lang), for_="login-token"),
        Html('<input id="login-token" name="token" type="password" required '
             'autocomplete="current-password">'),
        tag("button", text("go", lang), type="submit"),
    ]), method="post", action="/login", class_="login")
    main = join([tag("h1", text("title", lang)), tag("p", text("intro", lang)),
                 tag("p", text(error, lang), class_="missing") if error else "", form])
    return page(lang, text("title", lang), main, "/login")


def refused(lang: str, path: str, status: int) -> HTMLResponse:
    """401: the sign-in form, back to ``path`` after; 403: say so, offer another token."""
    if status == 401:
        return HTMLResponse(login_page(lang, path), status_code=401)
    again = f"/login?{urlencode({'next': path, 'lang': lang})}"
    main = join([tag("h1", text("title", lang)), tag("p", text("forbidden", lang),
                 class_="missing"), tag("p", tag("a", text("other", lang), href=again))])
    return HTMLResponse(page(lang, text("title", lang), main, path), status_code=403)


async def sign_in(request: Request, tokens: AgencyTokens, lang: str) -> HTMLResponse | \
        RedirectResponse:
    # The token only from a form's body: in a URL it would stay in the browser's history
    # and proxies' logs, and a link could sign someone in as another agency.
    fields = {k: v for k, v in request.query_params.items() if k != "token"}
    if request.method == "POST":
        raw = await _bounded_body(request)
        if raw is None:
            return HTMLResponse(login_page(lang, safe_next(fields.get("next"))), status_code=413)
        body = parse_qs(raw.decode("utf-8", "replace"))
        fields.update({k: v[0] for k, v in body.items()})
    target = safe_next(fields.get("next"))
    token = fields.get("token", "").strip()
    if not token:
        return HTMLResponse(login_page(lang, target))
    if tokens.agency_of(token) is None:
        return HTMLResponse(login_page(lang, target, "unknown"), status_code=401)
    response = RedirectResponse(target, status_code=303)
    # Behind a TLS proxy the app sees http; the proxy's header can only ask for more.
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
    secure = "https" in (request.url.scheme, forwarded)  # the first hop: the client's
    response.set_cookie(COOKIE, token, max_age=MAX_AGE, httponly=True, samesite="lax",
                        secure=secure)
    return response


async def _bounded_body(request: Request) -> bytes | None:
    """The form's bytes, or None past ``MAX_FORM_BYTES`` (read no further: no token is
    needed to post here)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def sign_out(lang: str) -> RedirectResponse:
    response = RedirectResponse(link("/login", lang), status_code=303)
    response.delete_cookie(COOKIE)
    return response
