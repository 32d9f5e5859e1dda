//! Shared fixture for the operation tests.

use crate::{MemoryRecords, Scope, SequentialIds, ensure_default_network};

pub(crate) const ACCOUNT: &str = "123456789012";

pub(crate) struct Fixture {
    pub records: MemoryRecords,
    pub ids: SequentialIds,
    pub scope: Scope,
}

/// A fresh us-east-1 account with its default network.
pub(crate) fn fixture() -> Fixture {
    let mut f = Fixture {
        records: MemoryRecords::default(),
        ids: SequentialIds::default(),
        scope: Scope::new(ACCOUNT, "us-east-1"),
    };
    ensure_default_network(&mut f.records, &mut f.ids, &f.scope).unwrap();
    f
}

/// (code, message) of an error, for exact assertions.
pub(crate) fn fail<T: std::fmt::Debug>(
    result: Result<T, crate::Ec2Error>,
) -> (&'static str, String) {
    let err = result.unwrap_err();
    (err.code(), err.to_string())
}
