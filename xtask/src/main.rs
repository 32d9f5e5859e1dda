//! Developer tasks. `cargo xtask codegen [SERVICE]` regenerates the wire modules of every service
//! in [`SERVICES`] (or just one) from botocore's service models, so the wire shapes, their
//! model-level constraints (required members, bounds, enums, patterns) and the model facts the
//! protocol codecs need are exactly what aws-cli and boto3 speak.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

mod model;

/// One generated service: where botocore keeps its model, where the module goes, and which
/// operations it serves (`None`: all of them).
struct Service {
    name: &'static str,
    /// Human name used in the generated module's doc comment.
    title: &'static str,
    /// botocore's model, under its data directory; a path under `crates/` is a model kept in
    /// this repository (a test fixture), read as plain JSON.
    model: &'static str,
    output: &'static str,
    /// How the generated file reaches `berth_wire` (`crate` inside berth-wire itself).
    wire_crate: &'static str,
    operations: Option<&'static [&'static str]>,
    /// Emit only `MODEL`: a fixture model exists for the codecs' tests, which need no types.
    model_only: bool,
}

const SERVICES: &[Service] = &[
    Service {
        name: "ecs",
        title: "ECS",
        model: "ecs/2014-11-13/service-2.json.gz",
        output: "crates/berth-ecs-wire/src/lib.rs",
        wire_crate: "berth_wire",
        operations: None,
        model_only: false,
    },
    Service {
        name: "sts",
        title: "STS",
        model: "sts/2011-06-15/service-2.json.gz",
        output: "crates/berth-sts-wire/src/lib.rs",
        wire_crate: "berth_wire",
        operations: None,
        model_only: false,
    },
    Service {
        name: "ec2",
        title: "EC2",
        model: "ec2/2016-11-15/service-2.json.gz",
        output: "crates/berth-ec2-wire/src/lib.rs",
        wire_crate: "berth_wire",
        // EC2's model has ~4,000 shapes; only what these operations reach is generated.
        operations: Some(&[
            "DescribeRegions",
            "DescribeAvailabilityZones",
            "CreateVpc",
            "DescribeVpcs",
            "DeleteVpc",
            "ModifyVpcAttribute",
            "DescribeVpcAttribute",
            "CreateSubnet",
            "DescribeSubnets",
            "DeleteSubnet",
            "ModifySubnetAttribute",
            "CreateSecurityGroup",
            "DescribeSecurityGroups",
            "DeleteSecurityGroup",
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupIngress",
            "RevokeSecurityGroupEgress",
            "DescribeSecurityGroupRules",
            "CreateTags",
            "DeleteTags",
            "DescribeTags",
            "DescribeRouteTables",
            "DescribeInternetGateways",
            "DescribeAccountAttributes",
        ]),
        model_only: false,
    },
    Service {
        name: "cloudwatch",
        title: "CloudWatch",
        model: "cloudwatch/2010-08-01/service-2.json.gz",
        output: "crates/berth-cloudwatch-wire/src/lib.rs",
        wire_crate: "berth_wire",
        operations: None,
        model_only: false,
    },
    Service {
        name: "scheduler",
        title: "EventBridge Scheduler",
        model: "scheduler/2021-06-30/service-2.json.gz",
        output: "crates/berth-scheduler-wire/src/lib.rs",
        wire_crate: "berth_wire",
        operations: None,
        model_only: false,
    },
    Service {
        name: "elbv2",
        title: "Elastic Load Balancing v2",
        model: "elbv2/2015-12-01/service-2.json.gz",
        output: "crates/berth-elbv2-wire/src/lib.rs",
        wire_crate: "berth_wire",
        operations: None,
        model_only: false,
    },
    Service {
        name: "acm",
        title: "ACM",
        model: "acm/2015-12-08/service-2.json.gz",
        output: "crates/berth-acm-wire/src/lib.rs",
        wire_crate: "berth_wire",
        operations: None,
        model_only: false,
    },
    Service {
        name: "application-autoscaling",
        title: "Application Auto Scaling",
        model: "application-autoscaling/2016-02-06/service-2.json.gz",
        output: "crates/berth-autoscaling-wire/src/lib.rs",
        wire_crate: "berth_wire",
        operations: None,
        model_only: false,
    },
    Service {
        name: "logs",
        title: "CloudWatch Logs",
        model: "logs/2014-03-28/service-2.json.gz",
        output: "crates/berth-logs-wire/src/lib.rs",
        wire_crate: "berth_wire",
        operations: None,
        model_only: false,
    },
    // Scheduler uses only labels, query strings and JSON bodies; this model, written for the
    // tests, has every other REST-JSON binding (headers, prefix headers, status codes,
    // payloads, greedy labels, query literals and maps), checked against botocore in
    // crates/berth-wire/tests/botocore.rs.
    Service {
        name: "restfixture",
        title: "REST-JSON fixture",
        model: "crates/berth-wire/tests/botocore/restfixture-2026-12-05.json",
        output: "crates/berth-wire/tests/restfixture/mod.rs",
        wire_crate: "berth_wire",
        operations: None,
        model_only: true,
    },
];

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    match task.as_str() {
        "codegen" => {
            let only = args.next();
            let selected: Vec<&Service> = SERVICES
                .iter()
                .filter(|s| only.as_deref().is_none_or(|o| o == s.name))
                .collect();
            if selected.is_empty() {
                let names: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
                bail!("unknown service; one of: {}", names.join(", "));
            }
            let data = botocore_data_dir()?;
            for service in selected {
                codegen(&data, service)?;
            }
            Ok(())
        }
        _ => bail!("usage: cargo xtask codegen [SERVICE]"),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn botocore_data_dir() -> Result<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import botocore, os; print(os.path.dirname(botocore.__file__))",
        ])
        .output()
        .context("running python3 to locate botocore")?;
    if !out.status.success() {
        bail!("botocore is not importable: pip install botocore");
    }
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()).join("data"))
}

fn load_model(path: &Path) -> Result<Value> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "gz") {
        Ok(serde_json::from_reader(flate2::read::GzDecoder::new(file))?)
    } else {
        Ok(serde_json::from_reader(std::io::BufReader::new(file))?)
    }
}

fn codegen(data: &Path, service: &Service) -> Result<()> {
    let path = if service.model.starts_with("crates/") {
        workspace_root().join(service.model)
    } else {
        data.join(service.model)
    };
    let model = load_model(&path)?;
    let botocore_version = Command::new("python3")
        .args(["-c", "import botocore; print(botocore.__version__)"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let code = Generator::new(&model, service)?.generate(&botocore_version)?;
    let target = workspace_root().join(service.output);
    std::fs::write(&target, code)?;
    let status = Command::new("rustfmt")
        .args(["--edition", "2024"])
        .arg(&target)
        .status()?;
    if !status.success() {
        bail!("rustfmt failed on {}", target.display());
    }
    println!("wrote {}", target.display());
    Ok(())
}

/// The shapes reachable from the operations' inputs, outputs and errors.
fn closure<'a>(
    shapes: &'a serde_json::Map<String, Value>,
    operations: impl Iterator<Item = &'a Value>,
) -> BTreeSet<&'a str> {
    let mut stack: Vec<&str> = Vec::new();
    for op in operations {
        stack.extend(
            ["input", "output"]
                .iter()
                .filter_map(|k| op[*k]["shape"].as_str()),
        );
        if let Some(errors) = op["errors"].as_array() {
            stack.extend(errors.iter().filter_map(|e| e["shape"].as_str()));
        }
    }
    let mut seen = BTreeSet::new();
    while let Some(name) = stack.pop() {
        let Some((name, shape)) = shapes.get_key_value(name) else {
            continue;
        };
        if !seen.insert(name.as_str()) {
            continue;
        }
        if let Some(members) = shape["members"].as_object() {
            stack.extend(members.values().filter_map(|m| m["shape"].as_str()));
        }
        for part in ["member", "key", "value"] {
            stack.extend(shape[part]["shape"].as_str());
        }
    }
    seen
}

struct Generator<'a> {
    service: &'a Service,
    metadata: &'a Value,
    shapes: &'a serde_json::Map<String, Value>,
    operations: BTreeMap<&'a str, &'a Value>,
    /// The shapes generated: all of them, or those the selected operations reach.
    included: BTreeSet<&'a str>,
    /// Structure members that must be boxed because they close a cycle of structures.
    boxed: BTreeSet<(String, String)>,
}

const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod",
    "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct", "super",
    "trait", "true", "try", "type", "unsafe", "use", "where", "while", "yield",
];

fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    if RUST_KEYWORDS.contains(&out.as_str()) {
        format!("r#{out}")
    } else {
        out
    }
}

fn screaming_case(name: &str) -> String {
    snake_case(name)
        .trim_start_matches("r#")
        .to_ascii_uppercase()
}

impl<'a> Generator<'a> {
    fn new(model: &'a Value, service: &'a Service) -> Result<Self> {
        let shapes = model["shapes"].as_object().context("model has no shapes")?;
        let all_operations = model["operations"]
            .as_object()
            .context("model has no operations")?;
        let mut operations = BTreeMap::new();
        match service.operations {
            None => operations.extend(all_operations.iter().map(|(n, o)| (n.as_str(), o))),
            Some(names) => {
                for name in names {
                    let op = all_operations
                        .get(*name)
                        .with_context(|| format!("{} has no operation {name}", service.name))?;
                    operations.insert(*name, op);
                }
            }
        }
        let included = match service.operations {
            None => shapes.keys().map(String::as_str).collect(),
            Some(_) => closure(shapes, operations.values().copied()),
        };
        let mut generator = Generator {
            service,
            metadata: &model["metadata"],
            shapes,
            operations,
            included,
            boxed: BTreeSet::new(),
        };
        generator.find_cycles();
        Ok(generator)
    }

    fn struct_uses_map(&self, name: &str) -> bool {
        self.shape(name)["members"]
            .as_object()
            .is_some_and(|members| {
                members.values().any(|m| {
                    self.rust_type(m["shape"].as_str().unwrap_or_default())
                        .contains("BTreeMap")
                })
            })
    }

    fn shape(&self, name: &str) -> &Value {
        &self.shapes[name]
    }

    /// The shape's pattern, unless it uses lookaround (Scheduler's `Source`): the regex crate
    /// has none, so such a pattern is left to the service's own rules rather than enforced
    /// wrongly. Any other pattern the regex crate refuses still fails the generation.
    fn checked_pattern(&self, name: &str) -> Option<String> {
        let pattern = self.shape(name).get("pattern").and_then(Value::as_str)?;
        let lookaround = ["(?=", "(?!", "(?<=", "(?<!"];
        if lookaround.iter().any(|l| pattern.contains(l)) {
            return None;
        }
        // Java reads a hyphen right after a class escape (`[\w-_]`, CloudWatch Logs'
        // ResourceType) as a literal; the regex crate refuses it as a range. An escaped hyphen
        // means the same inside a class and outside one.
        let mut literal_hyphens = pattern.to_owned();
        for class in ["\\w-", "\\d-", "\\s-"] {
            literal_hyphens = literal_hyphens.replace(class, &format!("{}\\-", &class[..2]));
        }
        // Java matches UTF-16, so a model names the characters beyond the BMP as a range of
        // surrogate pairs (Application Auto Scaling's XmlString); the regex crate matches
        // scalar values, where surrogates do not exist: the same range, as code points.
        // Java's POSIX class `\p{Print}` (Application Auto Scaling's PolicyName) is printable
        // ASCII, which the regex crate names no class for.
        let literal_hyphens = literal_hyphens
            .replace("\\uD800\\uDC00-\\uDBFF\\uDFFF", "\\x{10000}-\\x{10FFFF}")
            .replace("\\p{Print}", "[\\x20-\\x7E]");
        Some(literal_hyphens)
    }

    fn kind(&self, name: &str) -> &str {
        self.shape(name)["type"].as_str().unwrap_or("")
    }

    /// Structures, and the exceptions a structure carries as a member (the error events of
    /// an event stream, as CloudWatch Logs' StartLiveTail has); other exceptions are only error
    /// codes on the wire.
    fn is_emitted_struct(&self, name: &str) -> bool {
        let shape = self.shape(name);
        self.included.contains(name)
            && shape["type"] == "structure"
            && (shape.get("exception").is_none() || self.is_member_of_a_structure(name))
            && shape.get("document").is_none()
    }

    fn is_member_of_a_structure(&self, name: &str) -> bool {
        self.included.iter().any(|owner| {
            let shape = self.shape(owner);
            shape["type"] == "structure"
                && shape["members"].as_object().is_some_and(|members| {
                    members.values().any(|m| m["shape"].as_str() == Some(name))
                })
        })
    }

    /// Structures reachable from themselves through direct (non-list, non-map) members need a
    /// `Box` to have a finite size; lists and maps already allocate.
    fn find_cycles(&mut self) {
        let structs: Vec<String> = self
            .shapes
            .keys()
            .filter(|n| self.is_emitted_struct(n))
            .cloned()
            .collect();
        for start in &structs {
            let mut stack = vec![(start.clone(), Vec::<(String, String)>::new())];
            let mut seen = BTreeSet::new();
            while let Some((current, path)) = stack.pop() {
                let shapes = self.shapes;
                let Some(members) = shapes[&current]["members"].as_object() else {
                    continue;
                };
                for (member, spec) in members {
                    let target = spec["shape"].as_str().unwrap_or_default().to_string();
                    if !self.is_emitted_struct(&target) {
                        continue;
                    }
                    let mut next_path = path.clone();
                    next_path.push((current.clone(), member.clone()));
                    if &target == start {
                        if let Some(edge) = next_path.last() {
                            self.boxed.insert(edge.clone());
                        }
                    } else if seen.insert(target.clone()) {
                        stack.push((target, next_path));
                    }
                }
            }
        }
    }

    fn rust_type(&self, shape_name: &str) -> String {
        let shape = self.shape(shape_name);
        match self.kind(shape_name) {
            "string" => "String".into(),
            "integer" => "i32".into(),
            "long" => "i64".into(),
            "double" | "float" => "f64".into(),
            "boolean" => "bool".into(),
            // JSON protocols send timestamps as epoch seconds.
            "timestamp" => "f64".into(),
            "blob" => "String".into(),
            "list" => format!(
                "Vec<{}>",
                self.rust_type(shape["member"]["shape"].as_str().unwrap_or_default())
            ),
            "map" => format!(
                "BTreeMap<String, {}>",
                self.rust_type(shape["value"]["shape"].as_str().unwrap_or_default())
            ),
            "structure" if shape.get("document").is_some() => "serde_json::Value".into(),
            "structure" => shape_name.to_string(),
            other => panic!("unsupported shape type {other} for {shape_name}"),
        }
    }

    fn generate(&self, botocore_version: &str) -> Result<String> {
        let mut out = String::new();
        let title = self.service.title;
        let model_path = self.service.model.trim_end_matches(".gz");
        let wire = self.service.wire_crate;
        if self.service.model_only {
            writeln!(
                out,
                "//! The {title}'s model for the codecs, generated by `cargo xtask codegen` from"
            )?;
            writeln!(out, "//! `{model_path}`. Do not edit by hand.")?;
            writeln!(out)?;
            writeln!(out, "#![allow(clippy::all)]")?;
            writeln!(out)?;
            model::emit(self, &mut out)?;
            return Ok(out);
        }
        writeln!(
            out,
            "//! {title} wire shapes and their model constraints, generated by `cargo xtask codegen` from"
        )?;
        writeln!(
            out,
            "//! botocore {botocore_version}'s `{model_path}`. Do not edit by hand."
        )?;
        if let Some(ops) = self.service.operations {
            writeln!(
                out,
                "//! Only the {} operations served and the shapes they reach are generated.",
                ops.len()
            )?;
        }
        writeln!(out)?;
        writeln!(out, "#![allow(clippy::all)]")?;
        writeln!(out)?;
        let uses_maps = self
            .included
            .iter()
            .any(|n| self.is_emitted_struct(n) && self.struct_uses_map(n));
        let uses_patterns = self
            .included
            .iter()
            .any(|n| self.checked_pattern(n).is_some());
        if uses_maps {
            writeln!(out, "use std::collections::BTreeMap;")?;
        }
        if uses_patterns {
            writeln!(out, "use std::sync::LazyLock;")?;
        }
        if uses_maps || uses_patterns {
            writeln!(out)?;
        }
        writeln!(out, "use serde::{{Deserialize, Serialize}};")?;
        writeln!(out)?;
        writeln!(out, "use {wire}::validate::{{At, Validate, Violations}};")?;
        writeln!(out)?;
        self.emit_operations(&mut out)?;
        model::emit(self, &mut out)?;
        let mut patterns = BTreeMap::new();
        for (name, shape) in self.shapes {
            if !self.included.contains(name.as_str()) {
                continue;
            }
            if let Some(values) = shape.get("enum").and_then(Value::as_array) {
                let list: Vec<String> = values
                    .iter()
                    .map(|v| format!("{:?}", v.as_str().unwrap_or_default()))
                    .collect();
                writeln!(out, "/// Values of the `{name}` enum.")?;
                writeln!(
                    out,
                    "pub const {}: &[&str] = &[{}];",
                    screaming_case(name),
                    list.join(", ")
                )?;
            }
            if let Some(pattern) = self.checked_pattern(name) {
                regex::Regex::new(&format!("^(?:{pattern})$")).with_context(|| {
                    format!("the pattern of {name} is not a regex the regex crate supports")
                })?;
                patterns.insert(name.clone(), pattern.to_string());
                writeln!(
                    out,
                    "static {}_PATTERN: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new({:?}).expect(\"model pattern compiles\"));",
                    screaming_case(name),
                    format!("^(?:{pattern})$")
                )?;
            }
        }
        for name in self.shapes.keys() {
            if self.is_emitted_struct(name) {
                self.emit_struct(&mut out, name)?;
            }
        }
        Ok(out)
    }

    fn emit_operations(&self, out: &mut String) -> Result<()> {
        writeln!(
            out,
            "/// Every {} operation{}, with its input and output shapes.",
            self.service.title,
            if self.service.operations.is_some() {
                " served"
            } else {
                ""
            }
        )?;
        writeln!(out, "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]")?;
        writeln!(out, "pub enum Operation {{")?;
        for name in self.operations.keys() {
            writeln!(out, "    {name},")?;
        }
        writeln!(out, "}}")?;
        writeln!(out)?;
        writeln!(out, "impl Operation {{")?;
        writeln!(out, "    /// Every operation, in model order.")?;
        writeln!(
            out,
            "    pub const ALL: &[Operation] = &[{}];",
            self.operations
                .keys()
                .map(|n| format!("Operation::{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "    /// The operation named by the part of `X-Amz-Target` after the dot."
        )?;
        writeln!(
            out,
            "    pub fn from_name(name: &str) -> Option<Operation> {{"
        )?;
        writeln!(out, "        match name {{")?;
        for name in self.operations.keys() {
            writeln!(out, "            {name:?} => Some(Operation::{name}),")?;
        }
        writeln!(out, "            _ => None,")?;
        writeln!(out, "        }}")?;
        writeln!(out, "    }}")?;
        writeln!(out)?;
        writeln!(out, "    pub fn name(self) -> &'static str {{")?;
        writeln!(out, "        match self {{")?;
        for name in self.operations.keys() {
            writeln!(out, "            Operation::{name} => {name:?},")?;
        }
        writeln!(out, "        }}")?;
        writeln!(out, "    }}")?;
        writeln!(out, "}}")?;
        writeln!(out)?;
        Ok(())
    }

    fn emit_struct(&self, out: &mut String, name: &str) -> Result<()> {
        let shape = self.shape(name);
        let members = shape["members"]
            .as_object()
            .context("structure without members")?;
        let required: BTreeSet<&str> = shape
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        writeln!(
            out,
            "#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]"
        )?;
        writeln!(out, "pub struct {name} {{")?;
        for (member, spec) in members {
            let target = spec["shape"].as_str().unwrap_or_default();
            let mut ty = self.rust_type(target);
            if self.boxed.contains(&(name.to_string(), member.clone())) {
                ty = format!("Box<{ty}>");
            }
            if required.contains(member.as_str()) {
                writeln!(out, "    /// Required.")?;
            }
            writeln!(
                out,
                "    #[serde(rename = {member:?}, default, skip_serializing_if = \"Option::is_none\")]"
            )?;
            writeln!(out, "    pub {}: Option<{ty}>,", snake_case(member))?;
        }
        writeln!(out, "}}")?;
        writeln!(out)?;

        writeln!(out, "impl Validate for {name} {{")?;
        writeln!(out, "    #[allow(unused_variables)]")?;
        writeln!(
            out,
            "    fn validate(&self, at: &At<'_>, violations: &mut Violations) {{"
        )?;
        for (member, spec) in members {
            let field = snake_case(member);
            let target = spec["shape"].as_str().unwrap_or_default();
            let path = format!("At::Member(at, {member:?})");
            if required.contains(member.as_str()) {
                writeln!(
                    out,
                    "        if self.{field}.is_none() {{ violations.missing(&{path}); }}"
                )?;
            }
            let mut body = String::new();
            self.emit_value_checks(&mut body, "value", target, &path, 0)?;
            if !body.is_empty() {
                writeln!(out, "        if let Some(value) = &self.{field} {{")?;
                out.push_str(&body);
                writeln!(out, "        }}")?;
            }
        }
        writeln!(out, "    }}")?;
        writeln!(out, "}}")?;
        writeln!(out)?;
        Ok(())
    }

    /// Emits checks of `var` (a reference to a value of shape `shape_name`) located at the
    /// path expression `path`. Emits nothing when the shape carries no constraint.
    fn emit_value_checks(
        &self,
        out: &mut String,
        var: &str,
        shape_name: &str,
        path: &str,
        depth: usize,
    ) -> Result<()> {
        let shape = self.shape(shape_name);
        match self.kind(shape_name) {
            "string" => {
                if let Some(values) = shape.get("enum") {
                    let _ = values;
                    writeln!(
                        out,
                        "violations.enum_value(&{path}, {var}, {});",
                        screaming_case(shape_name)
                    )?;
                }
                let min = shape.get("min").and_then(Value::as_i64);
                let max = shape.get("max").and_then(Value::as_i64);
                if min.is_some() || max.is_some() {
                    writeln!(
                        out,
                        "violations.length(&{path}, {var}.chars().count(), {}, {});",
                        min.map_or("None".to_string(), |m| format!("Some({m})")),
                        max.map_or("None".to_string(), |m| format!("Some({m})"))
                    )?;
                }
                if self.checked_pattern(shape_name).is_some() {
                    writeln!(
                        out,
                        "violations.pattern(&{path}, {var}, &{}_PATTERN);",
                        screaming_case(shape_name)
                    )?;
                }
            }
            "integer" | "long" | "double" => {
                let min = shape.get("min").and_then(Value::as_f64);
                let max = shape.get("max").and_then(Value::as_f64);
                if min.is_some() || max.is_some() {
                    writeln!(
                        out,
                        "violations.range(&{path}, *{var} as f64, {}, {});",
                        min.map_or("None".to_string(), |m| format!("Some({m:?})")),
                        max.map_or("None".to_string(), |m| format!("Some({m:?})"))
                    )?;
                }
            }
            "list" => {
                let min = shape.get("min").and_then(Value::as_i64);
                let max = shape.get("max").and_then(Value::as_i64);
                if min.is_some() || max.is_some() {
                    writeln!(
                        out,
                        "violations.length(&{path}, {var}.len(), {}, {});",
                        min.map_or("None".to_string(), |m| format!("Some({m})")),
                        max.map_or("None".to_string(), |m| format!("Some({m})"))
                    )?;
                }
                let member = shape["member"]["shape"].as_str().unwrap_or_default();
                let item = format!("item{depth}");
                let index = format!("index{depth}");
                let item_path = format!("At::Item(&{path}, {index})");
                let mut body = String::new();
                self.emit_value_checks(&mut body, &item, member, &item_path, depth + 1)?;
                if !body.is_empty() {
                    writeln!(out, "for ({index}, {item}) in {var}.iter().enumerate() {{")?;
                    out.push_str(&body);
                    writeln!(out, "}}")?;
                }
            }
            "map" => {
                let value_shape = shape["value"]["shape"].as_str().unwrap_or_default();
                let item = format!("item{depth}");
                let key = format!("key{depth}");
                let item_path = format!("At::Key(&{path}, {key})");
                let mut body = String::new();
                self.emit_value_checks(&mut body, &item, value_shape, &item_path, depth + 1)?;
                if !body.is_empty() {
                    writeln!(out, "for ({key}, {item}) in {var}.iter() {{")?;
                    out.push_str(&body);
                    writeln!(out, "}}")?;
                }
            }
            "structure" if self.is_emitted_struct(shape_name) => {
                writeln!(out, "{var}.validate(&{path}, violations);")?;
            }
            _ => {}
        }
        Ok(())
    }
}
