//! Longest-prefix match over IPv4 and IPv6 networks.
//!
//! One hash table per prefix length, probed from the longest length down: a
//! lookup costs one probe per distinct length present (a few for real lists)
//! whatever the number of networks. Most session addresses match nothing, so
//! IPv4 lookups first test a bitmap of the /24 blocks any network touches
//! (2 MiB): a miss costs one bit test.

use asim_rule_core::{ip::mask, IpPrefix};
use hashbrown::{hash_map::Entry, HashMap};

/// Networks mapped to values; when two values share a network the one the
/// `better` order ranks first is kept.
pub struct PrefixIndex<T> {
    by_length: Vec<(u8, HashMap<u128, T>)>,
    /// One bit per IPv4 /24: set when some network overlaps it.
    v4_blocks: Vec<u64>,
}

const IPV4_MAPPED: u128 = 0xffff << 32;
/// The IPv4-mapped space, ::ffff:0:0/96.
const IPV4_SPACE_LEN: u8 = 96;
/// Prefix length of an IPv4 /24 in the 128-bit space.
const BLOCK_LEN: u8 = 96 + 24;

/// The /24 block of an IPv4-mapped address.
fn block(addr: u128) -> usize {
    ((addr >> 8) & 0xff_ffff) as usize
}

fn is_ipv4(addr: u128) -> bool {
    addr >> 32 == 0xffff
}

impl<T> PrefixIndex<T> {
    /// Builds the index; `better(a, b)` is true when `a` should win over `b`.
    pub fn build(
        entries: impl IntoIterator<Item = (IpPrefix, T)>,
        better: impl Fn(&T, &T) -> bool,
    ) -> PrefixIndex<T> {
        // Each length's table sized once from a count: no table grows (a
        // rehash in a component is fresh linear memory, hashed again).
        let entries: Vec<(IpPrefix, T)> = entries.into_iter().collect();
        let mut per_length = [0usize; 256];
        for (prefix, _) in &entries {
            per_length[usize::from(prefix.len)] += 1;
        }
        let mut slot_of_length = [0usize; 256];
        let mut by_length = Vec::new();
        for (len, &count) in per_length.iter().enumerate().rev() {
            if count > 0 {
                slot_of_length[len] = by_length.len();
                by_length.push((len as u8, HashMap::with_capacity(count)));
            }
        }
        // No network, no bitmap: an instance without indicators (a swap's
        // smoke evaluation, a new tenant) does not clear 2 MiB.
        let mut v4_blocks = match entries.is_empty() {
            true => Vec::new(),
            false => vec![0u64; 1 << 18],
        };
        for (prefix, value) in entries {
            mark_blocks(&mut v4_blocks, prefix.addr, prefix.len);
            let table = &mut by_length[slot_of_length[usize::from(prefix.len)]].1;
            match table.entry(prefix.addr) {
                Entry::Occupied(mut current) => {
                    if better(&value, current.get()) {
                        current.insert(value);
                    }
                }
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
            }
        }
        PrefixIndex {
            by_length,
            v4_blocks,
        }
    }

    /// Bytes the index holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(u128, T)>() + 1;
        self.by_length
            .iter()
            .map(|(_, table)| table.capacity() * entry)
            .sum::<usize>()
            + self.v4_blocks.len() * 8
    }

    /// Whether no network contains `addr`, known from one bit: an IPv4
    /// address whose /24 block no network touches.
    pub fn surely_misses(&self, addr: u128) -> bool {
        if !is_ipv4(addr) {
            return false;
        }
        let block = block(addr);
        let word = self.v4_blocks.get(block / 64).copied().unwrap_or(0);
        word & (1 << (block % 64)) == 0
    }

    /// The value of the longest network that contains `addr`.
    pub fn lookup(&self, addr: u128) -> Option<&T> {
        if self.surely_misses(addr) {
            return None;
        }
        self.by_length
            .iter()
            .find_map(|(len, table)| table.get(&(addr & mask(*len))))
    }
}

/// Sets the bits of the IPv4 /24 blocks the network `addr/len` overlaps.
fn mark_blocks(blocks: &mut [u64], addr: u128, len: u8) {
    let range = if len >= BLOCK_LEN && is_ipv4(addr) {
        block(addr)..block(addr) + 1
    } else if len >= IPV4_SPACE_LEN && is_ipv4(addr) {
        let first = block(addr);
        first..first + (1 << (BLOCK_LEN - len))
    } else if len < IPV4_SPACE_LEN && ipv4_space_covered(addr, len) {
        0..1 << 24
    } else {
        return;
    };
    for block in range {
        blocks[block / 64] |= 1 << (block % 64);
    }
}

/// Whether an IPv6 network shorter than /96 contains the IPv4-mapped space.
fn ipv4_space_covered(addr: u128, len: u8) -> bool {
    asim_rule_core::IpPrefix::new(addr, len).contains(IPV4_MAPPED)
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
    fn wide_networks_and_ipv6_supernets_still_reach_ipv4_addresses() {
        let index = PrefixIndex::build([(net("10.0.0.0/8"), 1)], |_, _| false);
        assert_eq!(index.lookup(addr("10.255.1.1")), Some(&1));
        assert_eq!(index.lookup(addr("11.0.0.1")), None);
        let all = PrefixIndex::build([(net("::/0"), 2)], |_, _| false);
        assert_eq!(all.lookup(addr("203.0.113.9")), Some(&2));
        let mapped = PrefixIndex::build([(net("::ffff:0:0/96"), 3)], |_, _| false);
        assert_eq!(mapped.lookup(addr("198.51.100.1")), Some(&3));
        assert_eq!(mapped.lookup(addr("2001:db8::1")), None);
        let other_v6 = PrefixIndex::build([(net("2001:db8::/32"), 4)], |_, _| false);
        assert_eq!(other_v6.lookup(addr("198.51.100.1")), None);
    }

    #[test]
    fn an_empty_index_holds_no_bitmap_and_matches_nothing() {
        let index = PrefixIndex::<u32>::build([], |_, _| false);
        assert_eq!(index.heap_bytes(), 0);
        assert_eq!(index.lookup(addr("10.0.0.1")), None);
        assert_eq!(index.lookup(addr("2001:db8::1")), None);
    }

    #[test]
    fn only_ipv4_addresses_outside_every_network_block_surely_miss() {
        let index = PrefixIndex::build(
            [(net("10.1.2.0/28"), 1), (net("2001:db8::/32"), 2)],
            |_, _| false,
        );
        // The same /24 as the network, outside it: the bit cannot tell.
        assert!(!index.surely_misses(addr("10.1.2.200")));
        assert!(!index.surely_misses(addr("10.1.2.3")));
        assert!(index.surely_misses(addr("10.1.3.3")));
        assert!(!index.surely_misses(addr("2001:db9::1")));
        assert_eq!(index.lookup(addr("10.1.2.200")), None);
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
