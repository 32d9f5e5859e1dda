//! A container's `awslogs` options, read and checked as the ECS agent and Docker read them.
//!
//! The checks run in Docker's order and answer with Docker's words: first the options every
//! driver shares (`mode`, `max-buffer-size`), then the awslogs driver's own. What Docker refuses
//! when the container is created is a [`OptionError::Refused`]; what its driver only finds out
//! when the container starts (a pattern that does not compile) is a
//! [`OptionError::DriverInit`]. `awslogs-stream-prefix` never reaches Docker: the ECS agent turns
//! it into the stream name.

use std::collections::BTreeMap;

/// Docker's non-blocking ring buffer size when `max-buffer-size` is not set (1e6 bytes).
pub const DEFAULT_MAX_BUFFER_BYTES: u64 = 1_000_000;

const GROUP: &str = "awslogs-group";
const REGION: &str = "awslogs-region";
const STREAM_PREFIX: &str = "awslogs-stream-prefix";
const CREATE_GROUP: &str = "awslogs-create-group";
const DATETIME_FORMAT: &str = "awslogs-datetime-format";
const MULTILINE_PATTERN: &str = "awslogs-multiline-pattern";
const MODE: &str = "mode";
const MAX_BUFFER_SIZE: &str = "max-buffer-size";

/// Options Docker's awslogs driver knows that Berth does not honour: refused rather than
/// silently ignored.
const NOT_HONOURED: &[&str] = &[
    "awslogs-stream",
    "awslogs-endpoint",
    "awslogs-credentials-endpoint",
    "awslogs-force-flush-interval-seconds",
    "awslogs-max-buffered-events",
    "awslogs-format",
    "tag",
];

/// How a container's output reaches the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing is dropped: while the log destination is away, output waits (in Docker's
    /// json-file log, for Berth).
    Blocking,
    /// Output goes through a buffer of `max-buffer-size` bytes; what does not fit is dropped.
    NonBlocking,
}

/// The regular expression that starts a new multi-line event (`awslogs-multiline-pattern`, or
/// `awslogs-datetime-format` turned into one).
#[derive(Debug, Clone)]
pub struct MultilinePattern(pub regex::Regex);

impl PartialEq for MultilinePattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for MultilinePattern {}

/// Where and how one container's output is shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwslogsConfig {
    pub group: String,
    pub region: String,
    pub stream_prefix: Option<String>,
    pub create_group: bool,
    pub multiline: Option<MultilinePattern>,
    pub mode: Mode,
    /// The non-blocking buffer's size in bytes.
    pub max_buffer_bytes: u64,
}

impl AwslogsConfig {
    /// The stream the container writes to: `PREFIX/CONTAINER/TASK-ID`, or without a prefix the
    /// container's Docker id, as ECS names it on EC2.
    pub fn stream_name(&self, container_name: &str, task_id: &str, container_id: &str) -> String {
        match &self.stream_prefix {
            Some(prefix) => format!("{prefix}/{container_name}/{task_id}"),
            None => container_id.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// Docker refuses to create the container.
    #[error("CannotCreateContainerError: Error response from daemon: {0}")]
    Refused(String),
    /// Docker creates the container, and its driver fails when it starts.
    #[error(
        "CannotStartContainerError: Error response from daemon: failed to initialize logging driver: {0}"
    )]
    DriverInit(String),
    /// An option Docker knows and Berth does not honour.
    #[error(
        "CannotCreateContainerError: log option '{0}' of the awslogs driver is not supported by Berth"
    )]
    NotHonoured(String),
}

/// Reads a container's `logConfiguration.options` for the awslogs driver; `default_region` is
/// the agent's (what ECS uses when `awslogs-region` is absent).
pub fn parse(
    options: &BTreeMap<String, String>,
    default_region: &str,
) -> Result<AwslogsConfig, OptionError> {
    // ECS's default delivery mode (the `defaultLogDriverMode` account setting's AWS default)
    // is non-blocking; the ECS agent sets it before Docker checks the options.
    let mode = match options.get(MODE).map(String::as_str) {
        None | Some("") | Some("non-blocking") => Mode::NonBlocking,
        Some("blocking") => Mode::Blocking,
        Some(other) => {
            return Err(OptionError::Refused(format!(
                "logger: logging mode not supported: {other}"
            )));
        }
    };
    let max_buffer_bytes = match options.get(MAX_BUFFER_SIZE) {
        None => DEFAULT_MAX_BUFFER_BYTES,
        Some(_) if mode != Mode::NonBlocking => {
            return Err(OptionError::Refused(
                "logger: max-buffer-size option is only supported with 'mode=non-blocking'".into(),
            ));
        }
        Some(size) => ram_in_bytes(size).ok_or_else(|| {
            OptionError::Refused(format!(
                "error parsing option max-buffer-size: invalid size: '{size}'"
            ))
        })?,
    };
    for key in options.keys() {
        let known = [
            GROUP,
            REGION,
            STREAM_PREFIX,
            CREATE_GROUP,
            DATETIME_FORMAT,
            MULTILINE_PATTERN,
            MODE,
            MAX_BUFFER_SIZE,
        ];
        if NOT_HONOURED.contains(&key.as_str()) {
            return Err(OptionError::NotHonoured(key.clone()));
        }
        if !known.contains(&key.as_str()) {
            return Err(OptionError::Refused(format!(
                "unknown log opt '{key}' for awslogs log driver"
            )));
        }
    }
    let group = options.get(GROUP).map(String::as_str).unwrap_or_default();
    if group.is_empty() {
        return Err(OptionError::Refused(format!(
            "must specify a value for log opt '{GROUP}'"
        )));
    }
    let create_group = match options.get(CREATE_GROUP).map(String::as_str) {
        None | Some("") => false,
        Some(value) => parse_bool(value).ok_or_else(|| {
            OptionError::Refused(format!(
                "must specify valid value for log opt '{CREATE_GROUP}': strconv.ParseBool: parsing \"{value}\": invalid syntax"
            ))
        })?,
    };
    if options.contains_key(DATETIME_FORMAT) && options.contains_key(MULTILINE_PATTERN) {
        return Err(OptionError::Refused(format!(
            "you cannot configure log opt '{DATETIME_FORMAT}' and '{MULTILINE_PATTERN}' at the same time"
        )));
    }
    let pattern = match options.get(DATETIME_FORMAT).filter(|f| !f.is_empty()) {
        Some(format) => Some(strftime_to_regex(format)),
        None => options
            .get(MULTILINE_PATTERN)
            .filter(|p| !p.is_empty())
            .cloned(),
    };
    let multiline = pattern
        .map(|pattern| {
            regex::Regex::new(&pattern)
                .map(MultilinePattern)
                .map_err(|err| {
                    OptionError::DriverInit(format!(
                        "awslogs could not parse multiline pattern key \"{pattern}\": {err}"
                    ))
                })
        })
        .transpose()?;
    Ok(AwslogsConfig {
        group: group.to_string(),
        region: options
            .get(REGION)
            .filter(|r| !r.is_empty())
            .cloned()
            .unwrap_or_else(|| default_region.to_string()),
        stream_prefix: options
            .get(STREAM_PREFIX)
            .filter(|p| !p.is_empty())
            .cloned(),
        create_group,
        multiline,
        mode,
        max_buffer_bytes,
    })
}

/// Go's `strconv.ParseBool`.
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A size as Docker reads `max-buffer-size` (go-units' `RAMInBytes`): a decimal number, an
/// optional space, an optional unit k/m/g/t/p (powers of 1024, any case) and an optional
/// `i` and `b`.
fn ram_in_bytes(size: &str) -> Option<u64> {
    let split = size
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(size.len());
    let (number, rest) = size.split_at(split);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars();
    let multiplier: u64 = match chars.clone().next() {
        None => 1,
        Some(unit) => {
            let power = match unit.to_ascii_lowercase() {
                'k' => 1,
                'm' => 2,
                'g' => 3,
                't' => 4,
                'p' => 5,
                'b' | 'i' => 0,
                _ => return None,
            };
            if power > 0 {
                chars.next();
            }
            1u64 << (10 * power)
        }
    };
    let suffix: String = chars.collect::<String>().to_ascii_lowercase();
    if !matches!(suffix.as_str(), "" | "b" | "i" | "ib") {
        return None;
    }
    Some((value * multiplier as f64) as u64)
}

/// Docker's conversion of an `awslogs-datetime-format` (strftime) into the regular expression
/// that starts a new event: each `%X` is replaced by its pattern, one Docker does not know by
/// nothing, and everything else is kept as written (so literal brackets must be escaped).
pub fn strftime_to_regex(format: &str) -> String {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(directive) = chars.next() else {
            out.push('%');
            break;
        };
        out.push_str(match directive {
            'a' => r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)",
            'A' => r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)",
            'w' => r"[0-6]",
            'd' => r"(?:0[1-9]|[1,2][0-9]|3[0,1])",
            'b' => r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)",
            'B' => {
                r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
            }
            'm' => r"(?:0[1-9]|1[0-2])",
            'Y' => r"\d{4}",
            'y' => r"\d{2}",
            'H' => r"(?:[0,1][0-9]|2[0-3])",
            'I' => r"(?:0[0-9]|1[0-2])",
            'p' => r"[A,P]M",
            'M' => r"[0-5][0-9]",
            'S' => r"[0-5][0-9]",
            'f' => r"\d{6}",
            'z' => r"[+-]\d{4}",
            'Z' => r"[A-Z]{1,4}T",
            'j' => r"(?:0[0-9][1-9]|[1,2][0-9][0-9]|3[0-5][0-9]|36[0-6])",
            'L' => r"\.\d{3}",
            _ => "",
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn refused(pairs: &[(&str, &str)]) -> String {
        parse(&options(pairs), "us-east-1").unwrap_err().to_string()
    }

    #[test]
    fn defaults_follow_ecs_and_docker() {
        let config = parse(&options(&[("awslogs-group", "/ecs/web")]), "eu-west-1").unwrap();
        assert_eq!(config.group, "/ecs/web");
        assert_eq!(config.region, "eu-west-1");
        assert_eq!(config.stream_prefix, None);
        assert!(!config.create_group);
        assert_eq!(config.multiline, None);
        assert_eq!(config.mode, Mode::NonBlocking);
        assert_eq!(config.max_buffer_bytes, 1_000_000);
        assert_eq!(config.stream_name("web", "abc", "f00d"), "f00d");
    }

    #[test]
    fn every_documented_option_is_read() {
        let config = parse(
            &options(&[
                ("awslogs-group", "g"),
                ("awslogs-region", "us-west-2"),
                ("awslogs-stream-prefix", "app"),
                ("awslogs-create-group", "true"),
                ("awslogs-multiline-pattern", "^INFO"),
                ("mode", "non-blocking"),
                ("max-buffer-size", "25m"),
            ]),
            "us-east-1",
        )
        .unwrap();
        assert_eq!(config.region, "us-west-2");
        assert!(config.create_group);
        assert_eq!(config.multiline.unwrap().0.as_str(), "^INFO");
        assert_eq!(config.max_buffer_bytes, 25 * 1024 * 1024);
        assert_eq!(
            parse(
                &options(&[("awslogs-group", "g"), ("awslogs-stream-prefix", "app")]),
                "r"
            )
            .unwrap()
            .stream_name("web", "0123", "f00d"),
            "app/web/0123"
        );
        let blocking = parse(
            &options(&[("awslogs-group", "g"), ("mode", "blocking")]),
            "r",
        );
        assert_eq!(blocking.unwrap().mode, Mode::Blocking);
    }

    #[test]
    fn refusals_carry_dockers_words() {
        assert_eq!(
            refused(&[]),
            "CannotCreateContainerError: Error response from daemon: must specify a value for log opt 'awslogs-group'"
        );
        assert_eq!(
            refused(&[("awslogs-group", "g"), ("awslogs-colour", "red")]),
            "CannotCreateContainerError: Error response from daemon: unknown log opt 'awslogs-colour' for awslogs log driver"
        );
        assert_eq!(
            refused(&[("awslogs-group", "g"), ("mode", "sometimes")]),
            "CannotCreateContainerError: Error response from daemon: logger: logging mode not supported: sometimes"
        );
        assert_eq!(
            refused(&[
                ("awslogs-group", "g"),
                ("mode", "blocking"),
                ("max-buffer-size", "4m")
            ]),
            "CannotCreateContainerError: Error response from daemon: logger: max-buffer-size option is only supported with 'mode=non-blocking'"
        );
        assert_eq!(
            refused(&[("awslogs-group", "g"), ("max-buffer-size", "lots")]),
            "CannotCreateContainerError: Error response from daemon: error parsing option max-buffer-size: invalid size: 'lots'"
        );
        assert_eq!(
            refused(&[("awslogs-group", "g"), ("awslogs-create-group", "yes")]),
            "CannotCreateContainerError: Error response from daemon: must specify valid value for log opt 'awslogs-create-group': strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(
            refused(&[
                ("awslogs-group", "g"),
                ("awslogs-datetime-format", "%Y"),
                ("awslogs-multiline-pattern", "^x")
            ]),
            "CannotCreateContainerError: Error response from daemon: you cannot configure log opt 'awslogs-datetime-format' and 'awslogs-multiline-pattern' at the same time"
        );
        assert_eq!(
            refused(&[("awslogs-group", "g"), ("awslogs-endpoint", "http://x")]),
            "CannotCreateContainerError: log option 'awslogs-endpoint' of the awslogs driver is not supported by Berth"
        );
        assert!(
            refused(&[("awslogs-group", "g"), ("awslogs-multiline-pattern", "(")]).starts_with(
                "CannotStartContainerError: Error response from daemon: failed to initialize logging driver: awslogs could not parse multiline pattern key \"(\": "
            )
        );
    }

    #[test]
    fn sizes_read_as_go_units_reads_them() {
        assert_eq!(ram_in_bytes("1m"), Some(1_048_576));
        assert_eq!(ram_in_bytes("25M"), Some(25 * 1_048_576));
        assert_eq!(ram_in_bytes("512k"), Some(512 * 1024));
        assert_eq!(ram_in_bytes("1.5 GiB"), Some(1_610_612_736));
        assert_eq!(ram_in_bytes("100"), Some(100));
        assert_eq!(ram_in_bytes("2mb"), Some(2 * 1_048_576));
        assert_eq!(ram_in_bytes("m"), None);
        assert_eq!(ram_in_bytes("1x"), None);
        assert_eq!(ram_in_bytes("1mm"), None);
    }

    #[test]
    fn datetime_formats_become_dockers_patterns() {
        assert_eq!(
            strftime_to_regex(r"\[%b %d, %Y %H:%M:%S\]"),
            r"\[(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?:0[1-9]|[1,2][0-9]|3[0,1]), \d{4} (?:[0,1][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\]"
        );
        assert_eq!(
            strftime_to_regex("%Q%Y"),
            r"\d{4}",
            "unknown directives vanish"
        );
        let config = parse(
            &options(&[
                ("awslogs-group", "g"),
                ("awslogs-datetime-format", "%Y-%m-%d"),
            ]),
            "r",
        )
        .unwrap();
        let pattern = config.multiline.unwrap().0;
        assert!(pattern.is_match("2026-12-06 started"));
        assert!(!pattern.is_match("    at frame"));
    }
}
