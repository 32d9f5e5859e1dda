//! The route table: a listener's rules compiled once per configuration, then each request head
//! is matched against them by ascending priority, as ALB does. Pure: the request is described
//! by a `RequestHead`, no sockets.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::{Action, Condition, Rule};
use crate::wildcard::{Case, Escapes, Pattern};

/// What rules look at in a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    /// The Host header (or HTTP/2 `:authority`) without its port.
    pub host: Option<&'a str>,
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The TCP peer's address.
    pub source_ip: IpAddr,
}

#[derive(Debug)]
pub struct RouteTable {
    rules: Vec<CompiledRule>,
    default_action: Action,
}

#[derive(Debug)]
struct CompiledRule {
    priority: u32,
    conditions: Vec<CompiledCondition>,
    action: Action,
}

#[derive(Debug)]
enum CompiledCondition {
    Path(Vec<Pattern>),
    Host(Vec<Pattern>),
    Header {
        name: http::HeaderName,
        values: Vec<Pattern>,
    },
    Method(Vec<String>),
    Query(Vec<(Option<Pattern>, Pattern)>),
    SourceIp(Vec<Cidr>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    #[error("two rules have priority {0}")]
    DuplicatePriority(u32),
    #[error("http-header condition names an invalid header: {0:?}")]
    InvalidHeaderName(String),
}

impl RouteTable {
    pub fn compile(rules: &[Rule], default_action: &Action) -> Result<RouteTable, RuleError> {
        let mut compiled = Vec::with_capacity(rules.len());
        for rule in rules {
            let conditions = rule
                .conditions
                .iter()
                .map(compile_condition)
                .collect::<Result<Vec<_>, _>>()?;
            compiled.push(CompiledRule {
                priority: rule.priority,
                conditions,
                action: rule.action.clone(),
            });
        }
        compiled.sort_by_key(|rule| rule.priority);
        if let Some(pair) = compiled.windows(2).find(|w| w[0].priority == w[1].priority) {
            return Err(RuleError::DuplicatePriority(pair[0].priority));
        }
        Ok(RouteTable {
            rules: compiled,
            default_action: default_action.clone(),
        })
    }

    /// The action of the first rule (by priority) whose conditions all hold, else the default.
    pub fn route(&self, request: &RequestHead<'_>) -> &Action {
        self.rules
            .iter()
            .find(|rule| rule.conditions.iter().all(|c| c.matches(request)))
            .map_or(&self.default_action, |rule| &rule.action)
    }

    /// Every action the listener may take (to find the target groups it uses).
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.rules
            .iter()
            .map(|rule| &rule.action)
            .chain(std::iter::once(&self.default_action))
    }
}

fn compile_condition(condition: &Condition) -> Result<CompiledCondition, RuleError> {
    let patterns = |values: &[String], case| {
        values
            .iter()
            .map(|v| Pattern::new(v, case, Escapes::None))
            .collect()
    };
    Ok(match condition {
        Condition::PathPattern(values) => {
            CompiledCondition::Path(patterns(values, Case::Sensitive))
        }
        Condition::HostHeader(values) => {
            CompiledCondition::Host(patterns(values, Case::Insensitive))
        }
        Condition::HttpHeader { name, values } => CompiledCondition::Header {
            name: http::HeaderName::from_str(name)
                .map_err(|_| RuleError::InvalidHeaderName(name.clone()))?,
            values: patterns(values, Case::Insensitive),
        },
        Condition::HttpRequestMethod(values) => CompiledCondition::Method(values.clone()),
        Condition::QueryString(pairs) => CompiledCondition::Query(
            pairs
                .iter()
                .map(|pair| {
                    let compile = |s: &str| Pattern::new(s, Case::Insensitive, Escapes::Backslash);
                    (pair.key.as_deref().map(compile), compile(&pair.value))
                })
                .collect(),
        ),
        Condition::SourceIp(cidrs) => CompiledCondition::SourceIp(cidrs.clone()),
    })
}

impl CompiledCondition {
    fn matches(&self, request: &RequestHead<'_>) -> bool {
        match self {
            CompiledCondition::Path(patterns) => patterns.iter().any(|p| p.matches(request.path)),
            CompiledCondition::Host(patterns) => request
                .host
                .is_some_and(|host| patterns.iter().any(|p| p.matches(host))),
            CompiledCondition::Header { name, values } => {
                request.headers.get_all(name).iter().any(|value| {
                    let value = String::from_utf8_lossy(value.as_bytes());
                    values.iter().any(|p| p.matches(&value))
                })
            }
            CompiledCondition::Method(methods) => methods.iter().any(|m| m == request.method),
            CompiledCondition::Query(pairs) => {
                let Some(query) = request.query else {
                    return false;
                };
                form_urlencoded::parse(query.as_bytes()).any(|(key, value)| {
                    pairs.iter().any(|(key_pattern, value_pattern)| {
                        key_pattern.as_ref().is_none_or(|p| p.matches(&key))
                            && value_pattern.matches(&value)
                    })
                })
            }
            CompiledCondition::SourceIp(cidrs) => {
                let ip = canonical_ip(request.source_ip);
                cidrs.iter().any(|cidr| cidr.contains(ip))
            }
        }
    }
}

/// An IPv4 client reaching a dual-stack socket shows up as `::ffff:a.b.c.d`; rules name it as
/// IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// An address block in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`), written and read as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a CIDR block: {0:?}")]
pub struct CidrError(String);

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_equal(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_equal(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_equal(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let error = || CidrError(text.to_string());
        let (address, prefix) = text.split_once('/').ok_or_else(error)?;
        let network: IpAddr = address.parse().map_err(|_| error())?;
        let prefix: u8 = prefix.parse().map_err(|_| error())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(error());
        }
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Cidr, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FixedResponse, QueryStringPair};

    fn respond(status: u16) -> Action {
        Action::FixedResponse(FixedResponse {
            status_code: status,
            content_type: None,
            body: None,
        })
    }

    fn rule(priority: u32, conditions: Vec<Condition>, status: u16) -> Rule {
        Rule {
            priority,
            conditions,
            action: respond(status),
        }
    }

    struct Request {
        method: &'static str,
        host: Option<&'static str>,
        path: &'static str,
        query: Option<&'static str>,
        headers: HeaderMap,
        source_ip: IpAddr,
    }

    fn get(path: &'static str) -> Request {
        Request {
            method: "GET",
            host: Some("app.example.com"),
            path,
            query: None,
            headers: HeaderMap::new(),
            source_ip: "192.0.2.10".parse().unwrap(),
        }
    }

    fn status(table: &RouteTable, request: &Request) -> u16 {
        let head = RequestHead {
            method: request.method,
            host: request.host,
            path: request.path,
            query: request.query,
            headers: &request.headers,
            source_ip: request.source_ip,
        };
        match table.route(&head) {
            Action::FixedResponse(fixed) => fixed.status_code,
            other => panic!("unexpected action {other:?}"),
        }
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn rules_are_tried_by_ascending_priority_whatever_their_order() {
        let rules = vec![
            rule(20, vec![Condition::PathPattern(strings(&["/api/*"]))], 220),
            rule(
                10,
                vec![Condition::PathPattern(strings(&["/api/v1/*"]))],
                210,
            ),
        ];
        let table = RouteTable::compile(&rules, &respond(404)).unwrap();
        assert_eq!(status(&table, &get("/api/v1/users")), 210);
        assert_eq!(status(&table, &get("/api/v2/users")), 220);
        assert_eq!(status(&table, &get("/other")), 404);
    }

    #[test]
    fn duplicate_priorities_are_refused() {
        let rules = vec![rule(5, vec![], 200), rule(5, vec![], 201)];
        assert_eq!(
            RouteTable::compile(&rules, &respond(404)).unwrap_err(),
            RuleError::DuplicatePriority(5)
        );
    }

    #[test]
    fn path_is_case_sensitive_and_ignores_the_query() {
        let rules = vec![rule(
            1,
            vec![Condition::PathPattern(strings(&["/Img/*.png"]))],
            200,
        )];
        let table = RouteTable::compile(&rules, &respond(404)).unwrap();
        let mut request = get("/Img/a.png");
        request.query = Some("x=.png");
        assert_eq!(status(&table, &request), 200);
        assert_eq!(status(&table, &get("/img/a.png")), 404);
        assert_eq!(status(&table, &get("/Img/a.png.bak")), 404);
    }

    #[test]
    fn values_within_a_condition_are_alternatives_and_conditions_all_hold() {
        let rules = vec![rule(
            1,
            vec![
                Condition::HostHeader(strings(&["a.example.com", "*.test"])),
                Condition::HttpRequestMethod(strings(&["GET", "HEAD"])),
            ],
            200,
        )];
        let table = RouteTable::compile(&rules, &respond(404)).unwrap();
        let mut request = get("/");
        request.host = Some("A.Example.COM");
        assert_eq!(status(&table, &request), 200);
        request.host = Some("x.y.test");
        assert_eq!(status(&table, &request), 200);
        request.method = "POST";
        assert_eq!(status(&table, &request), 404, "method must also match");
        request.method = "get";
        assert_eq!(status(&table, &request), 404, "methods are case-sensitive");
        request.method = "HEAD";
        request.host = None;
        assert_eq!(status(&table, &request), 404, "no host, no host match");
    }

    #[test]
    fn header_names_and_values_are_case_insensitive_with_wildcards() {
        let rules = vec![rule(
            1,
            vec![Condition::HttpHeader {
                name: "User-Agent".into(),
                values: strings(&["*mobile*"]),
            }],
            200,
        )];
        let table = RouteTable::compile(&rules, &respond(404)).unwrap();
        let mut request = get("/");
        request
            .headers
            .append("user-agent", "Foo Mobile Safari".parse().unwrap());
        assert_eq!(status(&table, &request), 200);
        let mut desktop = get("/");
        desktop
            .headers
            .append("user-agent", "Desktop".parse().unwrap());
        assert_eq!(status(&table, &desktop), 404);
        assert_eq!(
            status(&table, &get("/")),
            404,
            "absent header never matches"
        );
    }

    #[test]
    fn query_pairs_match_decoded_parameters_with_optional_key() {
        let rules = vec![
            rule(
                1,
                vec![Condition::QueryString(vec![QueryStringPair {
                    key: Some("version".into()),
                    value: "v?".into(),
                }])],
                201,
            ),
            rule(
                2,
                vec![Condition::QueryString(vec![QueryStringPair {
                    key: None,
                    value: "a b\\*".into(),
                }])],
                202,
            ),
        ];
        let table = RouteTable::compile(&rules, &respond(404)).unwrap();
        let with_query = |query: &'static str| {
            let mut request = get("/");
            request.query = Some(query);
            status(&table, &request)
        };
        assert_eq!(with_query("x=1&VERSION=V2"), 201);
        assert_eq!(with_query("version=v10"), 404);
        assert_eq!(with_query("anything=A%20B*"), 202);
        assert_eq!(with_query("anything=A%20Bc"), 404);
        assert_eq!(status(&table, &get("/")), 404, "no query, no query match");
    }

    #[test]
    fn source_ip_matches_cidrs_including_mapped_ipv4() {
        let rules = vec![rule(
            1,
            vec![Condition::SourceIp(vec![
                "10.0.0.0/8".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ])],
            200,
        )];
        let table = RouteTable::compile(&rules, &respond(404)).unwrap();
        let from = |ip: &str| {
            let mut request = get("/");
            request.source_ip = ip.parse().unwrap();
            status(&table, &request)
        };
        assert_eq!(from("10.1.2.3"), 200);
        assert_eq!(from("::ffff:10.1.2.3"), 200);
        assert_eq!(from("2001:db8:1::5"), 200);
        assert_eq!(from("11.0.0.1"), 404);
        assert_eq!(from("2001:db9::1"), 404);
    }

    #[test]
    fn cidr_parsing_and_prefix_edges() {
        let cidr: Cidr = "192.168.1.0/23".parse().unwrap();
        assert!(cidr.contains("192.168.0.255".parse().unwrap()));
        assert!(!cidr.contains("192.168.2.0".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let host: Cidr = "1.2.3.4/32".parse().unwrap();
        assert!(host.contains("1.2.3.4".parse().unwrap()));
        assert!(!host.contains("1.2.3.5".parse().unwrap()));
        assert!("1.2.3.4/33".parse::<Cidr>().is_err());
        assert!("1.2.3.4".parse::<Cidr>().is_err());
        assert!("x/8".parse::<Cidr>().is_err());
        assert_eq!(cidr.to_string(), "192.168.1.0/23");
        let json = serde_json::to_string(&cidr).unwrap();
        assert_eq!(json, "\"192.168.1.0/23\"");
        assert_eq!(serde_json::from_str::<Cidr>(&json).unwrap(), cidr);
    }
}
