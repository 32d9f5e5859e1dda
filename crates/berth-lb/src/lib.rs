//! Berth's load balancer data plane: ALB-compatible listeners, rules, target groups, health
//! checks and stickiness, driven by a plain [`Config`] that the control plane computes.
//!
//! Pure decisions (route table, wildcard matching, balancing, stickiness cookies, health state
//! machine, redirects) live in their own modules and do no I/O; sockets live in `dataplane`,
//! `proxy` and `checker`.

pub mod balance;
pub mod config;
pub mod health;
pub mod redirect;
pub mod rules;
pub mod sticky;
pub mod wildcard;

pub use config::*;
