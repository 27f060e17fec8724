//! The route table, built once when the app loads. Spin's rules: `/foo` matches only
//! `/foo`; `/foo/...` matches `/foo` and everything below it; `:name` matches one segment;
//! exact routes beat wildcards, and among the same kind the more specific route wins
//! (literal segments beat named ones, longer prefixes beat shorter).

use http::HeaderValue;
use std::cmp::Ordering;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Named(String),
}

/// One routable entry.
#[derive(Debug, Clone)]
pub struct RouteEntry {
    segments: Vec<Segment>,
    wildcard: bool,
    /// Index of the component this route serves.
    pub component: usize,
    /// The route as written in the manifest (`spin-raw-component-route`).
    pub raw: String,
    /// The route with the app base applied (`spin-matched-route`).
    pub based: String,
    /// The raw route without a trailing `/...` (`spin-component-route`).
    pub component_route: String,
    /// The three strings above as header values, built once instead of per request.
    pub(crate) values: RouteHeaderValues,
}

/// A route's fixed `spin-*` header values; `None` for one that is not a valid value.
#[derive(Debug, Clone)]
pub(crate) struct RouteHeaderValues {
    pub raw: Option<HeaderValue>,
    pub based: Option<HeaderValue>,
    pub component_route: Option<HeaderValue>,
}

impl RouteHeaderValues {
    fn new(raw: &str, based: &str, component_route: &str) -> Self {
        let value = |s: &str| HeaderValue::from_str(s).ok();
        Self {
            raw: value(raw),
            based: value(based),
            component_route: value(component_route),
        }
    }
}

/// The result of routing one path.
#[derive(Debug)]
pub struct RouteMatch<'a> {
    /// The matched entry.
    pub entry: &'a RouteEntry,
    /// What the wildcard matched, starting with `/`, or empty (`spin-path-info`).
    pub path_info: String,
    /// Named segments and their values.
    pub named: Vec<(&'a str, String)>,
}

/// The route table.
#[derive(Debug, Default)]
pub struct Router {
    /// Routes with only literal segments and no wildcard, by full path: one hash lookup.
    exact: HashMap<String, usize>,
    /// Every entry, most specific first.
    ordered: Vec<RouteEntry>,
}

impl RouteEntry {
    /// The catch-all entry a component is reached through by id, for requests to
    /// `http://<id>.spin.internal/…` that its public routes (if any) do not match.
    pub fn internal(component: usize) -> Self {
        Self {
            segments: Vec::new(),
            wildcard: true,
            component,
            raw: "/...".into(),
            based: "/...".into(),
            component_route: String::new(),
            values: RouteHeaderValues::new("/...", "/...", ""),
        }
    }

    /// The match of `path` against this catch-all entry.
    pub fn match_all(&self, path: &str) -> RouteMatch<'_> {
        RouteMatch {
            entry: self,
            path_info: path.to_owned(),
            named: Vec::new(),
        }
    }
}

impl Router {
    /// Builds the table from `(route, component index)` pairs in manifest order. Returns
    /// warnings for routes given twice (the later one wins, as in Spin).
    pub fn build<'a>(
        base: &str,
        routes: impl IntoIterator<Item = (&'a str, usize)>,
    ) -> (Self, Vec<String>) {
        let base_segments = split(base);
        let mut entries: Vec<RouteEntry> = Vec::new();
        let mut warnings = Vec::new();
        for (raw, component) in routes {
            let mut segments: Vec<&str> = split(raw);
            let wildcard = segments.last() == Some(&"...");
            if wildcard {
                segments.pop();
            }
            let segments: Vec<Segment> = base_segments
                .iter()
                .chain(segments.iter())
                .map(|s| match s.strip_prefix(':') {
                    Some(name) => Segment::Named(name.to_owned()),
                    None => Segment::Literal((*s).to_owned()),
                })
                .collect();
            let based = join(&base_segments, raw);
            let component_route = raw
                .strip_suffix("/...")
                .or_else(|| raw.strip_suffix("..."))
                .unwrap_or(raw)
                .to_owned();
            let entry = RouteEntry {
                segments,
                wildcard,
                component,
                values: RouteHeaderValues::new(raw, &based, &component_route),
                raw: raw.to_owned(),
                based,
                component_route,
            };
            if let Some(i) = entries
                .iter()
                .position(|e| e.segments == entry.segments && e.wildcard == entry.wildcard)
            {
                warnings.push(format!(
                    "route `{}` is given to more than one trigger; the last one wins",
                    entry.based
                ));
                entries.remove(i);
            }
            entries.push(entry);
        }
        entries.sort_by(specificity);
        let exact = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                !e.wildcard && e.segments.iter().all(|s| matches!(s, Segment::Literal(_)))
            })
            .map(|(i, e)| (literal_path(&e.segments), i))
            .collect();
        (
            Self {
                exact,
                ordered: entries,
            },
            warnings,
        )
    }

    /// Every route, most specific first.
    pub fn entries(&self) -> &[RouteEntry] {
        &self.ordered
    }

    /// Finds the route for a request path (no query).
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        let normalized = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        let normalized = if normalized.is_empty() {
            "/"
        } else {
            normalized
        };
        if let Some(&i) = self.exact.get(normalized) {
            return Some(RouteMatch {
                entry: &self.ordered[i],
                path_info: String::new(),
                named: Vec::new(),
            });
        }
        let parts = split(path);
        self.ordered
            .iter()
            .find_map(|e| match_entry(e, &parts, path))
    }
}

fn match_entry<'a>(e: &'a RouteEntry, parts: &[&str], path: &str) -> Option<RouteMatch<'a>> {
    if parts.len() < e.segments.len() || (!e.wildcard && parts.len() != e.segments.len()) {
        return None;
    }
    let mut named = Vec::new();
    for (seg, part) in e.segments.iter().zip(parts) {
        match seg {
            Segment::Literal(l) if l == part => {}
            Segment::Literal(_) => return None,
            Segment::Named(n) => named.push((n.as_str(), (*part).to_owned())),
        }
    }
    let path_info = if e.wildcard {
        // What follows the matched segments, with the request's own slashes: `None` when
        // the path ends exactly at the last matched segment.
        let mut rest = Some(path.strip_prefix('/').unwrap_or(path));
        for _ in 0..e.segments.len() {
            rest = rest.and_then(|r| r.split_once('/').map(|(_, after)| after));
        }
        rest.map_or_else(String::new, |r| format!("/{r}"))
    } else {
        String::new()
    };
    Some(RouteMatch {
        entry: e,
        path_info,
        named,
    })
}

/// Most specific first: exact before wildcard; then at the first differing segment a
/// literal beats a named segment; then more segments beat fewer.
fn specificity(a: &RouteEntry, b: &RouteEntry) -> Ordering {
    a.wildcard
        .cmp(&b.wildcard)
        .then_with(|| {
            for (x, y) in a.segments.iter().zip(&b.segments) {
                let rank = |s: &Segment| matches!(s, Segment::Named(_)) as u8;
                match rank(x).cmp(&rank(y)) {
                    Ordering::Equal => continue,
                    other => return other,
                }
            }
            Ordering::Equal
        })
        .then_with(|| b.segments.len().cmp(&a.segments.len()))
}

fn split(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn literal_path(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        if let Segment::Literal(l) = s {
            out.push('/');
            out.push_str(l);
        }
    }
    if out.is_empty() { "/".to_owned() } else { out }
}

fn join(base_segments: &[&str], raw: &str) -> String {
    if base_segments.is_empty() {
        return raw.to_owned();
    }
    let base = format!("/{}", base_segments.join("/"));
    if raw == "/" {
        base
    } else {
        format!("{base}{raw}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(base: &str, routes: &[&str]) -> Router {
        Router::build(base, routes.iter().enumerate().map(|(i, r)| (*r, i))).0
    }

    fn hit(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.entry.raw.clone())
    }

    #[test]
    fn precedence_table() {
        let r = router(
            "/",
            &[
                "/",
                "/foo",
                "/foo/...",
                "/foo/bar/...",
                "/users/:id",
                "/users/me",
                "/users/:id/...",
                "/...",
            ],
        );
        let cases = [
            ("/", "/"),
            ("/foo", "/foo"),
            ("/foo/", "/foo"),
            ("/foo/x", "/foo/..."),
            ("/foo/bar", "/foo/bar/..."),
            ("/foo/bar/baz", "/foo/bar/..."),
            ("/foobar", "/..."),
            ("/users/42", "/users/:id"),
            ("/users/me", "/users/me"),
            ("/users/42/posts", "/users/:id/..."),
            ("/elsewhere/deep", "/..."),
        ];
        for (path, want) in cases {
            assert_eq!(hit(&r, path).as_deref(), Some(want), "{path}");
        }
    }

    #[test]
    fn no_match_is_none() {
        let r = router("/", &["/foo", "/bar/..."]);
        assert!(r.route("/").is_none());
        assert!(r.route("/foo/x").is_none());
        assert!(r.route("/barx").is_none());
        assert_eq!(hit(&r, "/bar").as_deref(), Some("/bar/..."));
    }

    #[test]
    fn base_prefixes_every_route() {
        let r = router("/api", &["/hello", "/files/..."]);
        assert!(r.route("/hello").is_none());
        assert_eq!(hit(&r, "/api/hello").as_deref(), Some("/hello"));
        let m = r.route("/api/files/a/b").unwrap();
        assert_eq!(m.entry.based, "/api/files/...");
        assert_eq!(m.entry.component_route, "/files");
        assert_eq!(m.path_info, "/a/b");
    }

    #[test]
    fn path_info_and_named_segments() {
        let r = router("/", &["/foo/:userid/..."]);
        let m = r.route("/foo/42/bar").unwrap();
        assert_eq!(m.path_info, "/bar");
        assert_eq!(m.named, vec![("userid", "42".to_owned())]);
        assert_eq!(m.entry.component_route, "/foo/:userid");
        assert_eq!(r.route("/foo/42").unwrap().path_info, "");
        let r = router("/", &["/..."]);
        assert_eq!(r.route("/a/b/").unwrap().path_info, "/a/b/");
        assert_eq!(r.route("/").unwrap().path_info, "/");
    }

    #[test]
    fn duplicate_routes_warn_and_last_wins() {
        let (r, warnings) = Router::build("/", [("/a", 0), ("/a", 1)]);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("`/a`"));
        assert_eq!(r.route("/a").unwrap().entry.component, 1);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn segment() -> impl Strategy<Value = String> {
        "[a-z0-9_-]{1,8}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn building_and_routing_never_panic(
            base in "(/[a-z:.]{0,4}){0,3}",
            routes in prop::collection::vec("(/([a-z]{0,3}|:[a-z]{1,3}|\\.\\.\\.)){0,4}", 0..12),
            path in any::<String>(),
        ) {
            let (router, _) = Router::build(&base, routes.iter().enumerate().map(|(i, r)| (r.as_str(), i)));
            let _ = router.route(&path);
            let _ = router.route(&format!("/{path}"));
        }

        #[test]
        fn a_literal_route_matches_its_own_path(segments in prop::collection::vec(segment(), 0..5)) {
            let route = format!("/{}", segments.join("/"));
            let (router, _) = Router::build("/", [(route.as_str(), 7)]);
            let m = router.route(&route).expect("its own path");
            prop_assert_eq!(m.entry.component, 7);
            prop_assert_eq!(m.path_info.as_str(), "");
        }

        #[test]
        fn a_wildcard_route_matches_everything_below_it(
            prefix in prop::collection::vec(segment(), 0..4),
            rest in prop::collection::vec(segment(), 0..4),
            base in prop::collection::vec(segment(), 0..2),
        ) {
            let route = format!("/{}/...", prefix.join("/")).replace("//", "/");
            let base = format!("/{}", base.join("/"));
            let (router, _) = Router::build(&base, [(route.as_str(), 3)]);
            let mut path = base.trim_end_matches('/').to_owned();
            for s in prefix.iter().chain(&rest) {
                path.push('/');
                path.push_str(s);
            }
            if path.is_empty() {
                path.push('/');
            }
            let m = router.route(&path).expect("below its prefix");
            prop_assert_eq!(m.entry.component, 3);
            let expected_info = if rest.is_empty() { String::new() } else { format!("/{}", rest.join("/")) };
            if !(prefix.is_empty() && rest.is_empty()) {
                prop_assert_eq!(m.path_info, expected_info);
            }
        }
    }
}
