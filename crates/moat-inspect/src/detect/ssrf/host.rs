//! Host classification: IPv4 in every form `inet_aton` accepts, IPv6
//! (with embedded IPv4), and the names that mean "this machine" or "the
//! cloud's metadata service".

use std::net::{Ipv4Addr, Ipv6Addr};

/// Where a host points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Target {
    /// A public address or an ordinary name.
    Public,
    /// A private range (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7).
    Private,
    /// Link-local (169.254/16, fe80::/10), broadcast, multicast.
    LinkLocal,
    /// Loopback, `0.0.0.0`, `localhost`.
    Loopback,
    /// A cloud metadata service.
    Metadata,
}

/// What a host is and whether it was written in an unusual form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HostInfo {
    pub target: Target,
    /// Decimal, hex, octal or short IPv4; IPv4 inside IPv6; a
    /// DNS-rebinding name embedding an internal address.
    pub obfuscated: bool,
    /// A literal address (not a name).
    pub literal: bool,
}

/// Classifies a host (without brackets' port; brackets kept for IPv6).
pub(super) fn classify(host: &str) -> Option<HostInfo> {
    let host = host.trim_end_matches('.');
    if host.is_empty() || host.len() > 255 {
        return None;
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return ipv6(inner);
    }
    if host.contains(':') {
        return ipv6(host);
    }
    if let Some((ip, canonical)) = ipv4(host) {
        return Some(HostInfo {
            target: v4_target(ip),
            obfuscated: !canonical,
            literal: true,
        });
    }
    name(host)
}

fn ipv6(s: &str) -> Option<HostInfo> {
    // Zone ids: `fe80::1%25eth0`, `fe80::1%eth0`.
    let s = s.split('%').next().unwrap_or(s);
    let ip: Ipv6Addr = s.parse().ok()?;
    let seg = ip.segments();
    let embedded = |a: u16, b: u16| Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8);
    // `::ffff:a.b.c.d` mapped, `::a.b.c.d` compatible, 64:ff9b::/96
    // NAT64, 2002::/16 6to4.
    let mapped = seg[..5] == [0; 5] && seg[5] == 0xffff;
    let compatible = seg[..6] == [0; 6] && (seg[6] != 0 || seg[7] > 1);
    let nat64 = seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0; 4];
    let v4 = if mapped || compatible || nat64 {
        Some(embedded(seg[6], seg[7]))
    } else if seg[0] == 0x2002 {
        Some(embedded(seg[1], seg[2]))
    } else {
        None
    };
    if let Some(v4) = v4 {
        return Some(HostInfo {
            target: v4_target(v4),
            obfuscated: true,
            literal: true,
        });
    }
    let target = if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Target::Metadata
    } else if ip.is_loopback() || ip.is_unspecified() {
        Target::Loopback
    } else if (seg[0] & 0xffc0) == 0xfe80 || (seg[0] & 0xff00) == 0xff00 {
        Target::LinkLocal
    } else if (seg[0] & 0xfe00) == 0xfc00 || (seg[0] & 0xffc0) == 0xfec0 {
        Target::Private
    } else {
        Target::Public
    };
    Some(HostInfo {
        target,
        obfuscated: false,
        literal: true,
    })
}

/// Parses IPv4 as `inet_aton` does: one to four parts, each decimal, hex
/// (`0x`) or octal (leading `0`), the last filling the remaining bytes.
/// Says whether the form was the canonical dotted quad.
pub(super) fn ipv4(s: &str) -> Option<(Ipv4Addr, bool)> {
    // Only digits, dots and hex digits (with `x`) can make an address.
    if !s
        .bytes()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, b'.' | b'x' | b'X'))
    {
        return None;
    }
    let mut values = [0u64; 4];
    let mut n = 0;
    let mut canonical = true;
    for p in s.split('.') {
        if n == 4 {
            return None;
        }
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X"))
        {
            canonical = false;
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            canonical = false;
            (&p[1..], 8)
        } else {
            (p, 10)
        };
        if digits.is_empty() {
            if radix == 16 {
                values[n] = 0;
                n += 1;
                continue;
            }
            return None;
        }
        if digits.len() > 12 || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        values[n] = u64::from_str_radix(digits, radix).ok()?;
        n += 1;
    }
    canonical &= n == 4;
    let values = &values[..n];
    let mut addr: u64 = 0;
    for (i, &v) in values.iter().enumerate() {
        if i + 1 < n {
            if v > 255 {
                return None;
            }
            addr |= v << (8 * (3 - i));
        } else {
            let room = 8 * (4 - i as u64);
            if v >= (1u64 << room) {
                return None;
            }
            addr |= v;
        }
    }
    let addr = u32::try_from(addr).ok()?;
    Some((Ipv4Addr::from(addr), canonical))
}

pub(super) fn v4_target(ip: Ipv4Addr) -> Target {
    let o = ip.octets();
    if o == [169, 254, 169, 254]
        || o == [100, 100, 100, 200]
        || o == [192, 0, 0, 192]
        || o == [169, 254, 170, 2]
    {
        Target::Metadata
    } else if o[0] == 127 || o[0] == 0 {
        Target::Loopback
    } else if (o[0] == 169 && o[1] == 254) || o[0] >= 224 {
        Target::LinkLocal
    } else if o[0] == 10
        || (o[0] == 172 && (16..32).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 100 && (64..128).contains(&o[1]))
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
    {
        Target::Private
    } else {
        Target::Public
    }
}

/// Names.
fn name(host: &str) -> Option<HostInfo> {
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return None;
    }
    let mut buf = [0u8; 256];
    let lower = buf.get_mut(..host.len())?;
    lower.copy_from_slice(host.as_bytes());
    lower.make_ascii_lowercase();
    let h = std::str::from_utf8(lower).ok()?;
    let info = |target, obfuscated| {
        Some(HostInfo {
            target,
            obfuscated,
            literal: false,
        })
    };
    const METADATA: &[&str] = &[
        "metadata.google.internal",
        "metadata",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
        "metadata.packet.net",
    ];
    if METADATA.contains(&h) {
        return info(Target::Metadata, false);
    }
    if h == "localhost"
        || h.ends_with(".localhost")
        || h == "localhost.localdomain"
        || h == "ip6-localhost"
        || h == "ip6-loopback"
        || h == "localtest.me"
        || h.ends_with(".localtest.me")
        || h == "lvh.me"
        || h.ends_with(".lvh.me")
        || h == "vcap.me"
    {
        return info(Target::Loopback, h != "localhost");
    }
    // `127.0.0.1.nip.io`, `169.254.169.254.sslip.io`, `10-0-0-1.nip.io`.
    for suffix in [
        ".nip.io",
        ".xip.io",
        ".sslip.io",
        ".traefik.me",
        ".localh.st",
    ] {
        if let Some(prefix) = h.strip_suffix(suffix) {
            let tail: Vec<&str> = prefix.rsplit(['.', '-']).take(4).collect();
            if tail.len() == 4 {
                let quad = format!("{}.{}.{}.{}", tail[3], tail[2], tail[1], tail[0]);
                if let Some((ip, _)) = ipv4(&quad) {
                    let t = v4_target(ip);
                    if t != Target::Public {
                        return info(t, true);
                    }
                }
            }
        }
    }
    if h.ends_with(".internal")
        || h.ends_with(".svc.cluster.local")
        || h == "kubernetes.default.svc"
        || h == "kubernetes.default"
    {
        return info(Target::Private, false);
    }
    info(Target::Public, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: &str) -> Option<(Target, bool)> {
        classify(h).map(|i| (i.target, i.obfuscated))
    }

    #[test]
    fn forms() {
        assert_eq!(t("127.0.0.1"), Some((Target::Loopback, false)));
        assert_eq!(t("2130706433"), Some((Target::Loopback, true)));
        assert_eq!(t("0x7f000001"), Some((Target::Loopback, true)));
        assert_eq!(t("0x7f.1"), Some((Target::Loopback, true)));
        assert_eq!(t("0177.0.0.1"), Some((Target::Loopback, true)));
        assert_eq!(t("127.1"), Some((Target::Loopback, true)));
        assert_eq!(t("0"), Some((Target::Loopback, true)));
        assert_eq!(t("0.0.0.0"), Some((Target::Loopback, false)));
        assert_eq!(t("169.254.169.254"), Some((Target::Metadata, false)));
        assert_eq!(t("0xa9fea9fe"), Some((Target::Metadata, true)));
        assert_eq!(t("[::1]"), Some((Target::Loopback, false)));
        assert_eq!(t("[::ffff:127.0.0.1]"), Some((Target::Loopback, true)));
        assert_eq!(t("[::ffff:7f00:1]"), Some((Target::Loopback, true)));
        assert_eq!(t("[fd00:ec2::254]"), Some((Target::Metadata, false)));
        assert_eq!(t("[fc00::1]"), Some((Target::Private, false)));
        assert_eq!(t("[fe80::1%25eth0]"), Some((Target::LinkLocal, false)));
        assert_eq!(t("10.1.2.3"), Some((Target::Private, false)));
        assert_eq!(t("172.31.0.1"), Some((Target::Private, false)));
        assert_eq!(t("172.32.0.1"), Some((Target::Public, false)));
        assert_eq!(t("192.168.0.1"), Some((Target::Private, false)));
        assert_eq!(t("100.100.100.200"), Some((Target::Metadata, false)));
        assert_eq!(
            t("metadata.google.internal"),
            Some((Target::Metadata, false))
        );
        assert_eq!(t("127.0.0.1.nip.io"), Some((Target::Loopback, true)));
        assert_eq!(t("LocalHost"), Some((Target::Loopback, false)));
        assert_eq!(t("example.com"), Some((Target::Public, false)));
        assert_eq!(t("8.8.8.8"), Some((Target::Public, false)));
        assert_eq!(t("256.1.1.1"), Some((Target::Public, false)));
        assert_eq!(t("exa mple"), None);
    }
}
