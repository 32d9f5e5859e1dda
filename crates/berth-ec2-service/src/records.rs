//! The pure crate's [`Records`] over a store transaction, and the ids handed to a transaction.

use berth_ec2::{Ec2Error, Ids, Kind, Record, Records};
use berth_store::{StoreError, Txn};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How many keys one range read returns; listings read on until a short page.
const RANGE_PAGE: usize = 500;

/// The key prefix of each kind of record, under the region's namespace.
fn prefix(kind: Kind) -> &'static str {
    match kind {
        Kind::Vpc => "vpc/",
        Kind::Subnet => "subnet/",
        Kind::SecurityGroup => "sg/",
        Kind::RouteTable => "rtb/",
        Kind::InternetGateway => "igw/",
        Kind::DhcpOptions => "dopt/",
        Kind::NetworkAcl => "acl/",
        Kind::TagSet => "tags/",
    }
}

fn internal(err: impl std::fmt::Display) -> Ec2Error {
    Ec2Error::InternalError(err.to_string())
}

/// The stored form is the JSON of the domain type itself; the key says which type it is.
fn encode(record: &Record) -> Vec<u8> {
    let encoded = match record {
        Record::Vpc(r) => serde_json::to_vec(r),
        Record::Subnet(r) => serde_json::to_vec(r),
        Record::SecurityGroup(r) => serde_json::to_vec(r),
        Record::RouteTable(r) => serde_json::to_vec(r),
        Record::InternetGateway(r) => serde_json::to_vec(r),
        Record::DhcpOptions(r) => serde_json::to_vec(r),
        Record::NetworkAcl(r) => serde_json::to_vec(r),
        Record::TagSet(r) => serde_json::to_vec(r),
    };
    encoded.expect("records are plain data and always encode")
}

fn decode(kind: Kind, bytes: &[u8]) -> Result<Record, Ec2Error> {
    let record = match kind {
        Kind::Vpc => serde_json::from_slice(bytes).map(Record::Vpc),
        Kind::Subnet => serde_json::from_slice(bytes).map(Record::Subnet),
        Kind::SecurityGroup => serde_json::from_slice(bytes).map(Record::SecurityGroup),
        Kind::RouteTable => serde_json::from_slice(bytes).map(Record::RouteTable),
        Kind::InternetGateway => serde_json::from_slice(bytes).map(Record::InternetGateway),
        Kind::DhcpOptions => serde_json::from_slice(bytes).map(Record::DhcpOptions),
        Kind::NetworkAcl => serde_json::from_slice(bytes).map(Record::NetworkAcl),
        Kind::TagSet => serde_json::from_slice(bytes).map(Record::TagSet),
    };
    record.map_err(internal)
}

/// One region's records, read and written through one transaction: keys `vpc/{id}`,
/// `subnet/{id}`, `sg/{id}`, `rtb/{id}`, `igw/{id}`, `dopt/{id}`, `acl/{id}` and `tags/{id}`.
pub(crate) struct TxnRecords<'a> {
    txn: &'a mut dyn Txn,
}

impl<'a> TxnRecords<'a> {
    pub(crate) fn new(txn: &'a mut dyn Txn) -> Self {
        TxnRecords { txn }
    }
}

impl Records for TxnRecords<'_> {
    fn get(&mut self, kind: Kind, id: &str) -> Result<Option<Record>, Ec2Error> {
        let key = format!("{}{id}", prefix(kind));
        match self.txn.get(&key).map_err(internal)? {
            Some(kv) => decode(kind, &kv.value).map(Some),
            None => Ok(None),
        }
    }

    fn list(&mut self, kind: Kind) -> Result<Vec<Record>, Ec2Error> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .txn
                .range(prefix(kind), after.as_deref(), RANGE_PAGE)
                .map_err(|err: StoreError| internal(err))?;
            for kv in &page {
                out.push(decode(kind, &kv.value)?);
            }
            match page.last() {
                Some(last) if page.len() == RANGE_PAGE => after = Some(last.key.clone()),
                _ => return Ok(out),
            }
        }
    }

    fn put(&mut self, record: Record) -> Result<(), Ec2Error> {
        let key = format!("{}{}", prefix(record.kind()), record.id());
        self.txn.put(&key, encode(&record));
        Ok(())
    }

    fn delete(&mut self, kind: Kind, id: &str) -> Result<(), Ec2Error> {
        self.txn.delete(&format!("{}{id}", prefix(kind)));
        Ok(())
    }
}

/// Ids drawn from a generator seeded before the transaction: a re-run of the closure starts
/// from the same seed and so issues the same ids, keeping the closure deterministic, while
/// different calls get independent random ids.
pub(crate) struct SeededIds {
    rng: StdRng,
}

impl SeededIds {
    pub(crate) fn new(seed: [u8; 32]) -> SeededIds {
        SeededIds {
            rng: StdRng::from_seed(seed),
        }
    }
}

impl Ids for SeededIds {
    fn next(&mut self, prefix: &str) -> String {
        // EC2's long ids: 17 lowercase hex digits, i.e. 68 random bits.
        let bits: u128 = self.rng.random::<u128>() & ((1u128 << 68) - 1);
        format!("{prefix}-{bits:017x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_repeat_per_seed_and_have_ec2_format() {
        let mut a = SeededIds::new([7; 32]);
        let mut b = SeededIds::new([7; 32]);
        let first = a.next("vpc");
        assert_eq!(first, b.next("vpc"));
        assert!(berth_ec2::is_id_of(&first, "vpc"), "{first}");
        assert_ne!(a.next("vpc"), first);
    }
}
