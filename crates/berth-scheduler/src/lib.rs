//! Task placement without I/O: the cluster query language, placement constraints and
//! strategies, and the engine that chooses container instances for tasks. Randomness is passed
//! in; the control plane maps its records into these types and the results back.

pub mod placement;
pub mod query;
pub mod request;

pub use placement::{Cluster, Failure, Instance, Placement, Reason, Rejection};
pub use query::{InstanceView, Query, QueryError};
pub use request::{
    BinpackField, Constraint, LaunchType, PlacementRequest, RequestError, RequiredAttribute,
    Resources, SpreadField, Strategy,
};
