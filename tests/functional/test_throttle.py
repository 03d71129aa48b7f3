"""Login throttling: 429 + Retry-After, per (account, client) and per client, never forever."""

from __future__ import annotations

from tests.conftest import PASSWORD, body, login


def test_guessing_one_account_is_throttled_with_retry_after(client, users, monkeypatch):
    users.create("alice")
    for _ in range(10):
        assert login(client, "alice", "wrong guess!").status_code == 401
    throttled = login(client, "alice", PASSWORD)  # even the right password waits
    assert throttled.status_code == 429
    assert body(throttled)["code"] == "too_many_requests"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 300
    # Another account from the same client is not affected by alice's window.
    users.create("bob")
    assert login(client, "bob", PASSWORD).status_code == 200


def test_throttle_is_per_client_and_ends_with_its_window(sql, stack, users):
    from chalicelib import db

    users.create("carol")
    conn = db.connect(stack["DATABASE_URL"])

    def attempt(ip):
        return conn.run(
            "SELECT api.login_lookup(p_username => 'carol', p_client_ip => :ip, "
            "p_window_seconds => 300, p_max_per_account_ip => 3, p_max_per_ip => 100)",
            ip=ip,
        )[0][0]

    try:
        results = [attempt("203.0.113.9") for _ in range(4)]
        assert [r["retry_after"] is None for r in results] == [True, True, True, False]
        assert results[0]["user"]["token_version"] == 1
        # The owner, elsewhere, still gets in: an attacker cannot lock the account out.
        assert attempt("198.51.100.7")["retry_after"] is None
        # Windows are fixed-length: once over, the attacker gets a new (limited) window.
        sql.run("UPDATE app.login_throttle SET window_start = now() - interval '301 seconds'")
        assert attempt("203.0.113.9")["retry_after"] is None
    finally:
        conn.close()


def test_one_client_cannot_sweep_many_accounts(sql, stack):
    from chalicelib import db

    conn = db.connect(stack["DATABASE_URL"])
    try:
        waits = [
            conn.run(
                "SELECT api.login_lookup(p_username => :u, p_client_ip => '192.0.2.1', "
                "p_window_seconds => 300, p_max_per_account_ip => 10, p_max_per_ip => 5)",
                u=f"user{i}",
            )[0][0]["retry_after"]
            for i in range(6)
        ]
        assert waits[:5] == [None] * 5
        assert waits[5] > 0
    finally:
        conn.close()


def test_successful_logins_do_not_count_against_the_limit(client, users):
    users.create("dora")
    # Many tabs and scripts signing in with the right password never lock the member out.
    statuses = [login(client, "dora", PASSWORD).status_code for _ in range(25)]
    assert statuses == [200] * 25


def test_failures_still_count_between_successes(client, users):
    users.create("erin")
    answers = []
    for _ in range(12):
        answers.append(login(client, "erin", "wrong guess!").status_code)
        answers.append(login(client, "erin", PASSWORD).status_code)
    # Successes take back only their own attempt: the failures keep counting in their window.
    assert 429 in answers
    first = answers.index(429)
    assert answers[:first].count(401) >= 5
    throttled = login(client, "erin", PASSWORD)
    assert throttled.status_code == 429
    message = body(throttled)["message"]
    assert message.startswith("Too many failed login attempts; retry in ")
    assert message.endswith(("seconds.", "minutes.", "second."))
