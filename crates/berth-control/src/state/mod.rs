//! The state layer: one module per kind of record, owning its store keys and its encoding, so
//! handlers reach other resources through typed reads and writes rather than raw keys.

pub mod account_settings;
pub mod clusters;
pub mod instances;
pub mod service_deployments;
pub mod services;
pub mod tags;
pub mod task_definitions;
pub mod tasks;
pub mod watch;
