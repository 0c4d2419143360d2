//! The embedded store's tables, as migrations applied in order by `core::sqlite`.

/// Schema migrations, applied in order; `PRAGMA user_version` records how many have run. Append only.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: raw points, their series, and each series' state.
    "CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        endpoint TEXT NOT NULL, region TEXT NOT NULL, component TEXT NOT NULL, environment TEXT NOT NULL,
        UNIQUE (endpoint, region, component, environment)
    );
    CREATE TABLE probe (
        ts INTEGER NOT NULL, series INTEGER NOT NULL REFERENCES series (id),
        availability REAL NOT NULL, ok INTEGER NOT NULL, latency_ms REAL NOT NULL,
        dns_ms REAL, connect_ms REAL, tls_ms REAL, ttfb_ms REAL,
        status_code INTEGER, cert_days_left REAL, error TEXT, confirmed_down INTEGER NOT NULL,
        PRIMARY KEY (ts, series)
    ) WITHOUT ROWID;
    CREATE TABLE series_state (
        series INTEGER PRIMARY KEY REFERENCES series (id),
        confirmed_down INTEGER NOT NULL, since INTEGER NOT NULL,
        last_ts INTEGER NOT NULL, last_ok INTEGER NOT NULL, last_latency_ms REAL NOT NULL, last_error TEXT
    );
    CREATE TABLE maintenance (
        ts INTEGER NOT NULL, endpoint TEXT NOT NULL, region TEXT NOT NULL, active INTEGER NOT NULL,
        PRIMARY KEY (ts, endpoint, region)
    ) WITHOUT ROWID;",
    // 2: multi-step checks: the failing step on the run's probe point, and every step's result. Step rows are
    // read per check (its history), so they are keyed by series first.
    "ALTER TABLE probe ADD COLUMN failed_step TEXT;
    CREATE TABLE check_step (
        series INTEGER NOT NULL REFERENCES series (id), ts INTEGER NOT NULL, idx INTEGER NOT NULL,
        step TEXT NOT NULL, ran INTEGER NOT NULL, finally INTEGER NOT NULL, ok INTEGER NOT NULL,
        status_code INTEGER, latency_ms REAL NOT NULL, error TEXT, detail TEXT NOT NULL, assertions TEXT NOT NULL,
        PRIMARY KEY (series, ts, idx)
    ) WITHOUT ROWID;
    CREATE INDEX check_step_ts ON check_step (ts);",
    // 3: rollups (one table, keyed by resolution and time: the aggregator and reports read windows of every
    // series) and the aggregator's watermarks.
    "CREATE TABLE rollup (
        resolution TEXT NOT NULL, ts INTEGER NOT NULL, series INTEGER NOT NULL REFERENCES series (id),
        up_s REAL NOT NULL, down_s REAL NOT NULL, maintenance_s REAL NOT NULL,
        samples INTEGER NOT NULL, failures INTEGER NOT NULL, under_threshold INTEGER NOT NULL,
        latency_mean_ms REAL, latency_p50_ms REAL, latency_p90_ms REAL, latency_p95_ms REAL, latency_p99_ms REAL,
        latency_max_ms REAL, hist TEXT NOT NULL,
        PRIMARY KEY (resolution, ts, series)
    ) WITHOUT ROWID;
    CREATE TABLE watermark (name TEXT PRIMARY KEY, ts INTEGER NOT NULL);",
    // 4: where a rollup's down time lies, so reports place incidents without reading finer windows.
    "ALTER TABLE rollup ADD COLUMN down_from_s REAL;
    ALTER TABLE rollup ADD COLUMN down_until_s REAL;",
    // 5: the write log (`Store::feed`): one row per probe row inserted, numbered in commit order by the time of
    // its write (so retention deletes a prefix), read by long-running consumers from where they left off.
    "CREATE TABLE feed (seq INTEGER PRIMARY KEY, series INTEGER NOT NULL, ts INTEGER NOT NULL);",
    // 6: small named documents (`Store::save_document`): the aggregator's availability windows, replaced
    // whole each minute.
    "CREATE TABLE document (name TEXT PRIMARY KEY, ts INTEGER NOT NULL, body TEXT NOT NULL);",
];
