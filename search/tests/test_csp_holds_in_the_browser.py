"""Every page works under the strict Content-Security-Policy: Chromium loads each (the search, its
htmx results, an artwork, the API docs, the admin and the jobs dashboard) and reports no violation."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)

# Runs before any script of the page (Playwright injects it outside the page's policy).
_RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


class Visit:
    """A browser tab that records every CSP violation, from the console and from the DOM event."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.add_init_script(_RECORD_VIOLATIONS)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.console: list[str] = []
        self.page.on("console", self._console)
        self.policies: dict[str, str] = {}

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def open(self, path: str) -> None:
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.ok, (path, response and response.status)
        self.policies[path] = response.headers.get("content-security-policy", "")
        self.page.wait_for_load_state("networkidle")
        self.check(path)

    def check(self, where: str) -> None:
        violations = self.page.evaluate("window.__cspViolations")
        assert violations == [], (where, violations)
        assert self.console == [], (where, self.console)


def test_no_page_breaks_the_policy(browser: Any, live_server: Any, indexed: list[Artwork], admin_user: Any) -> None:
    from django.core.cache import cache

    cache.clear()  # the filter menus are cached; another test's collection may be in there
    visit = Visit(browser, live_server.url)
    try:
        visit.open("/")
        # Results swapped in by htmx, as a visitor types.
        visit.page.locator("#q").press_sequentially("water", delay=30)
        visit.page.wait_for_selector("#results .card img")
        visit.page.wait_for_load_state("networkidle")
        visit.check("htmx results")
        assert visit.page.locator("#results .card img").first.evaluate("img => img.naturalWidth") > 0
        visit.open("/?q=water")
        artwork = indexed[0]
        visit.open(f"/artworks/{artwork.aic_id}")
        assert visit.page.locator(".artwork-image img.artwork-still").evaluate("img => img.naturalWidth") > 0
        visit.open("/api/docs")
        visit.page.wait_for_selector(".swagger-ui .opblock")
        visit.check("the API docs")

        visit.open("/admin/login/?next=/admin/")
        visit.page.fill("#id_username", admin_user.username)
        visit.page.fill("#id_password", "password")
        visit.page.click("input[type=submit]")
        visit.page.wait_for_url("**/admin/")
        visit.check("the admin index")
        for path in (
            "/admin/jobs/",
            "/admin/catalog/artwork/",
            f"/admin/catalog/artwork/{artwork.pk}/change/",
            "/admin/django_celery_beat/periodictask/add/",
            "/admin/auth/user/add/",
        ):
            visit.open(path)
        # The periodic task form's script, moved to a static file, still runs: it hides the translation field.
        visit.open("/admin/django_celery_beat/periodictask/add/")
        assert visit.page.locator(".field-crontab_translation").count() == 1
        assert not visit.page.locator(".field-crontab_translation").is_visible()
        # The change list's actions, run by the admin's own scripts: select all, pick an action.
        visit.open("/admin/catalog/artwork/")
        visit.page.click("#action-toggle")
        visit.check("the change list's actions")
    finally:
        visit.context.close()
    for path, policy in visit.policies.items():
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
        assert "unsafe-inline" not in policy, path
