//! The live dashboard on `wisp serve`'s admin listener: its session API (a token traded
//! for a read-only cookie, the `apps` event stream), and the page itself in a real
//! headless Chromium driven over WebDriver, seeing an app appear after a deploy and its
//! request counter move.

use crate::platform::{Host, TOKEN, who_app};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `POST /v1/session` with `token`: status and the session cookie (`name=value`).
async fn sign_in(host: &Host, token: &str) -> (u16, Option<String>) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/session", host.admin))
        .body(json!({ "token": token }).to_string())
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    if let Some(cookie) = &cookie {
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    }
    let pair = cookie.map(|c| c.split(';').next().unwrap().to_owned());
    (response.status().as_u16(), pair)
}

/// A call on the admin API carrying `cookie` instead of a token: status and JSON.
async fn with_cookie(
    host: &Host,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", host.admin))
        .header("cookie", cookie)
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Reads server-sent events off `response` until an `apps` event satisfies `wanted`.
async fn next_apps_event(
    response: &mut reqwest::Response,
    buffer: &mut String,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data = event
                .strip_prefix("event: apps\ndata: ")
                .unwrap_or_else(|| panic!("not an apps event: {event:?}"));
            let sample: Value = serde_json::from_str(data.trim_end()).unwrap();
            if wanted(&sample) {
                return sample;
            }
        }
        assert!(Instant::now() < deadline, "no wanted event in 30 s");
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("an event at least every few seconds")
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn dashboard_sessions_read_but_never_change_and_events_carry_rates() {
    let state = tempfile::tempdir().unwrap();
    let host = Host::start(state.path());
    let app = who_app();

    // The page is public (it holds no data); everything it shows needs a session.
    let page = reqwest::get(format!("{}/", host.admin)).await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(page.text().await.unwrap().contains("<form id=\"login\""));
    let (status, _) = with_cookie(
        &host,
        reqwest::Method::GET,
        "/v1/events",
        "wisp_session=forged",
    )
    .await;
    assert_eq!(status, 401);

    assert_eq!(sign_in(&host, "wrong").await, (401, None));
    let (status, cookie) = sign_in(&host, TOKEN).await;
    assert_eq!(status, 200);
    let cookie = cookie.expect("a session cookie");
    let (status, body) = with_cookie(&host, reqwest::Method::GET, "/v1/session", &cookie).await;
    assert_eq!((status, body["session"].as_str()), (200, Some("dashboard")));

    // A session reads but cannot deploy, undeploy or upload.
    host.deploy_who(&app, "shop", "shop.test", "shop");
    let (status, body) = with_cookie(&host, reqwest::Method::GET, "/v1/apps", &cookie).await;
    assert_eq!(
        (status, body["apps"][0]["name"].as_str()),
        (200, Some("shop"))
    );
    for (method, path) in [
        (reqwest::Method::PUT, "/v1/apps/evil"),
        (reqwest::Method::DELETE, "/v1/apps/shop"),
        (reqwest::Method::POST, "/v1/uploads"),
    ] {
        let (status, _) = with_cookie(&host, method.clone(), path, &cookie).await;
        assert_eq!(status, 401, "{method} {path}");
    }
    assert_eq!(
        host.get("shop.test", "/?op=var&name=who").await,
        (200, "shop".into())
    );

    // The event stream: one `apps` sample a second, with the last second's rates.
    let mut events = reqwest::Client::new()
        .get(format!("{}/v1/events", host.admin))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let first = next_apps_event(&mut events, &mut buffer, |_| true).await;
    let shop = &first["apps"][0];
    assert_eq!(shop["name"], "shop");
    assert_eq!(shop["status"], "running");
    assert_eq!(shop["hosts"], json!(["shop.test"]));
    assert!(shop["digest"].as_str().unwrap().starts_with("sha256:"));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, client) = (stop.clone(), host.client());
        let port = host.wisp.addr.rsplit(':').next().unwrap().to_owned();
        tokio::spawn(async move {
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let url = format!("http://shop.test:{port}/?op=var&name=who");
                assert_eq!(client.get(url).send().await.unwrap().status(), 200);
                sent += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            sent
        })
    };
    let busy = next_apps_event(&mut events, &mut buffer, |sample| {
        sample["apps"][0]["rps"].as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let sent = load.await.unwrap();
    let shop = &busy["apps"][0];
    let p50 = shop["p50_ms"].as_f64().expect("a median latency");
    let p99 = shop["p99_ms"].as_f64().expect("a p99 latency");
    assert!(p50 > 0.0 && p99 >= p50, "{shop}");
    assert_eq!(shop["error_rate"], 0.0);
    assert!(
        shop["requests"].as_u64().unwrap() <= sent + 1,
        "{shop} of {sent}"
    );

    // An undeployed app leaves the stream.
    let (undeployed, _, err) = host.cli(&["undeploy", "shop"]);
    assert!(undeployed, "{err}");
    next_apps_event(&mut events, &mut buffer, |sample| {
        sample["apps"] == json!([])
    })
    .await;

    // Signing out ends the session.
    let (status, _) = with_cookie(&host, reqwest::Method::DELETE, "/v1/session", &cookie).await;
    assert_eq!(status, 200);
    let (status, _) = with_cookie(&host, reqwest::Method::GET, "/v1/apps", &cookie).await;
    assert_eq!(status, 401);
}

/// A `chromedriver` on a free loopback port, stopped when dropped.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    fn start() -> ChromeDriver {
        let mut child = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; scripts/test installs it)");
        let stdout = child.stdout.take().unwrap();
        let port = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                line.split_once("started successfully on port ")
                    .map(|(_, port)| port.trim_end_matches('.').to_owned())
            })
            .expect("chromedriver reports its port");
        ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A headless Chromium session with a fresh profile in `profile`.
    async fn browser(&self, profile: &std::path::Path) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1500,520", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `css`'s text satisfies `wanted`; returns that text.
async fn wait_for_text(browser: &Client, css: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = browser.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if wanted(&text) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("`{css}` never showed what was wanted; last text {last:?}");
}

/// Sends a request to `host` every `every` until `stop`; how many.
fn load(
    host: &Host,
    name: &str,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    let client = host.client();
    let url = format!(
        "http://{name}:{}/?op=var&name=who",
        host.wisp.addr.rsplit(':').next().unwrap()
    );
    tokio::spawn(async move {
        let mut sent = 0;
        while !stop.load(Ordering::Relaxed) {
            client.get(&url).send().await.unwrap();
            sent += 1;
            tokio::time::sleep(every).await;
        }
        sent
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_in_chromium_shows_a_deploy_and_its_requests_live() {
    let state = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let host = Host::start(state.path());
    let app = who_app();
    let driver = ChromeDriver::start();
    let browser = driver.browser(profile.path()).await;
    browser.goto(&format!("{}/", host.admin)).await.unwrap();

    // Signing in: a wrong token is refused on the page, the right one opens the board.
    let token = browser
        .wait()
        .for_element(Locator::Id("token"))
        .await
        .unwrap();
    token.send_keys("not-the-token").await.unwrap();
    let submit = browser
        .find(Locator::Css("#login button[type=submit]"))
        .await
        .unwrap();
    submit.click().await.unwrap();
    let refused = wait_for_text(&browser, "#login-error", |t| !t.is_empty()).await;
    assert!(refused.contains("wrong admin token"), "{refused}");
    token.clear().await.unwrap();
    token.send_keys(TOKEN).await.unwrap();
    submit.click().await.unwrap();
    wait_for_text(&browser, "#empty", |t| t.contains("No apps are deployed")).await;

    // A deploy appears within a sample or two, running, with its version and host.
    let out = host.deploy_who(&app, "shop", "shop.test", "shop");
    let digest = out.split_whitespace().nth(2).unwrap().to_owned();
    let row = "tr[data-app=\"shop\"]";
    wait_for_text(&browser, &format!("{row} td.status"), |t| t == "running").await;
    let version = wait_for_text(&browser, &format!("{row} td.version"), |t| !t.is_empty()).await;
    assert!(
        digest.starts_with(&format!("sha256:{version}")),
        "{version} of {digest}"
    );
    wait_for_text(&browser, &format!("{row} td.hosts"), |t| t == "shop.test").await;
    wait_for_text(&browser, "#summary", |t| t.starts_with("1 app ·")).await;

    // Its request counter moves with the load, and latencies show.
    let stop = Arc::new(AtomicBool::new(false));
    let shop_load = load(&host, "shop.test", Duration::from_millis(10), stop.clone());
    wait_for_text(&browser, &format!("{row} td.requests"), |t| {
        t.parse::<u64>().is_ok_and(|n| n >= 20)
    })
    .await;
    wait_for_text(&browser, &format!("{row} td.p99"), |t| t.ends_with(" ms")).await;
    let rate = wait_for_text(&browser, &format!("{row} td.rps"), |t| {
        t.parse::<f64>().is_ok_and(|r| r > 0.0)
    })
    .await;
    assert!(rate.parse::<f64>().unwrap() < 1000.0, "{rate}");

    if let Ok(path) = std::env::var("WISP_DASHBOARD_SCREENSHOT") {
        // For the README: a second app and some history on the charts.
        host.deploy_who(&app, "blog", "blog.test", "blog");
        let blog_load = load(&host, "blog.test", Duration::from_millis(40), stop.clone());
        tokio::time::sleep(Duration::from_secs(40)).await;
        std::fs::write(&path, browser.screenshot().await.unwrap()).unwrap();
        blog_load.abort();
    }
    stop.store(true, Ordering::Relaxed);
    let sent = shop_load.await.unwrap();
    let counted = wait_for_text(&browser, &format!("{row} td.requests"), |t| {
        t.parse::<u64>().is_ok_and(|n| n >= sent)
    })
    .await;
    assert!(
        counted.parse::<u64>().unwrap() <= sent + 5,
        "{counted} of {sent}"
    );

    // The session outlives a reload; signing out ends it.
    browser.refresh().await.unwrap();
    wait_for_text(&browser, &format!("{row} td.status"), |t| t == "running").await;
    browser
        .find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&browser, "#login-error", |t| t == "Signed out.").await;
    browser.close().await.unwrap();
}
