//! The load balancers' data plane, driven from the store: every change to a load balancer,
//! listener, rule, target group, registration or certificate becomes a new `berth_lb::Config`
//! for the running `berth_lb::DataPlane`, and what its health checks find goes back to the
//! store, where DescribeTargetHealth reads it.
//!
//! [`config_of`] is the pure translation from the elbv2 records to the data plane's
//! configuration; [`run`] is the loop around it (store watch in, `apply` and health records
//! out).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_acm_service::ServingCertificate;
use berth_elbv2::{
    HealthResult, HealthState, ListenerRecord, LoadBalancerRecord, RegisteredTarget, RuleRecord,
    TargetGroupRecord,
};
use berth_elbv2_wire as wire;
use berth_lb as lb;
use berth_store::Store;

/// Where an `instance` target's traffic goes: the address of the host the instance id names
/// (an ECS container instance's host), if it is known.
pub trait InstanceAddresses: Send + Sync + 'static {
    fn address(&self, region: &str, instance_id: &str) -> Option<IpAddr>;
}

/// One region's elbv2 records, as the store holds them.
#[derive(Debug, Default, Clone)]
pub struct RegionRecords {
    pub load_balancers: Vec<LoadBalancerRecord>,
    pub listeners: Vec<ListenerRecord>,
    pub rules: Vec<RuleRecord>,
    pub target_groups: Vec<TargetGroupRecord>,
    /// Target group name → its registrations.
    pub targets: BTreeMap<String, Vec<RegisteredTarget>>,
}

/// A data-plane target as the API knows it: its region, group and registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetOrigin {
    pub region: String,
    pub target_group_arn: String,
    pub target_id: String,
    pub port: i32,
}

/// The data plane's configuration, and what the loop needs to know about it.
#[derive(Debug, Default)]
pub struct Translation {
    pub config: lb::Config,
    /// Where each target came from, to record its health under.
    pub origins: HashMap<(String, SocketAddr), TargetOrigin>,
    /// Instance targets left out because their instance's address is not known (yet: an agent
    /// reconnecting after a restart makes it known without any elbv2 change).
    pub unresolved_instances: usize,
}

/// The data plane's configuration for every region's records. Listeners whose certificate is
/// missing and targets whose address is unknown are left out: the rest keeps serving.
pub fn config_of(
    regions: &BTreeMap<String, RegionRecords>,
    certificates: &HashMap<String, ServingCertificate>,
    instances: &dyn InstanceAddresses,
    now: f64,
) -> Translation {
    let mut config = lb::Config::default();
    let mut origins = HashMap::new();
    let mut unresolved_instances = 0;
    for (region, records) in regions {
        for record in &records.target_groups {
            let group = &record.target_group;
            let arn = group.target_group_arn.clone().unwrap_or_default();
            let name = group.target_group_name.clone().unwrap_or_default();
            let is_ip = group.target_type.as_deref() == Some("ip");
            let delay = Duration::from_secs(berth_elbv2::deregistration_delay(&record.attributes));
            let mut targets = Vec::new();
            for registered in records.targets.get(&name).into_iter().flatten() {
                let ip = if is_ip {
                    registered.id.parse().ok()
                } else {
                    instances.address(region, &registered.id)
                };
                let (Some(ip), Ok(port)) = (ip, u16::try_from(registered.port)) else {
                    unresolved_instances += usize::from(!is_ip);
                    continue;
                };
                let admin_state = match registered.draining_until {
                    Some(until) if until > now => lb::AdminState::Draining {
                        until: epoch(until),
                    },
                    // Drained: deregistration is over, nothing more goes to it.
                    Some(_) => continue,
                    None => lb::AdminState::Active,
                };
                let address = SocketAddr::new(ip, port);
                origins.insert(
                    (arn.clone(), address),
                    TargetOrigin {
                        region: region.clone(),
                        target_group_arn: arn.clone(),
                        target_id: registered.id.clone(),
                        port: registered.port,
                    },
                );
                targets.push(lb::Target {
                    address,
                    admin_state,
                });
            }
            config.target_groups.push(lb::TargetGroup {
                id: arn,
                protocol: protocol(group.protocol.as_deref()),
                targets,
                health_check: health_check(group),
                algorithm: match attribute(&record.attributes, "load_balancing.algorithm.type") {
                    Some("least_outstanding_requests") => lb::Algorithm::LeastOutstandingRequests,
                    _ => lb::Algorithm::RoundRobin,
                },
                stickiness: (attribute(&record.attributes, "stickiness.enabled") == Some("true")
                    && attribute(&record.attributes, "stickiness.type") != Some("app_cookie"))
                .then(|| {
                    seconds(
                        &record.attributes,
                        "stickiness.lb_cookie.duration_seconds",
                        86_400,
                    )
                }),
                slow_start: Some(seconds(
                    &record.attributes,
                    "slow_start.duration_seconds",
                    0,
                ))
                .filter(|duration| !duration.is_zero()),
                deregistration_delay: delay,
            });
        }
        for record in &records.load_balancers {
            let balancer = &record.load_balancer;
            let arn = balancer.load_balancer_arn.clone().unwrap_or_default();
            let listeners = records
                .listeners
                .iter()
                .filter(|l| l.listener.load_balancer_arn.as_deref() == Some(arn.as_str()))
                .filter_map(|l| listener(l, &records.rules, certificates))
                .collect();
            config.load_balancers.push(lb::LoadBalancer {
                id: arn,
                dns_name: balancer.dns_name.clone().unwrap_or_default(),
                idle_timeout: seconds(&record.attributes, "idle_timeout.timeout_seconds", 60),
                http2_enabled: attribute(&record.attributes, "routing.http2.enabled")
                    != Some("false"),
                listeners,
            });
        }
    }
    Translation {
        config,
        origins,
        unresolved_instances,
    }
}

fn epoch(seconds: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(seconds.max(0.0))
}

fn attribute<'a>(attributes: &'a berth_elbv2::Attributes, key: &str) -> Option<&'a str> {
    attributes.get(key).map(String::as_str)
}

fn seconds(attributes: &berth_elbv2::Attributes, key: &str, default: u64) -> Duration {
    Duration::from_secs(
        attribute(attributes, key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

fn protocol(name: Option<&str>) -> lb::Protocol {
    match name {
        Some("HTTPS") => lb::Protocol::Https,
        _ => lb::Protocol::Http,
    }
}

fn health_check(group: &wire::TargetGroup) -> lb::HealthCheck {
    let defaults = lb::HealthCheck::default();
    let secs = |value: Option<i32>, default: Duration| {
        value
            .and_then(|v| u64::try_from(v).ok())
            .map_or(default, Duration::from_secs)
    };
    let count = |value: Option<i32>, default: u32| {
        value.and_then(|v| u32::try_from(v).ok()).unwrap_or(default)
    };
    lb::HealthCheck {
        enabled: group.health_check_enabled != Some(false),
        protocol: protocol(group.health_check_protocol.as_deref()),
        path: group
            .health_check_path
            .clone()
            .unwrap_or_else(|| defaults.path.clone()),
        port: match group.health_check_port.as_deref().map(str::parse::<u16>) {
            Some(Ok(port)) => lb::HealthCheckPort::Port(port),
            _ => lb::HealthCheckPort::TrafficPort,
        },
        interval: secs(group.health_check_interval_seconds, defaults.interval),
        timeout: secs(group.health_check_timeout_seconds, defaults.timeout),
        healthy_threshold: count(group.healthy_threshold_count, defaults.healthy_threshold),
        unhealthy_threshold: count(
            group.unhealthy_threshold_count,
            defaults.unhealthy_threshold,
        ),
        matcher: group
            .matcher
            .as_ref()
            .and_then(|m| m.http_code.as_deref())
            .and_then(|codes| lb::health::Matcher::parse(codes).ok())
            .unwrap_or(defaults.matcher),
    }
}

fn listener(
    record: &ListenerRecord,
    rules: &[RuleRecord],
    certificates: &HashMap<String, ServingCertificate>,
) -> Option<lb::Listener> {
    let listener = &record.listener;
    let arn = listener.listener_arn.clone().unwrap_or_default();
    let protocol = protocol(listener.protocol.as_deref());
    let mut serving = Vec::new();
    for certificate_arn in record.all_certificates() {
        match certificates.get(&certificate_arn) {
            Some(found) => serving.push(lb::Certificate {
                id: certificate_arn,
                certificate_chain_pem: chain_pem(found),
                private_key_pem: found.private_key_pem.clone(),
            }),
            None => tracing::warn!(
                listener = %arn,
                certificate = %certificate_arn,
                "a listener's certificate is gone from ACM"
            ),
        }
    }
    if protocol == lb::Protocol::Https && serving.is_empty() {
        tracing::warn!(listener = %arn, "an HTTPS listener without a certificate is not served");
        return None;
    }
    let mut listener_rules: Vec<lb::Rule> = rules
        .iter()
        .filter(|r| !r.is_default() && rule_listener(r).as_deref() == Some(arn.as_str()))
        .filter_map(|r| {
            Some(lb::Rule {
                priority: u32::try_from(r.priority()?).ok()?,
                conditions: r
                    .rule
                    .conditions
                    .iter()
                    .flatten()
                    .filter_map(condition)
                    .collect(),
                action: action(r.rule.actions.as_deref().unwrap_or_default())?,
            })
        })
        .collect();
    listener_rules.sort_by_key(|r| r.priority);
    Some(lb::Listener {
        id: arn,
        port: listener
            .port
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(protocol.default_port()),
        protocol,
        certificates: serving,
        ssl_policy: listener.ssl_policy.clone(),
        rules: listener_rules,
        default_action: action(listener.default_actions.as_deref().unwrap_or_default())?,
    })
}

/// The leaf certificate followed by its chain, as a TLS server sends them.
fn chain_pem(found: &ServingCertificate) -> String {
    let mut pem = found.certificate_pem.clone();
    if let Some(chain) = &found.chain_pem {
        if !pem.ends_with('\n') {
            pem.push('\n');
        }
        pem.push_str(chain);
    }
    pem
}

/// `…:listener-rule/app/LB/LB-ID/LISTENER-ID/RULE-ID` belongs to
/// `…:listener/app/LB/LB-ID/LISTENER-ID`.
fn rule_listener(rule: &RuleRecord) -> Option<String> {
    let arn = rule.rule.rule_arn.as_deref()?;
    let (listener, _) = arn.rsplit_once('/')?;
    listener
        .contains(":listener-rule/")
        .then(|| listener.replacen(":listener-rule/", ":listener/", 1))
}

fn condition(condition: &wire::RuleCondition) -> Option<lb::Condition> {
    let plain = || condition.values.clone().unwrap_or_default();
    Some(match condition.field.as_deref()? {
        "path-pattern" => lb::Condition::PathPattern(
            condition
                .path_pattern_config
                .as_ref()
                .and_then(|c| c.values.clone())
                .unwrap_or_else(plain),
        ),
        "host-header" => lb::Condition::HostHeader(
            condition
                .host_header_config
                .as_ref()
                .and_then(|c| c.values.clone())
                .unwrap_or_else(plain),
        ),
        "http-header" => {
            let config = condition.http_header_config.as_ref()?;
            lb::Condition::HttpHeader {
                name: config.http_header_name.clone()?,
                values: config.values.clone().unwrap_or_default(),
            }
        }
        "http-request-method" => lb::Condition::HttpRequestMethod(
            condition
                .http_request_method_config
                .as_ref()
                .and_then(|c| c.values.clone())
                .unwrap_or_default(),
        ),
        "query-string" => lb::Condition::QueryString(
            condition
                .query_string_config
                .as_ref()
                .and_then(|c| c.values.as_ref())
                .into_iter()
                .flatten()
                .map(|pair| lb::QueryStringPair {
                    key: pair.key.clone(),
                    value: pair.value.clone().unwrap_or_default(),
                })
                .collect(),
        ),
        "source-ip" => lb::Condition::SourceIp(
            condition
                .source_ip_config
                .as_ref()
                .and_then(|c| c.values.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|cidr| cidr.parse().ok())
                .collect(),
        ),
        _ => return None,
    })
}

/// The action that ends a rule's list: ALB runs them by `Order`, and the last one (forward,
/// fixed-response or redirect) decides; the ones before it (authentication) are not served
/// here.
fn action(actions: &[wire::Action]) -> Option<lb::Action> {
    let last = actions.iter().max_by_key(|a| a.order.unwrap_or(i32::MAX))?;
    match last.r#type.as_deref()? {
        "forward" => {
            let mut target_groups = Vec::new();
            let mut group_stickiness = None;
            if let Some(config) = &last.forward_config {
                for tuple in config.target_groups.iter().flatten() {
                    target_groups.push(lb::WeightedTargetGroup {
                        target_group_id: tuple.target_group_arn.clone()?,
                        weight: tuple
                            .weight
                            .and_then(|w| u32::try_from(w).ok())
                            .unwrap_or(1),
                    });
                }
                group_stickiness = config
                    .target_group_stickiness_config
                    .as_ref()
                    .filter(|s| s.enabled == Some(true))
                    .map(|s| {
                        Duration::from_secs(
                            s.duration_seconds
                                .and_then(|d| u64::try_from(d).ok())
                                .unwrap_or(3600),
                        )
                    });
            }
            if target_groups.is_empty() {
                target_groups.push(lb::WeightedTargetGroup {
                    target_group_id: last.target_group_arn.clone()?,
                    weight: 1,
                });
            }
            Some(lb::Action::Forward(lb::Forward {
                target_groups,
                group_stickiness,
            }))
        }
        "fixed-response" => {
            let config = last.fixed_response_config.as_ref()?;
            Some(lb::Action::FixedResponse(lb::FixedResponse {
                status_code: config.status_code.as_deref()?.parse().ok()?,
                content_type: config.content_type.clone(),
                body: config.message_body.clone(),
            }))
        }
        "redirect" => {
            let config = last.redirect_config.as_ref()?;
            Some(lb::Action::Redirect(lb::Redirect {
                protocol: config.protocol.clone(),
                host: config.host.clone(),
                port: config.port.clone(),
                path: config.path.clone(),
                query: config.query.clone(),
                permanent: config.status_code.as_deref() == Some("HTTP_301"),
            }))
        }
        _ => None,
    }
}

/// What the data plane found, as the API records it.
fn health_result(health: &lb::health::TargetHealth) -> Option<HealthResult> {
    let state = match health.state {
        lb::health::State::Initial => HealthState::Initial,
        lb::health::State::Healthy => HealthState::Healthy,
        lb::health::State::Unhealthy => HealthState::Unhealthy,
        lb::health::State::Unavailable => HealthState::Unavailable,
        // Unused and draining follow from the records themselves; DescribeTargetHealth works
        // them out without a check.
        lb::health::State::Unused | lb::health::State::Draining => return None,
    };
    Some(HealthResult {
        state,
        reason: health.reason.map(|r| r.code().to_owned()),
        description: health.description.clone(),
    })
}

/// Reads every region's elbv2 records in one pass over the store.
async fn read_records(store: &dyn Store) -> Result<BTreeMap<String, RegionRecords>, String> {
    let mut regions: BTreeMap<String, RegionRecords> = BTreeMap::new();
    for kv in store
        .range(PREFIX, None, usize::MAX)
        .await
        .map_err(|err| err.to_string())?
    {
        let Some(rest) = kv.key.strip_prefix(PREFIX) else {
            continue;
        };
        let mut parts = rest.splitn(3, '/');
        let (Some(region), Some(kind), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let records = regions.entry(region.to_owned()).or_default();
        let decoded = match kind {
            "lb" => decode(&kv.value).map(|r| records.load_balancers.push(r)),
            "tg" => decode(&kv.value).map(|r| records.target_groups.push(r)),
            "listener" => decode(&kv.value).map(|r| records.listeners.push(r)),
            "rule" => decode(&kv.value).map(|r| records.rules.push(r)),
            "target" => {
                let group = path.split('/').next().unwrap_or_default().to_owned();
                decode(&kv.value).map(|r| records.targets.entry(group).or_default().push(r))
            }
            _ => Ok(()),
        };
        if let Err(err) = decoded {
            tracing::warn!(key = %kv.key, error = %err, "an unreadable elbv2 record is skipped");
        }
    }
    Ok(regions)
}

fn decode<T: serde::de::DeserializeOwned>(value: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(value)
}

const PREFIX: &str = "elbv2/";

/// How soon the configuration is computed again while some instance target has no address
/// (or the store could not be read).
const UNRESOLVED_RETRY: f64 = 2.0;
/// How often it is computed again regardless, so a changed instance address is picked up.
const ADDRESS_REFRESH: f64 = 30.0;

/// Whether a committed change can alter the data plane's configuration: elbv2's records and
/// ACM's certificates, but not the health results this loop writes itself.
fn concerns_data_plane(key: &str) -> bool {
    let elbv2 = key
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split('/').nth(1))
        .is_some_and(|kind| kind != "health");
    elbv2 || key.starts_with("acm/")
}

/// The certificates the listeners name, read from ACM.
async fn read_certificates(
    store: &Arc<dyn Store>,
    regions: &BTreeMap<String, RegionRecords>,
) -> HashMap<String, ServingCertificate> {
    let mut certificates = HashMap::new();
    for (region, records) in regions {
        for arn in records.listeners.iter().flat_map(|l| l.all_certificates()) {
            if certificates.contains_key(&arn) {
                continue;
            }
            match berth_acm_service::serving_certificate(store.clone(), region, &arn).await {
                Ok(Some(found)) => {
                    certificates.insert(arn, found);
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(certificate = %arn, error = %err.message, "cannot read a certificate")
                }
            }
        }
    }
    certificates
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// The most listeners a configuration gives up before the loop stops trying: more failures
/// than this in one configuration means something else is wrong.
const MAX_FAILED_LISTENERS: usize = 32;

/// Applies `config`; when a listener cannot be served (its port is taken or privileged, its
/// rules or certificates are unusable) it is left out, with the reason logged, and the rest is
/// applied, so one bad listener does not keep every other load balancer from its
/// configuration.
fn apply_what_can_be(data_plane: &lb::DataPlane, mut config: lb::Config) {
    for _ in 0..MAX_FAILED_LISTENERS {
        let err = match data_plane.apply(config.clone()) {
            Ok(_) => return,
            Err(err) => err,
        };
        tracing::error!(error = %err, "a listener cannot be served and is left out");
        if !leave_out(&mut config, &err) {
            return;
        }
    }
    tracing::error!("too many listeners cannot be served; the previous configuration stays");
}

/// Removes from `config` the listeners `err` is about; false when it names none of them.
fn leave_out(config: &mut lb::Config, err: &lb::ApplyError) -> bool {
    let failing = |listener: &lb::Listener| match err {
        lb::ApplyError::PrivilegedPort { port, .. }
        | lb::ApplyError::ProtocolConflict { port }
        | lb::ApplyError::DuplicateDnsName { port, .. } => listener.port == *port,
        lb::ApplyError::Bind { address, .. } => listener.port == address.port(),
        lb::ApplyError::Rules { listener: id, .. }
        | lb::ApplyError::Tls { listener: id, .. }
        | lb::ApplyError::UnknownTargetGroup { listener: id, .. }
        | lb::ApplyError::EmptyForward { listener: id } => listener.id == *id,
        lb::ApplyError::DuplicateTargetGroup(_) => false,
    };
    let mut removed = false;
    for balancer in &mut config.load_balancers {
        let before = balancer.listeners.len();
        balancer.listeners.retain(|listener| !failing(listener));
        removed |= balancer.listeners.len() != before;
    }
    removed
}

/// Keeps `data_plane` configured from the store until `shutdown` completes: a new configuration
/// after every committed change that concerns it (and when a draining target's delay ends),
/// and each target's health, as the data plane's checks find it, recorded for
/// DescribeTargetHealth.
pub async fn run(
    store: Arc<dyn Store>,
    account_id: String,
    data_plane: lb::DataPlane,
    instances: Arc<dyn InstanceAddresses>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut changes = store.watch();
    let mut health_changes = data_plane.health_changes();
    let mut origins = HashMap::new();
    let mut recorded: HashMap<(String, SocketAddr), HealthResult> = HashMap::new();
    let mut stale = true;
    // When to compute the configuration again though nothing changed in the store: a draining
    // delay ends, or instance addresses are due a look. It outlives wake-ups for other reasons.
    let mut refresh_at = tokio::time::Instant::now();
    loop {
        if stale {
            stale = false;
            match read_records(&*store).await {
                Ok(regions) => {
                    let certificates = read_certificates(&store, &regions).await;
                    let now = now();
                    let translation = config_of(&regions, &certificates, &*instances, now);
                    let drained = regions
                        .values()
                        .flat_map(|r| r.targets.values().flatten())
                        .filter_map(|t| t.draining_until)
                        .filter(|until| *until > now)
                        .min_by(f64::total_cmp)
                        .map(|until| until - now);
                    // Instance addresses change without any record changing (an agent
                    // reconnects, from the same or another address): look again soon while
                    // some are unknown, and now and then in any case.
                    let addresses = if translation.unresolved_instances > 0 {
                        UNRESOLVED_RETRY
                    } else {
                        ADDRESS_REFRESH
                    };
                    let seconds = drained.map_or(addresses, |d| d.min(addresses));
                    refresh_at = tokio::time::Instant::now() + Duration::from_secs_f64(seconds);
                    apply_what_can_be(&data_plane, translation.config);
                    origins = translation.origins;
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot read the load balancers");
                    refresh_at =
                        tokio::time::Instant::now() + Duration::from_secs_f64(UNRESOLVED_RETRY);
                }
            }
        }
        for report in data_plane.health() {
            let key = (report.target_group_id.clone(), report.target);
            let (Some(origin), Some(result)) = (origins.get(&key), health_result(&report.health))
            else {
                continue;
            };
            if recorded.get(&key) == Some(&result) {
                continue;
            }
            let written = crate::record_target_health(
                store.clone(),
                &account_id,
                &origin.region,
                &origin.target_group_arn,
                &origin.target_id,
                origin.port,
                result.clone(),
            )
            .await;
            match written {
                Ok(()) => {
                    recorded.insert(key, result);
                }
                Err(err) => {
                    tracing::warn!(error = %err.message, "cannot record a target's health")
                }
            }
        }
        tokio::select! {
            () = &mut shutdown => return,
            changed = changes.recv() => match changed {
                Ok(set) => stale = set.changes.iter().any(|c| concerns_data_plane(&c.key)),
                // Missed changes: read everything again.
                Err(berth_store::RecvError::Lagged(_)) => stale = true,
                Err(berth_store::RecvError::Closed) => return,
            },
            changed = health_changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep_until(refresh_at) => stale = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGION: &str = "us-east-1";
    const LB: &str =
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/00000000000000aa";
    const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/web/00000000000000aa/00000000000000bb";
    const RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/web/00000000000000aa/00000000000000bb/00000000000000cc";
    const TG: &str =
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/blue/00000000000000dd";

    struct OneInstance;

    impl InstanceAddresses for OneInstance {
        fn address(&self, region: &str, instance_id: &str) -> Option<IpAddr> {
            (region == REGION && instance_id == "i-0abc").then(|| "192.0.2.10".parse().unwrap())
        }
    }

    fn forward(target_group: &str) -> wire::Action {
        wire::Action {
            r#type: Some("forward".into()),
            target_group_arn: Some(target_group.into()),
            ..Default::default()
        }
    }

    fn records(
        target_type: &str,
        targets: Vec<RegisteredTarget>,
    ) -> BTreeMap<String, RegionRecords> {
        let mut attributes = berth_elbv2::target_group_defaults();
        attributes.insert("stickiness.enabled".into(), "true".into());
        attributes.insert("stickiness.lb_cookie.duration_seconds".into(), "120".into());
        attributes.insert(
            "load_balancing.algorithm.type".into(),
            "least_outstanding_requests".into(),
        );
        let group = TargetGroupRecord {
            target_group: wire::TargetGroup {
                target_group_arn: Some(TG.into()),
                target_group_name: Some("blue".into()),
                protocol: Some("HTTP".into()),
                port: Some(8080),
                target_type: Some(target_type.into()),
                health_check_path: Some("/health".into()),
                health_check_interval_seconds: Some(5),
                healthy_threshold_count: Some(2),
                matcher: Some(wire::Matcher {
                    http_code: Some("200-299".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            attributes,
            tags: Default::default(),
        };
        let balancer = LoadBalancerRecord {
            load_balancer: wire::LoadBalancer {
                load_balancer_arn: Some(LB.into()),
                dns_name: Some("web-170.us-east-1.elb.localhost".into()),
                ..Default::default()
            },
            attributes: berth_elbv2::load_balancer_defaults(),
            tags: Default::default(),
        };
        let listener = ListenerRecord {
            listener: wire::Listener {
                listener_arn: Some(LISTENER.into()),
                load_balancer_arn: Some(LB.into()),
                port: Some(8000),
                protocol: Some("HTTP".into()),
                default_actions: Some(vec![wire::Action {
                    r#type: Some("fixed-response".into()),
                    fixed_response_config: Some(wire::FixedResponseActionConfig {
                        status_code: Some("404".into()),
                        content_type: Some("text/plain".into()),
                        message_body: Some("nothing here".into()),
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            extra_certificates: Vec::new(),
            tags: Default::default(),
        };
        let rule = RuleRecord {
            rule: wire::Rule {
                rule_arn: Some(RULE.into()),
                priority: Some("10".into()),
                conditions: Some(vec![wire::RuleCondition {
                    field: Some("path-pattern".into()),
                    path_pattern_config: Some(wire::PathPatternConditionConfig {
                        values: Some(vec!["/api/*".into()]),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                actions: Some(vec![forward(TG)]),
                is_default: Some(false),
                ..Default::default()
            },
            tags: Default::default(),
        };
        let region = RegionRecords {
            load_balancers: vec![balancer],
            listeners: vec![listener],
            rules: vec![rule],
            target_groups: vec![group],
            targets: BTreeMap::from([("blue".to_owned(), targets)]),
        };
        BTreeMap::from([(REGION.to_owned(), region)])
    }

    fn target(id: &str, port: i32, draining_until: Option<f64>) -> RegisteredTarget {
        RegisteredTarget {
            id: id.into(),
            port,
            availability_zone: None,
            draining_until,
        }
    }

    #[test]
    fn records_become_listeners_rules_and_target_groups() {
        let regions = records("ip", vec![target("10.0.0.5", 8080, None)]);
        let Translation {
            config,
            origins,
            unresolved_instances,
        } = config_of(&regions, &HashMap::new(), &OneInstance, 1000.0);
        assert_eq!(unresolved_instances, 0);
        let balancer = &config.load_balancers[0];
        assert_eq!(balancer.dns_name, "web-170.us-east-1.elb.localhost");
        assert_eq!(balancer.idle_timeout, Duration::from_secs(60));
        assert!(balancer.http2_enabled);
        let listener = &balancer.listeners[0];
        assert_eq!(
            (listener.port, listener.protocol),
            (8000, lb::Protocol::Http)
        );
        assert_eq!(
            listener.default_action,
            lb::Action::FixedResponse(lb::FixedResponse {
                status_code: 404,
                content_type: Some("text/plain".into()),
                body: Some("nothing here".into()),
            })
        );
        assert_eq!(
            listener.rules,
            vec![lb::Rule {
                priority: 10,
                conditions: vec![lb::Condition::PathPattern(vec!["/api/*".into()])],
                action: lb::Action::Forward(lb::Forward {
                    target_groups: vec![lb::WeightedTargetGroup {
                        target_group_id: TG.into(),
                        weight: 1,
                    }],
                    group_stickiness: None,
                }),
            }]
        );
        let group = &config.target_groups[0];
        let address: SocketAddr = "10.0.0.5:8080".parse().unwrap();
        assert_eq!(
            group.targets,
            vec![lb::Target {
                address,
                admin_state: lb::AdminState::Active
            }]
        );
        assert_eq!(group.algorithm, lb::Algorithm::LeastOutstandingRequests);
        assert_eq!(group.stickiness, Some(Duration::from_secs(120)));
        assert_eq!(group.slow_start, None);
        assert_eq!(group.deregistration_delay, Duration::from_secs(300));
        assert_eq!(group.health_check.path, "/health");
        assert_eq!(group.health_check.interval, Duration::from_secs(5));
        assert_eq!(group.health_check.healthy_threshold, 2);
        assert_eq!(group.health_check.unhealthy_threshold, 2);
        assert_eq!(
            origins[&(TG.to_owned(), address)],
            TargetOrigin {
                region: REGION.into(),
                target_group_arn: TG.into(),
                target_id: "10.0.0.5".into(),
                port: 8080,
            }
        );
    }

    #[test]
    fn instance_targets_go_to_their_hosts_address_or_nowhere() {
        let regions = records(
            "instance",
            vec![
                target("i-0abc", 32768, None),
                target("i-0unknown", 32769, None),
            ],
        );
        let translation = config_of(&regions, &HashMap::new(), &OneInstance, 1000.0);
        assert_eq!(translation.unresolved_instances, 1);
        let addresses: Vec<SocketAddr> = translation.config.target_groups[0]
            .targets
            .iter()
            .map(|t| t.address)
            .collect();
        assert_eq!(addresses, vec!["192.0.2.10:32768".parse().unwrap()]);
    }

    #[test]
    fn draining_targets_drain_until_their_deadline_then_leave() {
        let regions = records(
            "ip",
            vec![
                target("10.0.0.5", 80, Some(1300.0)),
                target("10.0.0.6", 80, Some(900.0)),
            ],
        );
        let config = config_of(&regions, &HashMap::new(), &OneInstance, 1000.0).config;
        assert_eq!(
            config.target_groups[0].targets,
            vec![lb::Target {
                address: "10.0.0.5:80".parse().unwrap(),
                admin_state: lb::AdminState::Draining {
                    until: UNIX_EPOCH + Duration::from_secs(1300)
                },
            }]
        );
    }

    #[test]
    fn an_https_listener_whose_certificate_is_gone_is_left_out() {
        let mut regions = records("ip", Vec::new());
        let listener = &mut regions.get_mut(REGION).unwrap().listeners[0].listener;
        listener.protocol = Some("HTTPS".into());
        listener.certificates = Some(vec![wire::Certificate {
            certificate_arn: Some("arn:aws:acm:us-east-1:000000000000:certificate/gone".into()),
            ..Default::default()
        }]);
        let config = config_of(&regions, &HashMap::new(), &OneInstance, 1000.0).config;
        assert!(config.load_balancers[0].listeners.is_empty());
    }

    #[test]
    fn a_listener_that_cannot_be_served_is_left_out_and_the_others_kept() {
        let mut regions = records("ip", Vec::new());
        let region = regions.get_mut(REGION).unwrap();
        let mut second = region.listeners[0].clone();
        second.listener.listener_arn = Some(format!("{LISTENER}2"));
        second.listener.port = Some(8001);
        region.listeners.push(second);
        let mut config = config_of(&regions, &HashMap::new(), &OneInstance, 1000.0).config;
        let taken = lb::ApplyError::Bind {
            address: "127.0.0.1:8000".parse().unwrap(),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        };
        assert!(leave_out(&mut config, &taken));
        let ports: Vec<u16> = config.load_balancers[0]
            .listeners
            .iter()
            .map(|l| l.port)
            .collect();
        assert_eq!(ports, vec![8001]);
        assert!(!leave_out(&mut config, &taken));
        let broken = lb::ApplyError::EmptyForward {
            listener: format!("{LISTENER}2"),
        };
        assert!(leave_out(&mut config, &broken));
        assert!(config.load_balancers[0].listeners.is_empty());
    }

    #[test]
    fn only_records_and_certificates_concern_the_data_plane() {
        assert!(concerns_data_plane("elbv2/us-east-1/lb/web"));
        assert!(concerns_data_plane(
            "elbv2/eu-west-1/target/blue/10.0.0.5:80"
        ));
        assert!(concerns_data_plane("acm/us-east-1/certificate/abc"));
        assert!(!concerns_data_plane(
            "elbv2/us-east-1/health/blue/10.0.0.5:80"
        ));
        assert!(!concerns_data_plane("ecs/us-east-1/cluster/default"));
    }
}
