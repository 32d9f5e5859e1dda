//! ECS semantics with no I/O: resource names and ARNs, the task definition rules ECS applies
//! at registration, pagination tokens, and the typed errors that carry ECS's exception names.
//! Everything here is a pure function of its inputs (time is passed in), tested without a server.

pub mod arn;
pub mod attributes;
pub mod error;
pub mod events;
pub mod filters;
pub mod lifecycle;
pub mod load_balancers;
pub mod pagination;
pub mod placement;
pub mod registries;
pub mod service;
pub mod settings;
pub mod status;
pub mod tags;
pub mod task_definition;
pub mod task_set;

pub use error::EcsError;
