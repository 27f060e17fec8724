//! Hostile input: whatever text arrives, the parsers answer `Ok` or a clean error, never
//! a panic; and what they print of a pattern parses back to the same pattern.

use crate::outbound::{AllowedHost, parse_allowed_host};
use crate::{parse, parse_duration, parse_size};
use proptest::prelude::*;
use std::path::Path;

/// Lines that look like a manifest, so the fuzzer reaches past the TOML parser.
fn manifest_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("spin_manifest_version = 2".to_owned()),
        Just("[application]".to_owned()),
        Just("name = \"x\"".to_owned()),
        Just("[[trigger.http]]".to_owned()),
        Just("[application.trigger.http]".to_owned()),
        "route = \"[/a-z:.]{0,12}\"",
        "component = \"[a-z]{0,3}\"",
        "base = \"[/a-z]{0,6}\"",
        "\\[component\\.[a-z]{1,3}\\]",
        "source = \"[a-z./]{0,8}\"",
        "allowed_outbound_hosts = \\[\"[a-z*:/.{} 0-9]{0,20}\"\\]",
        "files = \\[\"[a-z*/.]{0,8}\"\\]",
        "variables = \\{ [a-z]{1,3} = \"[{} a-z]{0,10}\" \\}",
        "\\[variables\\]",
        "[a-z]{1,3} = \\{ default = \"v\", required = (true|false) \\}",
        "\\[component\\.[a-z]{1,3}\\.limits\\]",
        "memory = \"[0-9]{0,4}[A-Za-z]{0,3}\"",
        "timeout = \"[0-9]{0,4}[a-z]{0,2}\"",
        any::<String>(),
    ];
    prop::collection::vec(line, 0..16).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn manifest_parser_never_panics(text in any::<String>()) {
        let _ = parse(&text, Path::new("/app/spin.toml"));
    }

    #[test]
    fn manifest_like_text_never_panics(text in manifest_like()) {
        match parse(&text, Path::new("/app/spin.toml")) {
            Ok(app) => { let _ = app.check_sources(); }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn outbound_host_parser_never_panics(entry in any::<String>()) {
        let _ = parse_allowed_host(&entry);
    }

    #[test]
    fn parsed_host_patterns_print_back_to_themselves(
        scheme in prop_oneof![Just("*"), Just("http"), Just("https"), Just("redis"), Just("tcp")],
        host in prop_oneof![
            Just("*".to_owned()),
            "[a-z]([a-z0-9-]{0,6}[a-z0-9])?(\\.[a-z][a-z0-9]{0,5}){0,2}",
            "\\*\\.[a-z]{1,8}\\.[a-z]{2,3}",
            "(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}",
        ],
        port in prop_oneof![Just(":*".to_owned()), (1u16..).prop_map(|p| format!(":{p}")), (1u16..1000).prop_map(|p| format!(":{p}..{}", p + 10))],
    ) {
        let entry = format!("{scheme}://{host}{port}");
        let AllowedHost::Pattern(first) = parse_allowed_host(&entry).map_err(TestCaseError::fail)? else {
            return Err(TestCaseError::fail("no template here"));
        };
        let again = parse_allowed_host(&first.to_string()).map_err(TestCaseError::fail)?;
        prop_assert_eq!(AllowedHost::Pattern(first), again);
    }

    #[test]
    fn size_and_duration_parsers_never_panic(text in any::<String>()) {
        let _ = parse_size(&text);
        let _ = parse_duration(&text);
    }
}
