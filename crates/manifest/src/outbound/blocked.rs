//! `block_networks`: address ranges no component may reach, whatever its
//! `allowed_outbound_hosts` grants — Spin's `[outbound_networking] block_networks` in the
//! runtime config. Entries are CIDR ranges (`10.0.0.0/8`, `fd00::/8`, a bare address)
//! or `private`: every address that is not globally routable (loopback, RFC 1918,
//! link-local, CGNAT, unique-local, documentation and other special-purpose ranges).

use super::policy::in_cidr;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One `block_networks` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BlockRule {
    /// `net/bits`, with the host bits cleared, as Spin reads it.
    Cidr(IpAddr, u8),
    /// `private`: every address that is not globally routable.
    Private,
}

impl fmt::Display for BlockRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cidr(ip, bits) => write!(f, "{ip}/{bits}"),
            Self::Private => f.write_str("private"),
        }
    }
}

/// The networks the runtime config blocks; empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockedNetworks {
    rules: Vec<BlockRule>,
}

impl BlockedNetworks {
    /// Parses `block_networks` entries; the error names the first malformed one.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let rules = entries
            .iter()
            .map(|entry| {
                parse_rule(entry.trim()).ok_or_else(|| {
                    format!(
                        "`{entry}` is neither an IP network in CIDR notation (`10.0.0.0/8`, \
                     `fd00::/8`) nor `private`"
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { rules })
    }

    /// The entry that blocks `ip`, as the runtime config would spell it, if one does.
    pub fn rule_blocking(&self, ip: IpAddr) -> Option<String> {
        // An IPv4 address mapped into IPv6 is the IPv4 address for every rule.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.rules
            .iter()
            .find(|rule| match rule {
                BlockRule::Cidr(net, bits) => in_cidr(ip, *net, *bits),
                BlockRule::Private => !is_global(ip),
            })
            .map(ToString::to_string)
    }
}

fn parse_rule(entry: &str) -> Option<BlockRule> {
    if entry == "private" {
        return Some(BlockRule::Private);
    }
    let (ip, bits) = match entry.split_once('/') {
        Some((ip, bits)) => (ip.parse::<IpAddr>().ok()?, Some(bits.parse::<u8>().ok()?)),
        None => (entry.parse::<IpAddr>().ok()?, None),
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    if bits > max {
        return None;
    }
    Some(BlockRule::Cidr(truncate(ip, bits), bits))
}

/// `ip` with every bit past the prefix cleared (`8.8.8.8/16` is `8.8.0.0/16`).
fn truncate(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

/// Whether `ip` is globally routable, after IANA's special-purpose address registries
/// (what the unstable `IpAddr::is_global` decides).
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_global_v4(v4),
            None => is_global_v6(v6),
        },
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = ip.is_unspecified()
        || a == 0 // "this network"
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || (a == 100 && (b & 0xc0) == 64) // shared address space (CGNAT), 100.64/10
        || ip.is_loopback()
        || ip.is_link_local()
        // IETF protocol assignments (192.0.0/24), but for the two anycast relays in it
        || (a == 192 && b == 0 && c == 0 && !matches!(ip.octets()[3], 9 | 10))
        || ip.is_documentation()
        || (a == 198 && (b & 0xfe) == 18) // benchmarking, 198.18/15
        || a >= 240 // reserved, and the broadcast address
        || ip.is_multicast();
    !special
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let special = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || segments[0] == 0x64 && segments[1] == 0xff9b && segments[2] == 1 // 64:ff9b:1::/48
        || (segments[0] == 0x100 && segments[1..4] == [0, 0, 0]) // discard-only, 100::/64
        // IETF protocol assignments, 2001::/23, but for the global ones inside it
        || (segments[0] == 0x2001 && segments[1] < 0x200 && !ietf_global_v6(ip))
        || (segments[0] == 0x2001 && segments[1] == 0xdb8) // documentation
        || (segments[0] & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80; // link-local, fe80::/10
    !special
}

/// The globally reachable assignments inside 2001::/23: two anycast addresses
/// (2001:1::1, 2001:1::2), AMT (2001:3::/32), AS112-v6 (2001:4:112::/48) and ORCHIDv2
/// (2001:20::/28, 2001:30::/28).
fn ietf_global_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let anycast = u128::from(ip) == 0x2001_0001_0000_0000_0000_0000_0000_0001
        || u128::from(ip) == 0x2001_0001_0000_0000_0000_0000_0000_0002;
    anycast || s[1] == 3 || (s[1] == 4 && s[2] == 0x112) || (0x20..=0x3f).contains(&s[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(entries: &[&str]) -> BlockedNetworks {
        BlockedNetworks::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_blocks_everything_not_globally_routable() {
        let b = blocked(&["private"]);
        for addr in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.2.1",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
        ] {
            assert_eq!(
                b.rule_blocking(ip(addr)).as_deref(),
                Some("private"),
                "{addr}"
            );
        }
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert_eq!(b.rule_blocking(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn cidr_entries_are_truncated_and_named_as_spin_reads_them() {
        let b = blocked(&["8.8.8.8/16", "1.1.1.1", "fd00::/8"]);
        assert_eq!(
            b.rule_blocking(ip("8.8.4.4")).as_deref(),
            Some("8.8.0.0/16")
        );
        assert_eq!(
            b.rule_blocking(ip("1.1.1.1")).as_deref(),
            Some("1.1.1.1/32")
        );
        assert_eq!(b.rule_blocking(ip("1.1.1.2")), None);
        assert_eq!(b.rule_blocking(ip("fd12::1")).as_deref(), Some("fd00::/8"));
        assert_eq!(
            b.rule_blocking(ip("::ffff:8.8.1.1")).as_deref(),
            Some("8.8.0.0/16")
        );
        assert_eq!(blocked(&[]).rule_blocking(ip("127.0.0.1")), None);
    }

    #[test]
    fn malformed_entries_are_named() {
        for bad in [
            "privat",
            "10.0.0.0/33",
            "::/129",
            "example.com",
            "10.0.0.0/x",
        ] {
            let err = BlockedNetworks::parse(&[bad.to_owned()]).unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }
}
