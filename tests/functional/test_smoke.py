from tests.conftest import body


def test_health_answers_ok_with_request_id(client):
    response = client.http.get("/v1/health", headers={"X-Request-Id": "req-12345678"})
    assert response.status_code == 200
    assert body(response) == {"status": "ok"}
    assert response.headers["X-Request-Id"] == "req-12345678"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
