//! AWS wire shapes. The types are generated from botocore's service models (the exact contract
//! aws-cli and boto3 speak) by `cargo xtask codegen`; see ARCHITECTURE.md for why we generate
//! serde types instead of reusing the AWS SDK's.
//!
//! Every member is optional in the types, as on the wire; [`Validate`] enforces what the model
//! says (required members, lengths, ranges, enums, patterns), so handlers only check semantics.

pub mod codec;
pub mod ecs;
pub mod model;
pub mod validate;

pub use validate::{Validate, Violations};
