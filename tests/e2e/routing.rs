//! Spin's routing semantics, observed from outside: which component answers which path.

use crate::harness::*;

fn component(id: &str) -> String {
    format!(
        "[component.{id}]\nsource = {}\nenvironment = {{ WHOAMI = \"{id}\" }}\n",
        toml_path(&guests().probe)
    )
}

fn routed_app(base: Option<&str>, routes: &[(&str, &str)], private: &[&str]) -> AppDir {
    let mut m = String::from("spin_manifest_version = 2\n[application]\nname = \"routes\"\n");
    if let Some(b) = base {
        m += &format!("[application.trigger.http]\nbase = \"{b}\"\n");
    }
    let mut ids: Vec<&str> = Vec::new();
    for (route, id) in routes {
        m += &format!("[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{id}\"\n");
        ids.push(id);
    }
    for id in private {
        m += &format!("[[trigger.http]]\nroute = {{ private = true }}\ncomponent = \"{id}\"\n");
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    for id in ids {
        m += &component(id);
    }
    AppDir::new(&m)
}

#[tokio::test]
async fn precedence_table() {
    let app = routed_app(
        None,
        &[
            ("/...", "fallback"),
            ("/", "root"),
            ("/foo", "foo-exact"),
            ("/foo/...", "foo-wild"),
            ("/foo/bar/...", "foobar-wild"),
            ("/users/:id", "user"),
            ("/users/me", "me"),
            ("/users/:id/...", "user-wild"),
        ],
        &["hidden"],
    );
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let cases = [
        ("/", "root"),
        ("/foo", "foo-exact"),
        ("/foo/", "foo-exact"),
        ("/foo/x", "foo-wild"),
        ("/foo/x/y", "foo-wild"),
        ("/foo/bar", "foobar-wild"),
        ("/foo/bar/baz", "foobar-wild"),
        ("/foobar", "fallback"),
        ("/users/42", "user"),
        ("/users/me", "me"),
        ("/users/42/posts", "user-wild"),
        ("/anything/else", "fallback"),
    ];
    for (path, want) in cases {
        let (status, body) = get(&wisp.url(path)).await;
        assert_eq!(
            (status, body.trim()),
            (200, format!("hello from {want}").as_str()),
            "{path}"
        );
    }
    // Startup lists each route with its component; the private one has none.
    let out = wisp.stdout_text();
    assert!(
        out.contains(&format!("  foo-wild: http://{}/foo/...", wisp.addr)),
        "{out}"
    );
    assert!(!out.contains("  hidden: http://"), "{out}");
}

#[tokio::test]
async fn base_and_private_and_no_match() {
    let app = routed_app(
        Some("/api"),
        &[("/hello", "hello"), ("/files/...", "files")],
        &["hidden"],
    );
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    assert_eq!(
        get(&wisp.url("/api/hello")).await,
        (200, "hello from hello\n".into())
    );
    assert_eq!(
        get(&wisp.url("/api/files/a/b")).await.1,
        "hello from files\n"
    );
    assert_eq!(
        get(&wisp.url("/hello")).await.0,
        404,
        "routes live under the base"
    );
    assert_eq!(
        get(&wisp.url("/api/hello/more")).await.0,
        404,
        "exact route matched a subpath"
    );
    assert_eq!(
        get(&wisp.url("/api/hidden")).await.0,
        404,
        "a private component got a route"
    );
    let (status, body) = get(&wisp.url("/nowhere")).await;
    assert_eq!((status, body.as_str()), (404, "Not Found"));
}

#[tokio::test]
async fn duplicate_route_warns_and_last_wins() {
    let app = routed_app(None, &[("/dup", "first"), ("/dup", "second")], &[]);
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    assert_eq!(get(&wisp.url("/dup")).await.1, "hello from second\n");
    let warning = "route `/dup` is given to more than one trigger; the last one wins";
    let err = wisp.wait_for_stderr(warning);
    assert!(err.contains(warning), "{err}");
}
