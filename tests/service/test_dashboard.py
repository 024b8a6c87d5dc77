"""The dashboard over HTTP: sign-in, session cookie, CSRF, roles, figures against the store, no PHI."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dashboard_seed import PASSWORDS, SECRET, USERS, seed

PHI = "Mrs Jane Doe MRN 0042 presented with chest pain"


@pytest.fixture
def dash(app_factory, database_url):
    client = app_factory(database_url, dashboard_users=USERS, dashboard_secret=SECRET,
                         dashboard_secure_cookie=False)
    store = client.app.state.store
    exp = seed(store, client.app.state.router_holder.get())
    with store.engine.begin() as conn:  # a note stored with a decision must never reach a page
        conn.execute(store.decisions.update().values(text=PHI))
    return client, exp


def sign_in(client, user: str) -> str:
    r = client.post("/dashboard/login", data={"username": user, "password": PASSWORDS[user]},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["set-cookie"]


def csrf(client) -> str:
    html = client.get("/dashboard/policy").text
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def number(html: str, element_id: str) -> str:
    m = re.search(rf'id="{element_id}">([^<]*)<', html)
    assert m, element_id
    return m.group(1).strip()


def test_every_page_refuses_without_a_session(dash):
    client, _ = dash
    for path in ("/dashboard", "/dashboard/work", "/dashboard/policy", "/dashboard/quality"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/dashboard/login", path
    r = client.post("/dashboard/policy/action", data={"action": "go_live", "care_setting": "observation"})
    assert r.status_code == 403
    client.cookies.set("triage_dashboard", "forged.cookie.value", path="/dashboard")
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_sign_in_sets_a_strict_httponly_expiring_cookie(dash):
    client, _ = dash
    bad = client.post("/dashboard/login", data={"username": "alice", "password": "wrong"})
    assert bad.status_code == 401 and "triage_dashboard" not in bad.headers.get("set-cookie", "")
    cookie = sign_in(client, "alice").lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=28800" in cookie
    assert "path=/dashboard" in cookie
    r = client.get("/dashboard")
    assert r.status_code == 200 and "alice · viewer" in r.text
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


def test_secure_cookie_by_default(app_factory, sqlite_url):
    client = app_factory(sqlite_url, dashboard_users=USERS, dashboard_secret=SECRET)
    r = client.post("/dashboard/login", data={"username": "bob", "password": PASSWORDS["bob"]},
                    follow_redirects=False)
    assert "secure" in r.headers["set-cookie"].lower()


def test_dashboard_is_off_without_users_and_api_keys_are_unchanged(app_factory, sqlite_url, keys):
    client = app_factory(sqlite_url)
    assert client.get("/dashboard/login").status_code == 404
    assert client.get("/v1/monitoring").status_code == 401
    assert client.get("/v1/monitoring", headers=keys["router"]).status_code == 200


def test_pages_show_the_store_figures_and_no_phi(dash):
    client, exp = dash
    sign_in(client, "alice")
    today = client.get("/dashboard?window=week").text
    assert number(today, "kpi-total") == f"{exp['week_total']:,}"
    assert number(today, "kpi-automated") == f"{exp['week_automated']:,}"
    row = re.search(r'<tr data-setting="inpatient">(.*?)</tr>', today, re.DOTALL).group(1)
    cells = re.findall(r'<td class="n">([^<]*)</td>', row)
    by = exp["week_by_setting"]
    assert cells[:3] == [f"{by[('inpatient', r)]:,}" for r in ("automate", "assist", "manual")]
    g = re.search(r'<tr data-setting="day_case"><td>day_case</td>(.*?)</tr>',
                  today.split('id="guarantee"')[1], re.DOTALL).group(1)
    assert re.findall(r'<td class="n">([^<]*)</td>', g)[:2] == [
        str(exp["labelled"]["day_case"]), str(exp["errors"]["day_case"])]
    assert "watch_violated" in today.split('id="alarms"')[1].split("</div>")[0]  # the open alarm
    alarms = today.split('id="alarms"')[1].split("</div>")[0]
    assert not re.search(r"drift_warning</span></td>\s*<td>inpatient", alarms)  # cleared by recertified

    changes = today.split('id="changes"')[1]
    assert "watch_violated" in changes and "recertified" not in changes  # 2 and 10 days ago

    work = client.get("/dashboard/work").text
    assert number(work, "kpi-waiting") == f"{exp['waiting']:,}"
    dnfc = exp["waiting"] / (exp["decisions_30d"] / 30)
    assert number(work, "kpi-dnfc") == f"{dnfc:,.1f}"
    for queue, n in exp["waiting_by_queue"].items():
        assert re.search(rf'<tr data-queue="{queue}"><td>{queue}</td><td class="n">{n:,}</td>', work)

    quality = client.get("/dashboard/quality").text
    assert number(quality, "kpi-audits") == f"{exp['audits_returned']:,}"
    assert number(quality, "kpi-flags") == f"{exp['flags']:,}"
    assert number(quality, "kpi-acceptance") == (
        f"{exp['kept'] / exp['prefilled'] * 100:.1f}%" if exp["prefilled"] else "—")
    policy = client.get("/dashboard/policy").text
    for html in (today, work, quality, policy):
        assert "Jane Doe" not in html and "MRN" not in html and "chest pain" not in html
        assert "ep0" not in html  # not even episode ids: the pages are aggregates


def test_viewer_cannot_reach_admin_actions(dash):
    client, _ = dash
    sign_in(client, "alice")
    policy = client.get("/dashboard/policy").text
    assert "policy/action" not in policy and "needs the admin role" in policy
    r = client.post("/dashboard/policy/action", data={"csrf_token": csrf(client), "action": "go_live",
                                                      "care_setting": "observation", "confirm": "yes"})
    assert r.status_code == 403


def test_admin_goes_live_after_csrf_and_confirmation(dash):
    client, _ = dash
    sign_in(client, "bob")
    token = csrf(client)
    form = {"action": "go_live", "care_setting": "observation"}
    store = client.app.state.store
    events = store.count("policy_events")
    assert client.post("/dashboard/policy/action", data=form).status_code == 403  # no CSRF token
    assert client.post("/dashboard/policy/action", data={**form, "csrf_token": "x" * 32}).status_code == 403
    confirm = client.post("/dashboard/policy/action", data={**form, "csrf_token": token})
    assert confirm.status_code == 200 and 'value="yes"' in confirm.text
    assert store.count("policy_events") == events  # nothing happened before the confirmation
    done = client.post("/dashboard/policy/action", data={**form, "csrf_token": token, "confirm": "yes"},
                       follow_redirects=False)
    assert done.status_code == 303
    routing = client.app.state.router_holder.get()
    from service.dashboard.queries import policy_states

    states = policy_states(store, str(routing.model_version), str(routing.policy.version))
    assert states["observation"]["state"] == "live"
    again = client.post("/dashboard/policy/action", data={**form, "csrf_token": token, "confirm": "yes"})
    assert again.status_code == 409  # no longer in shadow
    page = client.get("/dashboard/policy").text
    assert "admin" in page.split('id="events"')[1] and "shadow → live" in page
    event = store.operation.recent_events(limit=1)[0]
    assert (event["kind"], event["reason"], event["key_fingerprint"]) == (
        "state_change", "shadow_evidence_reviewed", "user:bob")


def test_logout_needs_csrf_and_ends_the_session(dash):
    client, _ = dash
    sign_in(client, "alice")
    assert client.post("/dashboard/logout", data={"csrf_token": ""}).status_code == 403
    r = client.post("/dashboard/logout", data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_password_hash_round_trip_and_bad_user_spec():
    from service.dashboard.auth import UserRegistry, check_password, hash_password

    h = hash_password("correct horse")
    assert check_password("correct horse", h) and not check_password("wrong", h)
    with pytest.raises(ValueError, match="unknown role"):
        UserRegistry.from_spec(f"root:eve:{h}")
    with pytest.raises(ValueError, match="hash must"):
        UserRegistry.from_spec("viewer:eve:plaintext")


def test_admin_starts_a_recertification(dash):
    client, _ = dash
    sign_in(client, "bob")
    token = csrf(client)
    form = {"action": "recertify", "care_setting": "all", "csrf_token": token}
    confirm = client.post("/dashboard/policy/action", data=form)
    assert confirm.status_code == 200 and "shadow-mode and held-out" in confirm.text
    report = client.post("/dashboard/policy/action", data={**form, "confirm": "yes"})
    assert report.status_code == 200 and 'id="report"' in report.text
    kinds = {e["kind"] for e in client.app.state.store.operation.recent_events(limit=10)}
    assert kinds & {"recertified", "recertify_proposed"}
    assert re.search(r'<tr data-setting="[a-z_]+"><td>[a-z_]+</td><td><span class="badge (yes|no)">',
                     report.text)  # a row per certified group (one "all" for an ungrouped policy)
