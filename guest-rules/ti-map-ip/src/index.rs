//! Longest-prefix match over IPv4 and IPv6 networks.
//!
//! One hash table per prefix length, probed from the longest length down: a
//! lookup costs one probe per distinct length present (a few for real lists)
//! whatever the number of networks.

use asim_rule_core::{ip::mask, IpPrefix};
use hashbrown::HashMap;

/// Networks mapped to values; when two values share a network the one the
/// `better` order ranks first is kept.
pub struct PrefixIndex<T> {
    by_length: Vec<(u8, HashMap<u128, T>)>,
}

impl<T> PrefixIndex<T> {
    /// Builds the index; `better(a, b)` is true when `a` should win over `b`.
    pub fn build(
        entries: impl IntoIterator<Item = (IpPrefix, T)>,
        better: impl Fn(&T, &T) -> bool,
    ) -> PrefixIndex<T> {
        let mut tables: HashMap<u8, HashMap<u128, T>> = HashMap::new();
        for (prefix, value) in entries {
            let table = tables.entry(prefix.len).or_default();
            match table.get_mut(&prefix.addr) {
                Some(current) if better(&value, current) => *current = value,
                Some(_) => {}
                None => {
                    table.insert(prefix.addr, value);
                }
            }
        }
        let mut by_length: Vec<_> = tables.into_iter().collect();
        by_length.sort_unstable_by_key(|(len, _)| std::cmp::Reverse(*len));
        PrefixIndex { by_length }
    }

    /// The value of the longest network that contains `addr`.
    pub fn lookup(&self, addr: u128) -> Option<&T> {
        self.by_length
            .iter()
            .find_map(|(len, table)| table.get(&(addr & mask(*len))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpPrefix {
        IpPrefix::parse_network(text).unwrap()
    }

    fn addr(text: &str) -> u128 {
        net(text).addr
    }

    #[test]
    fn the_longest_covering_network_wins() {
        let index = PrefixIndex::build(
            [
                (net("10.0.0.0/8"), "wide"),
                (net("10.1.0.0/16"), "narrow"),
                (net("10.1.2.3"), "host"),
            ],
            |_, _| false,
        );
        assert_eq!(index.lookup(addr("10.1.2.3")), Some(&"host"));
        assert_eq!(index.lookup(addr("10.1.9.9")), Some(&"narrow"));
        assert_eq!(index.lookup(addr("10.9.9.9")), Some(&"wide"));
        assert_eq!(index.lookup(addr("11.0.0.1")), None);
    }

    #[test]
    fn ipv4_and_ipv6_live_in_one_space() {
        let index = PrefixIndex::build(
            [
                (net("2001:db8::/32"), 1),
                (net("::ffff:198.51.100.0/120"), 2),
            ],
            |_, _| false,
        );
        assert_eq!(index.lookup(addr("2001:DB8:0:0:0:0:0:1")), Some(&1));
        assert_eq!(index.lookup(addr("198.51.100.200")), Some(&2));
    }

    #[test]
    fn the_better_value_is_kept_for_one_network() {
        let index = PrefixIndex::build(
            [
                (net("10.0.0.1"), 5),
                (net("10.0.0.1"), 9),
                (net("10.0.0.1"), 7),
            ],
            |a, b| a > b,
        );
        assert_eq!(index.lookup(addr("10.0.0.1")), Some(&9));
    }
}
