//! Application Auto Scaling's rules, without I/O: which scalable targets Berth serves (ECS
//! services' desired count), the API's checks and errors, the capacity math of target tracking
//! and step scaling with their cooldowns, and the wording of scaling activities. Time is always
//! an argument (ms since the epoch); nothing here reads a clock or a store.

pub mod activity;
pub mod decide;
pub mod error;
pub mod policy;
pub mod schedule;
pub mod target;

pub use error::ScalingError;
