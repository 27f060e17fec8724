use super::*;

fn parse_str(text: &str) -> Result<App, ManifestError> {
    parse(text, Path::new("/app/spin.toml"))
}

const FULL: &str = r#"
spin_manifest_version = 2

[application]
name = "demo"
version = "1.2.3"
description = "a demo"
authors = ["Ada <ada@example.com>"]

[application.trigger.http]
base = "/api/"

[variables]
greeting = { default = "hello" }
api_key = { required = true, secret = true }

[[trigger.http]]
route = "/hello/..."
component = "hello"

[[trigger.http]]
id = "inline"
route = "/inline"
component = { source = "inline.wasm" }

[[trigger.http]]
route = { private = true }
component = "internal"
executor = { type = "spin" }

[component.hello]
source = "target/hello.wasm"
files = ["static/**/*", { source = "assets", destination = "/assets" }]
exclude_files = ["static/secret.txt"]
environment = { MODE = "test" }
allowed_outbound_hosts = ["https://api.example.com", "redis://{{ greeting }}:6379"]
key_value_stores = ["default"]
sqlite_databases = ["default"]
variables = { message = "{{ greeting }} world" }
[component.hello.build]
command = "cargo build --target wasm32-wasip2 --release"
workdir = "hello"
watch = ["src/**/*.rs"]

[component.internal]
source = "internal.wasm"
"#;

#[test]
fn a_full_manifest_normalizes() {
    let app = parse_str(FULL).unwrap();
    assert_eq!(app.name, "demo");
    assert_eq!(app.version.as_deref(), Some("1.2.3"));
    assert_eq!(app.http_base, "/api");
    assert_eq!(app.authors.len(), 1);
    assert!(app.variables["api_key"].secret && app.variables["api_key"].required);
    assert_eq!(app.variables["greeting"].default.as_deref(), Some("hello"));

    let ids: Vec<_> = app.components.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["hello", "inline", "internal"]);
    let hello = app.component("hello").unwrap();
    assert_eq!(hello.source, Path::new("/app/target/hello.wasm"));
    assert_eq!(hello.files[0], FileMount::Pattern("static/**/*".into()));
    assert_eq!(
        hello.files[1],
        FileMount::Mapping {
            source: "/app/assets".into(),
            destination: "/assets".into()
        }
    );
    assert_eq!(hello.environment["MODE"], "test");
    assert_eq!(hello.allowed_outbound_hosts.len(), 2);
    assert_eq!(hello.key_value_stores, ["default"]);
    let build = hello.build.as_ref().unwrap();
    assert_eq!(build.workdir, Path::new("/app/hello"));
    assert_eq!(
        build.commands,
        ["cargo build --target wasm32-wasip2 --release"]
    );

    assert_eq!(app.http_triggers.len(), 3);
    assert_eq!(app.http_triggers[0].route, Route::Path("/hello/...".into()));
    assert_eq!(app.http_triggers[1].component, "inline");
    assert_eq!(app.http_triggers[2].route, Route::Private);
    assert!(app.unsupported_triggers.is_empty());
}

fn err_of(text: &str) -> String {
    parse_str(text).unwrap_err().to_string()
}

const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"x\"\n";

#[test]
fn unknown_field_is_named_with_its_line() {
    let e = err_of(&format!(
        "{HEAD}[component.a]\nsource = \"a.wasm\"\nsorce = \"b\"\n"
    ));
    assert!(e.starts_with("/app/spin.toml:6:"), "{e}");
    assert!(e.contains("unknown field `sorce`"), "{e}");
}

#[test]
fn missing_component_is_named_with_a_fix() {
    let e = err_of(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"nope\"\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    assert!(
        e.contains(":4: `trigger.http[0].component`: no component named `nope`"),
        "{e}"
    );
    assert!(e.contains("use one of: a"), "{e}");
}

#[test]
fn trigger_without_component_is_an_error() {
    let e = err_of(&format!("{HEAD}[[trigger.http]]\nroute = \"/\"\n"));
    assert!(e.contains("missing field `component`"), "{e}");
    assert!(e.contains("spin.toml:4"), "{e}");
}

#[test]
fn other_manifest_versions_are_refused() {
    let e = err_of("spin_manifest_version = \"1\"\n[application]\nname = \"x\"\n");
    assert!(
        e.contains(":1: `spin_manifest_version`: manifest version \"1\" is not supported"),
        "{e}"
    );
    let e = err_of("spin_manifest_version = 3\n[application]\nname = \"x\"\n");
    assert!(e.contains("manifest version 3 is not supported"), "{e}");
}

#[test]
fn malformed_outbound_host_is_a_load_error() {
    let e = err_of(&format!(
        "{HEAD}[component.a]\nsource = \"a.wasm\"\nallowed_outbound_hosts = [\"example.com\"]\n"
    ));
    assert!(e.contains("`component.a.allowed_outbound_hosts`"), "{e}");
    assert!(e.contains("has no scheme"), "{e}");
}

#[test]
fn templates_must_name_declared_variables() {
    let e = err_of(&format!(
        "{HEAD}[component.a]\nsource = \"a.wasm\"\nvariables = {{ x = \"{{{{ missing }}}}\" }}\n"
    ));
    assert!(e.contains("undeclared variable `missing`"), "{e}");
}

#[test]
fn bad_routes_and_bases_are_refused() {
    let e = err_of(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"hello\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    assert!(e.contains("must start with `/`"), "{e}");
    let e = err_of(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/a/.../b\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    assert!(e.contains("may only end a route"), "{e}");
    let e = err_of(
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n[application.trigger.http]\nbase = \"api\"\n",
    );
    assert!(e.contains("base `api` must start with `/`"), "{e}");
}

#[test]
fn required_variable_cannot_have_default_and_names_are_checked() {
    let e = err_of(&format!(
        "{HEAD}[variables]\nx = {{ default = \"a\", required = true }}\n"
    ));
    assert!(e.contains("both `required`"), "{e}");
    let e = err_of(&format!("{HEAD}[variables]\nBad = {{ default = \"a\" }}\n"));
    assert!(e.contains("not a valid variable name"), "{e}");
}

#[test]
fn url_sources_are_not_supported_yet() {
    let e = err_of(&format!(
        "{HEAD}[component.a]\nsource = {{ url = \"https://x/a.wasm\", digest = \"sha256:00\" }}\n"
    ));
    assert!(e.contains("a URL source is not supported yet"), "{e}");
}

#[test]
fn deprecated_http_hosts_warn_and_translate() {
    let app = parse_str(&format!(
        "{HEAD}[component.a]\nsource = \"a.wasm\"\nallowed_http_hosts = [\"api.example.com\"]\n"
    ))
    .unwrap();
    assert_eq!(app.components[0].allowed_outbound_hosts.len(), 2);
    assert!(app.warnings[0].contains("deprecated"));
}

#[test]
fn other_trigger_types_are_recorded() {
    let app = parse_str(&format!("{HEAD}[[trigger.redis]]\nchannel = \"c\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n")).unwrap();
    assert_eq!(app.unsupported_triggers, ["redis"]);
}

#[test]
fn missing_source_is_reported_after_load() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("spin.toml");
    std::fs::write(
        &manifest,
        format!("{HEAD}[component.a]\nsource = \"gone.wasm\"\n"),
    )
    .unwrap();
    let app = load(&manifest).unwrap();
    let e = app.check_sources().unwrap_err().to_string();
    assert!(e.contains(":4: `component.a.source`: source file"), "{e}");
    assert!(e.contains("gone.wasm does not exist"), "{e}");
}

#[test]
fn missing_manifest_file_is_one_clear_error() {
    let e = load(Path::new("/definitely/not/here/spin.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read the manifest"), "{e}");
    assert!(e.contains("-f"), "{e}");
}

#[test]
fn bare_component_serves_everything() {
    let app = bare_component(Path::new("/x/My_App.wasm"));
    assert_eq!(app.components[0].id, "my-app");
    assert_eq!(app.http_triggers[0].route, Route::Path("/...".into()));
}

#[test]
fn component_limits_parse_and_are_checked() {
    let app = parse_str(&format!(
        "{HEAD}[component.a]\nsource = \"a.wasm\"\n[component.a.limits]\nmemory = \"16MiB\"\ntimeout = \"1500ms\"\nmax_instances = 4\ninstance_reuse = 50\n"
    ))
    .unwrap();
    let l = app.components[0].limits;
    assert_eq!(l.memory, Some(16 << 20));
    assert_eq!(l.timeout, Some(std::time::Duration::from_millis(1500)));
    assert_eq!(l.max_instances, Some(4));
    assert_eq!(l.instance_reuse, Some(50));
    let e = err_of(&format!(
        "{HEAD}[component.a]\nsource = \"a.wasm\"\n[component.a.limits]\ninstance_reuse = -2\n"
    ));
    assert!(
        e.contains("`component.a.limits.instance_reuse`") && e.contains("positive whole number"),
        "{e}"
    );
    let e = err_of(&format!(
        "{HEAD}[component.a]\nsource = \"a.wasm\"\n[component.a.limits]\nmemory = \"lots\"\n"
    ));
    assert!(
        e.contains("`component.a.limits.memory`") && e.contains("not a size"),
        "{e}"
    );
    let e = err_of(&format!(
        "{HEAD}[component.a]\nsource = \"a.wasm\"\n[component.a.limits]\nmax_instances = 0\n"
    ));
    assert!(e.contains("must be a positive whole number"), "{e}");
    let e = err_of(&format!(
        "{HEAD}[component.a]\nsource = \"a.wasm\"\n[component.a.limits]\ncpu = 1\n"
    ));
    assert!(e.contains("unknown field `cpu`"), "{e}");
}
