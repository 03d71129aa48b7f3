-- Login throttling windows, per (account, client IP) and per client IP.
CREATE TABLE app.login_throttle (
    key          text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    attempts     integer NOT NULL
);
