//! A `wasi:http` guest whose Spin imports come from plain `wit-bindgen` over wisp's own
//! `wit/` (no spin-sdk): key-value, SQLite and variables at `fermyon:spin@2.0.0`.
//! `?op=kv`, `?op=sql`, `?op=var&name=…`.

use std::io::Write as _;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wit_bindgen::generate!({ path: "wit", world: "raw", generate_all });

use fermyon::spin::{key_value, sqlite, variables};

wasi::http::proxy::export!(Raw);

struct Raw;

impl wasi::exports::http::incoming_handler::Guest for Raw {
    fn handle(req: IncomingRequest, out: ResponseOutparam) {
        let path = req.path_with_query().unwrap_or_default();
        let query = path.split_once('?').map_or("", |(_, q)| q).to_owned();
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        };
        let body = match param("op").as_deref() {
            Some("kv") => kv(),
            Some("sql") => sql(),
            Some("var") => match variables::get(&param("name").unwrap_or_default()) {
                Ok(v) => v,
                Err(e) => format!("error: {e:?}"),
            },
            _ => "unknown op".into(),
        };
        respond(out, &body);
    }
}

fn kv() -> String {
    let run = || -> Result<String, key_value::Error> {
        let store = key_value::Store::open("default")?;
        store.set("raw", b"bytes \x00\xff")?;
        let back = store.get("raw")?;
        let missing = store.get("nope")?;
        store.delete("nope")?;
        let keys = store.get_keys()?;
        let denied = key_value::Store::open("elsewhere").err();
        Ok(format!(
            "back={back:?} missing={missing:?} keys={keys:?} denied={denied:?}"
        ))
    };
    run().unwrap_or_else(|e| format!("error: {e:?}"))
}

fn sql() -> String {
    use sqlite::Value;
    let run = || -> Result<String, sqlite::Error> {
        let db = sqlite::Connection::open("default")?;
        db.execute("CREATE TABLE IF NOT EXISTS raw (v)", &[])?;
        db.execute("DELETE FROM raw", &[])?;
        for v in [
            Value::Integer(i64::MIN),
            Value::Real(0.1),
            Value::Text("t".into()),
            Value::Blob(vec![1, 2]),
            Value::Null,
        ] {
            db.execute("INSERT INTO raw VALUES (?)", &[v])?;
        }
        let result = db.execute("SELECT v FROM raw ORDER BY rowid", &[])?;
        let values: Vec<String> = result
            .rows
            .iter()
            .map(|r| format!("{:?}", r.values[0]))
            .collect();
        Ok(values.join(" "))
    };
    run().unwrap_or_else(|e| format!("error: {e:?}"))
}

fn respond(out: ResponseOutparam, body: &str) {
    let resp = OutgoingResponse::new(Fields::new());
    let out_body = resp.body().expect("body");
    ResponseOutparam::set(out, Ok(resp));
    {
        let mut w = out_body.write().expect("stream");
        w.write_all(body.as_bytes()).expect("write");
        w.flush().expect("flush");
    }
    OutgoingBody::finish(out_body, None).expect("finish");
}
