//! Outbound MySQL through `spin_sdk::mysql` (`fermyon:spin/mysql@2.0.0`).

use spin_sdk::http::Response;
use spin_sdk::mysql::{Connection, DbValue, ParameterValue as P};

/// Runs `op` against the database at `addr`; `None` when `op` is not a MySQL op.
pub fn run(op: &str, p: &dyn Fn(&str) -> Option<String>) -> Option<Response> {
    let addr = p("addr").unwrap_or_default();
    let result = match op {
        "mysql-open" => Connection::open(&addr).map(|_| "opened".to_owned()),
        "mysql-types" => round_trip(&addr),
        "mysql-rollback" => Connection::open(&addr).and_then(|c| {
            c.execute("CREATE TABLE IF NOT EXISTS wisp_txn (n INT) ENGINE=InnoDB", &[])?;
            c.execute("START TRANSACTION", &[])?;
            c.execute("INSERT INTO wisp_txn VALUES (1)", &[])?;
            let inside = count(&c)?;
            c.execute("ROLLBACK", &[])?;
            Ok(format!("inside={inside} after={}", count(&c)?))
        }),
        "mysql-query" => {
            // `sql`: the first column of the first row, as Debug text.
            let sql = p("sql").unwrap_or_default();
            Connection::open(&addr)
                .and_then(|c| c.query(&sql, &[]))
                .map(|rows| format!("{:?}", rows.rows.first().and_then(|r| r.first())))
        }
        "mysql-bad-sql" => Connection::open(&addr)
            .and_then(|c| c.query("SELEC nothing", &[]).map(|_| "no error".to_owned())),
        _ => return None,
    };
    Some(match result {
        Ok(body) => Response::new(200, body),
        Err(e) => Response::new(500, format!("{e:?}")),
    })
}

fn count(c: &Connection) -> Result<i64, spin_sdk::mysql::MysqlError> {
    let rows = c.query("SELECT count(*) FROM wisp_txn", &[])?;
    Ok(match rows.rows[0][0] {
        DbValue::Int64(n) => n,
        _ => -1,
    })
}

/// Inserts one value of every mapped type and reads it back; reports whether each value
/// and each column's type came back exactly.
fn round_trip(addr: &str) -> Result<String, spin_sdk::mysql::MysqlError> {
    let c = Connection::open(addr)?;
    c.execute(
        "CREATE TABLE IF NOT EXISTS wisp_types (i1 TINYINT, u1 TINYINT UNSIGNED, \
         i2 SMALLINT, i4 INT, i8 BIGINT, u8 BIGINT UNSIGNED, f4 FLOAT, f8 DOUBLE, \
         t VARCHAR(40), b VARBINARY(10), bl BLOB, n INT)",
        &[],
    )?;
    c.execute("DELETE FROM wisp_types", &[])?;
    c.execute(
        "INSERT INTO wisp_types VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &[
            P::Int8(-8),
            P::Uint8(255),
            P::Int16(-16),
            P::Int32(i32::MIN),
            P::Int64(i64::MAX),
            P::Uint64(u64::MAX),
            P::Floating32(1.5),
            P::Floating64(std::f64::consts::PI),
            P::Str("héllo, wörld ✓".into()),
            P::Binary(vec![0, 1, 254, 255]),
            P::Binary(vec![9; 3]),
            P::DbNull,
        ],
    )?;
    let rows = c.query("SELECT * FROM wisp_types", &[])?;
    let want = vec![
        DbValue::Int8(-8),
        DbValue::Uint8(255),
        DbValue::Int16(-16),
        DbValue::Int32(i32::MIN),
        DbValue::Int64(i64::MAX),
        DbValue::Uint64(u64::MAX),
        DbValue::Floating32(1.5),
        DbValue::Floating64(std::f64::consts::PI),
        DbValue::Str("héllo, wörld ✓".into()),
        DbValue::Binary(vec![0, 1, 254, 255]),
        DbValue::Binary(vec![9; 3]),
        DbValue::DbNull,
    ];
    let got = &rows.rows[0];
    let same = format!("{got:?}") == format!("{want:?}");
    let types: Vec<String> = rows
        .columns
        .iter()
        .map(|col| format!("{}:{:?}", col.name, col.data_type))
        .collect();
    Ok(format!("same={same} got={got:?} types={}", types.join(",")))
}
