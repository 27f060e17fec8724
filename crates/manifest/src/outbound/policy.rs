//! Matching outbound destinations against a component's parsed `allowed_outbound_hosts`:
//! the one place every outbound capability (HTTP, service chaining, Redis, PostgreSQL,
//! MySQL, MQTT, sockets) asks "may this component reach that?".

use super::{BlockedNetworks, HostMatch, HostPattern, PortMatch, SchemeMatch, default_port};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// Where a component wants to go: a scheme, a host (name or IP) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundTarget {
    /// Lowercase scheme (`https`, `redis`, `tcp`…).
    pub scheme: String,
    /// Lowercase host name or IP address, without IPv6 brackets.
    pub host: String,
    /// The port, the scheme's default when the URL names none.
    pub port: u16,
}

impl OutboundTarget {
    /// A target from its parts; `port` falls back to the scheme's default port.
    pub fn new(scheme: &str, host: &str, port: Option<u16>) -> Result<Self, String> {
        let scheme = scheme.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("the URL has no host".into());
        }
        let port = port.or_else(|| default_port(&scheme)).ok_or_else(|| {
            format!("the URL names no port and scheme `{scheme}` has no default one")
        })?;
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Parses `scheme://[user@]host[:port][/path…]`, as database and broker URLs are written.
    pub fn parse_url(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| "the URL has no scheme (`scheme://host`)".to_owned())?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let (host, port) = match host_port.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6
                    .split_once(']')
                    .ok_or_else(|| "unclosed `[` in the URL's host".to_owned())?;
                (host, after.strip_prefix(':'))
            }
            None => match host_port.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            },
        };
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("`{p}` is not a port number"))?,
            ),
            None => None,
        };
        Self::new(scheme, host, port)
    }
}

impl std::fmt::Display for OutboundTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

impl HostPattern {
    /// Whether this pattern lets a component reach `target`.
    pub fn allows(&self, target: &OutboundTarget) -> bool {
        self.scheme_allows(&target.scheme)
            && self.host_allows(&target.host)
            && self.port_allows(target.port)
    }

    fn scheme_allows(&self, scheme: &str) -> bool {
        match &self.scheme {
            SchemeMatch::Any => true,
            SchemeMatch::Exact(s) => s == scheme,
        }
    }

    fn host_allows(&self, host: &str) -> bool {
        match &self.host {
            HostMatch::Any => true,
            HostMatch::Exact(h) => h == host,
            HostMatch::Subdomains(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
            // `self` is the app itself: Spin's `self.alt` host (relative URLs cannot be
            // expressed through wasi:http).
            HostMatch::SelfApp => host == SELF_HOST,
            HostMatch::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
            HostMatch::Cidr(net, bits) => host
                .parse::<IpAddr>()
                .is_ok_and(|h| in_cidr(h, *net, *bits)),
        }
    }

    /// Whether this pattern names `host` or `ip` itself (a host name, an IP or a CIDR
    /// range), rather than through a wildcard.
    fn names_literally(&self, host: &str, ip: IpAddr) -> bool {
        match &self.host {
            HostMatch::Exact(h) => h == host,
            HostMatch::Ip(i) => *i == ip,
            // Only a range inside the link-local ones names them: `0.0.0.0/0` and `::/0`
            // are wildcards by another name.
            HostMatch::Cidr(net, bits) => {
                cidr_within_link_local(*net, *bits) && in_cidr(ip, *net, *bits)
            }
            HostMatch::Any | HostMatch::Subdomains(_) | HostMatch::SelfApp => false,
        }
    }

    fn port_allows(&self, port: u16) -> bool {
        match self.port {
            PortMatch::Any => true,
            PortMatch::Exact(p) => p == port,
            PortMatch::Range(start, end) => (start..end).contains(&port),
        }
    }
}

/// The host a component names to reach its own app (`http://self.alt/path`), granted by
/// `http://self` in `allowed_outbound_hosts`.
pub const SELF_HOST: &str = "self.alt";

/// The domain under which each component of the app is reachable by its id
/// (`http://<id>.spin.internal/path`).
pub const INTERNAL_DOMAIN: &str = "spin.internal";

/// Whether `ip` is link-local (169.254.0.0/16, fe80::/10, or one mapped into IPv6): where
/// cloud metadata services answer, so never reached through a wildcard.
pub fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_link_local(),
            None => v6.is_unicast_link_local(),
        },
    }
}

/// Whether the range `net/bits` lies inside 169.254.0.0/16 or fe80::/10 (or the IPv6
/// mapping of the former).
fn cidr_within_link_local(net: IpAddr, bits: u8) -> bool {
    match net {
        IpAddr::V4(v4) => bits >= 16 && v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => bits >= 96 + 16 && v4.is_link_local(),
            None => bits >= 10 && v6.is_unicast_link_local(),
        },
    }
}

pub(super) fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Why a connection to an allowed host may not go to one of the addresses it resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// A link-local (metadata) address that no entry names.
    LinkLocal(IpAddr),
    /// An address in a network the runtime config's `block_networks` blocks.
    Blocked {
        /// The address.
        ip: IpAddr,
        /// The `block_networks` entry that blocks it.
        rule: String,
    },
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LinkLocal(ip) => write!(
                f,
                "{ip} is a link-local address, reached only through an allowed_outbound_hosts \
                 entry naming it"
            ),
            Self::Blocked { ip, rule } => write!(
                f,
                "{ip} is in a blocked network (runtime config `[outbound_networking] \
                 block_networks` entry `{rule}`)"
            ),
        }
    }
}

/// One component's resolved `allowed_outbound_hosts`: deny unless a pattern allows, and
/// never into a network the runtime config blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    patterns: Vec<HostPattern>,
    blocked: Arc<BlockedNetworks>,
}

impl OutboundPolicy {
    /// A policy allowing what any of `patterns` allows.
    pub fn new(patterns: Vec<HostPattern>) -> Self {
        Self {
            patterns,
            blocked: Arc::default(),
        }
    }

    /// This policy, refusing every address `blocked` holds whatever the patterns allow.
    pub fn with_blocked(mut self, blocked: Arc<BlockedNetworks>) -> Self {
        self.blocked = blocked;
        self
    }

    /// Whether nothing at all is allowed.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether some pattern allows `target`.
    pub fn allows(&self, target: &OutboundTarget) -> bool {
        self.patterns.iter().any(|p| p.allows(target))
    }

    /// The target `url` names, if its scheme is one of `schemes` and some pattern allows
    /// it: how database and broker capabilities check an address before connecting.
    pub fn allowed_url(&self, url: &str, schemes: &[&str]) -> Option<OutboundTarget> {
        OutboundTarget::parse_url(url)
            .ok()
            .filter(|t| schemes.contains(&t.scheme.as_str()) && self.allows(t))
    }

    /// Whether some pattern could allow a connection with `scheme` (to decide, say,
    /// whether a component gets sockets at all).
    pub fn allows_any_with_scheme(&self, scheme: &str) -> bool {
        self.patterns.iter().any(|p| p.scheme_allows(scheme))
    }

    /// Whether a raw socket connection to `ip:port` over `scheme` (`tcp` or `udp`) is allowed.
    pub fn allows_socket(&self, scheme: &str, ip: IpAddr, port: u16) -> bool {
        let host = ip.to_string();
        let target = OutboundTarget {
            scheme: scheme.to_owned(),
            host,
            port,
        };
        self.allows(&target) && self.allows_resolved(&target.host, ip)
    }

    /// Whether a connection to an allowed `host` may go to `ip`, an address it resolved
    /// to (see [`OutboundPolicy::check_resolved`]).
    pub fn allows_resolved(&self, host: &str, ip: IpAddr) -> bool {
        self.check_resolved(host, ip).is_ok()
    }

    /// Whether a connection to an allowed `host` may go to `ip`, an address it resolved
    /// to: never into a blocked network; to a link-local (metadata) address only when
    /// some entry names the host or the address itself, never through `*`. Every client
    /// (HTTP, sockets, databases, brokers) asks this once it knows the address.
    pub fn check_resolved(&self, host: &str, ip: IpAddr) -> Result<(), Denial> {
        if let Some(rule) = self.blocked.rule_blocking(ip) {
            return Err(Denial::Blocked { ip, rule });
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let named = || {
            self.patterns
                .iter()
                .any(|p| p.names_literally(&host.to_ascii_lowercase(), ip))
        };
        if is_link_local(ip) && !named() {
            return Err(Denial::LinkLocal(ip));
        }
        Ok(())
    }

    /// The patterns, for messages.
    pub fn patterns(&self) -> &[HostPattern] {
        &self.patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::parse_pattern;

    fn policy(entries: &[&str]) -> OutboundPolicy {
        OutboundPolicy::new(entries.iter().map(|e| parse_pattern(e).unwrap()).collect())
    }

    fn allowed(policy: &OutboundPolicy, url: &str) -> bool {
        policy.allows(&OutboundTarget::parse_url(url).unwrap())
    }

    #[test]
    fn allow_and_deny_table() {
        // (grant, url, allowed?)
        let table = [
            ("https://example.com", "https://example.com/path", true),
            ("https://example.com", "https://example.com:443/", true),
            ("https://example.com", "http://example.com/", false),
            ("https://example.com", "https://example.com:8443/", false),
            ("https://example.com", "https://api.example.com/", false),
            ("https://example.com", "https://EXAMPLE.com/", true),
            ("https://*.example.com", "https://api.example.com/", true),
            ("https://*.example.com", "https://a.b.example.com/", true),
            ("https://*.example.com", "https://example.com/", false),
            ("https://*.example.com", "https://badexample.com/", false),
            (
                "http://localhost:8000..8010",
                "http://localhost:8000/",
                true,
            ),
            (
                "http://localhost:8000..8010",
                "http://localhost:8009/",
                true,
            ),
            (
                "http://localhost:8000..8010",
                "http://localhost:8010/",
                false,
            ),
            ("http://localhost:*", "http://localhost:1/", true),
            ("*://example.com:*", "redis://example.com:7000", true),
            ("*://*:*", "mqtt://anything.at.all:1", true),
            ("http://self", "http://self.alt/path", true),
            ("http://self", "http://self.alt:8080/path", false),
            ("http://self", "http://example.com/", false),
            (
                "http://back.spin.internal",
                "http://back.spin.internal/x",
                true,
            ),
            (
                "http://back.spin.internal",
                "http://front.spin.internal/x",
                false,
            ),
            (
                "http://*.spin.internal",
                "http://front.spin.internal/x",
                true,
            ),
            ("redis://cache", "redis://cache", true),
            ("redis://cache", "redis://cache:6380", false),
            ("redis://cache", "redis://user:pw@cache:6379/0", true),
            (
                "postgres://db.internal",
                "postgres://u@db.internal/app",
                true,
            ),
            ("mysql://db:3307", "mysql://db:3306/app", false),
            ("tcp://127.0.0.1:*", "tcp://127.0.0.1:9000", true),
            ("tcp://127.0.0.1:*", "tcp://127.0.0.2:9000", false),
            ("tcp://127.0.0.1:*", "udp://127.0.0.1:9000", false),
            ("*://10.0.0.0/8:5432", "postgres://10.1.2.3:5432", true),
            ("*://10.0.0.0/8:5432", "postgres://11.1.2.3:5432", false),
            ("*://10.0.0.0/8:5432", "postgres://db:5432", false),
            ("https://[::1]:8443", "https://[::1]:8443/", true),
            ("*://[fd00::/16]:*", "tcp://[fd12::1]:1", false),
            ("*://[fd00::/8]:*", "tcp://[fd12::1]:1", true),
            ("*://0.0.0.0/0:*", "tcp://203.0.113.9:1", true),
        ];
        for (grant, url, want) in table {
            assert_eq!(allowed(&policy(&[grant]), url), want, "{grant} vs {url}");
        }
    }

    #[test]
    fn urls_are_checked_against_scheme_and_patterns() {
        let p = policy(&["redis://cache:*"]);
        assert!(
            p.allowed_url("redis://u:pw@cache:7000/0", &["redis", "rediss"])
                .is_some()
        );
        assert!(p.allowed_url("redis://cache:7000", &["postgres"]).is_none());
        assert!(p.allowed_url("redis://other:7000", &["redis"]).is_none());
        assert!(p.allowed_url("not a url", &["redis"]).is_none());
    }

    #[test]
    fn an_empty_policy_denies_everything() {
        let none = policy(&[]);
        assert!(none.is_empty());
        assert!(!allowed(&none, "https://example.com"));
        assert!(!none.allows_socket("tcp", "127.0.0.1".parse().unwrap(), 80));
    }

    #[test]
    fn any_pattern_in_the_list_may_allow() {
        let p = policy(&["https://a.com", "redis://b.com"]);
        assert!(allowed(&p, "https://a.com"));
        assert!(allowed(&p, "redis://b.com"));
        assert!(!allowed(&p, "redis://a.com"));
        assert!(p.allows_any_with_scheme("redis"));
        assert!(!p.allows_any_with_scheme("tcp"));
    }

    #[test]
    fn link_local_addresses_need_an_entry_that_names_them() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let wildcard = policy(&["http://*:*", "tcp://*:*"]);
        assert!(wildcard.allows_resolved("example.com", ip("93.184.216.34")));
        assert!(!wildcard.allows_resolved("example.com", ip("169.254.169.254")));
        assert!(!wildcard.allows_resolved("x", ip("fe80::1")));
        assert!(!wildcard.allows_resolved("x", ip("::ffff:169.254.169.254")));
        assert!(!wildcard.allows_socket("tcp", ip("169.254.169.254"), 80));
        assert!(wildcard.allows_socket("tcp", ip("10.1.2.3"), 80));
        let subdomains = policy(&["http://*.internal"]);
        assert!(!subdomains.allows_resolved("metadata.internal", ip("169.254.169.254")));

        let named = policy(&["http://metadata.internal", "tcp://169.254.169.254:80"]);
        assert!(named.allows_resolved("metadata.internal", ip("169.254.169.254")));
        assert!(named.allows_resolved("METADATA.internal", ip("169.254.169.254")));
        assert!(named.allows_socket("tcp", ip("169.254.169.254"), 80));
        assert!(policy(&["tcp://169.254.0.0/16:*"]).allows_socket("tcp", ip("169.254.1.2"), 9));
        assert!(policy(&["http://[fe80::1]"]).allows_resolved("[fe80::1]", ip("fe80::1")));
        // Ranges that merely contain the link-local ones are wildcards too.
        for everything in ["tcp://0.0.0.0/0:*", "tcp://[::/0]:*", "tcp://128.0.0.0/1:*"] {
            let p = policy(&[everything]);
            assert!(
                !p.allows_socket("tcp", ip("169.254.169.254"), 80),
                "{everything}"
            );
            assert!(!p.allows_socket("tcp", ip("fe80::1"), 80), "{everything}");
        }
        assert!(policy(&["tcp://[fe80::/10]:*"]).allows_socket("tcp", ip("fe80::1"), 80));
    }

    #[test]
    fn urls_without_a_usable_port_or_host_are_errors() {
        assert!(OutboundTarget::parse_url("tcp://127.0.0.1").is_err());
        assert!(OutboundTarget::parse_url("https:///path").is_err());
        assert!(OutboundTarget::parse_url("example.com").is_err());
        assert!(OutboundTarget::parse_url("https://example.com:http/").is_err());
    }

    #[test]
    fn blocked_networks_override_every_grant_and_name_their_rule() {
        let blocked = Arc::new(
            BlockedNetworks::parse(&["private".to_owned(), "93.184.0.0/16".to_owned()]).unwrap(),
        );
        let p = policy(&[
            "tcp://127.0.0.1:5432",
            "http://*:*",
            "tcp://169.254.169.254:80",
        ])
        .with_blocked(blocked);
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        // Granted by name and by wildcard, and still refused.
        assert!(!p.allows_socket("tcp", loopback, 5432));
        assert_eq!(
            p.check_resolved("localhost", loopback),
            Err(Denial::Blocked {
                ip: loopback,
                rule: "private".into()
            })
        );
        // A literal grant of a metadata address does not beat the block list either.
        assert!(!p.allows_resolved("169.254.169.254", "169.254.169.254".parse().unwrap()));
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let denial = p.check_resolved("example.com", public).unwrap_err();
        assert!(
            denial
                .to_string()
                .contains("block_networks` entry `93.184.0.0/16`"),
            "{denial}"
        );
        assert!(p.allows_resolved("one.one", "1.1.1.1".parse().unwrap()));
        // Without a block list, the link-local rule is the only one.
        let open = policy(&["http://*:*"]);
        assert!(open.allows_resolved("localhost", loopback));
        assert_eq!(
            open.check_resolved("x", "169.254.169.254".parse().unwrap()),
            Err(Denial::LinkLocal("169.254.169.254".parse().unwrap()))
        );
    }
}
