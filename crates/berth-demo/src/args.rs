//! Command-line parsing: the workload's interface, which task definitions and tests rely on
//! exactly (`serve`, `exit`, `log`, `check`, `burn`).

use std::time::Duration;

use crate::http::{self, Url};

pub const USAGE: &str = "\
usage: berth-demo [serve [--port P]]             HTTP on P (default 8080)
       berth-demo exit CODE [--after SECONDS]    exit with CODE (0-255), after a delay
       berth-demo log --lines N [--rate PER_SEC] print N numbered lines, then keep running
       berth-demo check URL                      exit 0 when http URL answers 2xx, else 1
       berth-demo burn [--threads N]             keep N cores busy (default 1) until stopped
";

const DEFAULT_PORT: u16 = 8080;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Serve { port: u16 },
    Exit { code: i32, after: Option<Duration> },
    Log { lines: u64, rate: Option<f64> },
    Check { url: Url },
    Burn { threads: u32 },
    Help,
}

/// Parses the arguments after the program name. `Err` carries the message printed above the usage.
pub fn parse(arguments: &[String]) -> Result<Command, String> {
    let Some((command, rest)) = arguments.split_first() else {
        return Ok(Command::Serve { port: DEFAULT_PORT });
    };
    let (positional, flags) = split(rest)?;
    match command.as_str() {
        "serve" => {
            no_positional(command, &positional)?;
            only(command, &flags, &["--port"])?;
            let port = match value(&flags, "--port") {
                Some(port) => parse_port(port)?,
                None => DEFAULT_PORT,
            };
            Ok(Command::Serve { port })
        }
        "exit" => {
            let [code] = positional[..] else {
                return Err("exit takes exactly one CODE".into());
            };
            let code = code
                .parse::<u8>()
                .map_err(|_| format!("exit CODE must be 0-255, not {code:?}"))?;
            only(command, &flags, &["--after"])?;
            let after = value(&flags, "--after")
                .map(|seconds| {
                    seconds
                        .parse::<f64>()
                        .ok()
                        .filter(|seconds| *seconds >= 0.0)
                        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
                        .ok_or_else(|| {
                            format!("--after must be a number of seconds, not {seconds:?}")
                        })
                })
                .transpose()?;
            Ok(Command::Exit {
                code: i32::from(code),
                after,
            })
        }
        "log" => {
            no_positional(command, &positional)?;
            only(command, &flags, &["--lines", "--rate"])?;
            let lines = value(&flags, "--lines")
                .ok_or("log needs --lines N")?
                .parse::<u64>()
                .map_err(|_| "--lines must be a whole number".to_string())?;
            let rate = value(&flags, "--rate")
                .map(|rate| {
                    rate.parse::<f64>()
                        .ok()
                        .filter(|rate| rate.is_finite() && *rate > 0.0)
                        .ok_or_else(|| format!("--rate must be a positive number, not {rate:?}"))
                })
                .transpose()?;
            Ok(Command::Log { lines, rate })
        }
        "check" => {
            let [url] = positional[..] else {
                return Err("check takes exactly one URL".into());
            };
            only(command, &flags, &[])?;
            Ok(Command::Check {
                url: http::parse_url(url)?,
            })
        }
        "burn" => {
            no_positional(command, &positional)?;
            only(command, &flags, &["--threads"])?;
            let threads = match value(&flags, "--threads") {
                Some(threads) => threads
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or_else(|| format!("--threads must be 1-1024, not {threads:?}"))?,
                None => 1,
            };
            Ok(Command::Burn { threads })
        }
        "help" | "--help" | "-h" if rest.is_empty() => Ok(Command::Help),
        other => Err(format!("unknown command {other:?}")),
    }
}

type Flags<'a> = Vec<(&'a str, &'a str)>;

/// Splits arguments into positionals and `--name VALUE` / `--name=VALUE` flags; every flag takes
/// a value.
fn split(arguments: &[String]) -> Result<(Vec<&str>, Flags<'_>), String> {
    let mut positional = Vec::new();
    let mut flags: Flags<'_> = Vec::new();
    let mut iter = arguments.iter();
    while let Some(argument) = iter.next() {
        if let Some(flag) = argument.strip_prefix("--") {
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (&argument[..name.len() + 2], value),
                None => (
                    argument.as_str(),
                    iter.next()
                        .map(String::as_str)
                        .ok_or_else(|| format!("{argument} needs a value"))?,
                ),
            };
            if flags.iter().any(|(seen, _)| *seen == name) {
                return Err(format!("{name} given twice"));
            }
            flags.push((name, value));
        } else {
            positional.push(argument.as_str());
        }
    }
    Ok((positional, flags))
}

fn only(command: &str, flags: &Flags<'_>, allowed: &[&str]) -> Result<(), String> {
    match flags.iter().find(|(name, _)| !allowed.contains(name)) {
        Some((unknown, _)) => Err(format!("{command}: unknown option {unknown}")),
        None => Ok(()),
    }
}

fn value<'a>(flags: &Flags<'a>, name: &str) -> Option<&'a str> {
    flags
        .iter()
        .find(|(given, _)| *given == name)
        .map(|(_, value)| *value)
}

fn no_positional(command: &str, positional: &[&str]) -> Result<(), String> {
    match positional.first() {
        Some(extra) => Err(format!("{command}: unexpected argument {extra:?}")),
        None => Ok(()),
    }
}

fn parse_port(port: &str) -> Result<u16, String> {
    port.parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or_else(|| format!("--port must be 1-65535, not {port:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(arguments: &[&str]) -> Result<Command, String> {
        let owned: Vec<String> = arguments.iter().map(|a| a.to_string()).collect();
        parse(&owned)
    }

    #[test]
    fn no_arguments_serve_on_8080() {
        assert_eq!(parse_str(&[]), Ok(Command::Serve { port: 8080 }));
        assert_eq!(parse_str(&["serve"]), Ok(Command::Serve { port: 8080 }));
    }

    #[test]
    fn serve_port_in_both_spellings() {
        assert_eq!(
            parse_str(&["serve", "--port", "9000"]),
            Ok(Command::Serve { port: 9000 })
        );
        assert_eq!(
            parse_str(&["serve", "--port=81"]),
            Ok(Command::Serve { port: 81 })
        );
        assert!(parse_str(&["serve", "--port", "0"]).is_err());
        assert!(parse_str(&["serve", "--port", "70000"]).is_err());
        assert!(parse_str(&["serve", "--port"]).is_err());
        assert!(parse_str(&["serve", "--port", "1", "--port", "2"]).is_err());
        assert!(parse_str(&["serve", "--verbose", "1"]).is_err());
        assert!(parse_str(&["serve", "extra"]).is_err());
    }

    #[test]
    fn exit_with_optional_fractional_delay() {
        assert_eq!(
            parse_str(&["exit", "3"]),
            Ok(Command::Exit {
                code: 3,
                after: None
            })
        );
        assert_eq!(
            parse_str(&["exit", "0", "--after", "1.5"]),
            Ok(Command::Exit {
                code: 0,
                after: Some(Duration::from_millis(1500))
            })
        );
        assert!(parse_str(&["exit"]).is_err());
        assert!(parse_str(&["exit", "256"]).is_err());
        assert!(parse_str(&["exit", "-1"]).is_err());
        assert!(parse_str(&["exit", "1", "2"]).is_err());
        assert!(parse_str(&["exit", "1", "--after", "-1"]).is_err());
        assert!(parse_str(&["exit", "1", "--after", "soon"]).is_err());
        assert!(parse_str(&["exit", "1", "--after", "inf"]).is_err());
    }

    #[test]
    fn log_needs_lines_and_takes_a_rate() {
        assert_eq!(
            parse_str(&["log", "--lines", "5"]),
            Ok(Command::Log {
                lines: 5,
                rate: None
            })
        );
        assert_eq!(
            parse_str(&["log", "--rate", "2.5", "--lines", "10"]),
            Ok(Command::Log {
                lines: 10,
                rate: Some(2.5)
            })
        );
        assert!(parse_str(&["log"]).is_err());
        assert!(parse_str(&["log", "--lines", "x"]).is_err());
        assert!(parse_str(&["log", "--lines", "1", "--rate", "0"]).is_err());
        assert!(parse_str(&["log", "--lines", "1", "--rate", "NaN"]).is_err());
        assert!(parse_str(&["log", "--lines", "1", "--speed", "2"]).is_err());
    }

    #[test]
    fn check_takes_one_http_url() {
        let Ok(Command::Check { url }) = parse_str(&["check", "http://127.0.0.1:8080/health"])
        else {
            panic!("check did not parse");
        };
        assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 8080));
        assert!(parse_str(&["check"]).is_err());
        assert!(parse_str(&["check", "https://example.com/"]).is_err());
        assert!(parse_str(&["check", "http://a/", "http://b/"]).is_err());
    }

    #[test]
    fn unknown_commands_are_errors() {
        assert!(parse_str(&["bogus"]).is_err());
        assert!(parse_str(&["--port", "80"]).is_err());
        assert_eq!(parse_str(&["--help"]), Ok(Command::Help));
    }

    #[test]
    fn burn() {
        assert_eq!(parse_str(&["burn"]), Ok(Command::Burn { threads: 1 }));
        assert_eq!(
            parse_str(&["burn", "--threads", "2"]),
            Ok(Command::Burn { threads: 2 })
        );
        assert!(parse_str(&["burn", "--threads", "0"]).is_err());
        assert!(parse_str(&["burn", "--threads", "x"]).is_err());
        assert!(parse_str(&["burn", "hot"]).is_err());
    }
}
