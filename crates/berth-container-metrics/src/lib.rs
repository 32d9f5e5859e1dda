//! Container metrics as ECS computes them, with no I/O: [`docker`] turns Docker stats samples
//! into what a container used (CPU units, memory, network and block I/O), and [`publish`] turns
//! the tasks' usage, their reservations and the cluster's capacity into the datapoints ECS
//! publishes (`AWS/ECS`, and `ECS/ContainerInsights` when the cluster has Container Insights).

pub mod docker;
pub mod publish;
