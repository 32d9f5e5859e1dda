//! What the operations read and write: one (account, region)'s EC2 networking records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Ec2Error;
use crate::model::{
    DhcpOptions, InternetGateway, NetworkAcl, RouteTable, SecurityGroup, Subnet, TagSet, Vpc,
};

/// The kinds of stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Vpc,
    Subnet,
    SecurityGroup,
    RouteTable,
    InternetGateway,
    DhcpOptions,
    NetworkAcl,
    /// Keyed by the tagged resource's id.
    TagSet,
}

/// One stored record; security group rules live inside their group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    Vpc(Vpc),
    Subnet(Subnet),
    SecurityGroup(SecurityGroup),
    RouteTable(RouteTable),
    InternetGateway(InternetGateway),
    DhcpOptions(DhcpOptions),
    NetworkAcl(NetworkAcl),
    TagSet(TagSet),
}

impl Record {
    pub fn kind(&self) -> Kind {
        match self {
            Record::Vpc(_) => Kind::Vpc,
            Record::Subnet(_) => Kind::Subnet,
            Record::SecurityGroup(_) => Kind::SecurityGroup,
            Record::RouteTable(_) => Kind::RouteTable,
            Record::InternetGateway(_) => Kind::InternetGateway,
            Record::DhcpOptions(_) => Kind::DhcpOptions,
            Record::NetworkAcl(_) => Kind::NetworkAcl,
            Record::TagSet(_) => Kind::TagSet,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Record::Vpc(r) => &r.vpc_id,
            Record::Subnet(r) => &r.subnet_id,
            Record::SecurityGroup(r) => &r.group_id,
            Record::RouteTable(r) => &r.route_table_id,
            Record::InternetGateway(r) => &r.internet_gateway_id,
            Record::DhcpOptions(r) => &r.dhcp_options_id,
            Record::NetworkAcl(r) => &r.network_acl_id,
            Record::TagSet(r) => &r.resource_id,
        }
    }
}

/// Typed storage of one (account, region), implemented by the handlers over a store
/// transaction. Errors are the store's, already mapped to an EC2 error.
///
/// Every operation validates completely before its first write, which is what lets
/// [`dry_run`] answer by running the operation with writes discarded.
pub trait Records {
    fn get(&mut self, kind: Kind, id: &str) -> Result<Option<Record>, Ec2Error>;
    /// Every record of `kind`, in any order.
    fn list(&mut self, kind: Kind) -> Result<Vec<Record>, Ec2Error>;
    /// Inserts or replaces the record with the same kind and id.
    fn put(&mut self, record: Record) -> Result<(), Ec2Error>;
    /// Removes the record if present.
    fn delete(&mut self, kind: Kind, id: &str) -> Result<(), Ec2Error>;
}

/// A record type with its `Kind`, for the typed accessors below.
pub trait Stored: Sized {
    const KIND: Kind;
    fn from_record(record: Record) -> Option<Self>;
    fn into_record(self) -> Record;
}

macro_rules! stored {
    ($($ty:ident),*) => {$(
        impl Stored for $ty {
            const KIND: Kind = Kind::$ty;
            fn from_record(record: Record) -> Option<Self> {
                match record {
                    Record::$ty(r) => Some(r),
                    _ => None,
                }
            }
            fn into_record(self) -> Record {
                Record::$ty(self)
            }
        }
    )*};
}
stored!(
    Vpc,
    Subnet,
    SecurityGroup,
    RouteTable,
    InternetGateway,
    DhcpOptions,
    NetworkAcl,
    TagSet
);

/// The record of type `T` with `id`.
pub fn load<T: Stored>(records: &mut dyn Records, id: &str) -> Result<Option<T>, Ec2Error> {
    Ok(records.get(T::KIND, id)?.and_then(T::from_record))
}

/// Every record of type `T`, sorted by id.
pub fn load_all<T: Stored>(records: &mut dyn Records) -> Result<Vec<T>, Ec2Error> {
    let mut all = records.list(T::KIND)?;
    all.sort_by(|a, b| a.id().cmp(b.id()));
    Ok(all.into_iter().filter_map(T::from_record).collect())
}

pub fn store<T: Stored>(records: &mut dyn Records, record: T) -> Result<(), Ec2Error> {
    records.put(record.into_record())
}

/// Records in memory, for tests and for callers without a store.
#[derive(Debug, Default, Clone)]
pub struct MemoryRecords {
    records: BTreeMap<(Kind, String), Record>,
}

impl Records for MemoryRecords {
    fn get(&mut self, kind: Kind, id: &str) -> Result<Option<Record>, Ec2Error> {
        Ok(self.records.get(&(kind, id.to_owned())).cloned())
    }

    fn list(&mut self, kind: Kind) -> Result<Vec<Record>, Ec2Error> {
        Ok(self
            .records
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, r)| r.clone())
            .collect())
    }

    fn put(&mut self, record: Record) -> Result<(), Ec2Error> {
        self.records
            .insert((record.kind(), record.id().to_owned()), record);
        Ok(())
    }

    fn delete(&mut self, kind: Kind, id: &str) -> Result<(), Ec2Error> {
        self.records.remove(&(kind, id.to_owned()));
        Ok(())
    }
}

/// Reads through to the real records and drops every write.
struct DiscardWrites<'a> {
    inner: &'a mut dyn Records,
}

impl Records for DiscardWrites<'_> {
    fn get(&mut self, kind: Kind, id: &str) -> Result<Option<Record>, Ec2Error> {
        self.inner.get(kind, id)
    }

    fn list(&mut self, kind: Kind) -> Result<Vec<Record>, Ec2Error> {
        self.inner.list(kind)
    }

    fn put(&mut self, _: Record) -> Result<(), Ec2Error> {
        Ok(())
    }

    fn delete(&mut self, _: Kind, _: &str) -> Result<(), Ec2Error> {
        Ok(())
    }
}

/// Runs `operation` as a `DryRun=true` request: the error it would fail with, or
/// `DryRunOperation` when it would succeed. Nothing is written.
pub fn dry_run<T>(
    records: &mut dyn Records,
    operation: impl FnOnce(&mut dyn Records) -> Result<T, Ec2Error>,
) -> Ec2Error {
    match operation(&mut DiscardWrites { inner: records }) {
        Ok(_) => Ec2Error::DryRunOperation,
        Err(err) => err,
    }
}
