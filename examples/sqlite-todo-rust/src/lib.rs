//! A to-do list in the default SQLite database, written with the Spin SDK exactly as it
//! would be for Spin. `GET /todos` lists, `POST /todos` (body: the text) adds,
//! `DELETE /todos/:id` removes. The table comes from `migration.sql`
//! (`wisp up --sqlite @migration.sql`, as with `spin up`).

use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::sqlite::{Connection, Value};

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let db = Connection::open_default()?;
    let id = req
        .header("spin-path-match-id")
        .and_then(|h| h.as_str())
        .and_then(|s| s.parse::<i64>().ok());
    let (status, body) = match (req.method(), id) {
        (Method::Get, None) => {
            let rows = db.execute("SELECT id, text, done FROM todos ORDER BY id", &[])?;
            let lines: Vec<String> = rows
                .rows()
                .map(|r| {
                    let id: i64 = r.get("id").unwrap_or_default();
                    let text: &str = r.get("text").unwrap_or_default();
                    let done: i64 = r.get("done").unwrap_or_default();
                    format!("{id} [{}] {text}", if done == 1 { "x" } else { " " })
                })
                .collect();
            (200, lines.join("\n") + "\n")
        }
        (Method::Post, None) => {
            let text = String::from_utf8(req.body().to_vec())?;
            db.execute("INSERT INTO todos (text, done) VALUES (?, 0)", &[Value::Text(text.trim().to_owned())])?;
            (201, "created\n".to_owned())
        }
        (Method::Put, Some(id)) => {
            db.execute("UPDATE todos SET done = 1 WHERE id = ?", &[Value::Integer(id)])?;
            (200, "done\n".to_owned())
        }
        (Method::Delete, Some(id)) => {
            db.execute("DELETE FROM todos WHERE id = ?", &[Value::Integer(id)])?;
            (200, "deleted\n".to_owned())
        }
        _ => (405, "method not allowed\n".to_owned()),
    };
    Ok(Response::builder().status(status).header("content-type", "text/plain").body(body).build())
}
