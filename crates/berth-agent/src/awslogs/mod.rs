//! ECS's `awslogs` log driver, done by the agent the way Docker's awslogs driver does it: the
//! container logs to Docker's json-file (so `docker logs` keeps working and the log itself is
//! the buffer), and the agent follows each such container's log through the Engine API and
//! sends its lines to the control plane with the CloudWatch Logs API (PutLogEvents), signed
//! with the agent's credentials.
//!
//! Before the container starts, its stream is created (and its group, with
//! `awslogs-create-group`). While it runs, lines are grouped into events ([`events`]), batched
//! within CloudWatch's limits and sent every 200 ms or when a batch is full. Shipping survives
//! restarts of the agent and of the control plane without losing lines ([`cursor`]): a cursor
//! of the last line acknowledged is kept on disk, each batch is recorded before it is sent,
//! and a restarted agent asks the stream for its last event to learn whether the batch in
//! flight landed, resending it if not.

pub mod client;
pub mod cursor;
pub mod events;
pub mod options;
mod shipper;

pub use options::{AwslogsConfig, Mode, OptionError};
pub use shipper::{ContainerRun, Shipping, prepare_stream, ship};
