//! The store's key layout: every key the control plane reads or writes is built here.
//!
//! Key order matters where listings page through a prefix: a task definition key sorts by
//! family, then revision (`#` sorts below every character a family name may contain, and
//! revisions are zero-padded), which is the order ListTaskDefinitions returns.

pub const CLUSTERS: &str = "cluster/";
pub const TASK_DEFINITIONS: &str = "taskdef/";
pub const FAMILIES: &str = "family/";

pub fn cluster(name: &str) -> String {
    format!("{CLUSTERS}{name}")
}

pub fn task_definitions_of(family: &str) -> String {
    format!("{TASK_DEFINITIONS}{family}#")
}

pub fn task_definition(family: &str, revision: i32) -> String {
    format!("{TASK_DEFINITIONS}{family}#{revision:010}")
}

pub fn family(name: &str) -> String {
    format!("{FAMILIES}{name}")
}

pub fn tags(arn: &str) -> String {
    format!("tags/{arn}")
}

pub fn account_setting(principal: &str, name: &str) -> String {
    format!("setting/{principal}/{name}")
}
