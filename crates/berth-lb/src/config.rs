//! The data plane's whole configuration: what the control plane computes from the store (load
//! balancers, listeners, rules, target groups, registrations) in plain types, with no knowledge
//! of the elbv2 wire shapes. `DataPlane::apply` takes one `Config` at a time and replaces the
//! previous one.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::health::Matcher;
use crate::rules::Cidr;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub load_balancers: Vec<LoadBalancer>,
    pub target_groups: Vec<TargetGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancer {
    /// The load balancer's ARN: the key its metrics are kept under.
    pub id: String,
    /// The name its clients use (`Host` header, SNI); with several load balancers on one port it
    /// is what tells them apart.
    pub dns_name: String,
    /// ALB's `idle_timeout.timeout_seconds`: how long a client connection may sit idle, and how
    /// long a target may take to answer before the client gets 504.
    pub idle_timeout: Duration,
    /// ALB's `routing.http2.enabled`: whether HTTPS clients may negotiate h2 by ALPN.
    pub http2_enabled: bool,
    pub listeners: Vec<Listener>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    Http,
    Https,
}

impl Protocol {
    /// The scheme as it appears in URLs and `X-Forwarded-Proto`.
    pub fn scheme(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Http => 80,
            Protocol::Https => 443,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    /// The listener's ARN.
    pub id: String,
    /// The port clients connect to; 0 asks for any free port (tests), which `apply` reports.
    pub port: u16,
    pub protocol: Protocol,
    /// HTTPS only: the listener's default certificate first, then the others of its SNI list.
    pub certificates: Vec<Certificate>,
    /// HTTPS only: an ALB security policy name (`ELBSecurityPolicy-2016-08`, …); `None` means
    /// ALB's default policy.
    pub ssl_policy: Option<String>,
    /// Evaluated by ascending priority; the first whose conditions all hold decides.
    pub rules: Vec<Rule>,
    pub default_action: Action,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    /// The certificate's ARN (for errors and logs).
    pub id: String,
    /// The leaf certificate followed by its chain, PEM.
    pub certificate_chain_pem: String,
    /// PKCS#8, PKCS#1 or SEC1, PEM.
    pub private_key_pem: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub priority: u32,
    /// All must match (AND); each condition's values are alternatives (OR).
    pub conditions: Vec<Condition>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Condition {
    /// Case-sensitive, `*`/`?` wildcards, matched against the path without the query.
    PathPattern(Vec<String>),
    /// Case-insensitive, `*`/`?` wildcards, matched against the Host header without its port.
    HostHeader(Vec<String>),
    /// Header name case-insensitive; values case-insensitive with wildcards.
    HttpHeader { name: String, values: Vec<String> },
    /// Case-sensitive, exact.
    HttpRequestMethod(Vec<String>),
    /// Case-insensitive with wildcards (`\*`, `\?` for literals); a pair without a key matches
    /// any parameter's value.
    QueryString(Vec<QueryStringPair>),
    /// The client's address (the TCP peer), not `X-Forwarded-For`.
    SourceIp(Vec<Cidr>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryStringPair {
    pub key: Option<String>,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    Forward(Forward),
    FixedResponse(FixedResponse),
    Redirect(Redirect),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forward {
    pub target_groups: Vec<WeightedTargetGroup>,
    /// Target group stickiness (`AWSALBTG` cookie): a client keeps its group for this long.
    pub group_stickiness: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedTargetGroup {
    pub target_group_id: String,
    /// 0..=999 as on ALB; a group of weight 0 gets no traffic.
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedResponse {
    pub status_code: u16,
    pub content_type: Option<String>,
    pub body: Option<String>,
}

/// ALB's redirect: each part may reuse the request's with `#{protocol}`, `#{host}`, `#{port}`,
/// `#{path}` (without its leading slash) and `#{query}`; a part left `None` keeps the request's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    /// `HTTP`, `HTTPS` or `#{protocol}`.
    pub protocol: Option<String>,
    pub host: Option<String>,
    pub port: Option<String>,
    /// Starts with `/`.
    pub path: Option<String>,
    /// Without the leading `?`.
    pub query: Option<String>,
    pub permanent: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetGroup {
    /// The target group's ARN.
    pub id: String,
    pub protocol: Protocol,
    pub targets: Vec<Target>,
    pub health_check: HealthCheck,
    pub algorithm: Algorithm,
    /// `stickiness.enabled` with `stickiness.type` `lb_cookie`: the `AWSALB` cookie's lifetime.
    pub stickiness: Option<Duration>,
    /// `slow_start.duration_seconds`: a newly healthy target's share ramps up over this long.
    pub slow_start: Option<Duration>,
    /// `deregistration_delay.timeout_seconds`: how long a draining target's in-flight requests
    /// may go on. The control plane sets each draining target's deadline from it.
    pub deregistration_delay: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Algorithm {
    #[default]
    RoundRobin,
    LeastOutstandingRequests,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    pub address: SocketAddr,
    pub admin_state: AdminState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AdminState {
    Active,
    /// Deregistered: no new requests; requests in flight at `until` are cut off.
    Draining {
        until: SystemTime,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub enabled: bool,
    pub protocol: Protocol,
    pub path: String,
    pub port: HealthCheckPort,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub matcher: Matcher,
}

impl Default for HealthCheck {
    /// ALB's defaults for an HTTP target group.
    fn default() -> Self {
        HealthCheck {
            enabled: true,
            protocol: Protocol::Http,
            path: "/".into(),
            port: HealthCheckPort::TrafficPort,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: Matcher::parse("200").expect("a valid literal matcher"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthCheckPort {
    /// The port each target receives traffic on.
    TrafficPort,
    Port(u16),
}

impl HealthCheckPort {
    pub fn address_for(self, target: SocketAddr) -> SocketAddr {
        match self {
            HealthCheckPort::TrafficPort => target,
            HealthCheckPort::Port(port) => SocketAddr::new(target.ip(), port),
        }
    }
}

/// Where the data plane binds its listener sockets (all load balancers share the host's
/// addresses; ports are told apart by Host and SNI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindOptions {
    pub ip: IpAddr,
}
