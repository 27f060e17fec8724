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

    let http: Vec<_> = app.http_triggers().collect();
    assert_eq!(http.len(), 3);
    assert_eq!(http[0].1.route, Route::Path("/hello/...".into()));
    assert_eq!(http[1].0.component, "inline");
    assert_eq!(http[2].1.route, Route::Private);
    assert_eq!(app.trigger_kinds(), [TriggerKind::Http]);
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
fn every_trigger_kind_is_typed_data() {
    let app = parse_str(&format!(
        "{HEAD}[application.trigger.redis]\naddress = \"redis://app:6379\"\n\
         [application.trigger.mqtt]\naddress = \"mqtt://broker:1883\"\nusername = \"u\"\nkeep_alive_interval = \"15\"\n\
         [[trigger.redis]]\nchannel = \"c\"\ncomponent = \"a\"\n\
         [[trigger.redis]]\nchannel = \"d\"\naddress = \"redis://own:6379\"\ncomponent = \"a\"\n\
         [[trigger.cron]]\ncron_expression = \"*/2 * * * * *\"\ncomponent = \"a\"\n\
         [[trigger.mqtt]]\ntopic = \"t/#\"\nqos = \"1\"\ncomponent = \"a\"\n\
         [[trigger.command]]\ncomponent = {{ source = \"b.wasm\" }}\n\
         [component.a]\nsource = \"a.wasm\"\n"
    ))
    .unwrap();
    let kinds: Vec<_> = app.triggers.iter().map(|t| t.kind()).collect();
    use TriggerKind::*;
    assert_eq!(kinds, [Redis, Redis, Cron, Mqtt, Command]);
    let configs: Vec<_> = app.triggers.iter().map(|t| t.config.clone()).collect();
    assert_eq!(
        configs[0],
        TriggerConfig::Redis(RedisTrigger {
            channel: "c".into(),
            address: "redis://app:6379".into()
        })
    );
    assert_eq!(
        configs[1],
        TriggerConfig::Redis(RedisTrigger {
            channel: "d".into(),
            address: "redis://own:6379".into()
        })
    );
    assert_eq!(
        configs[2],
        TriggerConfig::Cron(CronTrigger {
            cron_expression: "*/2 * * * * *".into()
        })
    );
    assert_eq!(
        configs[3],
        TriggerConfig::Mqtt(MqttTrigger {
            topic: "t/#".into(),
            qos: 1
        })
    );
    assert_eq!(app.triggers[1].id, "redis-trigger-2");
    assert_eq!(app.triggers[4].component, "inline-command-component-1");
    assert!(app.component("inline-command-component-1").is_some());
    let mqtt = app.mqtt.as_ref().unwrap();
    assert_eq!(
        (
            mqtt.address.as_str(),
            mqtt.username.as_deref(),
            mqtt.keep_alive_secs
        ),
        ("mqtt://broker:1883", Some("u"), 15)
    );
    assert_eq!(app.trigger_kinds(), [Redis, Cron, Mqtt, Command]);
    assert_eq!(app.http_triggers().count(), 0);
}

#[test]
fn trigger_settings_are_checked_with_their_line() {
    let redis = err_of(&format!(
        "{HEAD}[[trigger.redis]]\nchannel = \"c\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    assert!(
        redis.contains("trigger.redis[0].address") && redis.contains("needs a server address"),
        "{redis}"
    );
    let qos = err_of(&format!(
        "{HEAD}[application.trigger.mqtt]\naddress = \"mqtt://b:1883\"\n[[trigger.mqtt]]\ntopic = \"t\"\nqos = 3\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    assert!(
        qos.contains("trigger.mqtt[0].qos") && qos.contains("from 0 to 2"),
        "{qos}"
    );
    let broker = err_of(&format!(
        "{HEAD}[[trigger.mqtt]]\ntopic = \"t\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    assert!(
        broker.contains("application.trigger.mqtt") && broker.contains("need a broker"),
        "{broker}"
    );
    let template = err_of(&format!(
        "{HEAD}[[trigger.redis]]\nchannel = \"{{{{ nope }}}}\"\naddress = \"redis://x\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    assert!(
        template.contains("undeclared variable `nope`"),
        "{template}"
    );
    let missing = err_of(&format!(
        "{HEAD}[[trigger.cron]]\ncron_expression = \"* * * * * *\"\ncomponent = \"zz\"\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    assert!(
        missing.contains("trigger.cron[0].component")
            && missing.contains("no component named `zz`"),
        "{missing}"
    );
}

#[test]
fn an_unknown_trigger_kind_is_an_error_naming_it_and_its_line() {
    let e = err_of(&format!(
        "{HEAD}[component.a]\nsource = \"a.wasm\"\n[[trigger.sqs]]\nqueue = \"q\"\ncomponent = \"a\"\n"
    ));
    assert!(e.contains("sqs"), "{e}");
    let line = HEAD.lines().count() + 3;
    assert!(
        e.contains(&format!(":{line}:")),
        "expected line {line}: {e}"
    );
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
    let (trigger, http) = app.http_triggers().next().unwrap();
    assert_eq!(http.route, Route::Path("/...".into()));
    assert_eq!(trigger.component, "my-app");
}

#[test]
fn component_limits_parse_and_are_checked() {
    let app = parse_str(&format!(
        "{HEAD}[component.a]\nsource = \"a.wasm\"\n[component.a.limits]\nmemory = \"16MiB\"\ntimeout = \"1500ms\"\nmax_instances = 4\ninstance_reuse = 50\ninstance_concurrency = 8\n"
    ))
    .unwrap();
    let l = app.components[0].limits;
    assert_eq!(l.memory, Some(16 << 20));
    assert_eq!(l.timeout, Some(std::time::Duration::from_millis(1500)));
    assert_eq!(l.max_instances, Some(4));
    assert_eq!(l.instance_reuse, Some(50));
    assert_eq!(l.instance_concurrency, Some(8));
    let e = err_of(&format!(
        "{HEAD}[component.a]\nsource = \"a.wasm\"\n[component.a.limits]\ninstance_reuse = -2\n"
    ));
    assert!(
        e.contains("`component.a.limits.instance_reuse`") && e.contains("positive whole number"),
        "{e}"
    );
    let e = err_of(&format!(
        "{HEAD}[component.a]\nsource = \"a.wasm\"\n[component.a.limits]\ninstance_concurrency = 0\n"
    ));
    assert!(
        e.contains("`component.a.limits.instance_concurrency`"),
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

#[test]
fn the_http_executor_is_named_http_or_spin_as_in_spins_schema() {
    for name in ["http", "spin"] {
        let app = parse_str(&format!(
            "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\n\
             executor = {{ type = \"{name}\" }}\n[component.a]\nsource = \"a.wasm\"\n"
        ))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (_, http) = app.http_triggers().next().unwrap();
        assert_eq!(http.executor, crate::Executor::Spin, "{name}");
    }
    let e = err_of(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\n\
         executor = {{ type = \"cgi\" }}\n[component.a]\nsource = \"a.wasm\"\n"
    ));
    assert!(e.contains("cgi"), "{e}");
}
