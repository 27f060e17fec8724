//! The public listener's routing in platform mode: a request's `Host` (and path prefix)
//! picks one deployed app; a host nobody claimed is 404 without touching any app. The
//! table is immutable and swapped whole on every deploy, so a request reads one
//! consistent view with a single pointer copy.

use super::settings::AppSettings;
use super::slot::HttpSlot;
use super::stats::AppStats;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use wisp_trigger_http::ResponseBody;

/// What a request routed to an app is served by.
pub(crate) struct Target {
    pub slot: Arc<HttpSlot>,
    pub stats: Arc<AppStats>,
}

/// One app's claim on a host: the prefix it answers under.
struct Entry<T> {
    prefix: String,
    target: Arc<T>,
}

/// Every host claim of every deployed app, each leading to a `T`.
pub(crate) struct HostTable<T> {
    exact: HashMap<String, Vec<Entry<T>>>,
    /// `(".example.com", entries)`, longest suffix first.
    wildcard: Vec<(String, Vec<Entry<T>>)>,
}

impl<T> HostTable<T> {
    /// Builds the table from each app's settings and target.
    pub fn build<'a>(apps: impl IntoIterator<Item = (&'a AppSettings, Arc<T>)>) -> Self {
        let mut table = Self {
            exact: HashMap::new(),
            wildcard: Vec::new(),
        };
        for (settings, target) in apps {
            for host in &settings.hosts {
                let entry = Entry {
                    prefix: settings.prefix().to_owned(),
                    target: target.clone(),
                };
                let entries = match host.strip_prefix('*') {
                    Some(suffix) => match table.wildcard.iter().position(|(s, _)| s == suffix) {
                        Some(i) => &mut table.wildcard[i].1,
                        None => {
                            table.wildcard.push((suffix.to_owned(), Vec::new()));
                            &mut table.wildcard.last_mut().expect("just pushed").1
                        }
                    },
                    None => table.exact.entry(host.clone()).or_default(),
                };
                entries.push(entry);
            }
        }
        table
            .wildcard
            .sort_by(|(a, _), (b, _)| b.len().cmp(&a.len()).then(a.cmp(b)));
        for entries in table
            .exact
            .values_mut()
            .chain(table.wildcard.iter_mut().map(|(_, e)| e))
        {
            entries.sort_by_key(|e| std::cmp::Reverse(e.prefix.len()));
        }
        table
    }

    /// The app serving `path` on `host` (a `Host` value; its port is ignored): an exact
    /// host before a wildcard, the longest matching prefix within either.
    pub fn route(&self, host: &str, path: &str) -> Option<&Arc<T>> {
        let host = host_name(host);
        if let Some(target) = self
            .exact
            .get(host.as_ref())
            .and_then(|entries| pick(entries, path))
        {
            return Some(target);
        }
        self.wildcard
            .iter()
            .filter(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
            .find_map(|(_, entries)| pick(entries, path))
    }
}

/// The first (longest) entry whose prefix `path` is under.
fn pick<'a, T>(entries: &'a [Entry<T>], path: &str) -> Option<&'a Arc<T>> {
    entries
        .iter()
        .find(|e| under_prefix(path, &e.prefix))
        .map(|e| &e.target)
}

/// Whether `path` is `prefix` or below it (`/shop` covers `/shop` and `/shop/x`, not
/// `/shopping`).
fn under_prefix(path: &str, prefix: &str) -> bool {
    prefix == "/"
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A `Host` value's name: lowercased, without port or trailing dot (borrowed when it
/// already is one, as nearly every request's is).
fn host_name(host: &str) -> std::borrow::Cow<'_, str> {
    let name = match host.rsplit_once(':') {
        // An IPv6 literal is bracketed; a colon inside the brackets is not a port.
        Some((name, port)) if !port.contains(']') => name,
        _ => host,
    };
    let name = name.trim_end_matches('.');
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(name.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// The host a request names: HTTP/2's `:authority`, else HTTP/1's `Host`.
pub(crate) fn request_host(req: &Request<Incoming>) -> Option<&str> {
    match req.uri().authority() {
        Some(authority) => Some(authority.as_str()),
        None => req.headers().get(http::header::HOST)?.to_str().ok(),
    }
}

/// Serves one request with `target`, counting it.
pub(crate) async fn serve_counted(
    target: Arc<Target>,
    req: Request<Incoming>,
    peer: wisp_trigger_http::Peer,
    max_body: Option<u64>,
) -> Response<ResponseBody> {
    let stats = &target.stats;
    let started = std::time::Instant::now();
    stats.active.fetch_add(1, Ordering::Relaxed);
    let response = match target.slot.get().await {
        Ok(http) => http.handle(req, peer, max_body).await,
        Err(e) => {
            tracing::error!("an idle app could not be loaded again: {e}");
            wisp_trigger_http::plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
    };
    stats.active.fetch_sub(1, Ordering::Relaxed);
    stats.record(started.elapsed(), response.status().is_server_error());
    response
}

/// The answer for a host no app claims.
pub(crate) fn no_app() -> Response<ResponseBody> {
    wisp_trigger_http::plain(StatusCode::NOT_FOUND, "Not Found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_drop_port_and_case() {
        assert_eq!(host_name("Shop.Example.com:3000"), "shop.example.com");
        assert_eq!(host_name("shop.example.com."), "shop.example.com");
        assert_eq!(host_name("[::1]:80"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
    }

    fn claim(hosts: &[&str], prefix: Option<&str>) -> AppSettings {
        AppSettings::claiming(hosts, prefix)
    }

    #[test]
    fn exact_hosts_win_over_wildcards_and_long_prefixes_over_short() {
        let apps = [
            (claim(&["shop.test"], None), "shop"),
            (claim(&["shop.test"], Some("/api")), "shop-api"),
            (claim(&["*.test"], None), "any-test"),
            (claim(&["*.eu.test"], None), "any-eu"),
        ];
        let table = HostTable::build(apps.iter().map(|(s, name)| (s, Arc::new(*name))));
        let route = |host, path| table.route(host, path).map(|t| **t);
        assert_eq!(route("shop.test:3000", "/"), Some("shop"));
        assert_eq!(route("SHOP.test", "/api/x"), Some("shop-api"));
        assert_eq!(route("shop.test", "/apix"), Some("shop"));
        assert_eq!(route("blog.test", "/"), Some("any-test"));
        assert_eq!(route("a.eu.test", "/"), Some("any-eu"));
        assert_eq!(route("test", "/"), None);
        assert_eq!(route("other.example", "/"), None);
    }

    #[test]
    fn a_path_outside_every_prefix_falls_through_to_wildcards() {
        let apps = [
            (claim(&["a.test"], Some("/only")), "a-only"),
            (claim(&["*.test"], None), "any"),
        ];
        let table = HostTable::build(apps.iter().map(|(s, name)| (s, Arc::new(*name))));
        assert_eq!(
            table.route("a.test", "/only/x").map(|t| **t),
            Some("a-only")
        );
        assert_eq!(table.route("a.test", "/else").map(|t| **t), Some("any"));
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(under_prefix("/anything", "/"));
        assert!(under_prefix("/shop", "/shop"));
        assert!(under_prefix("/shop/cart", "/shop"));
        assert!(!under_prefix("/shopping", "/shop"));
        assert!(!under_prefix("/", "/shop"));
    }
}
