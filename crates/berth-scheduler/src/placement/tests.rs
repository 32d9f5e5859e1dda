//! Snapshot tests of placement, one compact spec per case:
//!
//! ```text
//! a1..a2 b1 cpu=1024 mem=2048 az=us-east-1a|us-east-1a|us-east-1b   instances (| round-robins)
//! run 3 cpu=256 mem=512 spread(attribute:ecs.availability-zone) binpack(memory)
//! ```
//!
//! Instance keys: cpu mem gpu ports udp az type groups=g:n,… running status agent=off version
//! ec2 registered attr:NAME[=VALUE] external. Commands: `run N …`, `start a1,b1 …` and
//! `explain …`, taking cpu mem gpu ports udp group launch requires=NAME[=VALUE] zones, the
//! constraints distinctInstance and memberOf(EXPR), and the strategies binpack(F), spread(F)
//! and random. Each `run` and `start` is applied before the next command.

use std::collections::{BTreeMap, BTreeSet};

use expect_test::{Expect, expect};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::request::{RequestError, RequiredAttribute};

fn check(spec: &str, expect: Expect) {
    let mut instances = Vec::new();
    let mut commands = Vec::new();
    for line in spec.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if ["run ", "start ", "explain"]
            .iter()
            .any(|c| line.starts_with(c))
        {
            commands.push(line);
        } else {
            instances.extend(parse_instances(line));
        }
    }
    let mut cluster = Cluster::new(instances);
    let mut rng = StdRng::seed_from_u64(7);
    let mut out = String::new();
    for command in commands {
        let (verb, rest) = command.split_once(' ').unwrap_or((command, ""));
        let (target, rest) = match verb {
            "explain" => ("", rest),
            _ => rest.split_once(' ').unwrap_or((rest, "")),
        };
        let request = match parse_request(rest) {
            Ok(request) => request,
            Err(e) => {
                out += &format!("{verb}: error: {e}\n");
                continue;
            }
        };
        let name = |i: usize| cluster.instances()[i].id.clone();
        match verb {
            "explain" => {
                out += "explain:\n";
                for (i, verdict) in cluster.explain(&request).into_iter().enumerate() {
                    match verdict {
                        None => out += &format!("  {} ok\n", name(i)),
                        Some(r) => out += &format!("  {} {} ({})\n", name(i), r.reason, r.detail),
                    }
                }
            }
            _ => {
                let placement = if verb == "run" {
                    let count: u32 = target.parse().expect("run N");
                    cluster.place(&PlacementRequest { count, ..request }, &mut rng)
                } else {
                    let targets: Vec<usize> = target
                        .split(',')
                        .map(|t| {
                            cluster
                                .instances()
                                .iter()
                                .position(|i| i.id == t)
                                .unwrap_or_else(|| panic!("no instance {t}"))
                        })
                        .collect();
                    cluster.place_on(&targets, &request)
                };
                let placed: Vec<String> = placement.tasks.iter().map(|&i| name(i)).collect();
                out += &format!("{verb}: {}", placed.join(" "));
                if placement.unplaced > 0 {
                    out += &format!(" (unplaced: {})", placement.unplaced);
                }
                out += "\n";
                for failure in &placement.failures {
                    out += &format!(
                        "  {} {} ({})\n",
                        name(failure.instance),
                        failure.reason,
                        failure.detail
                    );
                }
                cluster.apply(&placement);
            }
        }
    }
    expect.assert_eq(&out);
}

fn parse_instances(line: &str) -> Vec<Instance> {
    let mut words = line.split_whitespace();
    let mut names = Vec::new();
    for word in words.by_ref() {
        if word.contains('=') || word == "external" || word.starts_with("attr:") {
            // The first setting: put it back by handling it below.
            return build(names, std::iter::once(word).chain(words).collect());
        }
        match word.split_once("..") {
            Some((from, to)) => {
                let prefix = from.trim_end_matches(|c: char| c.is_ascii_digit());
                let first: u32 = from[prefix.len()..].parse().unwrap();
                let last: u32 = to[prefix.len()..].parse().unwrap();
                names.extend((first..=last).map(|n| format!("{prefix}{n}")));
            }
            None => names.push(word.to_owned()),
        }
    }
    build(names, Vec::new())
}

fn build(names: Vec<String>, settings: Vec<&str>) -> Vec<Instance> {
    names
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let mut instance = Instance {
                id: name.clone(),
                ec2_instance_id: Some(format!("i-{name}")),
                status: "ACTIVE".to_owned(),
                agent_connected: true,
                agent_version: Some("1.80.0".to_owned()),
                registered_at: 1_700_000_000,
                attributes: BTreeMap::new(),
                running_tasks_count: 0,
                task_groups: BTreeMap::new(),
                remaining: Resources {
                    cpu: 4096,
                    memory: 8192,
                    ..Resources::default()
                },
            };
            let mut running = None;
            for setting in &settings {
                let (key, value) = setting.split_once('=').unwrap_or((setting, ""));
                // `a|b|c` gives the instances of a range a, b, c, a, … in turn.
                let choices: Vec<&str> = value.split('|').collect();
                let value = choices[n % choices.len()];
                let attribute = |instance: &mut Instance, name: &str, value: &str| {
                    let value = (!value.is_empty()).then(|| value.to_owned());
                    instance.attributes.insert(name.to_owned(), value);
                };
                match key {
                    "cpu" => instance.remaining.cpu = value.parse().unwrap(),
                    "mem" => instance.remaining.memory = value.parse().unwrap(),
                    "gpu" => instance.remaining.gpus = value.parse().unwrap(),
                    "ports" => instance.remaining.tcp_ports = ports(value),
                    "udp" => instance.remaining.udp_ports = ports(value),
                    "az" => attribute(&mut instance, ZONE_ATTRIBUTE, value),
                    "type" => attribute(&mut instance, "ecs.instance-type", value),
                    "external" => attribute(&mut instance, EXTERNAL_ATTRIBUTE, ""),
                    "groups" => {
                        for entry in value.split(',') {
                            let (group, count) = entry.rsplit_once(':').unwrap();
                            instance
                                .task_groups
                                .insert(group.to_owned(), count.parse().unwrap());
                        }
                    }
                    "running" => running = Some(value.parse().unwrap()),
                    "status" => instance.status = value.to_owned(),
                    "agent" => instance.agent_connected = value != "off",
                    "version" => instance.agent_version = Some(value.to_owned()),
                    "ec2" => instance.ec2_instance_id = Some(value.to_owned()),
                    "registered" => {
                        instance.registered_at = value.parse().expect("registered=EPOCH")
                    }
                    other => {
                        let name = other.strip_prefix("attr:").expect("known instance key");
                        attribute(&mut instance, name, value);
                    }
                }
            }
            instance.running_tasks_count =
                running.unwrap_or_else(|| instance.task_groups.values().sum());
            instance
        })
        .collect()
}

fn ports(list: &str) -> BTreeSet<u16> {
    list.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().unwrap())
        .collect()
}

fn parse_request(spec: &str) -> Result<PlacementRequest, RequestError> {
    let mut request = PlacementRequest {
        count: 1,
        group: "family:web".to_owned(),
        demand: Resources {
            cpu: 256,
            memory: 512,
            ..Resources::default()
        },
        launch_type: None,
        required_attributes: Vec::new(),
        subnet_zones: None,
        constraints: Vec::new(),
        strategies: Vec::new(),
    };
    for word in words(spec) {
        let call = |name: &str| {
            word.strip_prefix(name)
                .and_then(|w| w.strip_prefix('('))
                .and_then(|w| w.strip_suffix(')'))
        };
        if let Some(expression) = call("memberOf") {
            request
                .constraints
                .push(Constraint::parse("memberOf", Some(expression))?);
        } else if let Some(field) = call("binpack") {
            request
                .strategies
                .push(Strategy::parse("binpack", Some(field))?);
        } else if let Some(field) = call("spread") {
            request
                .strategies
                .push(Strategy::parse("spread", Some(field))?);
        } else if let Some(expression) = call("distinctInstance") {
            request
                .constraints
                .push(Constraint::parse("distinctInstance", Some(expression))?);
        } else if word == "distinctInstance" {
            request
                .constraints
                .push(Constraint::parse("distinctInstance", None)?);
        } else if word == "random" {
            request.strategies.push(Strategy::parse("random", None)?);
        } else {
            let (key, value) = word.split_once('=').expect("key=value");
            match key {
                "cpu" => request.demand.cpu = value.parse().unwrap(),
                "mem" => request.demand.memory = value.parse().unwrap(),
                "gpu" => request.demand.gpus = value.parse().unwrap(),
                "ports" => request.demand.tcp_ports = ports(value),
                "udp" => request.demand.udp_ports = ports(value),
                "group" => request.group = value.to_owned(),
                "launch" => {
                    request.launch_type = Some(match value {
                        "EC2" => LaunchType::Ec2,
                        _ => LaunchType::External,
                    })
                }
                "requires" => {
                    let (name, value) = match value.split_once('=') {
                        Some((n, v)) => (n, Some(v.to_owned())),
                        None => (value, None),
                    };
                    request.required_attributes.push(RequiredAttribute {
                        name: name.to_owned(),
                        value,
                    });
                }
                "zones" => {
                    request.subnet_zones = Some(value.split(',').map(str::to_owned).collect())
                }
                other => panic!("unknown request key {other}"),
            }
        }
    }
    request.check_limits()?;
    Ok(request)
}

/// Splits on spaces, except inside parentheses (memberOf expressions have spaces).
fn words(spec: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut depth = 0;
    for c in spec.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if c.is_whitespace() && depth == 0 {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[test]
fn binpack_fills_the_instance_with_the_least_left() {
    check(
        "i1 mem=4096
         i2 mem=1024
         i3 mem=2048
         run 5 mem=512 binpack(memory)",
        expect![[r#"
            run: i2 i2 i3 i3 i3
        "#]],
    );
    check(
        "i1 cpu=2048
         i2 cpu=1024
         run 3 cpu=512 binpack(cpu)",
        expect![[r#"
            run: i2 i2 i1
        "#]],
    );
    // Memory is what binpack(memory) looks at, even when CPU is scarcer elsewhere.
    check(
        "i1 cpu=256 mem=1024
         i2 cpu=4096 mem=2048
         run 2 cpu=256 mem=512 binpack(memory)",
        expect![[r#"
            run: i1 i2
        "#]],
    );
}

#[test]
fn spread_by_instance_counts_the_groups_tasks() {
    check(
        "i1..i3
         run 6 spread(instanceId)",
        expect![[r#"
            run: i1 i3 i2 i1 i2 i3
        "#]],
    );
    // Tasks of the group already there count; other groups' tasks do not.
    check(
        "i1 groups=family:web:2
         i2 groups=family:web:1,family:db:5
         i3
         run 3 spread(host)",
        expect![[r#"
            run: i3 i2 i3
        "#]],
    );
}

#[test]
fn spread_by_attribute_evens_out_the_values() {
    check(
        "a1..a3 az=us-east-1a
         b1 az=us-east-1b
         c1 az=us-east-1c
         run 6 spread(attribute:ecs.availability-zone)",
        expect![[r#"
            run: a1 b1 c1 a3 c1 b1
        "#]],
    );
    // Zone b already runs two of the group's tasks, so a and c catch up first.
    check(
        "a1 az=us-east-1a
         b1 az=us-east-1b groups=family:web:2
         c1 az=us-east-1c
         run 5 spread(attribute:ecs.availability-zone)",
        expect![[r#"
            run: a1 c1 a1 c1 a1
        "#]],
    );
    // Instances without the attribute count as one more value.
    check(
        "a1 az=us-east-1a
         n1..n2
         run 4 spread(attribute:ecs.availability-zone)",
        expect![[r#"
            run: a1 n2 a1 n1
        "#]],
    );
}

#[test]
fn chains_break_ties_with_the_next_strategy() {
    // Spread over zones, then fill the fullest instance of each zone.
    check(
        "a1 az=us-east-1a mem=4096
         a2 az=us-east-1a mem=1024
         b1 az=us-east-1b mem=2048
         b2 az=us-east-1b mem=8192
         run 6 mem=512 spread(attribute:ecs.availability-zone) binpack(memory)",
        expect![[r#"
            run: a2 b1 a2 b1 b1 a1
        "#]],
    );
    // The service default: zones, then instances within each zone.
    check(
        "a1..a2 az=us-east-1a
         b1..b2 az=us-east-1b
         run 8 spread(attribute:ecs.availability-zone) spread(instanceId)",
        expect![[r#"
            run: a1 b1 b2 a2 b2 a1 a2 b1
        "#]],
    );
    // binpack ties (equal memory) fall to spread(instanceId).
    check(
        "i1 mem=2048 groups=family:web:1
         i2 mem=2048
         i3 mem=4096
         run 1 binpack(memory) spread(instanceId)",
        expect![[r#"
            run: i2
        "#]],
    );
    // Nothing after random matters: binpack would have chosen i2 every time.
    check(
        "i1 mem=8192
         i2 mem=1024
         i3 mem=8192
         run 6 random binpack(memory)",
        expect![[r#"
            run: i1 i3 i1 i1 i1 i1
        "#]],
    );
}

#[test]
fn random_is_the_default_and_seeded() {
    check(
        "i1..i4
         run 10
         run 10 random",
        expect![[r#"
            run: i1 i3 i4 i4 i4 i4 i1 i4 i2 i2
            run: i2 i3 i2 i3 i3 i2 i4 i4 i1 i1
        "#]],
    );
}

#[test]
fn placements_in_one_call_and_across_calls_see_each_other() {
    check(
        "i1 cpu=1024 mem=1024
         i2 cpu=1024 mem=1024
         run 3 cpu=512 mem=512 binpack(memory)
         run 2 cpu=512 mem=512 binpack(memory)",
        expect![[r#"
            run: i1 i1 i2
            run: i2 (unplaced: 1)
              i1 RESOURCE:CPU (the task needs 512 CPU units and 0 remain)
              i2 RESOURCE:CPU (the task needs 512 CPU units and 0 remain)
        "#]],
    );
}

#[test]
fn distinct_instance_counts_the_groups_tasks_in_and_before_the_call() {
    check(
        "i1..i3
         run 4 distinctInstance",
        expect![[r#"
            run: i1 i3 i2 (unplaced: 1)
              i1 DistinctInstance placement constraint unsatisfied. (the instance already has 1 task(s) of group family:web)
              i2 DistinctInstance placement constraint unsatisfied. (the instance already has 1 task(s) of group family:web)
              i3 DistinctInstance placement constraint unsatisfied. (the instance already has 1 task(s) of group family:web)
        "#]],
    );
    check(
        "i1 groups=service:api:1
         i2 groups=family:web:3
         i3
         run 2 group=service:api distinctInstance
         run 1 group=service:api distinctInstance",
        expect![[r#"
            run: i3 i2
            run:  (unplaced: 1)
              i1 DistinctInstance placement constraint unsatisfied. (the instance already has 1 task(s) of group service:api)
              i2 DistinctInstance placement constraint unsatisfied. (the instance already has 1 task(s) of group service:api)
              i3 DistinctInstance placement constraint unsatisfied. (the instance already has 1 task(s) of group service:api)
        "#]],
    );
}

#[test]
fn member_of_filters_with_the_query_language() {
    check(
        "i1..i4 type=t2.small|m5.large|t2.micro|g2.2xlarge
         run 4 memberOf(attribute:ecs.instance-type =~ t2.*) spread(instanceId)",
        expect![[r#"
            run: i1 i3 i1 i3
        "#]],
    );
    check(
        "i1..i2 type=t2.small|m5.large
         run 1 mem=10000 memberOf(attribute:ecs.instance-type == t2.small)",
        expect![[r#"
            run:  (unplaced: 1)
              i1 RESOURCE:MEMORY (the task needs 10000 MiB of memory and 8192 MiB remain)
              i2 RESOURCE:MEMORY (the task needs 10000 MiB of memory and 8192 MiB remain)
        "#]],
    );
    check(
        "i1..i2 type=t2.small|m5.large
         run 3 mem=4096 memberOf(attribute:ecs.instance-type == t2.small)",
        expect![[r#"
            run: i1 i1 (unplaced: 1)
              i1 RESOURCE:MEMORY (the task needs 4096 MiB of memory and 0 MiB remain)
              i2 MemberOf placement constraint unsatisfied. (the instance does not satisfy 'attribute:ecs.instance-type == t2.small')
        "#]],
    );
    // Task affinity: only next to the database.
    check(
        "i1 groups=database:1
         i2
         i3 groups=database:2
         run 4 memberOf(task:group == database) spread(instanceId)",
        expect![[r#"
            run: i1 i3 i1 i3
        "#]],
    );
    // The task definition's constraint and the call's both hold.
    check(
        "i1..i4 az=us-east-1a|us-east-1b type=t2.small|t2.small|m5.large|m5.large
         run 2 memberOf(attribute:ecs.availability-zone == us-east-1a) memberOf(attribute:ecs.instance-type == t2.small)",
        expect![[r#"
            run: i1 i1
        "#]],
    );
}

#[test]
fn member_of_on_task_groups_and_counts_sees_tasks_placed_in_the_call() {
    // Anti-affinity with its own group works like distinctInstance.
    check(
        "i1..i3
         run 4 group=service:web memberOf(not(task:group == service:web))",
        expect![[r#"
            run: i1 i3 i2 (unplaced: 1)
              i1 MemberOf placement constraint unsatisfied. (the instance does not satisfy 'not(task:group == service:web)')
              i2 MemberOf placement constraint unsatisfied. (the instance does not satisfy 'not(task:group == service:web)')
              i3 MemberOf placement constraint unsatisfied. (the instance does not satisfy 'not(task:group == service:web)')
        "#]],
    );
    check(
        "i1 running=1
         i2 running=0
         run 4 memberOf(runningTasksCount < 2) binpack(memory)",
        expect![[r#"
            run: i1 i2 i2 (unplaced: 1)
              i1 MemberOf placement constraint unsatisfied. (the instance does not satisfy 'runningTasksCount < 2')
              i2 MemberOf placement constraint unsatisfied. (the instance does not satisfy 'runningTasksCount < 2')
        "#]],
    );
}

#[test]
fn reports_resource_failures() {
    check(
        "i1 cpu=128
         i2 mem=256
         i3 gpu=1
         i4 gpu=2 ports=22,80
         i5 gpu=2 udp=53
         run 1 gpu=2 ports=80 udp=53",
        expect![[r#"
            run:  (unplaced: 1)
              i1 RESOURCE:CPU (the task needs 256 CPU units and 128 remain)
              i2 RESOURCE:MEMORY (the task needs 512 MiB of memory and 256 MiB remain)
              i3 RESOURCE:GPU (the task needs 2 GPU(s) and 1 remain)
              i4 RESOURCE:PORTS (host port 80/tcp is already in use)
              i5 RESOURCE:PORTS_UDP (host port 53/udp is already in use)
        "#]],
    );
    // A static port taken by the call's own first task.
    check(
        "i1
         run 2 ports=8080",
        expect![[r#"
            run: i1 (unplaced: 1)
              i1 RESOURCE:PORTS (host port 8080/tcp is already in use)
        "#]],
    );
}

#[test]
fn limits_reserved_ports_to_one_hundred() {
    let in_use: Vec<String> = (1000..1099).map(|p| p.to_string()).collect();
    check(
        &format!("i1 ports={}\nrun 1 ports=80,81", in_use.join(",")),
        expect![[r#"
            run:  (unplaced: 1)
              i1 RESOURCE:PORTS (101 reserved tcp ports would exceed the limit of 100)
        "#]],
    );
}

#[test]
fn reports_status_agent_attribute_and_location_failures() {
    check(
        "i1 status=DRAINING
         i2 status=INACTIVE
         i3 agent=off
         i4 az=us-east-1a
         i5 external az=us-east-1a
         i6 attr:com.amazonaws.ecs.capability.docker-remote-api.1.19 az=us-east-1c
         i7 attr:com.amazonaws.ecs.capability.docker-remote-api.1.19 attr:ecs.os-type=windows az=us-east-1a
         run 1 launch=EC2 requires=com.amazonaws.ecs.capability.docker-remote-api.1.19 requires=ecs.os-type=linux zones=us-east-1a,us-east-1b",
        expect![[r#"
            run:  (unplaced: 1)
              i1 DRAINING (the instance is DRAINING; only ACTIVE instances receive tasks)
              i2 INACTIVE (the instance is INACTIVE; only ACTIVE instances receive tasks)
              i3 AGENT (the container agent is disconnected)
              i4 ATTRIBUTE (the instance lacks the required attribute com.amazonaws.ecs.capability.docker-remote-api.1.19)
              i5 ATTRIBUTE (launch type EC2 cannot use an EXTERNAL instance (ecs.capability.external))
              i6 ATTRIBUTE (the instance lacks the required attribute ecs.os-type)
              i7 ATTRIBUTE (the required attribute ecs.os-type is 'windows' here, not 'linux')
        "#]],
    );
    check(
        "i1 az=us-east-1c
         i2
         i3 external az=us-east-1a
         run 1 launch=EXTERNAL zones=us-east-1a",
        expect![[r#"
            run: i3
        "#]],
    );
    check(
        "i1 az=us-east-1c external
         i2 external
         i3 az=us-east-1a
         run 1 launch=EXTERNAL zones=us-east-1a,us-east-1b",
        expect![[r#"
            run:  (unplaced: 1)
              i1 LOCATION (the instance is in us-east-1c, and the task's subnets are in us-east-1a, us-east-1b)
              i2 LOCATION (the instance is in no known Availability Zone, and the task's subnets are in us-east-1a, us-east-1b)
              i3 ATTRIBUTE (launch type EXTERNAL needs an instance with ecs.capability.external)
        "#]],
    );
}

#[test]
fn an_empty_cluster_places_nothing_and_reports_nothing() {
    check(
        "run 2",
        expect![[r#"
            run:  (unplaced: 2)
        "#]],
    );
}

#[test]
fn start_task_places_one_task_per_named_instance() {
    check(
        "i1 mem=1024
         i2 agent=off
         start i1,i2,i1,i1",
        expect![[r#"
            start: i1 i1 (unplaced: 2)
              i2 AGENT (the container agent is disconnected)
              i1 RESOURCE:MEMORY (the task needs 512 MiB of memory and 0 MiB remain)
        "#]],
    );
}

#[test]
fn explains_every_instance_for_a_dry_run() {
    check(
        "i1 groups=family:web:1
         i2 mem=256
         i3 type=m5.large
         i4 type=t2.small
         explain distinctInstance memberOf(attribute:ecs.instance-type =~ t2.*)",
        expect![[r#"
            explain:
              i1 DistinctInstance placement constraint unsatisfied. (the instance already has 1 task(s) of group family:web)
              i2 RESOURCE:MEMORY (the task needs 512 MiB of memory and 256 MiB remain)
              i3 MemberOf placement constraint unsatisfied. (the instance does not satisfy 'attribute:ecs.instance-type =~ t2.*')
              i4 ok
        "#]],
    );
}

#[test]
fn refuses_bad_constraints_and_strategies() {
    check(
        "run 1 memberOf(attribute:ecs.instance-type ==)",
        expect![[r#"
            run: error: invalid memberOf expression: expected a value after '==' at position 31; found the end of the expression
        "#]],
    );
    check(
        "run 1 distinctInstance(attribute:a exists)",
        expect![[r#"
            run: error: a distinctInstance constraint takes no expression
        "#]],
    );
    check(
        "run 1 memberOf()",
        expect![[r#"
            run: error: a memberOf constraint needs an expression
        "#]],
    );
    check(
        "run 1 binpack(gpu)",
        expect![[r#"
            run: error: binpack needs the field cpu or memory, not 'gpu'
        "#]],
    );
    check(
        "run 1 spread(ecs.availability-zone)",
        expect![[r#"
            run: error: spread needs the field instanceId, host or attribute:NAME, not 'ecs.availability-zone'
        "#]],
    );
    check(
        &format!("run 1 {}", "memberOf(attribute:a exists) ".repeat(11)),
        expect![[r#"
            run: error: 11 placement constraints, counting the task definition's: at most 10 are allowed
        "#]],
    );
    check(
        "run 1 random random random spread(host) binpack(cpu) binpack(memory)",
        expect![[r#"
            run: error: 6 placement strategies: at most 5 are allowed
        "#]],
    );
}

#[test]
fn parses_strategy_and_constraint_spellings() {
    let parse = |kind, field| Strategy::parse(kind, field).map_err(|e| e.to_string());
    assert_eq!(
        parse("binpack", Some("MEMORY")),
        Ok(Strategy::Binpack(BinpackField::Memory))
    );
    assert_eq!(
        parse("spread", Some("host")),
        Ok(Strategy::Spread(SpreadField::InstanceId))
    );
    assert_eq!(
        parse("spread", Some("attribute:ecs.availability-zone")),
        Ok(Strategy::Spread(SpreadField::Attribute(
            "ecs.availability-zone".to_owned()
        )))
    );
    assert_eq!(parse("random", Some("ignored")), Ok(Strategy::Random));
    assert_eq!(
        parse("spread", None),
        Err("spread needs the field instanceId, host or attribute:NAME, not none".to_owned())
    );
    assert_eq!(
        parse("pack", None),
        Err(
            "unknown placement strategy type 'pack': expected binpack, random or spread".to_owned()
        )
    );
    assert_eq!(
        Constraint::parse("anyOf", None).map_err(|e| e.to_string()),
        Err(
            "unknown placement constraint type 'anyOf': expected distinctInstance or memberOf"
                .to_owned()
        )
    );
}

#[test]
fn apply_keeps_the_instances_up_to_date() {
    let mut cluster = Cluster::new(parse_instances("i1 ports=22"));
    let request = PlacementRequest {
        count: 1,
        ..parse_request("cpu=100 mem=200 gpu=0 ports=80 udp=53 group=service:x").unwrap()
    };
    let placement = cluster.place(&request, &mut StdRng::seed_from_u64(1));
    cluster.apply(&placement);
    let instance = &cluster.instances()[0];
    assert_eq!(instance.remaining.cpu, 3996);
    assert_eq!(instance.remaining.memory, 7992);
    assert_eq!(instance.remaining.tcp_ports, BTreeSet::from([22, 80]));
    assert_eq!(instance.remaining.udp_ports, BTreeSet::from([53]));
    assert_eq!(instance.task_groups.get("service:x"), Some(&1));
    assert_eq!(instance.running_tasks_count, 1);
}

#[test]
fn a_cluster_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Cluster>();
}

/// A cluster kept current with `add` and `replace` after its caches are warm must place exactly
/// as one built afresh from the same records.
#[test]
fn a_cluster_kept_current_places_like_a_fresh_one() {
    let spec = "a1..a3 b1..b3 c1..c2 az=us-east-1a|us-east-1b|us-east-1c";
    let request = parse_request(
        "cpu=256 mem=512 group=service:web spread(attribute:ecs.availability-zone) binpack(memory) \
         memberOf(attribute:ecs.availability-zone != us-east-1d)",
    )
    .unwrap();
    let request = PlacementRequest {
        count: 7,
        ..request
    };
    let mut kept = Cluster::new(parse_instances(spec));
    let warm = kept.place(&request, &mut StdRng::seed_from_u64(3));
    kept.apply(&warm);

    // Another writer stopped two tasks on one instance and drained another.
    let mut stopped = kept.instances()[warm.tasks[0]].clone();
    let on_it = stopped.task_groups.get("service:web").copied().unwrap_or(0);
    stopped
        .task_groups
        .insert("service:web".into(), on_it.saturating_sub(2));
    stopped.remaining.memory += 1024;
    stopped.remaining.cpu += 512;
    kept.replace(warm.tasks[0], stopped);
    let mut drained = kept.instances()[1].clone();
    drained.status = "DRAINING".into();
    kept.replace(1, drained);
    // And a new instance registered in a fourth zone.
    let mut joined = parse_instances("d1").remove(0);
    joined
        .attributes
        .insert(ZONE_ATTRIBUTE.into(), Some("us-east-1c".into()));
    assert_eq!(kept.add(joined), 8);

    let fresh = Cluster::new(kept.instances().to_vec());
    for seed in 0..20 {
        let from_kept = kept.place(&request, &mut StdRng::seed_from_u64(seed));
        let from_fresh = fresh.place(&request, &mut StdRng::seed_from_u64(seed));
        assert_eq!(from_kept.tasks, from_fresh.tasks, "seed {seed}");
        assert_eq!(from_kept.unplaced, from_fresh.unplaced);
    }
    // Only a replace that keeps the registration keeps the spread counts; check that path alone.
    let mut emptied = kept.instances()[warm.tasks[1]].clone();
    emptied.task_groups.clear();
    kept.replace(warm.tasks[1], emptied);
    let fresh = Cluster::new(kept.instances().to_vec());
    for seed in 0..20 {
        let from_kept = kept.place(&request, &mut StdRng::seed_from_u64(seed));
        let from_fresh = fresh.place(&request, &mut StdRng::seed_from_u64(seed));
        assert_eq!(from_kept.tasks, from_fresh.tasks, "seed {seed}");
    }
}
