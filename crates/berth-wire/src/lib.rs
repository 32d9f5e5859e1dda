//! What every service's generated wire crate (`berth-ecs-wire`, `berth-sts-wire`, …) shares:
//! model-level validation ([`Validate`]), the static description of a service model
//! ([`model`]), and the protocol codecs that translate query, EC2, CBOR and REST-JSON requests to and from the
//! JSON form of the generated types ([`codec`]). The types themselves are generated from
//! botocore's service models (the exact contract aws-cli and boto3 speak) by
//! `cargo xtask codegen`; see ARCHITECTURE.md for why we generate serde types instead of reusing
//! the AWS SDK's.
//!
//! Every member is optional in the types, as on the wire; [`Validate`] enforces what the model
//! says (required members, lengths, ranges, enums, patterns), so handlers only check semantics.

pub mod codec;
pub mod model;
pub mod validate;

pub use validate::{EnumViolation, Validate, Violations};
