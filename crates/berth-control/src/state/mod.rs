//! The state layer: one module per kind of record, owning its store keys and its encoding, so
//! handlers reach other resources through typed reads and writes rather than raw keys.
//!
//! The key layout itself ([`keys`]) is private to this module: nothing outside the state layer
//! can name a key, and a listing's pagination token is the opaque resume key a `page` function
//! returns.

pub mod account_settings;
pub mod clusters;
pub mod instances;
mod keys;
pub mod service_deployments;
pub mod services;
pub mod tags;
pub mod task_definitions;
pub mod tasks;
pub mod watch;

use berth_ecs::EcsError;
use berth_store::{KeyValue, Txn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ControlPlane;
use crate::error::ApiError;

/// Decodes a stored record: also for callers that were handed a record undecoded (with its
/// revision) and decode it only when they need to.
pub(crate) fn decode<T: DeserializeOwned>(kv: &KeyValue) -> Result<T, ApiError> {
    serde_json::from_slice(&kv.value).map_err(|err| unreadable(&kv.key, err))
}

fn unreadable(key: &str, err: serde_json::Error) -> ApiError {
    EcsError::Server(format!("Stored record {key} is unreadable: {err}")).into()
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Wire shapes are plain data (strings, numbers, maps with string keys): encoding cannot fail.
    serde_json::to_vec(value).expect("wire shapes always encode")
}

/// Reads and decodes one record inside a transaction.
fn read<T: DeserializeOwned>(txn: &mut dyn Txn, key: &str) -> Result<Option<T>, ApiError> {
    txn.get(key)?.as_ref().map(decode).transpose()
}

fn write<T: Serialize>(txn: &mut dyn Txn, key: &str, value: &T) {
    txn.put(key, encode(value));
}

/// Reads and decodes one record from the latest committed state.
async fn fetch<T: DeserializeOwned>(cp: &ControlPlane, key: &str) -> Result<Option<T>, ApiError> {
    cp.store.get(key).await?.as_ref().map(decode).transpose()
}

/// One page of the records under `prefix` that `keep` accepts, starting after the key
/// `after`; also returns the key to resume from when more records may follow.
async fn scan<T: DeserializeOwned>(
    cp: &ControlPlane,
    prefix: &str,
    after: Option<String>,
    page: usize,
    mut keep: impl FnMut(&T) -> bool,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    const CHUNK: usize = 256;
    let mut items = Vec::new();
    let mut cursor = after;
    loop {
        let chunk = cp.store.range(prefix, cursor.as_deref(), CHUNK).await?;
        let exhausted = chunk.len() < CHUNK;
        for kv in &chunk {
            cursor = Some(kv.key.clone());
            let item: T = decode(kv)?;
            if keep(&item) {
                items.push(item);
                if items.len() == page {
                    return Ok((items, cursor));
                }
            }
        }
        if exhausted {
            return Ok((items, None));
        }
    }
}
