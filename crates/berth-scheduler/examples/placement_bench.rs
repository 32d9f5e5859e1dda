//! The pure placement benchmark (B3): 100,000 tasks onto 10,000 instances in three zones, as
//! 10,000 RunTask-sized calls of 10 with spread(zone), binpack(memory) and a memberOf
//! constraint, each call planned and applied against the evolving cluster on one core.
//!
//! The constraint differs from call to call, so that its cost is measured rather than served
//! from the engine's per-request-shape cache: every call leaves out its own pair of the 100
//! racks (`attribute:bench.rack not_in [rack-A, rack-B]`, an attribute that varies between
//! instances), besides the instance type every call leaves out. The expression is built and
//! parsed inside the timed loop, as the server parses each call's.
//!
//! After each round the outcome is asserted, not only printed: every task placed; no task on an
//! instance its call's constraint left out; spread: the zones' task counts within one of each
//! other; binpack: in each zone, at most a handful of instances partly filled (binpack fills the
//! fullest instance that fits first), and about as few instances used as the tasks need.
//!
//! Prints each round, then `placements_per_sec: N (median of R rounds …)` last. Run with
//! `cargo run --release -p berth-scheduler --example placement_bench`; PLACEMENT_ROUNDS (3)
//! sets the number of rounds.

use std::collections::BTreeMap;
use std::time::Instant;

use berth_scheduler::{
    BinpackField, Cluster, Constraint, Instance, PlacementRequest, Resources, SpreadField, Strategy,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const INSTANCES: usize = 10_000;
const CALLS: usize = 10_000;
const PER_CALL: u32 = 10;
const RACKS: usize = 100;
const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

fn rack(n: usize) -> String {
    format!("rack-{}", (n / 7) % RACKS)
}

/// The two racks call `call` leaves out: a different pair for each of the 10,000 calls.
fn excluded(call: usize) -> (usize, usize) {
    (call % RACKS, (call / RACKS + call % RACKS + 1) % RACKS)
}

fn request(call: usize) -> PlacementRequest {
    let (a, b) = excluded(call);
    PlacementRequest {
        count: PER_CALL,
        group: "family:bench".to_owned(),
        demand: Resources {
            cpu: 256,
            memory: 1024,
            ..Resources::default()
        },
        launch_type: None,
        required_attributes: Vec::new(),
        subnet_zones: None,
        constraints: vec![
            Constraint::parse(
                "memberOf",
                Some(&format!(
                    "attribute:ecs.instance-type =~ m5.* and \
                     attribute:bench.rack not_in [rack-{a}, rack-{b}]"
                )),
            )
            .expect("a valid expression"),
        ],
        strategies: vec![
            Strategy::Spread(SpreadField::Attribute("ecs.availability-zone".to_owned())),
            Strategy::Binpack(BinpackField::Memory),
        ],
    }
}

fn instance(n: usize) -> Instance {
    // Every tenth instance is a type the constraint leaves out.
    let instance_type = if n % 10 == 9 { "t3.large" } else { "m5.xlarge" };
    let attributes = [
        ("ecs.ami-id", "ami-0123456789abcdef0"),
        ("ecs.availability-zone", ZONES[n % ZONES.len()]),
        ("ecs.instance-type", instance_type),
        ("ecs.os-type", "linux"),
        ("ecs.os-family", "LINUX"),
        ("ecs.cpu-architecture", "x86_64"),
        ("ecs.vpc-id", "vpc-0123abcd"),
        ("bench.rack", &rack(n)),
        ("ecs.subnet-id", "subnet-0123abcd"),
        ("com.amazonaws.ecs.capability.docker-remote-api.1.44", ""),
    ]
    .into_iter()
    .map(|(name, value)| {
        let value = (!value.is_empty()).then(|| value.to_owned());
        (name.to_owned(), value)
    })
    .collect();
    Instance {
        id: format!("container-instance-{n}"),
        ec2_instance_id: Some(format!("i-{n:017x}")),
        status: "ACTIVE".to_owned(),
        agent_connected: true,
        agent_version: Some("1.80.0".to_owned()),
        registered_at: 1_700_000_000,
        attributes,
        running_tasks_count: 0,
        task_groups: BTreeMap::new(),
        remaining: Resources {
            cpu: 4096,
            memory: 16384,
            ..Resources::default()
        },
    }
}

/// One round on a fresh cluster: the placements per second, after checking the outcome.
fn round(number: usize) -> f64 {
    let started = Instant::now();
    let mut cluster = Cluster::new((0..INSTANCES).map(instance).collect());
    let built = started.elapsed();
    let mut rng = StdRng::seed_from_u64(42);
    let mut placed = 0usize;
    // Which instance each call used, checked against its constraint after the clock stops.
    let mut calls: Vec<Vec<usize>> = Vec::with_capacity(CALLS);
    let started = Instant::now();
    for call in 0..CALLS {
        let placement = cluster.place(&request(call), &mut rng);
        placed += placement.tasks.len();
        cluster.apply(&placement);
        calls.push(placement.tasks);
    }
    let elapsed = started.elapsed();

    assert_eq!(
        placed,
        CALLS * PER_CALL as usize,
        "every task found an instance"
    );
    for (call, tasks) in calls.iter().enumerate() {
        let (a, b) = excluded(call);
        for &index in tasks {
            let n: usize = cluster.instances()[index]
                .id
                .trim_start_matches("container-instance-")
                .parse()
                .unwrap();
            assert_ne!(n % 10, 9, "call {call} placed a task on a t3.large");
            let r = (n / 7) % RACKS;
            assert!(
                r != a && r != b,
                "call {call} placed a task on rack-{r}, which its constraint left out"
            );
        }
    }

    // Per zone: tasks, instances used, instances partly filled (neither empty nor full).
    // An instance is full at 16 tasks: 4096 / 256 CPU units, and 16384 / 1024 MiB.
    let full = 16;
    let mut zones: BTreeMap<&str, (u32, u32, u32)> = BTreeMap::new();
    for instance in cluster.instances() {
        assert!(instance.remaining.cpu >= 0 && instance.remaining.memory >= 0);
        let zone = instance.attributes["ecs.availability-zone"]
            .as_deref()
            .unwrap();
        let entry = zones.entry(zone).or_default();
        entry.0 += instance.running_tasks_count;
        if instance.running_tasks_count > 0 {
            entry.1 += 1;
            if instance.running_tasks_count < full {
                entry.2 += 1;
            }
        }
    }
    let counts: Vec<u32> = zones.values().map(|z| z.0).collect();
    let (low, high) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
    assert!(
        high - low <= 1,
        "spread(zone): tasks per zone {zones:?} differ by more than one"
    );
    for (zone, &(tasks, used, partial)) in &zones {
        let needed = tasks.div_ceil(full);
        // A call whose constraint leaves out the instance being filled starts another one, which
        // later calls fill in turn: a few partly filled instances at any time, not hundreds.
        assert!(
            partial <= 2 * PER_CALL,
            "binpack(memory): {partial} instances partly filled in {zone}"
        );
        assert!(
            used <= needed + partial,
            "binpack(memory): {used} instances used in {zone} for {tasks} tasks ({needed} needed)"
        );
    }
    let rate = placed as f64 / elapsed.as_secs_f64();
    println!(
        "round {number}: cluster built in {built:.1?}; {placed} tasks in {CALLS} calls of \
         {PER_CALL}, each with its own memberOf expression, in {elapsed:.2?} ({:.0} µs per call, \
         {rate:.0} placements/s); per zone (tasks, instances used, partly filled) {zones:?}; \
         outcome asserted",
        elapsed.as_secs_f64() * 1e6 / CALLS as f64,
    );
    rate
}

fn main() {
    let rounds: usize = std::env::var("PLACEMENT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(3);
    let mut rates: Vec<f64> = (1..=rounds).map(round).collect();
    rates.sort_by(f64::total_cmp);
    let median = if rounds % 2 == 1 {
        rates[rounds / 2]
    } else {
        (rates[rounds / 2 - 1] + rates[rounds / 2]) / 2.0
    };
    println!(
        "placements_per_sec: {median:.0} (median of {rounds} rounds; {INSTANCES} instances in \
         memory, {CALLS} calls of {PER_CALL}, memberOf differing per call, one core)"
    );
}
