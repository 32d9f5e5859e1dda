//! EC2 networking semantics without I/O: VPCs, subnets, security groups and their rules, main
//! route tables, tags, the regions table, Describe filters and pagination, and EC2's errors.
//!
//! Handlers call the operations inside one store transaction, passing a [`Records`] over that
//! transaction, an [`Ids`] source and the request's [`Scope`]. Nothing here reads a clock,
//! draws randomness or does I/O, so every rule is tested with [`MemoryRecords`] and
//! [`SequentialIds`].

mod cidr;
mod error;
mod filter;
mod ids;
mod model;
mod network;
mod page;
mod records;
mod regions;
mod security_group;
mod tags;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use cidr::Cidr;
pub use error::Ec2Error;
pub use filter::{Filter, wildcard_match};
pub use ids::{Ids, SequentialIds, is_id_of};
pub use model::*;
pub use network::*;
pub use page::Page;
pub use records::{Kind, MemoryRecords, Record, Records, Stored, dry_run, load, load_all, store};
pub use regions::{
    AvailabilityZone, RegionInfo, availability_zones, describe_availability_zones,
    describe_regions, is_known_region, regions,
};
pub use security_group::*;
pub use tags::*;

/// The account and region a request acts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn new(account: &str, region: &str) -> Scope {
        Scope {
            account: account.to_owned(),
            region: region.to_owned(),
        }
    }

    /// `arn:aws:ec2:REGION:ACCOUNT:RESOURCE`.
    pub(crate) fn arn(&self, resource: &str) -> String {
        format!("arn:aws:ec2:{}:{}:{resource}", self.region, self.account)
    }
}
