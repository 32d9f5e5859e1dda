//! The region's elbv2 records in the store, read and written through one transaction.
//!
//! Keys under `elbv2/REGION/`: `lb/{name}`, `tg/{name}`, `listener/{lb name}/{listener id}`,
//! `rule/{lb name}/{listener id}/{rule id}`, `target/{tg name}/{id}:{port}` and
//! `health/{tg name}/{id}:{port}`. Names are unique per region, so records are keyed by them
//! and an ARN is resolved by its name, then checked whole (a deleted and re-created resource
//! has a new ARN).

use std::collections::{BTreeMap, BTreeSet};

use berth_elbv2::{
    Elbv2Error, HealthResult, ListenerRecord, LoadBalancerRecord, RegisteredTarget, RuleRecord,
    Scope, TargetGroupRecord,
};
use berth_store::Txn;
use serde::Serialize;
use serde::de::DeserializeOwned;

const RANGE_PAGE: usize = 500;

pub fn load_balancer_key(name: &str) -> String {
    format!("lb/{name}")
}

pub fn target_group_key(name: &str) -> String {
    format!("tg/{name}")
}

pub fn listener_key(lb_name: &str, listener_id: &str) -> String {
    format!("listener/{lb_name}/{listener_id}")
}

pub fn rule_key(lb_name: &str, listener_id: &str, rule_id: &str) -> String {
    format!("rule/{lb_name}/{listener_id}/{rule_id}")
}

pub fn target_key(tg_name: &str, target: &str) -> String {
    format!("target/{tg_name}/{target}")
}

pub fn health_key(tg_name: &str, target: &str) -> String {
    format!("health/{tg_name}/{target}")
}

fn internal(err: impl std::fmt::Display) -> Elbv2Error {
    Elbv2Error::Internal(err.to_string())
}

/// ALB's answer for an ARN that is malformed, of another kind, or of another region or
/// account: a `ValidationError`, where a well-formed ARN of nothing is the kind's not-found.
fn not_valid(kind: &str, arn: &str) -> Elbv2Error {
    Elbv2Error::Validation(format!("'{arn}' is not a valid {kind} ARN"))
}

/// The last part of an ARN: the 16-hex id of the resource.
fn last_id(arn: Option<&String>) -> &str {
    arn.and_then(|a| a.rsplit('/').next()).unwrap_or_default()
}

/// Typed reads and writes of the region's records inside one transaction over the whole store:
/// keys are given relative to `elbv2/REGION/`, and the same transaction can read other
/// services' records (ACM's certificates), so a check against them and the write it guards
/// are one atomic step.
pub struct Tables<'a> {
    txn: &'a mut dyn Txn,
    /// `elbv2/REGION/`.
    prefix: String,
    pub scope: Scope,
}

impl<'a> Tables<'a> {
    /// `txn` is a transaction over the whole store, not the namespace.
    pub fn new(txn: &'a mut dyn Txn, scope: Scope) -> Tables<'a> {
        Tables {
            txn,
            prefix: format!("elbv2/{}/", scope.region),
            scope,
        }
    }

    pub fn get<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>, Elbv2Error> {
        match self
            .txn
            .get(&format!("{}{key}", self.prefix))
            .map_err(internal)?
        {
            Some(kv) => serde_json::from_slice(&kv.value)
                .map(Some)
                .map_err(internal),
            None => Ok(None),
        }
    }

    pub fn put<T: Serialize>(&mut self, key: &str, value: &T) {
        self.txn.put(
            &format!("{}{key}", self.prefix),
            serde_json::to_vec(value).expect("records are plain data"),
        );
    }

    pub fn delete(&mut self, key: &str) {
        self.txn.delete(&format!("{}{key}", self.prefix));
    }

    /// Whether ACM holds the certificate an ARN names in this region, read in this
    /// transaction.
    pub fn certificate_exists(&mut self, arn: &str) -> Result<bool, Elbv2Error> {
        berth_acm_service::certificate_exists_in(self.txn, &self.scope.region, arn)
            .map_err(internal)
    }

    /// Every `(key, record)` under `prefix`, in key order.
    pub fn list<T: DeserializeOwned>(
        &mut self,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, Elbv2Error> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .txn
                .range(
                    &format!("{}{prefix}", self.prefix),
                    after.as_deref(),
                    RANGE_PAGE,
                )
                .map_err(internal)?;
            for kv in &page {
                let value = serde_json::from_slice(&kv.value).map_err(internal)?;
                out.push((kv.key[self.prefix.len()..].to_owned(), value));
            }
            match page.last() {
                Some(last) if page.len() == RANGE_PAGE => after = Some(last.key.clone()),
                _ => return Ok(out),
            }
        }
    }

    pub fn load_balancers(&mut self) -> Result<Vec<LoadBalancerRecord>, Elbv2Error> {
        Ok(self.list("lb/")?.into_iter().map(|(_, r)| r).collect())
    }

    pub fn target_groups(&mut self) -> Result<Vec<TargetGroupRecord>, Elbv2Error> {
        Ok(self.list("tg/")?.into_iter().map(|(_, r)| r).collect())
    }

    /// The load balancer an ARN names; `LoadBalancerNotFound` when there is none.
    pub fn load_balancer(&mut self, arn: &str) -> Result<LoadBalancerRecord, Elbv2Error> {
        let reference = self
            .scope
            .parse_load_balancer_arn(arn)
            .ok_or_else(|| not_valid("load balancer", arn))?;
        self.get::<LoadBalancerRecord>(&load_balancer_key(&reference.name))?
            .filter(|r| r.load_balancer.load_balancer_arn.as_deref() == Some(arn))
            .ok_or(Elbv2Error::LoadBalancerNotFound)
    }

    pub fn target_group(&mut self, arn: &str) -> Result<TargetGroupRecord, Elbv2Error> {
        let reference = self
            .scope
            .parse_target_group_arn(arn)
            .ok_or_else(|| not_valid("target group", arn))?;
        self.get::<TargetGroupRecord>(&target_group_key(&reference.name))?
            .filter(|r| r.target_group.target_group_arn.as_deref() == Some(arn))
            .ok_or(Elbv2Error::TargetGroupNotFound)
    }

    pub fn listener(&mut self, arn: &str) -> Result<ListenerRecord, Elbv2Error> {
        let reference = self
            .scope
            .parse_listener_arn(arn)
            .ok_or_else(|| not_valid("listener", arn))?;
        self.get::<ListenerRecord>(&listener_key(&reference.load_balancer.name, &reference.id))?
            .filter(|r| r.listener.listener_arn.as_deref() == Some(arn))
            .ok_or(Elbv2Error::ListenerNotFound)
    }

    pub fn rule(&mut self, arn: &str) -> Result<RuleRecord, Elbv2Error> {
        let reference = self
            .scope
            .parse_rule_arn(arn)
            .ok_or_else(|| not_valid("rule", arn))?;
        self.get::<RuleRecord>(&rule_key(
            &reference.listener.load_balancer.name,
            &reference.listener.id,
            &reference.id,
        ))?
        .filter(|r| r.rule.rule_arn.as_deref() == Some(arn))
        .ok_or(Elbv2Error::RuleNotFound)
    }

    pub fn put_load_balancer(&mut self, record: &LoadBalancerRecord) {
        let name = record
            .load_balancer
            .load_balancer_name
            .clone()
            .unwrap_or_default();
        self.put(&load_balancer_key(&name), record);
    }

    pub fn put_target_group(&mut self, record: &TargetGroupRecord) {
        let name = record
            .target_group
            .target_group_name
            .clone()
            .unwrap_or_default();
        self.put(&target_group_key(&name), record);
    }

    pub fn put_listener(&mut self, record: &ListenerRecord) {
        let arn = record.listener.listener_arn.clone().unwrap_or_default();
        let reference = self
            .scope
            .parse_listener_arn(&arn)
            .expect("stored listeners have well-formed ARNs");
        self.put(
            &listener_key(&reference.load_balancer.name, &reference.id),
            record,
        );
    }

    pub fn put_rule(&mut self, record: &RuleRecord) {
        let arn = record.rule.rule_arn.clone().unwrap_or_default();
        let reference = self
            .scope
            .parse_rule_arn(&arn)
            .expect("stored rules have well-formed ARNs");
        self.put(
            &rule_key(
                &reference.listener.load_balancer.name,
                &reference.listener.id,
                &reference.id,
            ),
            record,
        );
    }

    pub fn delete_rule(&mut self, record: &RuleRecord) {
        if let Some(reference) = record
            .rule
            .rule_arn
            .as_deref()
            .and_then(|arn| self.scope.parse_rule_arn(arn))
        {
            self.delete(&rule_key(
                &reference.listener.load_balancer.name,
                &reference.listener.id,
                &reference.id,
            ));
        }
    }

    /// The listeners of a load balancer, in key order.
    pub fn listeners_of(&mut self, lb_name: &str) -> Result<Vec<ListenerRecord>, Elbv2Error> {
        Ok(self
            .list(&format!("listener/{lb_name}/"))?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// The rules of one listener, in key order.
    pub fn rules_of(&mut self, listener_arn: &str) -> Result<Vec<RuleRecord>, Elbv2Error> {
        let reference = self
            .scope
            .parse_listener_arn(listener_arn)
            .ok_or(Elbv2Error::ListenerNotFound)?;
        Ok(self
            .list(&format!(
                "rule/{}/{}/",
                reference.load_balancer.name, reference.id
            ))?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// Which load balancers forward to each target group, through a listener's default
    /// actions or a rule (the default rule mirrors its listener's default actions).
    pub fn associations(&mut self) -> Result<BTreeMap<String, BTreeSet<String>>, Elbv2Error> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (key, rule) in self.list::<RuleRecord>("rule/")? {
            let lb_name = key.split('/').nth(1).unwrap_or_default().to_owned();
            let arn = rule.rule.rule_arn.clone().unwrap_or_default();
            let Some(reference) = self.scope.parse_rule_arn(&arn) else {
                continue;
            };
            let lb_arn = self
                .scope
                .load_balancer_arn(&lb_name, &reference.listener.load_balancer.id);
            for tg in berth_elbv2::target_groups(rule.rule.actions.as_deref().unwrap_or(&[])) {
                out.entry(tg).or_default().insert(lb_arn.clone());
            }
        }
        Ok(out)
    }

    /// The registered targets of a group (draining ones included), in key order.
    pub fn targets_of(&mut self, tg_name: &str) -> Result<Vec<RegisteredTarget>, Elbv2Error> {
        Ok(self
            .list(&format!("target/{tg_name}/"))?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    pub fn health_of(
        &mut self,
        tg_name: &str,
        target: &str,
    ) -> Result<Option<HealthResult>, Elbv2Error> {
        self.get(&health_key(tg_name, target))
    }
}

/// The id an ARN ends with.
pub fn id_of(arn: Option<&String>) -> String {
    last_id(arn).to_owned()
}
