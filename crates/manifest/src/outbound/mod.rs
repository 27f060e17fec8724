//! `allowed_outbound_hosts` entries, parsed with Spin's syntax: `scheme://host:port`,
//! where each part may be `*`, hosts may be `*.domain`, `self`, an IP or a CIDR range,
//! ports may be `a..b` ranges, and any part may be a `{{ variable }}` template resolved
//! when the app loads.

mod blocked;
mod policy;

pub use blocked::{BlockedNetworks, is_global};
pub use policy::{
    Denial, INTERNAL_DOMAIN, OutboundPolicy, OutboundTarget, SELF_HOST, is_link_local,
};

use std::fmt;
use std::net::IpAddr;

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHost {
    /// A concrete pattern.
    Pattern(HostPattern),
    /// An entry with `{{ variable }}` templates, parsed once the variables are resolved.
    Template(String),
}

/// A concrete `scheme://host:port` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// Which schemes.
    pub scheme: SchemeMatch,
    /// Which hosts.
    pub host: HostMatch,
    /// Which ports.
    pub port: PortMatch,
}

/// The scheme part of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemeMatch {
    /// `*`
    Any,
    /// A scheme name, lowercase.
    Exact(String),
}

/// The host part of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// `*`
    Any,
    /// One host name, lowercase.
    Exact(String),
    /// `*.example.com`: any subdomain of `example.com` (not `example.com` itself).
    Subdomains(String),
    /// `self`: the app itself (service chaining).
    SelfApp,
    /// An IP address.
    Ip(IpAddr),
    /// A CIDR range.
    Cidr(IpAddr, u8),
}

/// The port part of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortMatch {
    /// `*`
    Any,
    /// One port.
    Exact(u16),
    /// `start..end`, end exclusive as Spin writes it.
    Range(u16, u16),
}

/// The port a scheme uses when an entry names none.
pub fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "redis" => 6379,
        "rediss" => 6380,
        "postgres" => 5432,
        "mysql" => 3306,
        "mqtt" => 1883,
        "mqtts" => 8883,
        "tcp" | "udp" => return None,
        _ => return None,
    })
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scheme {
            SchemeMatch::Any => f.write_str("*")?,
            SchemeMatch::Exact(s) => f.write_str(s)?,
        }
        f.write_str("://")?;
        match &self.host {
            HostMatch::Any => f.write_str("*")?,
            HostMatch::Exact(h) => f.write_str(h)?,
            HostMatch::Subdomains(d) => write!(f, "*.{d}")?,
            HostMatch::SelfApp => f.write_str("self")?,
            HostMatch::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostMatch::Ip(ip) => write!(f, "{ip}")?,
            HostMatch::Cidr(IpAddr::V6(ip), bits) => write!(f, "[{ip}/{bits}]")?,
            HostMatch::Cidr(ip, bits) => write!(f, "{ip}/{bits}")?,
        }
        match self.port {
            PortMatch::Any => f.write_str(":*"),
            PortMatch::Exact(p) => write!(f, ":{p}"),
            PortMatch::Range(a, b) => write!(f, ":{a}..{b}"),
        }
    }
}

/// Parses one entry. The error says what is wrong with it, for the caller to locate.
pub fn parse_allowed_host(entry: &str) -> Result<AllowedHost, String> {
    let entry = entry.trim();
    if entry.contains("{{") || entry.contains("}}") {
        crate::template::check_template(entry)?;
        return Ok(AllowedHost::Template(entry.to_owned()));
    }
    parse_pattern(entry).map(AllowedHost::Pattern)
}

/// Parses an entry with no templates left in it.
pub fn parse_pattern(entry: &str) -> Result<HostPattern, String> {
    let Some((scheme, rest)) = entry.split_once("://") else {
        return Err(format!(
            "`{entry}` has no scheme; write it as `scheme://host:port`, e.g. `https://{entry}`"
        ));
    };
    let scheme = match scheme {
        "*" => SchemeMatch::Any,
        s if !s.is_empty()
            && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            SchemeMatch::Exact(s.to_ascii_lowercase())
        }
        s => return Err(format!("`{entry}` has an invalid scheme `{s}`")),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') && !looks_like_cidr(rest) {
        return Err(format!(
            "`{entry}` has a path; an allowed host is only `scheme://host:port`"
        ));
    }
    if rest.contains('?') || rest.contains('#') || rest.contains('@') {
        return Err(format!(
            "`{entry}` may not contain a query, fragment or user info"
        ));
    }
    let (host, port) = split_host_port(rest).map_err(|e| format!("`{entry}`: {e}"))?;
    let host = parse_host(host).map_err(|e| format!("`{entry}`: {e}"))?;
    let port = match port {
        Some(p) => parse_port(p).map_err(|e| format!("`{entry}`: {e}"))?,
        None => match &scheme {
            SchemeMatch::Exact(s) => match default_port(s) {
                Some(p) => PortMatch::Exact(p),
                None => {
                    return Err(format!(
                        "`{entry}` needs a port: scheme `{s}` has no default (add `:PORT` or `:*`)"
                    ));
                }
            },
            SchemeMatch::Any => {
                return Err(format!(
                    "`{entry}` needs a port when the scheme is `*` (add `:PORT` or `:*`)"
                ));
            }
        },
    };
    Ok(HostPattern { scheme, host, port })
}

fn looks_like_cidr(rest: &str) -> bool {
    // IPv6 ranges are written in brackets: `[fd00::/8]:*`.
    if let Some(v6) = rest.strip_prefix('[') {
        return v6.split_once(']').is_some_and(|(range, _)| {
            range.split_once('/').is_some_and(|(ip, bits)| {
                ip.parse::<IpAddr>().is_ok() && bits.parse::<u8>().is_ok()
            })
        });
    }
    let host = rest.rsplit_once(':').map_or(rest, |(h, _)| h);
    host.split_once('/')
        .is_some_and(|(ip, bits)| ip.parse::<IpAddr>().is_ok() && bits.parse::<u8>().is_ok())
}

fn split_host_port(rest: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("unclosed `[` in IPv6 address")?;
        return match after {
            "" => Ok((host, None)),
            p => Ok((
                host,
                Some(p.strip_prefix(':').ok_or("expected `:` after `]`")?),
            )),
        };
    }
    match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Ok((h, Some(p))),
        Some(_) => Err("IPv6 addresses must be written in brackets, e.g. `[::1]`".into()),
        None => Ok((rest, None)),
    }
}

fn parse_host(host: &str) -> Result<HostMatch, String> {
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if host == "*" {
        return Ok(HostMatch::Any);
    }
    if host == "self" {
        return Ok(HostMatch::SelfApp);
    }
    if let Some((ip, bits)) = host.split_once('/') {
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("`{host}` is not a CIDR range"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let bits: u8 = bits
            .parse()
            .ok()
            .filter(|b| *b <= max)
            .ok_or_else(|| format!("`{host}` has an invalid prefix length"))?;
        return Ok(HostMatch::Cidr(ip, bits));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(HostMatch::Ip(ip));
    }
    let (wildcard, domain) = match host.strip_prefix("*.") {
        Some(d) => (true, d),
        None => (false, host),
    };
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if domain.len() > 253 || !domain.split('.').all(valid_label) {
        return Err(format!("`{host}` is not a valid host name"));
    }
    let domain = domain.to_ascii_lowercase();
    Ok(if wildcard {
        HostMatch::Subdomains(domain)
    } else {
        HostMatch::Exact(domain)
    })
}

fn parse_port(port: &str) -> Result<PortMatch, String> {
    if port == "*" {
        return Ok(PortMatch::Any);
    }
    let num = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("`{p}` is not a port number (0-65535)"))
    };
    match port.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if a >= b {
                return Err(format!("port range `{port}` is empty"));
            }
            Ok(PortMatch::Range(a, b))
        }
        None => Ok(PortMatch::Exact(num(port)?)),
    }
}

/// Translates a deprecated `allowed_http_hosts` entry into `allowed_outbound_hosts` form.
pub fn translate_http_host(entry: &str) -> Vec<String> {
    match entry {
        "insecure:allow-all" => vec!["*://*:*".into()],
        e if e.contains("://") => vec![e.to_owned()],
        "self" => vec!["http://self".into()],
        e => vec![format!("https://{e}"), format!("http://{e}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> HostPattern {
        match parse_allowed_host(s).unwrap() {
            AllowedHost::Pattern(p) => p,
            t => panic!("unexpected {t:?}"),
        }
    }

    #[test]
    fn valid_entries_parse_to_their_parts() {
        let cases = [
            ("https://example.com", "https://example.com:443"),
            ("http://example.com:8080", "http://example.com:8080"),
            ("https://*.example.com", "https://*.example.com:443"),
            ("*://*:*", "*://*:*"),
            ("http://self", "http://self:80"),
            ("http://localhost:8000..8010", "http://localhost:8000..8010"),
            ("tcp://127.0.0.1:*", "tcp://127.0.0.1:*"),
            ("*://10.0.0.0/8:5432", "*://10.0.0.0/8:5432"),
            ("redis://cache.internal", "redis://cache.internal:6379"),
            ("postgres://db", "postgres://db:5432"),
            ("mqtt://broker:1883", "mqtt://broker:1883"),
            ("https://[::1]:8443", "https://[::1]:8443"),
            ("*://[fd00::/8]:*", "*://[fd00::/8]:*"),
            ("https://EXAMPLE.com/", "https://example.com:443"),
        ];
        for (input, shown) in cases {
            assert_eq!(pat(input).to_string(), shown, "{input}");
        }
    }

    #[test]
    fn malformed_entries_are_rejected_with_a_reason() {
        let cases = [
            ("example.com", "no scheme"),
            ("https://example.com/path", "has a path"),
            ("*://example.com", "needs a port"),
            ("tcp://127.0.0.1", "needs a port"),
            ("https://exa mple.com", "not a valid host"),
            ("https://example.com:99999", "not a port number"),
            ("https://example.com:10..5", "is empty"),
            ("https://", "host is empty"),
            ("ht tp://x.com", "invalid scheme"),
            ("https://10.0.0.0/40:*", "invalid prefix"),
            ("https://{{ host", "template"),
            ("https://user@example.com", "user info"),
        ];
        for (input, why) in cases {
            let err = parse_allowed_host(input).unwrap_err();
            assert!(err.contains(why), "{input}: {err}");
        }
    }

    #[test]
    fn templated_entries_are_kept_for_load_time() {
        assert_eq!(
            parse_allowed_host("https://{{ api_host }}").unwrap(),
            AllowedHost::Template("https://{{ api_host }}".into())
        );
    }

    #[test]
    fn deprecated_http_hosts_translate() {
        assert_eq!(translate_http_host("insecure:allow-all"), vec!["*://*:*"]);
        assert_eq!(
            translate_http_host("api.example.com"),
            vec!["https://api.example.com", "http://api.example.com"]
        );
    }
}
