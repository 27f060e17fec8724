//! Attacks on the host itself (issue: security): a tampered compile cache, symlinks out
//! of file mounts, hostile command-line input.

use crate::harness::*;

#[tokio::test]
async fn a_cache_entry_with_flipped_bytes_is_recompiled_not_executed() {
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let probe = guests().probe.to_str().unwrap();
    drop(Wisp::start(&["-f", probe, "--cache-dir", cache_dir]));
    let mut entries = 0;
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        // 64 bytes in the middle: the length and wasmtime's header stay valid, so only a
        // digest over the whole entry can tell.
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 64] {
            *b ^= 0x5a;
        }
        std::fs::write(&path, &bytes).unwrap();
        entries += 1;
    }
    assert!(entries > 0, "nothing was cached");
    let wisp = Wisp::start(&["-f", probe, "--cache-dir", cache_dir]);
    assert!(
        wisp.stdout_text().contains("probe: compiled in"),
        "a damaged entry was loaded: {}",
        wisp.stdout_text()
    );
    assert!(wisp.wait_for_stderr("damaged").contains("compile-cache"));
    for _ in 0..20 {
        assert_eq!(
            get(&wisp.url("/")).await,
            (200, "hello from probe\n".into())
        );
    }
}

#[tokio::test]
async fn file_mounts_never_follow_symlinks_or_stage_the_state_directory() {
    let manifest = |files: &str| {
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"links\"\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"files\"\n\
             [component.files]\nsource = {}\nfiles = [{files}]\n",
            toml_path(&guests().probe)
        )
    };
    let app = AppDir::new(&manifest("\"**/*\""));
    app.write("static/ok.txt", "fine");
    app.write(".wisp/secret.db", "another tenant's rows");
    let link = |target: &str, at: &str| {
        std::os::unix::fs::symlink(target, app.path().join(at)).unwrap();
    };
    link("../.wisp/secret.db", "static/kvdb");
    link("/etc", "static/etc");
    link("../.wisp", "static/state");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let read = |p: &str| format!("/?op=file&path={p}");
    assert_eq!(
        get(&wisp.url(&read("/static/ok.txt"))).await,
        (200, "fine".into())
    );
    for never in [
        "/static/kvdb",
        "/static/etc/hostname",
        "/static/state/secret.db",
        "/.wisp/secret.db",
    ] {
        let (status, body) = get(&wisp.url(&read(never))).await;
        assert_eq!(status, 404, "{never} was readable: {body}");
    }
    drop(wisp);

    // A mapping whose source is a link is refused at load, naming it.
    let mapped = AppDir::new(&manifest("{ source = \"web\", destination = \"/web\" }"));
    std::os::unix::fs::symlink("/etc", mapped.path().join("web")).unwrap();
    let err = up_fails(&["-f", &mapped.manifest()]);
    assert!(
        err.contains("symbolic link") && err.contains("web"),
        "{err}"
    );
}

#[test]
fn hostile_flags_and_endless_files_are_refused_not_hung_or_panicked() {
    let probe = guests().probe.to_str().unwrap();
    // A bad flag value is a usage error (clap's exit code 2) naming the limit.
    let flag_refused = |flag: &str, value: &str, says: &str| {
        let out = run_wisp(&["up", "-f", probe, flag, value], None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(says) && !err.contains("panicked"), "{err}");
    };
    flag_refused("--header-read-timeout", "18446744073709551615h", "too long");
    flag_refused("--timeout", "9999999h", "too long");
    flag_refused("--max-body-size", "18446744073709551615GiB", "too large");
    flag_refused(
        "--shutdown-grace",
        "18446744073709551615",
        "not in 0..=86400",
    );

    let app = crate::state::spin_app("sqlite_databases = [\"default\"]", "");
    let err = up_fails(&["-f", &app.manifest(), "--runtime-config-file", "/dev/zero"]);
    assert!(err.contains("larger than"), "{err}");
    let err = up_fails(&["-f", &app.manifest(), "--sqlite", "@/dev/zero"]);
    assert!(err.contains("larger than"), "{err}");
}

#[test]
fn sigterm_right_after_the_banner_is_a_clean_exit() {
    let probe = guests().probe.to_str().unwrap();
    for _ in 0..5 {
        let mut wisp = Wisp::start(&["-f", probe]);
        // At once: the harness hands over the address as soon as the banner is read.
        wisp.terminate();
        let status = wisp.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{status:?}: {}", wisp.stderr_text());
        assert!(wisp.wait_for_stdout("Stopped"), "{}", wisp.stdout_text());
    }
}

#[tokio::test]
async fn the_host_wide_memory_budget_answers_503_and_comes_back() {
    let probe = guests().probe.to_str().unwrap();
    let wisp = Wisp::start(&["-f", probe, "--max-total-memory", "96MiB"]);
    let before = wisp.rss_kib();
    // Five instances wanting 40 MiB each at once: the budget holds two of them.
    let holders: Vec<_> = (0..5)
        .map(|_| {
            let url = wisp.url("/?op=hold&mb=40&ms=1500");
            tokio::spawn(async move { get(&url).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for h in holders {
        statuses.push(h.await.unwrap().0);
    }
    statuses.sort();
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert!((1..=2).contains(&served), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    let growth_mib = wisp.rss_kib().saturating_sub(before) / 1024;
    assert!(growth_mib < 160, "host grew by {growth_mib} MiB");
    // Everything the instances held went back to the budget.
    for _ in 0..3 {
        assert_eq!(
            get(&wisp.url("/?op=hold&mb=40&ms=0")).await,
            (200, "41943040".into())
        );
    }
}
