//! IP addresses and networks in one 128-bit space.
//!
//! IPv4 `a.b.c.d` is stored as the IPv4-mapped IPv6 address `::ffff:a.b.c.d`, so
//! the two families compare by value with one integer comparison, and an IPv4
//! prefix `/n` becomes `/(96 + n)`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// An address (`len == 128`) or a network, host bits zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IpPrefix {
    /// The network address.
    pub addr: u128,
    /// Prefix length, 0..=128.
    pub len: u8,
}

const IPV4_MAPPED: u128 = 0xffff << 32;

impl IpPrefix {
    /// Parses a single address, IPv4 or IPv6 in any textual form.
    pub fn parse_address(text: &str) -> Option<IpPrefix> {
        if let Some(v4) = dotted_quad(text.as_bytes()) {
            return Some(IpPrefix {
                addr: IPV4_MAPPED | u128::from(v4),
                len: 128,
            });
        }
        let ip: IpAddr = text.trim().parse().ok()?;
        Some(IpPrefix {
            addr: to_bits(ip),
            len: 128,
        })
    }

    /// Parses an address or a CIDR network (`198.51.100.0/24`, `2001:db8::/32`).
    /// Host bits written in a CIDR are cleared.
    pub fn parse_network(text: &str) -> Option<IpPrefix> {
        let text = text.trim();
        let Some((addr, len)) = text.split_once('/') else {
            return IpPrefix::parse_address(text);
        };
        let ip: IpAddr = addr.parse().ok()?;
        let len: u8 = len.parse().ok()?;
        let len = match ip {
            IpAddr::V4(_) if len <= 32 => len + 96,
            IpAddr::V6(_) if len <= 128 => len,
            _ => return None,
        };
        Some(IpPrefix::new(to_bits(ip), len))
    }

    /// The network of length `len` that contains `addr`.
    pub fn new(addr: u128, len: u8) -> IpPrefix {
        let len = len.min(128);
        IpPrefix {
            addr: addr & mask(len),
            len,
        }
    }

    /// Whether `addr` lies inside this network.
    pub fn contains(&self, addr: u128) -> bool {
        addr & mask(self.len) == self.addr
    }

    /// The high 64 bits of the address.
    pub fn hi(&self) -> u64 {
        (self.addr >> 64) as u64
    }

    /// The low 64 bits of the address.
    pub fn lo(&self) -> u64 {
        self.addr as u64
    }

    /// Rebuilds a prefix from its WIT parts, clearing host bits.
    pub fn from_parts(hi: u64, lo: u64, len: u8) -> IpPrefix {
        IpPrefix::new((u128::from(hi) << 64) | u128::from(lo), len)
    }
}

/// The 128-bit value of an address, IPv4 mapped into IPv6.
pub fn to_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => IPV4_MAPPED | u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The plain `a.b.c.d` that most addresses are, read by hand (this runs per
/// row); anything else is left to the standard library's parser, which
/// agrees on every text this accepts (no leading zeros, each part <= 255).
fn dotted_quad(bytes: &[u8]) -> Option<u32> {
    let (mut address, mut part, mut digits, mut dots) = (0u32, 0u32, 0, 0);
    for &byte in bytes {
        match byte {
            // A part has one to three digits and no leading zero.
            b'0'..=b'9' if digits < 3 && !(digits == 1 && part == 0) => {
                part = part * 10 + u32::from(byte - b'0');
                digits += 1;
            }
            b'.' if digits > 0 && part <= 255 && dots < 3 => {
                address = address << 8 | part;
                (part, digits, dots) = (0, 0, dots + 1);
            }
            _ => return None,
        }
    }
    (dots == 3 && digits > 0 && part <= 255).then_some(address << 8 | part)
}

/// The mask that keeps the first `len` bits.
pub fn mask(len: u8) -> u128 {
    match len {
        0 => 0,
        len if len >= 128 => u128::MAX,
        len => u128::MAX << (128 - u32::from(len)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> u128 {
        IpPrefix::parse_address(text)
            .map(|p| p.addr)
            .unwrap_or_default()
    }

    #[test]
    fn the_dotted_quad_path_agrees_with_the_standard_parser() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        let pieces = [
            "0", "00", "01", "7", "10", "99", "100", "199", "255", "256", "999", "1000", "", "a",
            "-1", " 1", "1 ",
        ];
        for _ in 0..50_000 {
            let parts = 3 + next(3) as usize;
            let text: Vec<&str> = (0..parts)
                .map(|_| pieces[next(pieces.len() as u64) as usize])
                .collect();
            let text = text.join(".");
            let by_std = text.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
            if let Some(fast) = dotted_quad(text.as_bytes()) {
                assert_eq!(Some(fast), by_std, "{text:?}");
            }
            let parsed = IpPrefix::parse_address(&text).map(|p| p.addr);
            let expected = text.trim().parse::<IpAddr>().ok().map(to_bits);
            assert_eq!(parsed, expected, "{text:?}");
        }
    }

    #[test]
    fn ipv4_and_its_mapped_ipv6_form_are_one_address() {
        assert_eq!(addr("198.51.100.7"), addr("::ffff:198.51.100.7"));
        assert_eq!(addr("198.51.100.7"), addr("::FFFF:C633:6407"));
    }

    #[test]
    fn ipv6_compares_by_value_in_any_textual_form() {
        let forms = [
            "2001:db8::1",
            "2001:DB8::1",
            "2001:0db8:0000:0000:0000:0000:0000:0001",
        ];
        for form in forms {
            assert_eq!(addr(form), addr("2001:db8::1"), "{form}");
        }
    }

    #[test]
    fn cidr_networks_cover_their_addresses_only() {
        let v4 = IpPrefix::parse_network("198.51.100.0/24").unwrap();
        assert_eq!(v4.len, 120);
        assert!(v4.contains(addr("198.51.100.255")));
        assert!(!v4.contains(addr("198.51.101.0")));
        let v6 = IpPrefix::parse_network("2001:db8::/32").unwrap();
        assert!(v6.contains(addr("2001:db8:ffff::1")));
        assert!(!v6.contains(addr("2001:db9::1")));
    }

    #[test]
    fn host_bits_in_a_cidr_are_cleared() {
        let net = IpPrefix::parse_network("198.51.100.7/24").unwrap();
        assert_eq!(net, IpPrefix::parse_network("198.51.100.0/24").unwrap());
    }

    #[test]
    fn zero_and_full_prefixes() {
        let all_v4 = IpPrefix::parse_network("0.0.0.0/0").unwrap();
        assert!(all_v4.contains(addr("203.0.113.9")));
        assert!(!all_v4.contains(addr("2001:db8::1")));
        let host = IpPrefix::parse_network("2001:db8::1/128").unwrap();
        assert!(host.contains(addr("2001:db8::1")));
        assert!(!host.contains(addr("2001:db8::2")));
    }

    #[test]
    fn malformed_text_is_not_an_address() {
        for text in [
            "",
            "33.778.136.777",
            "10.0.0",
            "example.org",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/x",
        ] {
            assert_eq!(IpPrefix::parse_network(text), None, "{text}");
        }
        assert_eq!(IpPrefix::parse_address("10.0.0.0/8"), None);
    }
}
