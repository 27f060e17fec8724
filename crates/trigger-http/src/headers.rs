//! The `spin-*` request headers a guest sees, as Spin sets them.

use crate::router::RouteMatch;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use std::net::SocketAddr;

pub(crate) const FULL_URL: HeaderName = HeaderName::from_static("spin-full-url");
pub(crate) const PATH_INFO: HeaderName = HeaderName::from_static("spin-path-info");
pub(crate) const MATCHED_ROUTE: HeaderName = HeaderName::from_static("spin-matched-route");
pub(crate) const COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-component-route");
pub(crate) const RAW_COMPONENT_ROUTE: HeaderName =
    HeaderName::from_static("spin-raw-component-route");
pub(crate) const BASE_PATH: HeaderName = HeaderName::from_static("spin-base-path");
pub(crate) const CLIENT_ADDR: HeaderName = HeaderName::from_static("spin-client-addr");
const PATH_MATCH_PREFIX: &str = "spin-path-match-";

/// The header a route's `:name` segment is passed in, as Spin names it: lower case, with
/// `_` as `-` (`:path_segment` is `spin-path-match-path-segment`).
fn path_match_header(name: &str) -> String {
    format!(
        "{PATH_MATCH_PREFIX}{}",
        name.to_ascii_lowercase().replace('_', "-")
    )
}

/// Replaces any client-sent `spin-*` routing headers with the ones for this match, so a
/// client cannot spoof what the router decided.
pub(crate) fn set_spin_headers(
    headers: &mut HeaderMap,
    full_url: &str,
    base: Option<&HeaderValue>,
    route: &RouteMatch<'_>,
    client: SocketAddr,
) {
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("spin-"))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set(FULL_URL, full_url);
    set(PATH_INFO, &route.path_info);
    set(CLIENT_ADDR, &client.to_string());
    // The route's own values were built with the route table; cloning one is a
    // reference-count increment.
    let fixed = &route.entry.values;
    for (name, value) in [
        (MATCHED_ROUTE, fixed.based.as_ref()),
        (COMPONENT_ROUTE, fixed.component_route.as_ref()),
        (RAW_COMPONENT_ROUTE, fixed.raw.as_ref()),
        (BASE_PATH, base),
    ] {
        if let Some(v) = value {
            headers.insert(name, v.clone());
        }
    }
    for (name, value) in &route.named {
        let header = path_match_header(name);
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(header), HeaderValue::from_str(value)) {
            headers.insert(n, v);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_match_headers_are_named_as_spin_names_them() {
        assert_eq!(super::path_match_header("id"), "spin-path-match-id");
        assert_eq!(
            super::path_match_header("Path_Segment"),
            "spin-path-match-path-segment"
        );
    }
}
