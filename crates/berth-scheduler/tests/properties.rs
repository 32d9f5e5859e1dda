//! Property tests of the placement engine through its public API: it never over-commits, every
//! task goes to an instance that fits and ranks best under the strategy chain (checked against a
//! slow reference, and "fits" against an oracle of its own: a plain sum of what was placed, the
//! constraints by hand), `explain` agrees with that oracle, distinctInstance holds, spread stays within one task of
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

/// Whether `instance` (as it was before the test placed anything) takes one more task of
/// `request`, given the demands the test has placed on it so far: decided without the engine,
/// by a plain sum of resources and the test's few constraint expressions spelled out by hand.
fn oracle_fits(instance: &Instance, placed: &[Resources], request: &PlacementRequest) -> bool {
    let demand = &request.demand;
    let sum = |field: fn(&Resources) -> i64| placed.iter().map(field).sum::<i64>();
    let cpu_left = instance.remaining.cpu - sum(|r| r.cpu);
    let memory_left = instance.remaining.memory - sum(|r| r.memory);
    let gpus_left = i64::from(instance.remaining.gpus) - sum(|r| i64::from(r.gpus));
    let ports_free = demand.tcp_ports.iter().all(|port| {
        !instance.remaining.tcp_ports.contains(port)
            && placed.iter().all(|r| !r.tcp_ports.contains(port))
    });
    let resources = cpu_left >= demand.cpu
        && memory_left >= demand.memory
        && gpus_left >= i64::from(demand.gpus)
        && ports_free;
    let registered = instance.status == "ACTIVE" && instance.agent_connected;
    // Every task the test places is of GROUP.
    let web = i64::from(*instance.task_groups.get(GROUP).unwrap_or(&0)) + placed.len() as i64;
    let db = *instance.task_groups.get("service:db").unwrap_or(&0);
    let running = i64::from(instance.running_tasks_count) + placed.len() as i64;
    let zone = instance.attributes[ZONE].as_deref();
    let ec2_id = instance.ec2_instance_id.as_deref().unwrap_or_default();
    // 'i-0+[0-4]', matched against the whole id.
    let id_matches = ec2_id.strip_prefix("i-").is_some_and(|digits| {
        digits.len() >= 2
            && digits[..digits.len() - 1].bytes().all(|b| b == b'0')
            && (b'0'..=b'4').contains(&digits.as_bytes()[digits.len() - 1])
    });
    let constraints = request
        .constraints
        .iter()
        .all(|constraint| match constraint {
            Constraint::DistinctInstance => web == 0,
            Constraint::MemberOf(query) => match query.source() {
                "attribute:ecs.availability-zone != zone-2" => zone != Some("zone-2"),
                "runningTasksCount < 3" => running < 3,
                "not(task:group == service:db)" => db == 0,
                "task:group == service:web or ec2InstanceId =~ 'i-0+[0-4]'" => {
                    web > 0 || id_matches
                }
                other => panic!("no oracle for '{other}'"),
            },
        });
    resources && registered && constraints
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The oracle and the engine's `explain` agree on every instance of an untouched cluster.
    #[test]
    fn the_oracle_agrees_with_explain_on_first_sight(
        instances in arb_cluster(),
        request in arb_request(),
    ) {
        let verdicts = Cluster::new(instances.clone()).explain(&request);
        for (i, instance) in instances.iter().enumerate() {
            prop_assert_eq!(
                oracle_fits(instance, &[], &request),
                verdicts[i].is_none(),
                "instance {}: {:?}",
                i,
                verdicts[i]
            );
        }
    }

    /// Replays each call one task at a time against a reference: the chosen instance fits by the
    /// oracle (a plain sum of what was placed on it, the constraints by hand; `explain` must say
    /// the same of every instance), ranks best among those that fit, and nothing goes negative;
    /// when tasks are left over, no instance fits and every instance reports why.
    #[test]
    fn every_task_goes_to_a_best_ranked_instance_that_fits(
        instances in arb_cluster(),
        requests in prop::collection::vec(arb_request(), 1..4),
        seed in any::<u64>(),
    ) {
        let mut cluster = Cluster::new(instances.clone());
        let original = instances.clone();
        let mut expected = instances;
        // What the test placed on each instance, summed by the oracle.
        let mut placed: Vec<Vec<Resources>> = vec![Vec::new(); original.len()];
        let mut rng = StdRng::seed_from_u64(seed);
        for request in &requests {
            let placement = cluster.place(request, &mut rng);
            prop_assert_eq!(placement.tasks.len() as u32 + placement.unplaced, request.count);
            for &chosen in &placement.tasks {
                let fits: Vec<bool> = (0..original.len())
                    .map(|i| oracle_fits(&original[i], &placed[i], request))
                    .collect();
                prop_assert!(fits[chosen], "{} cannot take the task", chosen);
                // The engine's own account of the same state agrees with the oracle.
                let verdicts = Cluster::new(expected.clone()).explain(request);
                for (i, verdict) in verdicts.iter().enumerate() {
                    prop_assert_eq!(fits[i], verdict.is_none(), "instance {}: {:?}", i, verdict);
                }
                let best = (0..expected.len())
                    .filter(|&i| fits[i])
                    .map(|i| rank(&expected, i, &request.strategies))
                    .min()
                    .unwrap();
                prop_assert_eq!(rank(&expected, chosen, &request.strategies), best);
                take_one(&mut expected[chosen], &request.demand);
                placed[chosen].push(request.demand.clone());
                let left = &expected[chosen].remaining;
                prop_assert!(left.cpu >= 0 && left.memory >= 0, "{:?}", left);
            }
            if placement.unplaced > 0 {
                let fits = (0..original.len())
                    .any(|i| oracle_fits(&original[i], &placed[i], request));
                prop_assert!(!fits, "an instance still fits");
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
/// The oracle itself: what is left after a plain sum decides, to the unit and the port.
#[test]
fn the_oracle_sums_what_was_placed() {
    let mut one = instance(0, 0, 1000, 1000, 0);
    one.remaining.tcp_ports.insert(80);
    let request = |cpu, memory, port: Option<u16>| PlacementRequest {
        count: 1,
        group: GROUP.to_owned(),
        demand: Resources {
            cpu,
            memory,
            tcp_ports: port.into_iter().collect(),
            ..Resources::default()
        },
        launch_type: None,
        required_attributes: Vec::new(),
        subnet_zones: None,
        constraints: Vec::new(),
        strategies: Vec::new(),
    };
    let half = [request(500, 500, Some(81)).demand];
    assert!(oracle_fits(&one, &[], &request(1000, 1000, None)));
    assert!(!oracle_fits(&one, &[], &request(1001, 1000, None)));
    assert!(!oracle_fits(&one, &[], &request(0, 0, Some(80))));
    assert!(oracle_fits(&one, &half, &request(500, 500, Some(82))));
    assert!(!oracle_fits(&one, &half, &request(501, 0, None)));
    assert!(!oracle_fits(&one, &half, &request(0, 501, None)));
    assert!(!oracle_fits(&one, &half, &request(0, 0, Some(81))));
}

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
