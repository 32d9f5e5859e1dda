//! The data plane's handle and its state: `apply` turns a `Config` into an immutable snapshot
//! (compiled route tables, TLS configurations, target groups) swapped in atomically, binds the
//! ports the snapshot needs and closes those it no longer does. State that must outlive one
//! configuration (health of each target, outstanding requests, round-robin cursors, the health
//! checker tasks) is kept by target group id and target address and carried into the next
//! snapshot, so an `apply` never resets a healthy target or drops a connection.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{
    Action, AdminState, Config, HealthCheck, LoadBalancer, Protocol, Target, TargetGroup,
};
use crate::health::{HealthTracker, Outcome, State, TargetHealth};
use crate::metrics::{HostCounts, InMemoryMetrics, Metrics};
use crate::rules::{RouteTable, RuleError};
use crate::tls::{ListenerTls, TlsError};
use crate::workers::Workers;
use crate::{checker, pool, proxy};

/// Limits of the client side that ALB does not let users configure.
#[derive(Debug, Clone)]
pub struct Options {
    /// The address every listener binds (all load balancers share the host's addresses).
    pub bind_ip: IpAddr,
    /// A client must send a whole request head within this long, or gets 408.
    pub header_read_timeout: Duration,
    /// Request line and headers larger than this get 431.
    pub max_header_bytes: usize,
    /// How long to wait for a target to accept a connection before answering 504.
    pub connect_timeout: Duration,
    /// Worker threads (each a single-threaded runtime with its own accept loops and upstream
    /// pool); the number of CPUs by default.
    pub workers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            header_read_timeout: Duration::from_secs(60),
            max_header_bytes: 64 * 1024,
            connect_timeout: Duration::from_secs(10),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "cannot listen on {address}: ports below 1024 need privilege; allow them with \
         `sysctl net.ipv4.ip_unprivileged_port_start={port}` or give the binary \
         CAP_NET_BIND_SERVICE (`setcap cap_net_bind_service=+ep BINARY`)"
    )]
    PrivilegedPort { address: SocketAddr, port: u16 },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: io::Error,
    },
    #[error("port {port} has both HTTP and HTTPS listeners; one port serves one protocol")]
    ProtocolConflict { port: u16 },
    #[error(
        "load balancers {first} and {second} both listen on port {port} under the DNS name {dns_name}"
    )]
    DuplicateDnsName {
        port: u16,
        dns_name: String,
        first: String,
        second: String,
    },
    #[error("listener {listener}: {source}")]
    Rules { listener: String, source: RuleError },
    #[error("listener {listener}: {source}")]
    Tls { listener: String, source: TlsError },
    #[error(
        "listener {listener} forwards to target group {target_group}, which is not in the configuration"
    )]
    UnknownTargetGroup {
        listener: String,
        target_group: String,
    },
    #[error("listener {listener} has a forward action without target groups")]
    EmptyForward { listener: String },
    #[error("target group {0} appears twice")]
    DuplicateTargetGroup(String),
}

/// Where each listener of the applied configuration is reachable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Listener id → the socket address it is bound to (for port 0, the port chosen).
    pub listeners: HashMap<String, SocketAddr>,
}

/// One target's health as published for the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealthReport {
    pub target_group_id: String,
    pub target: SocketAddr,
    pub health: TargetHealth,
}

/// The running data plane. Cheap to clone; dropping the last handle closes the listeners and
/// stops the health checks (connections in progress finish on their own, then the worker
/// threads end).
#[derive(Clone)]
pub struct DataPlane {
    shared: Arc<Shared>,
    _owner: Arc<Owner>,
}

/// Shuts the data plane down when the last `DataPlane` handle goes: connections hold `Shared`
/// too, so its own drop would wait for every client to leave.
struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        lock(&self.0.sockets).clear();
        for group in lock(&self.0.groups).values() {
            for target in lock(&group.targets).values() {
                *lock(&target.checker) = None;
            }
        }
    }
}

pub(crate) struct Shared {
    pub options: Options,
    pub snapshot: ArcSwap<Snapshot>,
    /// `snapshot` again for each worker, behind a reference count of the worker's own: every
    /// request holds the snapshot it routes by, and one count taken and given back by every
    /// worker would pass its cache line between cores on every request.
    pub worker_snapshots: Box<[WorkerSnapshot]>,
    pub metrics: Arc<dyn Metrics>,
    /// Connects to targets; each worker keeps its own keep-alive connections (`pool`), so a
    /// request's upstream connection lives on its thread.
    pub pool: pool::UpstreamPool,
    workers: Workers,
    /// Client connections open on each worker: a new one goes to the worker with the fewest.
    open_connections: Box<[AtomicUsize]>,
    sockets: Mutex<HashMap<SocketKey, BoundSocket>>,
    groups: Mutex<HashMap<String, Arc<GroupState>>>,
    health_version: watch::Sender<u64>,
    apply_lock: Mutex<()>,
    checkers_started: AtomicU64,
}

/// Listeners on one port share one socket; a port-0 listener gets a socket of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SocketKey {
    Port(u16),
    Ephemeral(String),
}

/// The key a socket's connections look their routes up by. It changes when a listener that was
/// given an ephemeral port is reconfigured to ask for that port by number (the socket is kept).
pub(crate) type SharedKey = Arc<RwLock<SocketKey>>;

pub(crate) fn current(key: &SharedKey) -> SocketKey {
    key.read().unwrap_or_else(|p| p.into_inner()).clone()
}

struct BoundSocket {
    address: SocketAddr,
    /// One per worker (read by each of its requests), all changed together.
    keys: Vec<SharedKey>,
    /// One per worker, each on its own SO_REUSEPORT socket.
    accept_loops: Vec<JoinHandle<()>>,
}

impl Drop for BoundSocket {
    fn drop(&mut self) {
        for accept_loop in &self.accept_loops {
            accept_loop.abort();
        }
    }
}

/// A worker's reference to the current snapshot, on cache lines of its own.
#[repr(align(128))]
pub(crate) struct WorkerSnapshot(pub ArcSwap<Arc<Snapshot>>);

/// One configuration, compiled.
pub(crate) struct Snapshot {
    pub sockets: RequestMap<SocketKey, PortRoutes>,
    pub groups: RequestMap<String, Arc<GroupSnapshot>>,
}

/// A map looked up on every request: keyed by the configuration, never by what clients send, so
/// it needs no DoS-resistant hash (SipHash was a visible share of each request's instructions).
pub(crate) type RequestMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub(crate) struct PortRoutes {
    pub protocol: Protocol,
    pub listeners: Vec<Arc<ListenerRoutes>>,
}

impl PortRoutes {
    /// The listener a request belongs to: the load balancer whose DNS name the Host names; a
    /// port with one load balancer serves it whatever the Host (clients reaching it by IP).
    pub fn for_host(&self, host: Option<&str>) -> Option<&Arc<ListenerRoutes>> {
        host.and_then(|host| {
            self.listeners
                .iter()
                .find(|l| l.dns_name.eq_ignore_ascii_case(host))
        })
        .or(match self.listeners.as_slice() {
            [only] => Some(only),
            _ => None,
        })
    }

    /// The listener whose certificates a TLS handshake uses: by DNS name, then by a
    /// certificate valid for the name, then the port's first listener.
    pub fn for_sni(&self, sni: Option<&str>) -> &Arc<ListenerRoutes> {
        sni.and_then(|name| {
            self.listeners
                .iter()
                .find(|l| l.dns_name.eq_ignore_ascii_case(name))
                .or_else(|| {
                    self.listeners
                        .iter()
                        .find(|l| l.tls.as_ref().is_some_and(|tls| tls.serves(name)))
                })
        })
        .unwrap_or(&self.listeners[0])
    }

    pub fn max_idle_timeout(&self) -> Duration {
        self.listeners
            .iter()
            .map(|l| l.idle_timeout)
            .max()
            .unwrap_or(Duration::from_secs(60))
    }
}

pub(crate) struct ListenerRoutes {
    pub load_balancer: Arc<str>,
    pub dns_name: String,
    pub idle_timeout: Duration,
    pub table: RouteTable,
    pub tls: Option<ListenerTls>,
}

pub(crate) struct GroupSnapshot {
    /// `config.id`, shared so that requests can keep it without copying.
    pub id: Arc<str>,
    pub config: TargetGroup,
    pub state: Arc<GroupState>,
    /// In configuration order.
    pub targets: Vec<(Target, Arc<TargetState>)>,
    /// Load balancers with a listener that forwards here (empty: the group is unused).
    pub load_balancers: Vec<Arc<str>>,
}

/// What a target group keeps across configurations.
pub(crate) struct GroupState {
    /// A round-robin cursor per worker: each worker takes its turns over the targets on its
    /// own (as nginx's and HAProxy's workers do) rather than pass one counter's cache line
    /// between cores on every request.
    pub cursors: Box<[Cursor]>,
    targets: Mutex<HashMap<SocketAddr, Arc<TargetState>>>,
}

/// Aligned to its own cache lines (two: adjacent-line prefetch pairs them).
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct Cursor(pub AtomicU64);

impl GroupState {
    fn new(workers: usize) -> GroupState {
        GroupState {
            cursors: (0..workers.max(1)).map(|_| Cursor::default()).collect(),
            targets: Mutex::default(),
        }
    }
}

/// What a target keeps across configurations.
pub(crate) struct TargetState {
    pub address: SocketAddr,
    pub outstanding: AtomicU32,
    /// Mirrors `health` for the request path: routable by health checks.
    pub healthy: AtomicBool,
    health: Mutex<TrackedHealth>,
    checker: Mutex<Option<Checker>>,
    /// When the target drains, the end of its deregistration delay, in milliseconds since the
    /// Unix epoch (0 while it is active): requests still in flight then are cut off. Read, not
    /// watched, by every request to the target (see `waiting`).
    drain_deadline_ms: AtomicU64,
}

struct TrackedHealth {
    tracker: HealthTracker,
    healthy_since: Option<Instant>,
}

struct Checker {
    settings: watch::Sender<HealthCheck>,
    task: JoinHandle<()>,
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here is left half-updated by a panic that matters more than serving on.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl TargetState {
    pub(crate) fn new(address: SocketAddr) -> TargetState {
        TargetState {
            address,
            outstanding: AtomicU32::new(0),
            healthy: AtomicBool::new(false),
            health: Mutex::new(TrackedHealth {
                tracker: HealthTracker::default(),
                healthy_since: None,
            }),
            checker: Mutex::new(None),
            drain_deadline_ms: AtomicU64::new(0),
        }
    }

    /// The end of the target's deregistration delay, while it drains.
    pub fn drain_deadline(&self) -> Option<SystemTime> {
        match self.drain_deadline_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(UNIX_EPOCH + Duration::from_millis(ms)),
        }
    }

    pub(crate) fn set_drain_deadline(&self, deadline: Option<SystemTime>) {
        let ms = deadline.map_or(0, |deadline| {
            let since_epoch = deadline.duration_since(UNIX_EPOCH).unwrap_or_default();
            // At least 1: 0 means active.
            u64::try_from(since_epoch.as_millis())
                .unwrap_or(u64::MAX)
                .max(1)
        });
        self.drain_deadline_ms.store(ms, Ordering::Relaxed);
    }

    pub fn healthy_since(&self) -> Option<Instant> {
        lock(&self.health).healthy_since
    }

    /// Feeds one health check result in; returns whether the published health changed.
    pub fn observe(&self, outcome: &Outcome, check: &HealthCheck, now: Instant) -> bool {
        let mut health = lock(&self.health);
        let changed =
            health
                .tracker
                .observe(outcome, check.healthy_threshold, check.unhealthy_threshold);
        let healthy = health.tracker.health().state == State::Healthy;
        if changed && healthy {
            health.healthy_since = Some(now);
        }
        self.healthy.store(healthy, Ordering::Relaxed);
        changed
    }

    fn tracked_health(&self) -> TargetHealth {
        lock(&self.health).tracker.health().clone()
    }

    /// Health checks stopped (group unused or checks disabled): the next checker starts over.
    fn stop_checking(&self, healthy_without_checks: bool) {
        *lock(&self.checker) = None;
        let mut health = lock(&self.health);
        *health = TrackedHealth {
            tracker: HealthTracker::default(),
            healthy_since: None,
        };
        self.healthy
            .store(healthy_without_checks, Ordering::Relaxed);
    }
}

impl DataPlane {
    /// A data plane with no listeners, counting into an in-memory metrics store. It starts its
    /// own worker threads (`Options::workers`); the caller needs no runtime.
    pub fn new(options: Options) -> io::Result<(DataPlane, Arc<InMemoryMetrics>)> {
        let metrics = Arc::new(InMemoryMetrics::with_workers(options.workers));
        Ok((DataPlane::with_metrics(options, metrics.clone())?, metrics))
    }

    pub fn with_metrics(options: Options, metrics: Arc<dyn Metrics>) -> io::Result<DataPlane> {
        let workers = Workers::start(options.workers)?;
        let pool = pool::UpstreamPool::new(options.connect_timeout);
        let snapshot = Arc::new(Snapshot {
            sockets: RequestMap::default(),
            groups: RequestMap::default(),
        });
        let worker_snapshots = workers
            .handles()
            .iter()
            .map(|_| WorkerSnapshot(ArcSwap::from_pointee(snapshot.clone())))
            .collect();
        let shared = Arc::new(Shared {
            options,
            snapshot: ArcSwap::new(snapshot),
            worker_snapshots,
            metrics,
            pool,
            open_connections: workers
                .handles()
                .iter()
                .map(|_| AtomicUsize::new(0))
                .collect(),
            workers,
            sockets: Mutex::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
            health_version: watch::Sender::new(0),
            apply_lock: Mutex::new(()),
            checkers_started: AtomicU64::new(0),
        });
        Ok(DataPlane {
            _owner: Arc::new(Owner(shared.clone())),
            shared,
        })
    }

    /// Replaces the configuration. Either everything applies or nothing changes: invalid
    /// configuration and ports that cannot be bound are reported before anything is swapped.
    /// Established connections stay open and use the new rules from their next request.
    pub fn apply(&self, config: Config) -> Result<Applied, ApplyError> {
        let shared = &self.shared;
        let _one_at_a_time = lock(&shared.apply_lock);

        let group_configs = validate_target_groups(&config.target_groups)?;
        let (ports, listener_keys, users) =
            compile_listeners(&config.load_balancers, &group_configs)?;

        // Bind what is new; on failure the fresh sockets are dropped and nothing has changed.
        let mut sockets = lock(&shared.sockets);
        let mut fresh: HashMap<SocketKey, BoundSocket> = HashMap::new();
        let mut rekeyed: Vec<(SocketKey, SocketKey)> = Vec::new();
        for key in ports.keys() {
            if sockets.contains_key(key) {
                continue;
            }
            let port = match key {
                SocketKey::Port(port) => *port,
                SocketKey::Ephemeral(_) => 0,
            };
            let reusable = sockets.iter().find(|(old, bound)| {
                matches!(old, SocketKey::Ephemeral(_))
                    && !ports.contains_key(*old)
                    && port != 0
                    && bound.address.port() == port
            });
            if let Some((old, _)) = reusable {
                rekeyed.push((old.clone(), key.clone()));
                continue;
            }
            let handles = shared.workers.handles();
            let (address, listeners) =
                bind(SocketAddr::new(shared.options.bind_ip, port), handles.len())?;
            let keys: Vec<SharedKey> = handles
                .iter()
                .map(|_| Arc::new(RwLock::new(key.clone())))
                .collect();
            let accept_loops = listeners
                .into_iter()
                .zip(handles)
                .enumerate()
                .map(|(worker, (listener, handle))| {
                    handle.spawn(accept_loop(
                        Arc::downgrade(shared),
                        keys.clone(),
                        listener,
                        worker,
                    ))
                })
                .collect();
            fresh.insert(
                key.clone(),
                BoundSocket {
                    address,
                    keys,
                    accept_loops,
                },
            );
        }

        let groups = self.carry_group_state(&config.target_groups, &users);
        let snapshot = Arc::new(Snapshot {
            sockets: ports,
            groups: groups.clone(),
        });
        for worker in &shared.worker_snapshots {
            worker.0.store(Arc::new(snapshot.clone()));
        }
        shared.snapshot.store(snapshot);
        for (old, new) in rekeyed {
            if let Some(bound) = sockets.remove(&old) {
                for key in &bound.keys {
                    *key.write().unwrap_or_else(|p| p.into_inner()) = new.clone();
                }
                sockets.insert(new, bound);
            }
        }
        sockets.extend(fresh);
        let wanted: HashSet<&SocketKey> = listener_keys.values().collect();
        sockets.retain(|key, _| wanted.contains(key));
        let applied = Applied {
            listeners: listener_keys
                .iter()
                .map(|(id, key)| (id.clone(), sockets[key].address))
                .collect(),
        };
        drop(sockets);

        self.reconcile_checkers(&groups);
        self.health_changed();
        Ok(applied)
    }

    /// Builds the group snapshots, reusing each surviving target's state and forgetting the
    /// targets and groups that left the configuration.
    fn carry_group_state(
        &self,
        target_groups: &[TargetGroup],
        users: &HashMap<String, Vec<Arc<str>>>,
    ) -> RequestMap<String, Arc<GroupSnapshot>> {
        let mut states = lock(&self.shared.groups);
        states.retain(|id, _| target_groups.iter().any(|g| &g.id == id));
        let mut snapshots = RequestMap::default();
        for group in target_groups {
            let state = states
                .entry(group.id.clone())
                .or_insert_with(|| Arc::new(GroupState::new(self.shared.workers.handles().len())))
                .clone();
            let mut known = lock(&state.targets);
            known.retain(|address, _| group.targets.iter().any(|t| t.address == *address));
            let targets = group
                .targets
                .iter()
                .map(|target| {
                    let target_state = known
                        .entry(target.address)
                        .or_insert_with(|| Arc::new(TargetState::new(target.address)))
                        .clone();
                    let deadline = match target.admin_state {
                        AdminState::Active => None,
                        AdminState::Draining { until } => Some(until),
                    };
                    target_state.set_drain_deadline(deadline);
                    (*target, target_state)
                })
                .collect();
            drop(known);
            snapshots.insert(
                group.id.clone(),
                Arc::new(GroupSnapshot {
                    id: group.id.as_str().into(),
                    config: group.clone(),
                    state,
                    targets,
                    load_balancers: users.get(&group.id).cloned().unwrap_or_default(),
                }),
            );
        }
        snapshots
    }

    /// One checker per target of every group in use with health checks enabled; new settings
    /// reach running checkers through their watch.
    fn reconcile_checkers(&self, groups: &RequestMap<String, Arc<GroupSnapshot>>) {
        for group in groups.values() {
            let checks = group.config.health_check.enabled && !group.load_balancers.is_empty();
            for (_, target) in &group.targets {
                if !checks {
                    if lock(&target.checker).is_some() || !group.config.health_check.enabled {
                        target.stop_checking(!group.config.health_check.enabled);
                    }
                    continue;
                }
                let mut checker = lock(&target.checker);
                match checker.as_ref() {
                    Some(running) => {
                        running.settings.send_if_modified(|settings| {
                            let changed = *settings != group.config.health_check;
                            *settings = group.config.health_check.clone();
                            changed
                        });
                    }
                    None => {
                        let (settings, receiver) =
                            watch::channel(group.config.health_check.clone());
                        // Checkers take turns over the workers.
                        let handles = self.shared.workers.handles();
                        let worker =
                            self.shared.checkers_started.fetch_add(1, Ordering::Relaxed) as usize;
                        let task = handles[worker % handles.len()].spawn(checker::run(
                            Arc::downgrade(&self.shared),
                            group.config.id.clone(),
                            target.clone(),
                            receiver,
                        ));
                        *checker = Some(Checker { settings, task });
                    }
                }
            }
        }
    }

    fn health_changed(&self) {
        self.shared.health_changed();
    }

    /// Whether a listener on `port` could be served: the port is one this data plane already
    /// listens on, or one it could bind now (not privileged, not another process's). The API
    /// asks before it stores a listener, so that a port that cannot be served is refused when
    /// the listener is created rather than left out of every configuration afterwards.
    pub fn can_listen(&self, port: u16) -> Result<(), ApplyError> {
        let sockets = lock(&self.shared.sockets);
        if port == 0 || sockets.values().any(|bound| bound.address.port() == port) {
            return Ok(());
        }
        drop(sockets);
        probe(SocketAddr::new(self.shared.options.bind_ip, port))
    }

    /// Every registered target's health, as DescribeTargetHealth shows it.
    pub fn health(&self) -> Vec<TargetHealthReport> {
        let snapshot = self.shared.snapshot.load();
        let mut reports = Vec::new();
        for group in snapshot.groups.values() {
            for (target, state) in &group.targets {
                reports.push(TargetHealthReport {
                    target_group_id: group.config.id.clone(),
                    target: target.address,
                    health: report(group, target, state),
                });
            }
        }
        reports.sort_by(|a, b| (&a.target_group_id, a.target).cmp(&(&b.target_group_id, b.target)));
        reports
    }

    /// Each target group's targets, once per load balancer forwarding to it (groups no
    /// listener uses are left out): for the metrics publisher, once a period.
    pub fn host_counts(&self) -> Vec<HostCounts> {
        self.shared.host_counts()
    }

    /// Changes whenever some target's health does (or a configuration is applied): wait on it,
    /// then read `health()`.
    pub fn health_changes(&self) -> watch::Receiver<u64> {
        self.shared.health_version.subscribe()
    }
}

fn report(group: &GroupSnapshot, target: &Target, state: &TargetState) -> TargetHealth {
    if matches!(target.admin_state, AdminState::Draining { .. }) {
        TargetHealth::draining()
    } else if !group.config.health_check.enabled {
        TargetHealth::checks_disabled()
    } else if group.load_balancers.is_empty() {
        TargetHealth::unused()
    } else {
        state.tracked_health()
    }
}

impl Shared {
    pub fn health_changed(&self) {
        self.health_version.send_modify(|version| *version += 1);
        for counts in self.host_counts() {
            self.metrics.host_counts(
                &counts.load_balancer,
                &counts.target_group,
                counts.healthy,
                counts.unhealthy,
            );
        }
    }

    fn host_counts(&self) -> Vec<HostCounts> {
        let snapshot = self.snapshot.load();
        let mut all = Vec::new();
        for group in snapshot.groups.values() {
            let (mut healthy, mut unhealthy, mut registered) = (0, 0, 0);
            for (target, state) in &group.targets {
                if target.admin_state != AdminState::Active {
                    continue;
                }
                registered += 1;
                match report(group, target, state).state {
                    State::Healthy => healthy += 1,
                    State::Unhealthy => unhealthy += 1,
                    _ => {}
                }
            }
            for load_balancer in &group.load_balancers {
                all.push(HostCounts {
                    load_balancer: load_balancer.to_string(),
                    target_group: group.config.id.clone(),
                    checks_enabled: group.config.health_check.enabled,
                    healthy,
                    unhealthy,
                    registered,
                });
            }
        }
        all
    }
}

type CompiledListeners = (
    RequestMap<SocketKey, PortRoutes>,
    HashMap<String, SocketKey>,
    HashMap<String, Vec<Arc<str>>>,
);

fn validate_target_groups(groups: &[TargetGroup]) -> Result<HashSet<&str>, ApplyError> {
    let mut ids = HashSet::new();
    for group in groups {
        if !ids.insert(group.id.as_str()) {
            return Err(ApplyError::DuplicateTargetGroup(group.id.clone()));
        }
    }
    Ok(ids)
}

fn compile_listeners(
    load_balancers: &[LoadBalancer],
    groups: &HashSet<&str>,
) -> Result<CompiledListeners, ApplyError> {
    let mut ports: RequestMap<SocketKey, PortRoutes> = RequestMap::default();
    let mut keys = HashMap::new();
    let mut users: HashMap<String, Vec<Arc<str>>> = HashMap::new();
    for lb in load_balancers {
        let lb_id: Arc<str> = lb.id.as_str().into();
        for listener in &lb.listeners {
            let table = RouteTable::compile(&listener.rules, &listener.default_action).map_err(
                |source| ApplyError::Rules {
                    listener: listener.id.clone(),
                    source,
                },
            )?;
            for action in table.actions() {
                let Action::Forward(forward) = action else {
                    continue;
                };
                if forward.target_groups.is_empty() {
                    return Err(ApplyError::EmptyForward {
                        listener: listener.id.clone(),
                    });
                }
                for weighted in &forward.target_groups {
                    if !groups.contains(weighted.target_group_id.as_str()) {
                        return Err(ApplyError::UnknownTargetGroup {
                            listener: listener.id.clone(),
                            target_group: weighted.target_group_id.clone(),
                        });
                    }
                    let using = users.entry(weighted.target_group_id.clone()).or_default();
                    if !using.contains(&lb_id) {
                        using.push(lb_id.clone());
                    }
                }
            }
            let tls = match listener.protocol {
                Protocol::Http => None,
                Protocol::Https => Some(
                    ListenerTls::new(
                        &listener.certificates,
                        listener.ssl_policy.as_deref(),
                        lb.http2_enabled,
                    )
                    .map_err(|source| ApplyError::Tls {
                        listener: listener.id.clone(),
                        source,
                    })?,
                ),
            };
            let key = match listener.port {
                0 => SocketKey::Ephemeral(listener.id.clone()),
                port => SocketKey::Port(port),
            };
            let routes = ports.entry(key.clone()).or_insert_with(|| PortRoutes {
                protocol: listener.protocol,
                listeners: Vec::new(),
            });
            if routes.protocol != listener.protocol {
                return Err(ApplyError::ProtocolConflict {
                    port: listener.port,
                });
            }
            if let Some(other) = routes
                .listeners
                .iter()
                .find(|l| l.dns_name.eq_ignore_ascii_case(&lb.dns_name))
            {
                return Err(ApplyError::DuplicateDnsName {
                    port: listener.port,
                    dns_name: lb.dns_name.clone(),
                    first: other.load_balancer.to_string(),
                    second: lb.id.clone(),
                });
            }
            routes.listeners.push(Arc::new(ListenerRoutes {
                load_balancer: lb_id.clone(),
                dns_name: lb.dns_name.clone(),
                idle_timeout: lb.idle_timeout,
                table,
                tls,
            }));
            keys.insert(listener.id.clone(), key);
        }
    }
    Ok((ports, keys, users))
}

fn bind_error(address: SocketAddr, source: io::Error) -> ApplyError {
    if source.kind() == io::ErrorKind::PermissionDenied && address.port() < 1024 {
        ApplyError::PrivilegedPort {
            address,
            port: address.port(),
        }
    } else {
        ApplyError::Bind { address, source }
    }
}

/// Binds `address` without listening and lets it go: whether this process may take it.
fn probe(address: SocketAddr) -> Result<(), ApplyError> {
    let error = |source: io::Error| bind_error(address, source);
    let probe = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        None,
    )
    .map_err(error)?;
    probe.set_reuse_address(true).map_err(error)?;
    probe.bind(&address.into()).map_err(error)
}

/// Binds `count` sockets to one address with SO_REUSEPORT (the kernel spreads connections over
/// them); for port 0 the first one's port is used for the others. Returns the bound address.
fn bind(
    address: SocketAddr,
    count: usize,
) -> Result<(SocketAddr, Vec<std::net::TcpListener>), ApplyError> {
    let error = |source: io::Error| bind_error(address, source);
    // SO_REUSEPORT would let this group share a port another process (say, a second data plane)
    // already listens on; a plain bind first makes that an error, as it would be without it.
    if address.port() != 0 {
        probe(address)?;
    }
    let mut bound_address = address;
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(bound_address),
            socket2::Type::STREAM,
            None,
        )
        .map_err(error)?;
        // A restarted data plane must get its ports back while old connections sit in TIME_WAIT.
        socket.set_reuse_address(true).map_err(error)?;
        socket.set_reuse_port(true).map_err(error)?;
        socket.set_nonblocking(true).map_err(error)?;
        socket.bind(&bound_address.into()).map_err(error)?;
        socket.listen(1024).map_err(error)?;
        if bound_address.port() == 0 {
            bound_address = socket
                .local_addr()
                .map_err(error)?
                .as_socket()
                .ok_or_else(|| error(io::Error::other("not an IP socket")))?;
        }
        listeners.push(socket.into());
    }
    Ok((bound_address, listeners))
}

/// Which worker serves a new connection that `accepting` took: the one with the fewest open
/// connections when it has fewer than `accepting`, else `accepting` itself. The kernel spreads
/// connections over the workers' SO_REUSEPORT sockets by a hash of their addresses, which leaves
/// one worker with noticeably more of a few dozen keep-alive connections than another (it then
/// queues their requests while the other has time to spare: a longer tail).
fn worker_for_connection(open: &[usize], accepting: usize) -> usize {
    let least = (0..open.len())
        .min_by_key(|&worker| open[worker])
        .unwrap_or(accepting);
    if open[least] < open[accepting] {
        least
    } else {
        accepting
    }
}

/// A client connection, counted against its worker while it is open.
struct OpenConnection {
    shared: Arc<Shared>,
    worker: usize,
}

impl OpenConnection {
    fn open(shared: Arc<Shared>, worker: usize) -> OpenConnection {
        shared.open_connections[worker].fetch_add(1, Ordering::Relaxed);
        OpenConnection { shared, worker }
    }

    async fn serve(self, key: SharedKey, stream: TcpStream, peer: SocketAddr) {
        proxy::serve_connection(self.shared.clone(), key, stream, peer, self.worker).await;
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.shared.open_connections[self.worker].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts on one worker's socket of a port; `keys` are the port's keys, one per worker.
async fn accept_loop(
    shared: Weak<Shared>,
    keys: Vec<SharedKey>,
    listener: std::net::TcpListener,
    worker: usize,
) {
    // Registered with the reactor of the worker this loop runs on.
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "cannot register a listener socket");
            return;
        }
    };
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let open: Vec<usize> = shared
                    .open_connections
                    .iter()
                    .map(|count| count.load(Ordering::Relaxed))
                    .collect();
                let serving = worker_for_connection(&open, worker);
                let key = keys[serving].clone();
                let connection = OpenConnection::open(shared, serving);
                if serving == worker {
                    tokio::spawn(connection.serve(key, stream, peer));
                    continue;
                }
                // Handed over: registered again with the serving worker's reactor, there.
                let stream = match stream.into_std() {
                    Ok(stream) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "cannot hand a connection to another worker");
                        continue;
                    }
                };
                let handle = connection.shared.workers.handles()[serving].clone();
                handle.spawn(async move {
                    match TcpStream::from_std(stream) {
                        Ok(stream) => connection.serve(key, stream, peer).await,
                        Err(error) => {
                            tracing::warn!(%error, "cannot register a handed-over connection");
                        }
                    }
                });
            }
            Err(error) => {
                // Usually out of file descriptors: back off rather than spin.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_connection_goes_to_the_worker_with_the_fewest_unless_it_is_a_tie() {
        assert_eq!(worker_for_connection(&[3, 1], 0), 1);
        assert_eq!(worker_for_connection(&[1, 3], 0), 0);
        assert_eq!(
            worker_for_connection(&[2, 2], 1),
            1,
            "a tie stays where it was accepted"
        );
        assert_eq!(worker_for_connection(&[4, 2, 2], 0), 1);
        assert_eq!(worker_for_connection(&[0], 0), 0);
    }
    use crate::config::FixedResponse;

    fn listener(load_balancer: &str, dns_name: &str) -> Arc<ListenerRoutes> {
        let action = Action::FixedResponse(FixedResponse {
            status_code: 200,
            content_type: None,
            body: None,
        });
        Arc::new(ListenerRoutes {
            load_balancer: load_balancer.into(),
            dns_name: dns_name.into(),
            idle_timeout: Duration::from_secs(60),
            table: RouteTable::compile(&[], &action).unwrap(),
            tls: None,
        })
    }

    fn port(listeners: Vec<Arc<ListenerRoutes>>) -> PortRoutes {
        PortRoutes {
            protocol: Protocol::Http,
            listeners,
        }
    }

    fn chosen(routes: &PortRoutes, host: Option<&str>) -> Option<String> {
        routes.for_host(host).map(|l| l.load_balancer.to_string())
    }

    #[test]
    fn a_shared_port_routes_by_host_case_insensitively() {
        let shared = port(vec![
            listener("a", "a.localhost"),
            listener("b", "b.localhost"),
        ]);
        assert_eq!(chosen(&shared, Some("B.LocalHost")).as_deref(), Some("b"));
        assert_eq!(chosen(&shared, Some("a.localhost")).as_deref(), Some("a"));
        assert_eq!(
            chosen(&shared, Some("c.localhost")),
            None,
            "ambiguous: no guess"
        );
        assert_eq!(chosen(&shared, None), None);
        assert_eq!(
            shared.for_sni(Some("b.localhost")).load_balancer.as_ref(),
            "b"
        );
        assert_eq!(shared.for_sni(Some("other")).load_balancer.as_ref(), "a");
    }

    #[test]
    fn a_port_of_one_load_balancer_serves_any_host() {
        let single = port(vec![listener("a", "a.localhost")]);
        assert_eq!(chosen(&single, Some("127.0.0.1")).as_deref(), Some("a"));
        assert_eq!(chosen(&single, None).as_deref(), Some("a"));
    }
}
