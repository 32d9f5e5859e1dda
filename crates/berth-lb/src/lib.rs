//! Berth's load balancer data plane: ALB-compatible listeners, rules, target groups, health
//! checks and stickiness, driven by a plain [`Config`] that the control plane computes.
//!
//! Pure decisions (route table, wildcard matching, balancing, stickiness cookies, health state
//! machine, redirects, TLS policies, HTTP/1.1 framing towards targets) live in their own
//! modules and do no I/O; sockets live in `dataplane` (the handle, `apply`, listeners), `proxy`
//! (client connections and requests), `pool` (exchanges with targets over pooled connections)
//! and `checker` (active health checks).

pub mod balance;
mod checker;
pub mod config;
mod dataplane;
mod h1;
pub mod health;
mod io;
pub mod metrics;
mod pool;
mod proxy;
pub mod publisher;
pub mod redirect;
pub mod rules;
pub mod sticky;
pub mod tls;
mod upstream;
mod waiting;
pub mod wildcard;
mod workers;

pub use config::*;
pub use dataplane::{Applied, ApplyError, DataPlane, Options, TargetHealthReport};
