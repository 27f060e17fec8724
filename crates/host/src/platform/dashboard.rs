//! The live dashboard behind the admin listener: its static page, the once-a-second
//! sample of every app that it streams as server-sent events, and the login sessions a
//! browser holds instead of the bearer token (read-only: a session can look, never
//! change anything).

use super::Platform;
use super::stats::{AppStats, BUCKETS, quantile_ms};
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The dashboard's page, script and style, compiled in.
pub(crate) const INDEX_HTML: &str = include_str!("dashboard/index.html");
pub(crate) const SCRIPT_JS: &str = include_str!("dashboard/dashboard.js");
pub(crate) const STYLE_CSS: &str = include_str!("dashboard/dashboard.css");

/// How often every app is sampled while someone watches.
const SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "wisp_session";

/// How long a session lasts.
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// Sessions kept at most; the oldest goes first.
const MAX_SESSIONS: usize = 1024;

/// One app in one sample, as the dashboard shows it.
#[derive(Serialize)]
struct AppSample {
    name: String,
    status: &'static str,
    digest: String,
    hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route_prefix: Option<String>,
    requests: u64,
    errors: u64,
    active: i64,
    /// Requests per second over the last period (`None` for the first sample).
    rps: Option<f64>,
    /// 5xx answers per request over the last period.
    error_rate: Option<f64>,
    /// Median and 99th percentile of the last period's latencies, in milliseconds.
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

/// One sample of every app.
#[derive(Serialize)]
struct Sample {
    /// Milliseconds since the Unix epoch.
    time: u64,
    apps: Vec<AppSample>,
}

/// An app's counters at the previous sample.
struct Previous {
    requests: u64,
    errors: u64,
    latency: Box<[u64; BUCKETS]>,
}

/// Takes a sample of every app each period while the dashboard is watched, and hands
/// each to every open event stream as one ready-made SSE frame.
pub(crate) struct Sampler {
    frames: watch::Sender<Bytes>,
}

impl Sampler {
    /// A sampler of `platform`, sampling until it is gone or `stop` fires.
    pub fn start(platform: Weak<Platform>, stop: tokio_util::sync::CancellationToken) -> Self {
        let (frames, _) = watch::channel(Bytes::new());
        let sender = frames.clone();
        let mut previous: HashMap<String, Previous> = HashMap::new();
        let mut previous_at = Instant::now();
        super::spawn_periodic(platform, SAMPLE_PERIOD, stop, move |platform| {
            if sender.receiver_count() == 0 {
                // Nobody watches: rates start afresh when someone does.
                previous.clear();
                return;
            }
            let elapsed = previous_at.elapsed();
            previous_at = Instant::now();
            let sample = sample(platform, &mut previous, elapsed);
            sender.send_replace(sse_frame("apps", &sample));
        });
        Self { frames }
    }

    /// The frames to come, for one event stream.
    pub fn subscribe(&self) -> watch::Receiver<Bytes> {
        let mut frames = self.frames.subscribe();
        // The sample now held may be from long ago: wait for the next.
        frames.mark_unchanged();
        frames
    }
}

/// Samples every app, against (and then into) `previous`.
fn sample(
    platform: &Platform,
    previous: &mut HashMap<String, Previous>,
    elapsed: Duration,
) -> Sample {
    let apps: Vec<_> = platform.read_apps().values().cloned().collect();
    let seconds = elapsed.as_secs_f64().max(1e-3);
    let mut samples = Vec::with_capacity(apps.len());
    let mut seen = HashMap::with_capacity(apps.len());
    for app in apps {
        let name = &app.record.name;
        let (window, now) = since(&app.stats, previous.remove(name));
        samples.push(AppSample {
            name: name.clone(),
            status: app.status(),
            digest: app.record.digest.clone(),
            hosts: app.record.settings.hosts.clone(),
            route_prefix: app.record.settings.route_prefix.clone(),
            requests: now.requests,
            errors: now.errors,
            active: app.stats.active.load(std::sync::atomic::Ordering::Relaxed),
            rps: window.served.map(|n| n as f64 / seconds),
            error_rate: window.error_rate,
            p50_ms: window.p50_ms,
            p99_ms: window.p99_ms,
        });
        seen.insert(name.clone(), now);
    }
    *previous = seen;
    Sample {
        time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        apps: samples,
    }
}

/// What an app did over one period.
#[derive(Default)]
struct Window {
    /// Requests answered (`None` without a baseline).
    served: Option<u64>,
    error_rate: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

/// An app's counters now against `before`: what it did since, and the next baseline.
fn since(stats: &AppStats, before: Option<Previous>) -> (Window, Previous) {
    use std::sync::atomic::Ordering::Relaxed;
    let (requests, errors) = (stats.requests.load(Relaxed), stats.errors.load(Relaxed));
    // An app removed and deployed again starts from zero: no baseline for this period.
    let Some(before) = before.filter(|p| p.requests <= requests) else {
        let now = Previous {
            requests,
            errors,
            latency: stats.latency.counts(),
        };
        return (Window::default(), now);
    };
    let served = requests - before.requests;
    if served == 0 {
        // Idle: its histogram has not moved; keep the one read before.
        let window = Window {
            served: Some(0),
            ..Window::default()
        };
        return (window, before);
    }
    let latency = stats.latency.counts();
    let delta: [u64; BUCKETS] =
        std::array::from_fn(|i| latency[i].saturating_sub(before.latency[i]));
    let window = Window {
        served: Some(served),
        error_rate: Some(errors.saturating_sub(before.errors) as f64 / served as f64),
        p50_ms: quantile_ms(&delta, 0.5),
        p99_ms: quantile_ms(&delta, 0.99),
    };
    let now = Previous {
        requests,
        errors,
        latency,
    };
    (window, now)
}

/// One server-sent event carrying `value` as one line of JSON.
fn sse_frame(event: &str, value: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: {event}\ndata: {json}\n\n"))
}

/// The dashboard's login sessions. Only a hash of each session's secret is kept, so a
/// lookup's timing tells nothing about the secrets.
#[derive(Default)]
pub(crate) struct Sessions {
    live: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Sessions {
    /// Opens a session; returns its secret, for the cookie.
    pub fn open(&self) -> Result<String, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        let secret = hex::encode(secret);
        let mut live = self.lock();
        let now = Instant::now();
        live.retain(|_, expires| *expires > now);
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k)
        {
            live.remove(&oldest);
        }
        live.insert(hash(&secret), now + SESSION_LIFETIME);
        Ok(secret)
    }

    /// Whether a `Cookie` header carries a live session.
    pub fn admits(&self, cookies: Option<&[u8]>) -> bool {
        let Some(secret) = session_secret(cookies) else {
            return false;
        };
        self.lock()
            .get(&hash(secret))
            .is_some_and(|expires| *expires > Instant::now())
    }

    /// Ends the session a `Cookie` header carries, if any.
    pub fn close(&self, cookies: Option<&[u8]>) {
        if let Some(secret) = session_secret(cookies) {
            self.lock().remove(&hash(secret));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Instant>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The session secret in a `Cookie` header (`a=1; wisp_session=…; b=2`).
fn session_secret(cookies: Option<&[u8]>) -> Option<&str> {
    let cookies = std::str::from_utf8(cookies?).ok()?;
    cookies.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == SESSION_COOKIE && !value.is_empty()).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_admit_and_close() {
        let sessions = Sessions::default();
        let secret = sessions.open().unwrap();
        let cookie = format!("theme=dark; {SESSION_COOKIE}={secret}; x=y");
        assert!(sessions.admits(Some(cookie.as_bytes())));
        assert!(!sessions.admits(Some(b"wisp_session=forged")));
        assert!(!sessions.admits(Some(b"theme=dark")));
        assert!(!sessions.admits(None));
        sessions.close(Some(cookie.as_bytes()));
        assert!(!sessions.admits(Some(cookie.as_bytes())));
    }

    #[test]
    fn sessions_are_capped() {
        let sessions = Sessions::default();
        let first = sessions.open().unwrap();
        for _ in 0..MAX_SESSIONS {
            sessions.open().unwrap();
        }
        assert_eq!(sessions.lock().len(), MAX_SESSIONS);
        let cookie = format!("{SESSION_COOKIE}={first}");
        assert!(!sessions.admits(Some(cookie.as_bytes())));
    }

    #[test]
    fn windows_cover_only_their_period() {
        let stats = AppStats::default();
        stats.record(Duration::from_millis(100), false);
        let (first, baseline) = since(&stats, None);
        assert_eq!(first.served, None);
        for _ in 0..9 {
            stats.record(Duration::from_millis(2), false);
        }
        stats.record(Duration::from_millis(2), true);
        let (busy, baseline) = since(&stats, Some(baseline));
        assert_eq!(busy.served, Some(10));
        assert_eq!(busy.error_rate, Some(0.1));
        // The 100 ms request was before this period.
        assert!(busy.p99_ms.unwrap() < 3.0, "{:?}", busy.p99_ms);
        let (idle, baseline) = since(&stats, Some(baseline));
        assert_eq!(
            (idle.served, idle.p50_ms, idle.error_rate),
            (Some(0), None, None)
        );
        // Deployed afresh under the same name: counters restart, no rate this period.
        let (fresh, _) = since(&AppStats::default(), Some(baseline));
        assert_eq!(fresh.served, None);
    }

    #[test]
    fn frames_are_single_line_events() {
        let frame = sse_frame("apps", &serde_json::json!({"text": "a\nb"}));
        assert_eq!(&frame[..], b"event: apps\ndata: {\"text\":\"a\\nb\"}\n\n");
    }
}
