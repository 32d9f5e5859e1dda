//! Where a task can run: the resources it needs and a choice among the instances that have
//! them. Pure: the instances and the random source are passed in. (Strategies, constraints and
//! the cluster query language replace the random choice in B3.)

use std::collections::BTreeSet;

use berth_wire::ecs::{ContainerDefinition, TaskDefinition, TaskOverride};
use rand::Rng;

/// What one task takes from an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Demand {
    /// CPU units (1024 per core).
    pub cpu: i64,
    /// MiB.
    pub memory: i64,
    /// Host ports the task binds statically, per protocol.
    pub tcp_ports: BTreeSet<u16>,
    pub udp_ports: BTreeSet<u16>,
}

/// An instance as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub active: bool,
    pub connected: bool,
    pub remaining_cpu: i64,
    pub remaining_memory: i64,
    pub used_tcp_ports: BTreeSet<u16>,
    pub used_udp_ports: BTreeSet<u16>,
}

impl Candidate {
    fn fits_cpu(&self, demand: &Demand) -> bool {
        self.remaining_cpu >= demand.cpu
    }
    fn fits_memory(&self, demand: &Demand) -> bool {
        self.remaining_memory >= demand.memory
    }
    fn fits_ports(&self, demand: &Demand) -> bool {
        demand.tcp_ports.is_disjoint(&self.used_tcp_ports)
            && demand.udp_ports.is_disjoint(&self.used_udp_ports)
    }

    /// Takes `demand` from this instance.
    pub fn reserve(&mut self, demand: &Demand) {
        self.remaining_cpu -= demand.cpu;
        self.remaining_memory -= demand.memory;
        self.used_tcp_ports.extend(&demand.tcp_ports);
        self.used_udp_ports.extend(&demand.udp_ports);
    }

    /// Gives `demand` back, when its task stops.
    pub fn release(&mut self, demand: &Demand) {
        self.remaining_cpu += demand.cpu;
        self.remaining_memory += demand.memory;
        for port in &demand.tcp_ports {
            self.used_tcp_ports.remove(port);
        }
        for port in &demand.udp_ports {
            self.used_udp_ports.remove(port);
        }
    }
}

/// Why a task could not be placed, with ECS's failure reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unplaceable {
    NoInstances,
    /// Instances exist, but none is ACTIVE with its agent connected.
    Agent,
    Cpu,
    Memory,
    Ports,
}

impl Unplaceable {
    pub fn reason(&self) -> &'static str {
        match self {
            Unplaceable::NoInstances => "No Container Instances were found in your cluster.",
            Unplaceable::Agent => "AGENT",
            Unplaceable::Cpu => "RESOURCE:CPU",
            Unplaceable::Memory => "RESOURCE:MEMORY",
            Unplaceable::Ports => "RESOURCE:PORTS",
        }
    }
}

/// Places `count` tasks of `demand`, one after another (each placement reduces what the next
/// one sees); returns the chosen candidate index for each task, or why it fits nowhere.
pub fn place_random(
    candidates: &mut [Candidate],
    demand: &Demand,
    count: usize,
    rng: &mut impl Rng,
) -> Vec<Result<usize, Unplaceable>> {
    (0..count)
        .map(|_| {
            let fitting: Vec<usize> = (0..candidates.len())
                .filter(|&i| {
                    let c = &candidates[i];
                    c.active
                        && c.connected
                        && c.fits_cpu(demand)
                        && c.fits_memory(demand)
                        && c.fits_ports(demand)
                })
                .collect();
            if fitting.is_empty() {
                return Err(why_unplaceable(candidates, demand));
            }
            let chosen = fitting[rng.random_range(0..fitting.len())];
            candidates[chosen].reserve(demand);
            Ok(chosen)
        })
        .collect()
}

fn why_unplaceable(candidates: &[Candidate], demand: &Demand) -> Unplaceable {
    let usable: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.active && c.connected)
        .collect();
    if candidates.is_empty() {
        Unplaceable::NoInstances
    } else if usable.is_empty() {
        Unplaceable::Agent
    } else if !usable.iter().any(|c| c.fits_cpu(demand)) {
        Unplaceable::Cpu
    } else if !usable
        .iter()
        .any(|c| c.fits_cpu(demand) && c.fits_memory(demand))
    {
        Unplaceable::Memory
    } else {
        Unplaceable::Ports
    }
}

/// The resources a task of `definition` with `overrides` reserves: task-level cpu/memory when
/// set, else the sum over containers (a container's hard `memory` limit when set, else its
/// `memoryReservation`), and its static host ports.
pub fn demand_of(definition: &TaskDefinition, overrides: &TaskOverride) -> Demand {
    let containers = effective_containers(definition, overrides);
    let task_cpu = overrides
        .cpu
        .as_deref()
        .or(definition.cpu.as_deref())
        .and_then(|c| crate::task_definition::parse_task_cpu(c).ok());
    let task_memory = overrides
        .memory
        .as_deref()
        .or(definition.memory.as_deref())
        .and_then(|m| crate::task_definition::parse_task_memory(m).ok());
    let cpu = task_cpu.unwrap_or_else(|| {
        containers
            .iter()
            .map(|c| i64::from(c.cpu.unwrap_or(0)))
            .sum()
    });
    let memory = task_memory.unwrap_or_else(|| {
        containers
            .iter()
            .map(|c| i64::from(c.memory.or(c.memory_reservation).unwrap_or(0)))
            .sum()
    });
    let mut demand = Demand {
        cpu,
        memory,
        ..Demand::default()
    };
    let network_mode = definition.network_mode.as_deref().unwrap_or("bridge");
    for container in &containers {
        for mapping in container.port_mappings.iter().flatten() {
            let static_port = match network_mode {
                "host" => mapping.host_port.or(mapping.container_port),
                "bridge" => mapping.host_port.filter(|port| *port > 0),
                _ => None,
            };
            if let Some(port) = static_port.and_then(|p| u16::try_from(p).ok()) {
                if mapping.protocol.as_deref() == Some("udp") {
                    demand.udp_ports.insert(port);
                } else {
                    demand.tcp_ports.insert(port);
                }
            }
        }
    }
    demand
}

/// The container definitions with per-container overrides of cpu and memory applied.
pub fn effective_containers(
    definition: &TaskDefinition,
    overrides: &TaskOverride,
) -> Vec<ContainerDefinition> {
    let mut containers = definition.container_definitions.clone().unwrap_or_default();
    for container in &mut containers {
        let Some(o) = overrides
            .container_overrides
            .iter()
            .flatten()
            .find(|o| o.name == container.name)
        else {
            continue;
        };
        if o.cpu.is_some() {
            container.cpu = o.cpu;
        }
        if o.memory.is_some() {
            container.memory = o.memory;
        }
        if o.memory_reservation.is_some() {
            container.memory_reservation = o.memory_reservation;
        }
    }
    containers
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn instance(cpu: i64, memory: i64) -> Candidate {
        Candidate {
            active: true,
            connected: true,
            remaining_cpu: cpu,
            remaining_memory: memory,
            used_tcp_ports: BTreeSet::new(),
            used_udp_ports: BTreeSet::new(),
        }
    }

    fn definition(json: &str) -> TaskDefinition {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn demand_sums_containers_unless_the_task_sets_its_size() {
        let td = definition(
            r#"{"networkMode":"bridge","containerDefinitions":[
                {"name":"a","cpu":256,"memory":128,"portMappings":[{"containerPort":80,"hostPort":8080},{"containerPort":81}]},
                {"name":"b","memoryReservation":64,"portMappings":[{"containerPort":53,"hostPort":53,"protocol":"udp"}]}]}"#,
        );
        let demand = demand_of(&td, &TaskOverride::default());
        assert_eq!((demand.cpu, demand.memory), (256, 192));
        assert_eq!(demand.tcp_ports, BTreeSet::from([8080]));
        assert_eq!(demand.udp_ports, BTreeSet::from([53]));
        let overrides: TaskOverride = serde_json::from_str(
            r#"{"memory":"1GB","containerOverrides":[{"name":"a","cpu":512}]}"#,
        )
        .unwrap();
        let demand = demand_of(&td, &overrides);
        assert_eq!((demand.cpu, demand.memory), (512, 1024));
    }

    #[test]
    fn host_mode_reserves_every_container_port() {
        let td = definition(
            r#"{"networkMode":"host","containerDefinitions":[{"name":"a","memory":8,"portMappings":[{"containerPort":80}]}]}"#,
        );
        assert_eq!(
            demand_of(&td, &TaskOverride::default()).tcp_ports,
            BTreeSet::from([80])
        );
    }

    #[test]
    fn placements_in_one_call_see_each_other_and_never_overcommit() {
        let mut instances = vec![instance(1024, 1000), instance(1024, 300)];
        let demand = Demand {
            cpu: 100,
            memory: 250,
            ..Demand::default()
        };
        let mut rng = StdRng::seed_from_u64(7);
        let placed = place_random(&mut instances, &demand, 6, &mut rng);
        let ok = placed.iter().filter(|p| p.is_ok()).count();
        assert_eq!(
            ok, 5,
            "4 fit on the first instance and 1 on the second: {placed:?}"
        );
        assert_eq!(placed.last(), Some(&Err(Unplaceable::Memory)));
        assert!(instances.iter().all(|i| i.remaining_memory >= 0));
    }

    #[test]
    fn failure_reasons_follow_what_is_missing() {
        let demand = Demand {
            cpu: 10,
            memory: 10,
            tcp_ports: BTreeSet::from([80]),
            ..Demand::default()
        };
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(
            place_random(&mut [], &demand, 1, &mut rng),
            vec![Err(Unplaceable::NoInstances)]
        );
        let mut disconnected = [Candidate {
            connected: false,
            ..instance(100, 100)
        }];
        assert_eq!(
            place_random(&mut disconnected, &demand, 1, &mut rng),
            vec![Err(Unplaceable::Agent)]
        );
        assert_eq!(
            place_random(&mut [instance(5, 100)], &demand, 1, &mut rng),
            vec![Err(Unplaceable::Cpu)]
        );
        assert_eq!(
            place_random(&mut [instance(100, 5)], &demand, 1, &mut rng),
            vec![Err(Unplaceable::Memory)]
        );
        let mut busy = [Candidate {
            used_tcp_ports: BTreeSet::from([80]),
            ..instance(100, 100)
        }];
        assert_eq!(
            place_random(&mut busy, &demand, 1, &mut rng),
            vec![Err(Unplaceable::Ports)]
        );
    }
}
