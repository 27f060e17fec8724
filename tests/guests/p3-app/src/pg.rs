//! `spin:postgres@4.2.0` through spin-sdk 7's `pg` module: every version 4 type written
//! and read back, the server's structured errors, bad parameters, and TLS with a CA root.

use spin_sdk::pg::{
    Certificate, Connection, DbValue, Error, Interval, OpenOptions, ParameterValue as P,
    PgError, QueryError, RangeBoundKind::{Exclusive, Inclusive},
};

/// Writes one row of every version 4 type and reads it back: "values | column types".
pub async fn types(addr: &str) -> Result<String, Error> {
    let c = Connection::open(addr).await?;
    c.execute("DROP TABLE IF EXISTS pg4", []).await?;
    c.execute(
        "CREATE TABLE pg4 (u uuid, j jsonb, d numeric, r4 int4range, r8 int8range, \
         rd numrange, a4 int4[], a8 int8[], ad numeric[], at text[], iv interval, \
         ts int8, e int4range, n numeric)",
        [],
    )
    .await?;
    let row = [
        P::Uuid("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11".into()),
        P::Jsonb(br#"{"b":1,"a":[1,2]}"#.to_vec()),
        P::Decimal("12345.678900".into()),
        P::RangeInt32((Some((1, Inclusive)), Some((10, Exclusive)))),
        // PostgreSQL normalises discrete ranges: (5, 7] reads back as [6, 8).
        P::RangeInt64((Some((5, Exclusive)), Some((7, Inclusive)))),
        P::RangeDecimal((Some(("-1.5".into(), Inclusive)), None)),
        P::ArrayInt32(vec![Some(1), None, Some(-3)]),
        P::ArrayInt64(vec![Some(i64::MAX)]),
        P::ArrayDecimal(vec![Some("0.1".into()), None]),
        P::ArrayStr(vec![Some("héllo".into()), None, Some(String::new())]),
        P::Interval(Interval {
            micros: 1_500_000,
            days: 2,
            months: 14,
        }),
        P::Timestamp(1_700_000_000),
        // [0, 0) is empty, and an empty range reads back as [0, 0).
        P::RangeInt32((Some((0, Inclusive)), Some((0, Exclusive)))),
        P::DbNull,
    ];
    let inserted = c
        .execute(
            "INSERT INTO pg4 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            row,
        )
        .await?;
    let result = c
        .query(
            "SELECT u, j, d, r4, r8, rd, a4, a8, ad, at, iv, ts, e, n, isempty(e) AS empty, \
             point(1, 2) AS p FROM pg4",
            [],
        )
        .await?;
    let columns: Vec<String> = result
        .columns()
        .iter()
        .map(|c| format!("{}:{:?}", c.name, c.data_type))
        .collect();
    let rows = result.collect().await?;
    let values: Vec<String> = (0..columns.len())
        .map(|i| match &rows[0][i] {
            DbValue::Jsonb(j) => format!("jsonb({})", String::from_utf8_lossy(j)),
            DbValue::Unsupported(raw) => format!("unsupported({} bytes)", raw.len()),
            other => format!("{other:?}"),
        })
        .collect();
    Ok(format!(
        "inserted={inserted} rows={} | {} | {}",
        rows.len(),
        values.join(" "),
        columns.join(",")
    ))
}

/// A unique violation, a syntax error and a malformed parameter: what the guest sees.
pub async fn errors(addr: &str) -> Result<String, Error> {
    let c = Connection::open(addr).await?;
    c.execute("DROP TABLE IF EXISTS pg4e", []).await?;
    c.execute("CREATE TABLE pg4e (id int PRIMARY KEY)", []).await?;
    c.execute("INSERT INTO pg4e VALUES (1)", []).await?;
    let mut out = Vec::new();
    match c.execute("INSERT INTO pg4e VALUES (1)", []).await {
        Err(Error::PgError(PgError::QueryFailed(QueryError::DbError(db)))) => {
            let constraint = db.extras.iter().find(|(k, _)| k == "constraint");
            out.push(format!(
                "code={} severity={} detail={:?} constraint={:?} message={}",
                db.code, db.severity, db.detail, constraint, db.message
            ));
        }
        other => out.push(format!("unexpected: {other:?}")),
    }
    match c.query("SELEC 1", []).await {
        Err(Error::PgError(PgError::QueryFailed(QueryError::DbError(db)))) => {
            out.push(format!("code={} text={}", db.code, db.as_text))
        }
        Err(e) => out.push(format!("unexpected: {e:?}")),
        Ok(_) => out.push("unexpected: ok".into()),
    }
    match c.execute("SELECT $1::uuid", [P::Uuid("nope".into())]).await {
        Err(Error::PgError(PgError::BadParameter(m))) => out.push(format!("bad-parameter: {m}")),
        other => out.push(format!("unexpected: {other:?}")),
    }
    Ok(out.join("\n"))
}

/// Opens `addr` trusting `ca` (when given) and asks the server whether TLS is on.
pub async fn tls(addr: &str, ca: Option<String>) -> Result<String, Error> {
    let options = OpenOptions {
        ca_root: ca.map(Certificate::Text),
    };
    let c = Connection::open_with_options(addr, options).await?;
    let rows = c
        .query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", [])
        .await?
        .collect()
        .await?;
    Ok(format!("ssl={:?}", rows[0][0]))
}
