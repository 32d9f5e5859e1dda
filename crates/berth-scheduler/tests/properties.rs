//! Property tests of the placement engine through its public API: it never over-commits, every
//! task goes to an instance that passes every filter and ranks best under the strategy chain
//! (checked against a slow reference), distinctInstance holds, spread stays within one task of
//! even, a seed fixes the outcome, and random choices are close to uniform.

use std::collections::BTreeMap;

use berth_scheduler::{
    BinpackField, Cluster, Constraint, Instance, PlacementRequest, Resources, SpreadField, Strategy,
};
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use rand::SeedableRng;
use rand::rngs::StdRng;

const ZONE: &str = "ecs.availability-zone";
const GROUP: &str = "service:web";

fn instance(n: usize, zone: u8, cpu: i64, memory: i64, gpus: u32) -> Instance {
    Instance {
        id: format!("i{n}"),
        ec2_instance_id: Some(format!("i-{n:08x}")),
        status: "ACTIVE".to_owned(),
        agent_connected: true,
        agent_version: Some("1.80.0".to_owned()),
        registered_at: 1_700_000_000 + n as i64,
        attributes: BTreeMap::from([(ZONE.to_owned(), Some(format!("zone-{zone}")))]),
        running_tasks_count: 0,
        task_groups: BTreeMap::new(),
        remaining: Resources {
            cpu,
            memory,
            gpus,
            ..Resources::default()
        },
    }
}

fn arb_instance() -> impl proptest::strategy::Strategy<Value = Instance> {
    (
        0u8..3,
        0i64..3000,
        0i64..6000,
        0u32..3,
        prop::collection::btree_set(80u16..84, 0..2),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
        0u32..3,
        0u32..3,
    )
        .prop_map(
            |(zone, cpu, memory, gpus, ports, draining, disconnected, web, db)| {
                let mut instance = instance(0, zone, cpu, memory, gpus);
                instance.remaining.tcp_ports = ports;
                if draining {
                    instance.status = "DRAINING".to_owned();
                }
                instance.agent_connected = !disconnected;
                for (group, tasks) in [(GROUP, web), ("service:db", db)] {
                    if tasks > 0 {
                        instance.task_groups.insert(group.to_owned(), tasks);
                    }
                }
                instance.running_tasks_count = web + db;
                instance
            },
        )
}

fn arb_cluster() -> impl proptest::strategy::Strategy<Value = Vec<Instance>> {
    prop::collection::vec(arb_instance(), 1..12).prop_map(|mut instances| {
        for (n, instance) in instances.iter_mut().enumerate() {
            instance.id = format!("i{n}");
        }
        instances
    })
}

fn arb_strategy() -> impl proptest::strategy::Strategy<Value = Strategy> {
    prop_oneof![
        Just(Strategy::Binpack(BinpackField::Cpu)),
        Just(Strategy::Binpack(BinpackField::Memory)),
        Just(Strategy::Spread(SpreadField::InstanceId)),
        Just(Strategy::Spread(SpreadField::Attribute(ZONE.to_owned()))),
        Just(Strategy::Random),
    ]
}

fn arb_constraint() -> impl proptest::strategy::Strategy<Value = Constraint> {
    prop_oneof![
        Just("distinctInstance"),
        Just("attribute:ecs.availability-zone != zone-2"),
        Just("runningTasksCount < 3"),
        Just("not(task:group == service:db)"),
        Just("task:group == service:web or ec2InstanceId =~ 'i-0+[0-4]'"),
    ]
    .prop_map(|c| match c {
        "distinctInstance" => Constraint::DistinctInstance,
        expression => Constraint::parse("memberOf", Some(expression)).unwrap(),
    })
}

fn arb_request() -> impl proptest::strategy::Strategy<Value = PlacementRequest> {
    (
        1u32..10,
        0i64..1200,
        0i64..2500,
        0u32..2,
        prop::collection::btree_set(80u16..84, 0..2),
        prop::collection::vec(arb_strategy(), 0..4),
        prop::collection::vec(arb_constraint(), 0..3),
    )
        .prop_map(
            |(count, cpu, memory, gpus, tcp_ports, strategies, constraints)| PlacementRequest {
                count,
                group: GROUP.to_owned(),
                demand: Resources {
                    cpu,
                    memory,
                    gpus,
                    tcp_ports,
                    ..Resources::default()
                },
                launch_type: None,
                required_attributes: Vec::new(),
                subnet_zones: None,
                constraints,
                strategies,
            },
        )
}

/// The strategy values of `i` in chain order, computed the slow way from the instances.
fn rank(instances: &[Instance], i: usize, strategies: &[Strategy]) -> Vec<i64> {
    let tasks = |instance: &Instance| i64::from(*instance.task_groups.get(GROUP).unwrap_or(&0));
    let mut key = Vec::new();
    for strategy in strategies {
        key.push(match strategy {
            Strategy::Binpack(BinpackField::Cpu) => instances[i].remaining.cpu,
            Strategy::Binpack(BinpackField::Memory) => instances[i].remaining.memory,
            Strategy::Spread(SpreadField::InstanceId) => tasks(&instances[i]),
            Strategy::Spread(SpreadField::Attribute(name)) => {
                let value = instances[i].attributes.get(name);
                instances
                    .iter()
                    .filter(|other| other.attributes.get(name) == value)
                    .map(tasks)
                    .sum()
            }
            Strategy::Random => break,
        });
    }
    key
}

fn take_one(instance: &mut Instance, demand: &Resources) {
    instance.remaining.cpu -= demand.cpu;
    instance.remaining.memory -= demand.memory;
    instance.remaining.gpus -= demand.gpus;
    for port in &demand.tcp_ports {
        assert!(
            instance.remaining.tcp_ports.insert(*port),
            "port {port} double-booked on {}",
            instance.id
        );
    }
    instance.running_tasks_count += 1;
    *instance.task_groups.entry(GROUP.to_owned()).or_default() += 1;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Replays each call one task at a time against a reference: the chosen instance passes
    /// every filter (explain on the state so far), ranks best among those that pass, and nothing
    /// goes negative; when tasks are left over, every instance reports why.
    #[test]
    fn every_task_goes_to_a_best_ranked_instance_that_fits(
        instances in arb_cluster(),
        requests in prop::collection::vec(arb_request(), 1..4),
        seed in any::<u64>(),
    ) {
        let mut cluster = Cluster::new(instances.clone());
        let mut expected = instances;
        let mut rng = StdRng::seed_from_u64(seed);
        for request in &requests {
            let placement = cluster.place(request, &mut rng);
            prop_assert_eq!(placement.tasks.len() as u32 + placement.unplaced, request.count);
            for &chosen in &placement.tasks {
                let verdicts = Cluster::new(expected.clone()).explain(request);
                prop_assert_eq!(&verdicts[chosen], &None, "{} refuses the task", chosen);
                let best = (0..expected.len())
                    .filter(|&i| verdicts[i].is_none())
                    .map(|i| rank(&expected, i, &request.strategies))
                    .min()
                    .unwrap();
                prop_assert_eq!(rank(&expected, chosen, &request.strategies), best);
                take_one(&mut expected[chosen], &request.demand);
                let left = &expected[chosen].remaining;
                prop_assert!(left.cpu >= 0 && left.memory >= 0, "{:?}", left);
            }
            if placement.unplaced > 0 {
                let verdicts = Cluster::new(expected.clone()).explain(request);
                prop_assert!(verdicts.iter().all(Option::is_some), "an instance still fits");
                prop_assert_eq!(placement.failures.len(), expected.len());
            } else {
                prop_assert!(placement.failures.is_empty());
            }
            cluster.apply(&placement);
            prop_assert_eq!(cluster.instances(), &expected[..]);
        }
    }

    #[test]
    fn distinct_instance_never_doubles_up(
        count in 1u32..10,
        calls in 1usize..4,
        sizes in prop::collection::vec(0i64..3000, 1..8),
        seed in any::<u64>(),
    ) {
        let instances = sizes
            .iter()
            .enumerate()
            .map(|(n, &memory)| instance(n, (n % 3) as u8, 4096, memory, 0))
            .collect();
        let mut cluster = Cluster::new(instances);
        let request = PlacementRequest {
            count,
            group: GROUP.to_owned(),
            demand: Resources { cpu: 10, memory: 500, ..Resources::default() },
            launch_type: None,
            required_attributes: Vec::new(),
            subnet_zones: None,
            constraints: vec![Constraint::DistinctInstance],
            strategies: vec![Strategy::Binpack(BinpackField::Memory)],
        };
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..calls {
            let placement = cluster.place(&request, &mut rng);
            cluster.apply(&placement);
        }
        for instance in cluster.instances() {
            prop_assert!(instance.task_groups.get(GROUP).copied().unwrap_or(0) <= 1);
        }
        let room = sizes.iter().filter(|&&m| m >= 500).count();
        let placed: u32 = cluster.instances().iter().map(|i| i.running_tasks_count).sum();
        prop_assert_eq!(placed as usize, room.min(count as usize * calls));
    }

    #[test]
    fn spread_stays_within_one_task_of_even(
        zones in prop::collection::vec(0u8..4, 1..16),
        counts in prop::collection::vec(1u32..12, 1..4),
        by_instance in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let instances = zones
            .iter()
            .enumerate()
            .map(|(n, &zone)| instance(n, zone, 1 << 20, 1 << 20, 0))
            .collect();
        let mut cluster = Cluster::new(instances);
        let field = if by_instance {
            SpreadField::InstanceId
        } else {
            SpreadField::Attribute(ZONE.to_owned())
        };
        let mut rng = StdRng::seed_from_u64(seed);
        for count in counts {
            let request = PlacementRequest {
                count,
                group: GROUP.to_owned(),
                demand: Resources { cpu: 1, memory: 1, ..Resources::default() },
                launch_type: None,
                required_attributes: Vec::new(),
                subnet_zones: None,
                constraints: Vec::new(),
                strategies: vec![Strategy::Spread(field.clone())],
            };
            let placement = cluster.place(&request, &mut rng);
            cluster.apply(&placement);
            let mut per_value: BTreeMap<String, u32> = BTreeMap::new();
            for instance in cluster.instances() {
                let value = if by_instance {
                    instance.id.clone()
                } else {
                    instance.attributes[ZONE].clone().unwrap()
                };
                *per_value.entry(value).or_default() += instance.running_tasks_count;
            }
            let most = per_value.values().max().unwrap();
            let least = per_value.values().min().unwrap();
            prop_assert!(most - least <= 1, "{:?}", per_value);
        }
    }

    #[test]
    fn a_seed_fixes_the_outcome(
        instances in arb_cluster(),
        request in arb_request(),
        seed in any::<u64>(),
    ) {
        let once = Cluster::new(instances.clone()).place(&request, &mut StdRng::seed_from_u64(seed));
        let again = Cluster::new(instances).place(&request, &mut StdRng::seed_from_u64(seed));
        prop_assert_eq!(once, again);
    }
}

/// Ties go to each instance about equally often, and an instance that just took a task is no
/// likelier than the others to take the next one.
#[test]
fn random_choices_are_close_to_uniform() {
    let instances: Vec<Instance> = (0..4).map(|n| instance(n, 0, 4096, 8192, 0)).collect();
    let request = PlacementRequest {
        count: 2,
        group: GROUP.to_owned(),
        demand: Resources {
            cpu: 1,
            memory: 1,
            ..Resources::default()
        },
        launch_type: None,
        required_attributes: Vec::new(),
        subnet_zones: None,
        constraints: Vec::new(),
        strategies: Vec::new(),
    };
    let cluster = Cluster::new(instances);
    let mut first = [0u32; 4];
    let mut repeats = 0;
    let runs = 8000;
    for seed in 0..runs {
        let placement = cluster.place(&request, &mut StdRng::seed_from_u64(seed));
        first[placement.tasks[0]] += 1;
        repeats += u32::from(placement.tasks[0] == placement.tasks[1]);
    }
    // Expected 2000 each and 2000 repeats; 150 is about four standard deviations.
    for n in first {
        assert!(n.abs_diff(2000) < 150, "first choices {first:?}");
    }
    assert!(repeats.abs_diff(2000) < 150, "{repeats} repeats in {runs}");
}
