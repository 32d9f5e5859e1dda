//! The placement engine: which container instances take a request's tasks, and why the others
//! cannot. [`Cluster::place`] plans without changing anything; [`Cluster::apply`] commits a
//! plan, so a caller can show a plan (a dry run) or keep one cluster across many calls.
//!
//! Filters, in the order a rejected instance reports them: status (ACTIVE only), agent
//! connected, launch type and `requiresAttributes` (ATTRIBUTE), subnet Availability Zones
//! (LOCATION), CPU, memory, GPUs, TCP and UDP host ports (RESOURCE:*), distinctInstance, then
//! each memberOf expression. The survivors are ordered by the strategy chain, and ties go to
//! a seeded random choice.
//!
//! Speed: what depends only on how instances registered (status, attributes, memberOf
//! expressions that read neither `task:group` nor `runningTasksCount`) is computed once per
//! distinct request shape and cached in the cluster. A call then makes one pass over the
//! instances, keeping for each combination of spread-attribute values (a "cell") only the
//! `count` best instances; during the call only the instances that receive tasks change, so
//! each task is chosen among the cells' next-best instance and those recipients.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use rand::Rng;

use crate::query::{InstanceView, Query};
use crate::request::{
    BinpackField, Constraint, LaunchType, PlacementRequest, Resources, SpreadField, Strategy,
};

/// ECS refuses a task that would take an instance past 100 reserved host ports
/// ("Too many ports registered", service event messages).
pub const MAX_RESERVED_PORTS: usize = 100;
/// The attribute that marks an ECS Anywhere (EXTERNAL) instance.
pub const EXTERNAL_ATTRIBUTE: &str = "ecs.capability.external";
pub const ZONE_ATTRIBUTE: &str = "ecs.availability-zone";

/// A container instance as placement sees it; the control plane maps its records into this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The caller's name for it (ARN or id). Placement does not read it; it lets a caller that
    /// keeps a cluster across calls map indexes back to its records.
    pub id: String,
    pub ec2_instance_id: Option<String>,
    /// ECS's status; only ACTIVE instances receive tasks.
    pub status: String,
    pub agent_connected: bool,
    pub agent_version: Option<String>,
    /// Seconds since the Unix epoch.
    pub registered_at: i64,
    /// Name to value; attributes may have no value.
    pub attributes: BTreeMap<String, Option<String>>,
    /// What `runningTasksCount` expressions see. Placing a task adds one, so a constraint like
    /// `runningTasksCount < 3` also holds across the tasks of one call.
    pub running_tasks_count: u32,
    /// Tasks on the instance per task group, counting every task not yet stopped: spread,
    /// distinctInstance and `task:group` read it.
    pub task_groups: BTreeMap<String, u32>,
    /// What is left: CPU, memory and GPUs unreserved, host ports in use.
    pub remaining: Resources,
}

impl Instance {
    fn attribute_value(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(|v| v.as_deref())
    }

    fn is_external(&self) -> bool {
        self.attributes.contains_key(EXTERNAL_ATTRIBUTE)
    }
}

impl InstanceView for Instance {
    fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.attributes.get(name).map(|v| v.as_deref())
    }
    fn ec2_instance_id(&self) -> Option<&str> {
        self.ec2_instance_id.as_deref()
    }
    fn registered_at(&self) -> i64 {
        self.registered_at
    }
    fn running_tasks_count(&self) -> u32 {
        self.running_tasks_count
    }
    fn agent_connected(&self) -> bool {
        self.agent_connected
    }
    fn agent_version(&self) -> Option<&str> {
        self.agent_version.as_deref()
    }
    fn any_task_group(&self, test: &mut dyn FnMut(&str) -> bool) -> bool {
        self.task_groups
            .iter()
            .any(|(group, &count)| count > 0 && test(group))
    }
}

/// An instance as it will be once `placed` more tasks of `group` are on it.
struct Pending<'a> {
    instance: &'a Instance,
    group: &'a str,
    placed: u32,
}

impl InstanceView for Pending<'_> {
    fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.instance.attribute(name)
    }
    fn ec2_instance_id(&self) -> Option<&str> {
        self.instance.ec2_instance_id()
    }
    fn registered_at(&self) -> i64 {
        self.instance.registered_at
    }
    fn running_tasks_count(&self) -> u32 {
        self.instance.running_tasks_count + self.placed
    }
    fn agent_connected(&self) -> bool {
        self.instance.agent_connected
    }
    fn agent_version(&self) -> Option<&str> {
        self.instance.agent_version()
    }
    fn any_task_group(&self, test: &mut dyn FnMut(&str) -> bool) -> bool {
        self.instance.any_task_group(test) || (self.placed > 0 && test(self.group))
    }
}

/// Why an instance cannot take a task, as ECS names it in `failures[].reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Not ACTIVE: the status itself, as StartTask reports `INACTIVE`.
    Status(String),
    /// The agent is disconnected.
    Agent,
    /// The launch type or a required attribute does not match.
    Attribute,
    /// Outside the Availability Zones of the task's subnets.
    Location,
    Cpu,
    Memory,
    Gpu,
    Ports,
    PortsUdp,
    DistinctInstance,
    MemberOf,
}

impl Reason {
    /// ECS's text: the API failure reasons page for AGENT, ATTRIBUTE, LOCATION and RESOURCE:*
    /// (with the resource names of `remainingResources`); ECS's own messages for the
    /// constraints (aws/amazon-ecs-agent#3044, aws/containers-roadmap#1201).
    pub fn as_str(&self) -> &str {
        match self {
            Reason::Status(status) => status,
            Reason::Agent => "AGENT",
            Reason::Attribute => "ATTRIBUTE",
            Reason::Location => "LOCATION",
            Reason::Cpu => "RESOURCE:CPU",
            Reason::Memory => "RESOURCE:MEMORY",
            Reason::Gpu => "RESOURCE:GPU",
            Reason::Ports => "RESOURCE:PORTS",
            Reason::PortsUdp => "RESOURCE:PORTS_UDP",
            Reason::DistinctInstance => "DistinctInstance placement constraint unsatisfied.",
            Reason::MemberOf => "MemberOf placement constraint unsatisfied.",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    /// A sentence for people: what the task needs and what the instance has.
    pub detail: String,
}

fn reject(reason: Reason, detail: String) -> Result<(), Rejection> {
    Err(Rejection { reason, detail })
}

/// One instance that turned a task down; `instance` indexes the cluster's instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub instance: usize,
    pub reason: Reason,
    pub detail: String,
}

/// The plan for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The instance of each placed task, in placement order (indexes into the cluster's
    /// instances; an instance appears once per task it takes).
    pub tasks: Vec<usize>,
    /// Tasks that found no instance.
    pub unplaced: u32,
    /// Why each instance turned down the first task that found none, one entry per instance
    /// like ECS's RunTask `failures`; empty when every task was placed.
    pub failures: Vec<Failure>,
    group: String,
    demand: Resources,
}

/// The instances of one cluster, with what placement has cached about them.
#[derive(Debug)]
pub struct Cluster {
    instances: Vec<Instance>,
    hot: Hot,
    group_ids: HashMap<String, u32>,
    cache: Mutex<Cache>,
}

/// What the survey reads of every instance, an array each so that it streams through them.
#[derive(Debug, Default)]
struct Hot {
    cpu: Vec<i64>,
    memory: Vec<i64>,
    gpus: Vec<u32>,
    groups: Vec<GroupCounts>,
}

impl Hot {
    fn tasks_of(&self, i: usize, group: Option<u32>) -> u32 {
        group.map_or(0, |g| self.groups[i].get(g))
    }
}

/// Tasks per interned task group. Most instances run tasks of one or two groups, which stay
/// inline so reading them touches no other memory.
#[derive(Debug, Clone)]
struct GroupCounts {
    inline: [(u32, u32); 2],
    more: Vec<(u32, u32)>,
}

const NO_GROUP: u32 = u32::MAX;

impl GroupCounts {
    fn new() -> GroupCounts {
        GroupCounts {
            inline: [(NO_GROUP, 0); 2],
            more: Vec::new(),
        }
    }

    fn get(&self, group: u32) -> u32 {
        match self.inline.iter().find(|(g, _)| *g == group) {
            Some((_, n)) => *n,
            None => self
                .more
                .iter()
                .find(|(g, _)| *g == group)
                .map_or(0, |(_, n)| *n),
        }
    }

    fn add(&mut self, group: u32, tasks: u32) {
        let slot = self
            .inline
            .iter_mut()
            .chain(self.more.iter_mut())
            .find(|(g, _)| *g == group);
        if let Some((_, n)) = slot {
            *n += tasks;
        } else if let Some(free) = self.inline.iter_mut().find(|(g, _)| *g == NO_GROUP) {
            *free = (group, tasks);
        } else {
            self.more.push((group, tasks));
        }
    }
}

/// What placement worked out about the instances and keeps for later calls. Except for the
/// spread counts, which `apply` keeps current, it depends only on what the instances registered
/// with, which nothing in a `Cluster` changes.
#[derive(Debug, Default)]
struct Cache {
    /// The instances that pass the filters that do not depend on tasks, per request shape.
    eligible: HashMap<String, Arc<Vec<u32>>>,
    /// An attribute's value per instance, interned.
    columns: HashMap<String, Arc<Column>>,
    /// Instances grouped by their values of a list of spread attributes.
    cells: HashMap<Vec<String>, Arc<Cells>>,
    /// Tasks of a group (interned) per value of an attribute.
    spread: HashMap<(u32, String), Spread>,
}

#[derive(Debug)]
struct Spread {
    column: Arc<Column>,
    counts: Vec<u64>,
}

/// Bounds the cache when callers send endlessly varied requests.
const CACHE_LIMIT: usize = 256;

#[derive(Debug)]
struct Column {
    value_of: Vec<u32>,
    values: usize,
}

#[derive(Debug)]
struct Cells {
    cell_of: Vec<u32>,
    /// For each cell, its value of each spread attribute.
    values: Vec<Vec<u32>>,
}

impl Cluster {
    pub fn new(instances: Vec<Instance>) -> Cluster {
        let mut cluster = Cluster {
            instances: Vec::with_capacity(instances.len()),
            hot: Hot::default(),
            group_ids: HashMap::new(),
            cache: Mutex::default(),
        };
        for instance in instances {
            cluster.push(instance);
        }
        cluster
    }

    /// Adds an instance that registered after the cluster was built; returns its index.
    pub fn add(&mut self, instance: Instance) -> usize {
        self.push(instance);
        // Every cached column and eligibility list is one instance short now.
        *self.cache.get_mut().unwrap_or_else(PoisonError::into_inner) = Cache::default();
        self.instances.len() - 1
    }

    fn push(&mut self, instance: Instance) {
        let groups = self.group_counts(&instance);
        self.hot.cpu.push(instance.remaining.cpu);
        self.hot.memory.push(instance.remaining.memory);
        self.hot.gpus.push(instance.remaining.gpus);
        self.hot.groups.push(groups);
        self.instances.push(instance);
    }

    /// Replaces what is known of instance `i`, whose record changed outside placement (a task
    /// stopped, an attribute was set, the instance was drained), so that a caller can keep one
    /// cluster current instead of building a new one per call. A change of resources or task
    /// groups keeps the cached work; a change of anything the cache derives from drops it.
    pub fn replace(&mut self, i: usize, instance: Instance) {
        let groups = self.group_counts(&instance);
        let cache = self.cache.get_mut().unwrap_or_else(PoisonError::into_inner);
        if same_registration(&self.instances[i], &instance) {
            for ((group, _), spread) in &mut cache.spread {
                let cell = &mut spread.counts[spread.column.value_of[i] as usize];
                *cell = *cell - u64::from(self.hot.groups[i].get(*group))
                    + u64::from(groups.get(*group));
            }
        } else {
            *cache = Cache::default();
        }
        self.hot.cpu[i] = instance.remaining.cpu;
        self.hot.memory[i] = instance.remaining.memory;
        self.hot.gpus[i] = instance.remaining.gpus;
        self.hot.groups[i] = groups;
        self.instances[i] = instance;
    }

    fn group_counts(&mut self, instance: &Instance) -> GroupCounts {
        let mut groups = GroupCounts::new();
        for (group, &tasks) in &instance.task_groups {
            if tasks > 0 {
                groups.add(intern(&mut self.group_ids, group), tasks);
            }
        }
        groups
    }

    /// The instances as they are now, with every applied placement counted.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// Plans `request.count` tasks, each seeing the ones planned before it. An empty cluster
    /// places nothing and reports no failures: ECS answers that with InvalidParameterException
    /// "No Container Instances were found in your cluster.", which is the caller's to raise.
    pub fn place(&self, request: &PlacementRequest, rng: &mut impl Rng) -> Placement {
        let mut call = Call::new(self, request, rng.random());
        let mut placed = 0;
        while placed < request.count && call.place_one() {
            placed += 1;
        }
        let failures = if placed < request.count {
            call.failures()
        } else {
            Vec::new()
        };
        Placement {
            tasks: call.tasks,
            unplaced: request.count - placed,
            failures,
            group: request.group.clone(),
            demand: request.demand.clone(),
        }
    }

    /// StartTask: one task on each of `targets` (indexes into [`Cluster::instances`], repeats
    /// allowed), in order, with the same filters but no strategy; `request.count` is not used.
    /// A target that cannot take its task gets a failure of its own.
    pub fn place_on(&self, targets: &[usize], request: &PlacementRequest) -> Placement {
        let mut placed: HashMap<usize, u32> = HashMap::new();
        let mut tasks = Vec::new();
        let mut failures = Vec::new();
        for &target in targets {
            let on_target = placed.entry(target).or_default();
            match self.check(target, request, *on_target) {
                Ok(()) => {
                    *on_target += 1;
                    tasks.push(target);
                }
                Err(Rejection { reason, detail }) => failures.push(Failure {
                    instance: target,
                    reason,
                    detail,
                }),
            }
        }
        Placement {
            unplaced: u32::try_from(failures.len()).unwrap_or(u32::MAX),
            tasks,
            failures,
            group: request.group.clone(),
            demand: request.demand.clone(),
        }
    }

    /// For a dry run: why each instance would refuse the request's first task, or `None`
    /// when it could take it.
    pub fn explain(&self, request: &PlacementRequest) -> Vec<Option<Rejection>> {
        (0..self.instances.len())
            .map(|i| self.check(i, request, 0).err())
            .collect()
    }

    /// Commits a plan made by [`Cluster::place`] or [`Cluster::place_on`] on this cluster:
    /// reserves its resources and counts its tasks.
    pub fn apply(&mut self, placement: &Placement) {
        let demand = &placement.demand;
        let group = intern(&mut self.group_ids, &placement.group);
        for &i in &placement.tasks {
            let instance = &mut self.instances[i];
            instance.remaining.cpu -= demand.cpu;
            instance.remaining.memory -= demand.memory;
            instance.remaining.gpus = instance.remaining.gpus.saturating_sub(demand.gpus);
            instance.remaining.tcp_ports.extend(&demand.tcp_ports);
            instance.remaining.udp_ports.extend(&demand.udp_ports);
            instance.running_tasks_count += 1;
            *instance
                .task_groups
                .entry(placement.group.clone())
                .or_default() += 1;
            self.hot.cpu[i] = instance.remaining.cpu;
            self.hot.memory[i] = instance.remaining.memory;
            self.hot.gpus[i] = instance.remaining.gpus;
            self.hot.groups[i].add(group, 1);
        }
        let cache = self.cache.get_mut().unwrap_or_else(PoisonError::into_inner);
        for ((g, _), spread) in &mut cache.spread {
            if *g == group {
                for &i in &placement.tasks {
                    spread.counts[spread.column.value_of[i] as usize] += 1;
                }
            }
        }
    }

    /// Every filter, in the order failures report them, for instance `i` once `placed` tasks of
    /// this request are on it.
    fn check(&self, i: usize, request: &PlacementRequest, placed: u32) -> Result<(), Rejection> {
        let instance = &self.instances[i];
        self.check_registration(instance, request)?;
        check_resources(instance, &request.demand, placed)?;
        let pending = Pending {
            instance,
            group: &request.group,
            placed,
        };
        for constraint in &request.constraints {
            match constraint {
                Constraint::DistinctInstance => {
                    let tasks = instance
                        .task_groups
                        .get(&request.group)
                        .copied()
                        .unwrap_or(0);
                    if tasks + placed > 0 {
                        return reject(
                            Reason::DistinctInstance,
                            format!(
                                "the instance already has {} task(s) of group {}",
                                tasks + placed,
                                request.group
                            ),
                        );
                    }
                }
                Constraint::MemberOf(query) => {
                    if !query.matches(&pending) {
                        return reject(
                            Reason::MemberOf,
                            format!("the instance does not satisfy '{}'", query.source()),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// The filters that depend only on how the instance registered.
    fn check_registration(
        &self,
        instance: &Instance,
        request: &PlacementRequest,
    ) -> Result<(), Rejection> {
        if instance.status != "ACTIVE" {
            return reject(
                Reason::Status(instance.status.clone()),
                format!(
                    "the instance is {}; only ACTIVE instances receive tasks",
                    instance.status
                ),
            );
        }
        if !instance.agent_connected {
            return reject(
                Reason::Agent,
                "the container agent is disconnected".to_owned(),
            );
        }
        match (request.launch_type, instance.is_external()) {
            (Some(LaunchType::Ec2), true) => {
                return reject(
                    Reason::Attribute,
                    format!(
                        "launch type EC2 cannot use an EXTERNAL instance ({EXTERNAL_ATTRIBUTE})"
                    ),
                );
            }
            (Some(LaunchType::External), false) => {
                return reject(
                    Reason::Attribute,
                    format!("launch type EXTERNAL needs an instance with {EXTERNAL_ATTRIBUTE}"),
                );
            }
            _ => {}
        }
        for required in &request.required_attributes {
            match (instance.attributes.get(&required.name), &required.value) {
                (None, _) => {
                    return reject(
                        Reason::Attribute,
                        format!(
                            "the instance lacks the required attribute {}",
                            required.name
                        ),
                    );
                }
                (Some(actual), Some(value)) if actual.as_ref() != Some(value) => {
                    return reject(
                        Reason::Attribute,
                        format!(
                            "the required attribute {} is {} here, not '{value}'",
                            required.name,
                            actual
                                .as_ref()
                                .map_or("unset".to_owned(), |a| format!("'{a}'"))
                        ),
                    );
                }
                _ => {}
            }
        }
        if let Some(zones) = &request.subnet_zones {
            let zone = instance.attribute_value(ZONE_ATTRIBUTE);
            if !zone.is_some_and(|z| zones.contains(z)) {
                let listed = zones.iter().cloned().collect::<Vec<_>>().join(", ");
                return reject(
                    Reason::Location,
                    format!(
                        "the instance is in {}, and the task's subnets are in {listed}",
                        zone.unwrap_or("no known Availability Zone")
                    ),
                );
            }
        }
        Ok(())
    }

    /// Which instances pass [`Cluster::check_registration`] and the memberOf expressions that
    /// do not depend on tasks: computed once per request shape.
    fn eligible(&self, request: &PlacementRequest, fixed: &[&Query]) -> Arc<Vec<u32>> {
        let key = format!(
            "{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}",
            request.launch_type,
            request.required_attributes,
            request.subnet_zones,
            fixed.iter().map(|q| q.source()).collect::<Vec<_>>()
        );
        if let Some(hit) = self.lock_cache().eligible.get(&key) {
            return Arc::clone(hit);
        }
        let eligible: Arc<Vec<u32>> = Arc::new(
            (0..self.instances.len())
                .filter(|&i| {
                    let instance = &self.instances[i];
                    self.check_registration(instance, request).is_ok()
                        && fixed.iter().all(|q| q.matches(instance))
                })
                .map(|i| u32::try_from(i).expect("fewer than 2^32 instances"))
                .collect(),
        );
        let mut cache = self.lock_cache();
        bound(&mut cache.eligible);
        cache.eligible.insert(key, Arc::clone(&eligible));
        eligible
    }

    /// Values are numbered in order of first appearance, so a column rebuilt after the cache was
    /// cleared numbers them as the copies that cells and spread counts still hold.
    fn column(&self, attribute: &str) -> Arc<Column> {
        if let Some(hit) = self.lock_cache().columns.get(attribute) {
            return Arc::clone(hit);
        }
        let mut ids: HashMap<Option<&str>, u32> = HashMap::new();
        let value_of = self
            .instances
            .iter()
            .map(|instance| {
                let next = u32::try_from(ids.len()).expect("fewer than 2^32 values");
                *ids.entry(instance.attribute_value(attribute))
                    .or_insert(next)
            })
            .collect();
        let column = Arc::new(Column {
            value_of,
            values: ids.len(),
        });
        let mut cache = self.lock_cache();
        bound(&mut cache.columns);
        cache
            .columns
            .insert(attribute.to_owned(), Arc::clone(&column));
        column
    }

    fn cells(&self, attributes: &[String], columns: &[Arc<Column>]) -> Arc<Cells> {
        if let Some(hit) = self.lock_cache().cells.get(attributes) {
            return Arc::clone(hit);
        }
        let mut ids: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut values = Vec::new();
        let cell_of = (0..self.instances.len())
            .map(|i| {
                let tuple: Vec<u32> = columns.iter().map(|c| c.value_of[i]).collect();
                *ids.entry(tuple.clone()).or_insert_with(|| {
                    values.push(tuple);
                    u32::try_from(values.len() - 1).expect("fewer than 2^32 cells")
                })
            })
            .collect();
        let cells = Arc::new(Cells { cell_of, values });
        let mut cache = self.lock_cache();
        bound(&mut cache.cells);
        cache.cells.insert(attributes.to_vec(), Arc::clone(&cells));
        cells
    }

    /// Tasks of `group` per value of the attribute `column` holds.
    fn spread_counts(&self, group: Option<u32>, attribute: &str, column: &Arc<Column>) -> Vec<u64> {
        let Some(group) = group else {
            return vec![0; column.values];
        };
        let key = (group, attribute.to_owned());
        if let Some(hit) = self.lock_cache().spread.get(&key) {
            return hit.counts.clone();
        }
        let mut counts = vec![0; column.values];
        for (i, groups) in self.hot.groups.iter().enumerate() {
            counts[column.value_of[i] as usize] += u64::from(groups.get(group));
        }
        let mut cache = self.lock_cache();
        bound(&mut cache.spread);
        let spread = Spread {
            column: Arc::clone(column),
            counts: counts.clone(),
        };
        cache.spread.insert(key, spread);
        counts
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        // Entries are inserted whole, so a panic elsewhere cannot leave one half-written.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether two records of one instance agree on everything placement caches per request shape:
/// all but what is left on it and which tasks it runs.
fn same_registration(a: &Instance, b: &Instance) -> bool {
    a.id == b.id
        && a.ec2_instance_id == b.ec2_instance_id
        && a.status == b.status
        && a.agent_connected == b.agent_connected
        && a.agent_version == b.agent_version
        && a.registered_at == b.registered_at
        && a.attributes == b.attributes
}

fn bound<K, V>(map: &mut HashMap<K, V>) {
    if map.len() >= CACHE_LIMIT {
        map.clear();
    }
}

fn intern(ids: &mut HashMap<String, u32>, group: &str) -> u32 {
    if let Some(&id) = ids.get(group) {
        return id;
    }
    let id = u32::try_from(ids.len()).expect("fewer than 2^32 task groups");
    ids.insert(group.to_owned(), id);
    id
}

/// CPU, memory, GPUs and ports for one more task after `placed` of them.
fn check_resources(instance: &Instance, demand: &Resources, placed: u32) -> Result<(), Rejection> {
    let taken = i64::from(placed);
    let cpu = instance.remaining.cpu - taken * demand.cpu;
    if cpu < demand.cpu {
        return reject(
            Reason::Cpu,
            format!("the task needs {} CPU units and {cpu} remain", demand.cpu),
        );
    }
    let memory = instance.remaining.memory - taken * demand.memory;
    if memory < demand.memory {
        return reject(
            Reason::Memory,
            format!(
                "the task needs {} MiB of memory and {memory} MiB remain",
                demand.memory
            ),
        );
    }
    let gpus = i64::from(instance.remaining.gpus) - taken * i64::from(demand.gpus);
    if gpus < i64::from(demand.gpus) {
        return reject(
            Reason::Gpu,
            format!("the task needs {} GPU(s) and {gpus} remain", demand.gpus),
        );
    }
    check_ports(
        &instance.remaining.tcp_ports,
        &demand.tcp_ports,
        placed,
        Reason::Ports,
        "tcp",
    )?;
    check_ports(
        &instance.remaining.udp_ports,
        &demand.udp_ports,
        placed,
        Reason::PortsUdp,
        "udp",
    )
}

fn check_ports(
    in_use: &BTreeSet<u16>,
    wanted: &BTreeSet<u16>,
    placed: u32,
    reason: Reason,
    protocol: &str,
) -> Result<(), Rejection> {
    // A task placed earlier in the call holds every port of the request.
    if let Some(port) = wanted.iter().find(|p| placed > 0 || in_use.contains(p)) {
        return reject(
            reason,
            format!("host port {port}/{protocol} is already in use"),
        );
    }
    if !wanted.is_empty() && in_use.len() + wanted.len() > MAX_RESERVED_PORTS {
        return reject(
            reason,
            format!(
                "{} reserved {protocol} ports would exceed the limit of {MAX_RESERVED_PORTS}",
                in_use.len() + wanted.len()
            ),
        );
    }
    Ok(())
}

/// One step of the strategy chain, after `random` cut it short.
#[derive(Debug, Clone, Copy)]
enum Step {
    Binpack(BinpackField),
    SpreadInstance,
    /// Index into the call's spread columns.
    SpreadAttribute(usize),
}

/// Strategy values in chain order, compared in that order: lower is preferred.
type Parts = [u64; crate::request::MAX_STRATEGIES];
/// Strategy values, then a random priority.
type Key = (Parts, u64);

/// An instance that took a task in this call.
struct Recipient {
    instance: usize,
    placed: u32,
    priority: u64,
    fits: bool,
}

/// A cell's best instances at the start of the call, and who of it has taken tasks since.
struct CellState {
    best: Vec<(Key, usize)>,
    next: usize,
    recipients: Vec<usize>,
}

enum Pick {
    Fresh(usize),
    Again(usize),
}

struct Call<'a> {
    cluster: &'a Cluster,
    request: &'a PlacementRequest,
    group: Option<u32>,
    steps: Vec<Step>,
    columns: Vec<Arc<Column>>,
    cells: Arc<Cells>,
    /// Tasks of the group per value, for each spread attribute.
    counts: Vec<Vec<u64>>,
    /// memberOf expressions whose answer changes as tasks land.
    changing: Vec<&'a Query>,
    distinct: bool,
    cell_states: Vec<CellState>,
    recipients: Vec<Recipient>,
    seed: u64,
    tasks: Vec<usize>,
}

impl<'a> Call<'a> {
    fn new(cluster: &'a Cluster, request: &'a PlacementRequest, seed: u64) -> Call<'a> {
        let mut steps = Vec::new();
        let mut spread_attributes = Vec::new();
        // Up to five steps count (ECS's limit); a longer chain is refused by check_limits.
        for strategy in request
            .strategies
            .iter()
            .take(crate::request::MAX_STRATEGIES)
        {
            steps.push(match strategy {
                Strategy::Binpack(field) => Step::Binpack(*field),
                Strategy::Spread(SpreadField::InstanceId) => Step::SpreadInstance,
                Strategy::Spread(SpreadField::Attribute(name)) => {
                    spread_attributes.push(name.clone());
                    Step::SpreadAttribute(spread_attributes.len() - 1)
                }
                // Everything after random could only break ties, and random breaks them all.
                Strategy::Random => break,
            });
        }
        let mut fixed = Vec::new();
        let mut changing = Vec::new();
        let mut distinct = false;
        for constraint in &request.constraints {
            match constraint {
                Constraint::DistinctInstance => distinct = true,
                Constraint::MemberOf(query) if query.depends_on_tasks() => changing.push(query),
                Constraint::MemberOf(query) => fixed.push(query),
            }
        }
        let eligible = cluster.eligible(request, &fixed);
        let columns: Vec<Arc<Column>> = spread_attributes
            .iter()
            .map(|name| cluster.column(name))
            .collect();
        let cells = cluster.cells(&spread_attributes, &columns);
        let group = cluster.group_ids.get(&request.group).copied();
        let mut call = Call {
            cluster,
            request,
            group,
            steps,
            counts: spread_attributes
                .iter()
                .zip(&columns)
                .map(|(name, column)| cluster.spread_counts(group, name, column))
                .collect(),
            columns,
            cell_states: Vec::new(),
            cells,
            changing,
            distinct,
            recipients: Vec::new(),
            seed,
            tasks: Vec::new(),
        };
        call.survey(&eligible);
        call
    }

    /// The one pass over the eligible instances: keeps each cell's `count` best instances that
    /// can take a task.
    fn survey(&mut self, eligible: &[u32]) {
        let keep = self.request.count as usize;
        let demand = &self.request.demand;
        // Most requests need only the numbers compared; the rest is looked at when asked for.
        let plain = demand.tcp_ports.is_empty()
            && demand.udp_ports.is_empty()
            && !self.distinct
            && self.changing.is_empty();
        // Locals, so the loop keeps them in registers.
        let (cpu, memory, gpus) = (
            &self.cluster.hot.cpu[..],
            &self.cluster.hot.memory[..],
            &self.cluster.hot.gpus[..],
        );
        let (need_cpu, need_memory, need_gpus) = (demand.cpu, demand.memory, demand.gpus);
        let cell_of = &self.cells.cell_of[..];
        let mut heaps: Vec<BinaryHeap<(Key, usize)>> = (0..self.cells.values.len())
            .map(|_| BinaryHeap::new())
            .collect();
        for &i in eligible {
            let i = i as usize;
            if cpu[i] < need_cpu
                || memory[i] < need_memory
                || gpus[i] < need_gpus
                || (!plain && !self.fits(i, 0))
            {
                continue;
            }
            let parts = self.parts(i, 0);
            let heap = &mut heaps[cell_of[i] as usize];
            if heap.len() < keep {
                heap.push(((parts, priority(self.seed, i as u64)), i));
                continue;
            }
            // Most instances lose on their strategy values alone, before a priority is drawn.
            let Some(worst) = heap.peek() else { continue };
            if parts > worst.0.0 {
                continue;
            }
            let entry = ((parts, priority(self.seed, i as u64)), i);
            if entry < *worst
                && let Some(mut worst) = heap.peek_mut()
            {
                *worst = entry;
            }
        }
        self.cell_states = heaps
            .into_iter()
            .map(|heap| CellState {
                best: heap.into_sorted_vec(),
                next: 0,
                recipients: Vec::new(),
            })
            .collect();
    }

    /// Whether instance `i` can take one more task after `placed` in this call, given that it
    /// passed the registration filters. The hot path: [`Cluster::check`] says the same slowly.
    fn fits(&self, i: usize, placed: u32) -> bool {
        let hot = &self.cluster.hot;
        let demand = &self.request.demand;
        let after = i64::from(placed) + 1;
        if hot.cpu[i] < after * demand.cpu
            || hot.memory[i] < after * demand.memory
            || i64::from(hot.gpus[i]) < after * i64::from(demand.gpus)
        {
            return false;
        }
        if !(demand.tcp_ports.is_empty() && demand.udp_ports.is_empty()) {
            let remaining = &self.cluster.instances[i].remaining;
            let fine = |in_use: &BTreeSet<u16>, wanted: &BTreeSet<u16>| {
                wanted.is_empty()
                    || (placed == 0
                        && wanted.is_disjoint(in_use)
                        && in_use.len() + wanted.len() <= MAX_RESERVED_PORTS)
            };
            if !fine(&remaining.tcp_ports, &demand.tcp_ports)
                || !fine(&remaining.udp_ports, &demand.udp_ports)
            {
                return false;
            }
        }
        if self.distinct && hot.tasks_of(i, self.group) + placed > 0 {
            return false;
        }
        let pending = Pending {
            instance: &self.cluster.instances[i],
            group: &self.request.group,
            placed,
        };
        self.changing.iter().all(|q| q.matches(&pending))
    }

    /// The instance's own strategy values; a cell's shared spread counts are left at zero.
    #[inline(always)]
    fn parts(&self, i: usize, placed: u32) -> Parts {
        let hot = &self.cluster.hot;
        let demand = &self.request.demand;
        let taken = i64::from(placed);
        let mut parts = [0; crate::request::MAX_STRATEGIES];
        for (part, step) in parts.iter_mut().zip(&self.steps) {
            *part = match step {
                // Non-negative: the instance fits at least one more task.
                Step::Binpack(BinpackField::Cpu) => (hot.cpu[i] - taken * demand.cpu) as u64,
                Step::Binpack(BinpackField::Memory) => {
                    (hot.memory[i] - taken * demand.memory) as u64
                }
                Step::SpreadInstance => u64::from(hot.tasks_of(i, self.group) + placed),
                Step::SpreadAttribute(_) => 0,
            };
        }
        parts
    }

    /// A cell member's key with the cell's spread counts filled in, comparable across cells.
    fn full_key(&self, cell: usize, mut key: Key) -> Key {
        for (part, step) in key.0.iter_mut().zip(&self.steps) {
            if let Step::SpreadAttribute(j) = step {
                *part = self.counts[*j][self.cells.values[cell][*j] as usize];
            }
        }
        key
    }

    /// Places one task; false when no instance can take it.
    fn place_one(&mut self) -> bool {
        let mut best: Option<(Key, usize, Pick)> = None;
        for (c, state) in self.cell_states.iter().enumerate() {
            let mut candidate = state
                .best
                .get(state.next)
                .map(|&(key, i)| (key, Pick::Fresh(i)));
            for &r in &state.recipients {
                let recipient = &self.recipients[r];
                if !recipient.fits {
                    continue;
                }
                let key = (
                    self.parts(recipient.instance, recipient.placed),
                    recipient.priority,
                );
                if candidate.as_ref().is_none_or(|(k, _)| key < *k) {
                    candidate = Some((key, Pick::Again(r)));
                }
            }
            if let Some((key, pick)) = candidate {
                let key = self.full_key(c, key);
                if best.as_ref().is_none_or(|(k, ..)| key < *k) {
                    best = Some((key, c, pick));
                }
            }
        }
        let Some((key, cell, pick)) = best else {
            return false;
        };
        let r = match pick {
            Pick::Fresh(instance) => {
                self.cell_states[cell].next += 1;
                self.cell_states[cell]
                    .recipients
                    .push(self.recipients.len());
                self.recipients.push(Recipient {
                    instance,
                    placed: 0,
                    priority: key.1,
                    fits: true,
                });
                self.recipients.len() - 1
            }
            Pick::Again(r) => r,
        };
        let (instance, placed) = (self.recipients[r].instance, self.recipients[r].placed);
        debug_assert_eq!(
            self.cluster.check(instance, self.request, placed),
            Ok(()),
            "the hot path chose an instance the full check refuses"
        );
        self.tasks.push(instance);
        for (column, counts) in self.columns.iter().zip(&mut self.counts) {
            counts[column.value_of[instance] as usize] += 1;
        }
        let fits = self.fits(instance, placed + 1);
        let recipient = &mut self.recipients[r];
        recipient.placed += 1;
        recipient.fits = fits;
        // Instances still tied with it all lost to its old priority, so theirs are above it;
        // drawing the new one above it too keeps the next tie-break fair.
        let old = recipient.priority;
        let draw = priority(self.seed ^ 0x5851_f42d_4c95_7f2d, self.tasks.len() as u64);
        // Scaled, not `draw % room`: the room is near 2^64, where a modulo would be lopsided.
        let room = u64::MAX - old;
        recipient.priority = old + ((u128::from(draw) * u128::from(room)) >> 64) as u64 + 1;
        true
    }

    /// Why each instance refuses the next task, once none can take it.
    fn failures(&self) -> Vec<Failure> {
        let placed: HashMap<usize, u32> = self
            .recipients
            .iter()
            .map(|r| (r.instance, r.placed))
            .collect();
        (0..self.cluster.instances.len())
            .filter_map(|i| {
                let result =
                    self.cluster
                        .check(i, self.request, placed.get(&i).copied().unwrap_or(0));
                debug_assert!(result.is_err(), "instance {i} fits but was not chosen");
                result.err().map(|Rejection { reason, detail }| Failure {
                    instance: i,
                    reason,
                    detail,
                })
            })
            .collect()
    }
}

/// A random-looking priority for `index` under `seed` (SplitMix64), so each call draws one
/// number from the caller's generator instead of one per instance.
fn priority(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
