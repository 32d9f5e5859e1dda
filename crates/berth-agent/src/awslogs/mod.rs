//! ECS's `awslogs` log driver, done by the agent the way Docker's awslogs driver does it: the
//! container logs to Docker's json-file (so `docker logs` keeps working and the log itself is
//! the buffer), and the agent follows each such container's log and sends its lines to the
//! control plane with the CloudWatch Logs API (PutLogEvents), signed with the agent's
//! credentials. The log is read straight from Docker's json-file on disk when the agent can
//! (`ContainerRuntime::tail_log`), several times faster than the Engine API's followed `logs`,
//! which it falls back to.
//!
//! Before the container starts, its stream is created (and its group, with
//! `awslogs-create-group`). While it runs, lines are grouped into events ([`events`]) and
//! batched within CloudWatch's limits; one batch is in flight at a time while the next fills,
//! and goes as soon as the previous one is taken. Shipping survives restarts of the agent and
//! of the control plane without losing or repeating lines ([`cursor`]): a cursor of the last
//! line acknowledged is kept on disk, each batch is recorded before it is sent, and whenever a
//! batch's fate is unknown (a restarted agent, a send whose answer was lost) the stream is
//! asked for its last event to learn whether the batch landed before it is sent again.

pub mod client;
pub mod cursor;
pub mod events;
pub mod options;
mod shipper;

pub use options::{AwslogsConfig, Mode, OptionError};
pub use shipper::{ContainerRun, Shipping, prepare_stream, ship};
