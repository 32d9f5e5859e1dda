//! IPv4 CIDR blocks: parsing, normalization, containment and overlap.

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 CIDR block whose address is the network address (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: u32,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`. Host bits are cleared, as EC2 stores `10.0.0.1/16` as `10.0.0.0/16`.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (address, prefix) = text.split_once('/')?;
        let address: Ipv4Addr = address.parse().ok()?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 2 {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > 32 {
            return None;
        }
        Some(Cidr {
            network: u32::from(address) & mask(prefix),
            prefix,
        })
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Number of addresses in the block.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    fn last(&self) -> u32 {
        self.network | !mask(self.prefix)
    }

    /// Whether `other` lies entirely inside `self`.
    pub fn contains(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && other.network & mask(self.prefix) == self.network
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.network <= other.last() && other.network <= self.last()
    }

    /// The `index`-th block of prefix length `prefix` inside `self` (`172.31.0.0/16`, /20, 2 →
    /// `172.31.32.0/20`).
    pub fn nth_subnet(&self, prefix: u8, index: u32) -> Cidr {
        let step = 1u32 << (32 - u32::from(prefix));
        Cidr {
            network: self.network + step * index,
            prefix,
        }
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes() {
        assert_eq!(
            Cidr::parse("10.0.0.1/16").unwrap().to_string(),
            "10.0.0.0/16"
        );
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().size(), 1 << 32);
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/16",
            "10.0.0.0/",
            "10.0.0.0/+1",
            "x/8",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn containment_and_overlap() {
        let vpc = Cidr::parse("10.0.0.0/16").unwrap();
        let a = Cidr::parse("10.0.1.0/24").unwrap();
        let b = Cidr::parse("10.0.0.0/23").unwrap();
        let c = Cidr::parse("10.0.2.0/24").unwrap();
        assert!(vpc.contains(&a) && !a.contains(&vpc));
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert!(!vpc.contains(&Cidr::parse("10.1.0.0/24").unwrap()));
        assert_eq!(vpc.nth_subnet(20, 2).to_string(), "10.0.32.0/20");
    }
}
