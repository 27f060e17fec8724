//! Outbound PostgreSQL through `spin_sdk::pg` (`fermyon:spin/postgres@2.0.0`).

use spin_sdk::http::Response;
use spin_sdk::pg::{Connection, DbValue, ParameterValue as P};

/// Runs `op` against the database at `addr`; `None` when `op` is not a PostgreSQL op.
pub fn run(op: &str, p: &dyn Fn(&str) -> Option<String>) -> Option<Response> {
    let addr = p("addr").unwrap_or_default();
    let result = match op {
        "pg-open" => Connection::open(&addr).map(|_| "opened".to_owned()),
        "pg-types" => round_trip(&addr),
        "pg-rollback" => Connection::open(&addr).and_then(|c| {
            c.execute("CREATE TABLE IF NOT EXISTS wisp_txn (n int4)", &[])?;
            c.execute("BEGIN", &[])?;
            c.execute("INSERT INTO wisp_txn VALUES (1)", &[])?;
            let inside = count(&c)?;
            c.execute("ROLLBACK", &[])?;
            Ok(format!("inside={inside} after={}", count(&c)?))
        }),
        "pg-query" => {
            // `sql`: the first column of the first row, as Debug text.
            let sql = p("sql").unwrap_or_default();
            Connection::open(&addr)
                .and_then(|c| c.query(&sql, &[]))
                .map(|rows| format!("{:?}", rows.rows.first().and_then(|r| r.first())))
        }
        "pg-bad-sql" => Connection::open(&addr).and_then(|c| {
            c.query("SELEC nothing", &[]).map(|_| "no error".to_owned())
        }),
        _ => return None,
    };
    Some(match result {
        Ok(body) => Response::new(200, body),
        Err(e) => Response::new(500, format!("{e:?}")),
    })
}

fn count(c: &Connection) -> Result<i64, spin_sdk::pg::PgError> {
    let rows = c.query("SELECT count(*) FROM wisp_txn", &[])?;
    Ok(match rows.rows[0][0] {
        DbValue::Int64(n) => n,
        _ => -1,
    })
}

/// Inserts one value of every mapped type and reads it back; 200 only if each value and
/// each column's type came back exactly.
fn round_trip(addr: &str) -> Result<String, spin_sdk::pg::PgError> {
    let c = Connection::open(addr)?;
    c.execute(
        "CREATE TABLE IF NOT EXISTS wisp_types (b bool, i2 int2, i4 int4, i8 int8, \
         f4 float4, f8 float8, t text, v varchar(20), by bytea, n int4)",
        &[],
    )?;
    c.execute("DELETE FROM wisp_types", &[])?;
    let params = [
        P::Boolean(true),
        P::Int16(-2),
        P::Int32(i32::MIN),
        P::Int64(i64::MAX),
        P::Floating32(1.5),
        P::Floating64(std::f64::consts::PI),
        P::Str("héllo, wörld ✓".into()),
        P::Str("vc".into()),
        P::Binary(vec![0, 1, 254, 255]),
        P::DbNull,
    ];
    let inserted = c.execute(
        "INSERT INTO wisp_types VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &params,
    )?;
    let rows = c.query("SELECT * FROM wisp_types", &[])?;
    let want = vec![
        DbValue::Boolean(true),
        DbValue::Int16(-2),
        DbValue::Int32(i32::MIN),
        DbValue::Int64(i64::MAX),
        DbValue::Floating32(1.5),
        DbValue::Floating64(std::f64::consts::PI),
        DbValue::Str("héllo, wörld ✓".into()),
        DbValue::Str("vc".into()),
        DbValue::Binary(vec![0, 1, 254, 255]),
        DbValue::DbNull,
    ];
    let got = &rows.rows[0];
    let same = format!("{got:?}") == format!("{want:?}");
    let types: Vec<String> = rows
        .columns
        .iter()
        .map(|col| format!("{}:{:?}", col.name, col.data_type))
        .collect();
    Ok(format!(
        "inserted={inserted} same={same} types={}",
        types.join(",")
    ))
}

/// `spin_sdk::pg3` (`spin:postgres/postgres@3.0.0`): the date and time types version 3
/// adds, through a parameter and back.
pub fn run_v3(op: &str, p: &dyn Fn(&str) -> Option<String>) -> Option<Response> {
    use spin_sdk::pg3::{Connection, DbValue, ParameterValue as P3};
    if op != "pg3-times" {
        return None;
    }
    let addr = p("addr").unwrap_or_default();
    let result = Connection::open(&addr).and_then(|c| {
        c.execute(
            "CREATE TABLE IF NOT EXISTS wisp_times (d date, t time, dt timestamp, \
             tz timestamptz, i int8)",
            &[],
        )?;
        c.execute("DELETE FROM wisp_times", &[])?;
        c.execute(
            "INSERT INTO wisp_times VALUES ($1, $2, $3, $4, $5)",
            &[
                P3::Date((2024, 2, 29)),
                P3::Time((23, 59, 58, 123_456_000)),
                P3::Datetime((1999, 12, 31, 23, 59, 59, 0)),
                P3::Timestamp(1_700_000_000),
                P3::Int64(-1),
            ],
        )?;
        let rows = c.query("SELECT * FROM wisp_times", &[])?;
        let cells: Vec<String> = rows.rows[0]
            .iter()
            .map(|v| match v {
                DbValue::Date(d) => format!("date{d:?}"),
                DbValue::Time(t) => format!("time{t:?}"),
                DbValue::Datetime(dt) => format!("datetime{dt:?}"),
                DbValue::Int64(i) => format!("int8({i})"),
                other => format!("{other:?}"),
            })
            .collect();
        let types: Vec<String> = rows
            .columns
            .iter()
            .map(|col| format!("{:?}", col.data_type))
            .collect();
        Ok(format!("{} | {}", cells.join(" "), types.join(",")))
    });
    Some(match result {
        Ok(body) => Response::new(200, body),
        Err(e) => Response::new(500, format!("{e:?}")),
    })
}

/// `spin_sdk::pg4` (`spin:postgres/postgres@4.0.0`, served by wisp's 4.2.0): a UUID and a
/// decimal through parameters and back, with the blocking calls of spin-sdk 5.
pub fn run_v4(op: &str, p: &dyn Fn(&str) -> Option<String>) -> Option<Response> {
    use spin_sdk::pg4::{Connection, ParameterValue as P4};
    if op != "pg4-sync" {
        return None;
    }
    let addr = p("addr").unwrap_or_default();
    let result = Connection::open(&addr).and_then(|c| {
        c.query(
            "SELECT $1::uuid AS u, $2::numeric * 2 AS d",
            &[
                P4::Uuid("123e4567-e89b-12d3-a456-426614174000".into()),
                P4::Decimal("0.25".into()),
            ],
        )
    });
    let body = match result {
        Ok(rows) => format!("{:?} {:?}", rows.rows[0], rows.columns),
        Err(e) => format!("error: {e:?}"),
    };
    Some(Response::new(200, body))
}
