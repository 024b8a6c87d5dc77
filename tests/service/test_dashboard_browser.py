"""The dashboard in a real browser: Playwright driving Debian's Chromium against a live server.

Signs in as viewer and admin, opens every page on a seeded store, checks the figures against the
store, the seeded alarm, that a viewer has no admin action, and that no page logs a console error
or fails a request; saves a screenshot of each page under ``test-artifacts/dashboard/`` (or
``$TRIAGE_TEST_ARTIFACTS``). Skipped, saying why, when Playwright or Chromium is missing
(``make browser`` installs Chromium when run as root).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dashboard_seed import PASSWORDS, SECRET, USERS, seed
from live import ThreadServer

CHROMIUM = os.environ.get("TRIAGE_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]
ARTIFACTS = Path(os.environ.get("TRIAGE_TEST_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "test-artifacts")) / "dashboard"
PAGES = {"today": "/dashboard?window=week", "work": "/dashboard/work", "policy": "/dashboard/policy",
         "quality": "/dashboard/quality?window=week"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip)")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}: run `make browser` as root (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def live(make_router, sqlite_url):
    from conftest import make_settings

    from service.main import create_app

    routing = make_router()
    settings = make_settings(sqlite_url, dashboard_users=USERS, dashboard_secret=SECRET,
                             dashboard_secure_cookie=False,
                             dashboard_roster=str(_roster(Path(sqlite_url.split("///")[1]).parent)))
    app = create_app(settings, router_loader=lambda uri: routing)
    with ThreadServer(app) as server:
        exp = seed(app.state.store, routing)
        yield server, exp
    app.state.store.drop_all()


def _roster(folder: Path) -> Path:
    from triage.allocation import example_roster

    path = folder / "roster.csv"
    example_roster(n_coders=12, seed=0).to_csv(path, index=False)
    return path


def _page(browser, server):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, device_scale_factor=1)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    return context, page, problems


def _sign_in(page, server, user: str) -> None:
    page.goto(server.url + "/dashboard")
    assert page.url.endswith("/dashboard/login")  # no session: the sign-in form
    page.fill("#username", user)
    page.fill("#password", PASSWORDS[user])
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/dashboard")


def _shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_viewer_sees_every_page_with_the_store_figures(browser, live):
    server, exp = live
    context, page, problems = _page(browser, server)
    page.goto(server.url + "/dashboard/login")
    _shoot(page, "login")
    _sign_in(page, server, "alice")
    cookie = next(c for c in context.cookies() if c["name"] == "triage_dashboard")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0

    page.goto(server.url + PAGES["today"])
    assert page.inner_text("#kpi-total") == f"{exp['week_total']:,}"
    assert page.inner_text("#kpi-automated") == f"{exp['week_automated']:,}"
    alarms = page.inner_text("#alarms")
    assert "watch_violated\tday_case" in alarms  # the seeded open alarm
    assert "drift_warning\tinpatient" not in alarms  # the seeded one a re-certification cleared
    assert page.locator("svg.chart rect title").count() > 0  # charts carry their numbers
    _shoot(page, "today")

    page.goto(server.url + PAGES["work"])
    assert page.inner_text("#kpi-waiting") == f"{exp['waiting']:,}"
    assert page.inner_text("#kpi-clear").endswith(" d")  # the roster gives a projection
    for queue, n in exp["waiting_by_queue"].items():
        assert page.inner_text(f'#queues tr[data-queue="{queue}"] td:nth-child(2)') == f"{n:,}"
    _shoot(page, "work")

    page.goto(server.url + PAGES["policy"])
    assert page.locator("form[action$='/policy/action']").count() == 0  # no admin action for a viewer
    assert "needs the admin role" in page.inner_text("main")
    _shoot(page, "policy-viewer")

    page.goto(server.url + PAGES["quality"])
    assert page.inner_text("#kpi-audits") == f"{exp['audits_returned']:,}"
    assert page.inner_text("#kpi-flags") == f"{exp['flags']:,}"
    _shoot(page, "quality")
    assert problems == []
    context.close()


def test_admin_moves_a_setting_live_with_confirmation(browser, live):
    server, _ = live
    context, page, problems = _page(browser, server)
    _sign_in(page, server, "bob")
    for name, path in PAGES.items():  # every page opens for an admin too
        page.goto(server.url + path)
        assert "bob · admin" in page.inner_text("header"), name
    page.goto(server.url + PAGES["policy"])
    row = page.locator('#settings tr[data-setting="observation"]')
    assert row.locator(".badge").inner_text() == "shadow"
    _shoot(page, "policy-admin")
    row.locator("button[data-action=go_live]").click()
    page.wait_for_selector("#confirm")
    _shoot(page, "confirm")
    page.click("#confirm")
    page.wait_for_selector("#flash")
    row = page.locator('#settings tr[data-setting="observation"]')
    assert row.locator(".badge").inner_text() == "live"
    assert "shadow → live" in page.inner_text("#events")
    page.click("header button[type=submit]")  # sign out
    page.wait_for_url(server.url + "/dashboard/login")
    page.goto(server.url + PAGES["work"])
    assert page.url.endswith("/dashboard/login")
    assert problems == []
    context.close()
