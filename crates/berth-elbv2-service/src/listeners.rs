//! Listeners and their rules: CreateListener, ModifyListener, DeleteListener,
//! DescribeListeners, CreateRule, ModifyRule, DeleteRule, DescribeRules, SetRulePriorities, and
//! DescribeSSLPolicies (the security policies HTTPS listeners name).

use std::collections::BTreeSet;

use berth_aws::AwsError;
use berth_elbv2::{self as elbv2, Elbv2Error, ListenerRecord, LoadBalancerRecord, RuleRecord};
use berth_elbv2_wire as wire;
use berth_gateway::Call;

use crate::store::{self, Tables};
use crate::{Elbv2Service, decode, encode, error, fresh_ids, page};

/// Checks that the target groups `actions` forward to exist, are in the load balancer's VPC,
/// and are not already used by another load balancer (ALB's one-load-balancer-per-group
/// rule), and that the load balancer stays within its unique target group limit.
fn check_forwarding(
    tables: &mut Tables<'_>,
    load_balancer: &LoadBalancerRecord,
    actions: &[wire::Action],
) -> Result<(), Elbv2Error> {
    let lb_arn = load_balancer
        .load_balancer
        .load_balancer_arn
        .clone()
        .unwrap_or_default();
    let vpc = load_balancer
        .load_balancer
        .vpc_id
        .clone()
        .unwrap_or_default();
    let associations = tables.associations()?;
    let mut taken = Vec::new();
    let wanted = elbv2::target_groups(actions);
    for arn in &wanted {
        let group = tables.target_group(arn).map_err(|err| match err {
            Elbv2Error::TargetGroupNotFound => Elbv2Error::TargetGroupsNotFound(arn.clone()),
            other => other,
        })?;
        if group.target_group.vpc_id.as_deref() != Some(vpc.as_str()) {
            return Err(Elbv2Error::InvalidConfigurationRequest(format!(
                "Target group '{arn}' is not in the load balancer's VPC '{vpc}'"
            )));
        }
        if associations
            .get(arn)
            .is_some_and(|lbs| lbs.iter().any(|lb| lb != &lb_arn))
        {
            taken.push(arn.clone());
        }
    }
    if !taken.is_empty() {
        return Err(Elbv2Error::TargetGroupAssociationLimit(taken.join(", ")));
    }
    let mut unique: BTreeSet<String> = associations
        .iter()
        .filter(|(_, lbs)| lbs.contains(&lb_arn))
        .map(|(tg, _)| tg.clone())
        .collect();
    unique.extend(wanted);
    if unique.len() > elbv2::TARGET_GROUPS_PER_LOAD_BALANCER {
        return Err(Elbv2Error::TooManyUniqueTargetGroupsPerLoadBalancer(
            format!(
                "A load balancer can forward to at most '{}' unique target groups",
                elbv2::TARGET_GROUPS_PER_LOAD_BALANCER
            ),
        ));
    }
    Ok(())
}

/// The load balancer a listener ARN belongs to.
fn load_balancer_of(
    tables: &mut Tables<'_>,
    listener_arn: &str,
) -> Result<LoadBalancerRecord, Elbv2Error> {
    let reference = tables
        .scope
        .parse_listener_arn(listener_arn)
        .ok_or(Elbv2Error::ListenerNotFound)?;
    let lb_arn = tables
        .scope
        .load_balancer_arn(&reference.load_balancer.name, &reference.load_balancer.id);
    tables.load_balancer(&lb_arn)
}

/// HTTPS settings of a listener: its SSL policy and default certificate, checked (the
/// certificate's existence in ACM was checked before the transaction).
fn tls_settings(
    protocol: &str,
    ssl_policy: Option<String>,
    certificates: Option<Vec<wire::Certificate>>,
) -> Result<(Option<String>, Option<Vec<wire::Certificate>>), Elbv2Error> {
    if protocol != "HTTPS" {
        if ssl_policy.is_some() || certificates.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(Elbv2Error::Validation(
                "An SSL policy and certificates can only be specified for HTTPS listeners".into(),
            ));
        }
        return Ok((None, None));
    }
    let certificates = certificates.unwrap_or_default();
    if certificates.len() != 1 || certificates[0].certificate_arn.is_none() {
        return Err(Elbv2Error::Validation(
            "You must specify exactly one certificate if the listener protocol is HTTPS".into(),
        ));
    }
    let policy = ssl_policy.unwrap_or_else(|| elbv2::DEFAULT_SSL_POLICY.to_owned());
    elbv2::ssl_policy(&policy)?;
    Ok((
        Some(policy),
        Some(vec![wire::Certificate {
            certificate_arn: certificates[0].certificate_arn.clone(),
            is_default: None,
        }]),
    ))
}

/// Every certificate ARN named must exist in ACM's state of the region; read in the
/// transaction that then writes the listener, so a certificate deleted meanwhile is noticed.
pub(crate) fn check_certificates_exist(
    tables: &mut Tables<'_>,
    certificates: &[wire::Certificate],
) -> Result<(), Elbv2Error> {
    for arn in certificates
        .iter()
        .filter_map(|c| c.certificate_arn.as_deref())
    {
        if !tables.certificate_exists(arn)? {
            return Err(Elbv2Error::CertificateNotFound(arn.to_owned()));
        }
    }
    Ok(())
}

/// Rules in the order ALB lists them: by priority, the default rule last.
fn rule_order(rule: &RuleRecord) -> String {
    format!("{:06}", rule.priority().unwrap_or(999_999))
}

impl Elbv2Service {
    pub(crate) async fn create_listener(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::CreateListenerInput = decode(call)?;
        let lb_arn = request.load_balancer_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:CreateListener",
            vec![lb_arn.clone()],
            elbv2::tags::tag_conditions(request.tags.as_deref()),
        )?;
        let protocol = request.protocol.clone().unwrap_or_else(|| "HTTP".into());
        elbv2::check_listener_protocol(&protocol).map_err(error)?;
        elbv2::check_listener_options(
            request.alpn_policy.as_deref(),
            request.mutual_authentication.as_ref(),
        )
        .map_err(error)?;
        let Some(port) = request.port else {
            return Err(error(Elbv2Error::Validation(
                "A listener port must be specified".into(),
            )));
        };
        self.check_port(port)?;
        let (ssl_policy, certificates) = tls_settings(
            &protocol,
            request.ssl_policy.clone(),
            request.certificates.clone(),
        )
        .map_err(error)?;
        let actions = elbv2::check_actions(request.default_actions.as_deref().unwrap_or(&[]))
            .map_err(error)?;
        let tags = elbv2::tags::add(&elbv2::Tags::new(), request.tags.as_deref().unwrap_or(&[]))
            .map_err(error)?;
        let ids = fresh_ids();
        let scope = self.scope(call);
        let listener = self
            .run(scope, move |tables| {
                let lb = tables.load_balancer(&lb_arn)?;
                check_certificates_exist(tables, certificates.as_deref().unwrap_or(&[]))?;
                let lb_ref = tables
                    .scope
                    .parse_load_balancer_arn(&lb_arn)
                    .ok_or(Elbv2Error::LoadBalancerNotFound)?;
                let listeners = tables.listeners_of(&lb_ref.name)?;
                let wanted = wire::Listener {
                    listener_arn: None,
                    load_balancer_arn: Some(lb_arn.clone()),
                    port: Some(port),
                    protocol: Some(protocol.clone()),
                    ssl_policy: ssl_policy.clone(),
                    certificates: certificates.clone(),
                    default_actions: Some(actions.clone()),
                    ..Default::default()
                };
                if let Some(existing) = listeners.iter().find(|l| l.listener.port == Some(port)) {
                    // The same listener asked for again is the existing one, as on AWS.
                    let mut same = existing.listener.clone();
                    same.listener_arn = None;
                    return if same == wanted {
                        Ok(existing.listener.clone())
                    } else {
                        Err(Elbv2Error::DuplicateListener(lb_arn.clone()))
                    };
                }
                if listeners.len() >= elbv2::LISTENERS_PER_LOAD_BALANCER {
                    return Err(Elbv2Error::TooManyListeners);
                }
                check_forwarding(tables, &lb, &actions)?;
                let listener_id = elbv2::resource_id(ids[0]);
                let listener_arn = tables.scope.listener_arn(&lb_ref, &listener_id);
                let record = ListenerRecord {
                    listener: wire::Listener {
                        listener_arn: Some(listener_arn.clone()),
                        ..wanted
                    },
                    extra_certificates: Vec::new(),
                    tags: tags.clone(),
                };
                tables.put_listener(&record);
                let listener_ref = elbv2::ListenerRef {
                    load_balancer: lb_ref,
                    id: listener_id,
                };
                // Every listener has a default rule mirroring its default actions.
                let default_rule = RuleRecord {
                    rule: wire::Rule {
                        rule_arn: Some(
                            tables
                                .scope
                                .rule_arn(&listener_ref, &elbv2::resource_id(ids[1])),
                        ),
                        priority: Some("default".into()),
                        conditions: Some(Vec::new()),
                        actions: Some(actions.clone()),
                        is_default: Some(true),
                        transforms: None,
                    },
                    tags: elbv2::Tags::new(),
                };
                tables.put_rule(&default_rule);
                Ok(record.listener)
            })
            .await?;
        Ok(encode(&wire::CreateListenerOutput {
            listeners: Some(vec![listener]),
        }))
    }

    pub(crate) async fn modify_listener(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::ModifyListenerInput = decode(call)?;
        let arn = request.listener_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:ModifyListener",
            vec![arn.clone()],
            Vec::new(),
        )?;
        if let Some(protocol) = &request.protocol {
            elbv2::check_listener_protocol(protocol).map_err(error)?;
        }
        elbv2::check_listener_options(
            request.alpn_policy.as_deref(),
            request.mutual_authentication.as_ref(),
        )
        .map_err(error)?;
        let actions = match &request.default_actions {
            Some(actions) => Some(elbv2::check_actions(actions).map_err(error)?),
            None => None,
        };
        if let Some(port) = request.port {
            self.check_port(port)?;
        }
        let listener = self
            .run(self.scope(call), move |tables| {
                let mut record = tables.listener(&arn)?;
                let lb = load_balancer_of(tables, &arn)?;
                check_certificates_exist(tables, request.certificates.as_deref().unwrap_or(&[]))?;
                let current = record.listener.clone();
                let protocol = request
                    .protocol
                    .clone()
                    .or(current.protocol.clone())
                    .unwrap_or_default();
                let port = request.port.or(current.port).unwrap_or_default();
                if port != current.port.unwrap_or_default() {
                    let lb_name = lb
                        .load_balancer
                        .load_balancer_name
                        .clone()
                        .unwrap_or_default();
                    if tables
                        .listeners_of(&lb_name)?
                        .iter()
                        .any(|l| l.listener.port == Some(port))
                    {
                        return Err(Elbv2Error::DuplicateListener(
                            lb.load_balancer
                                .load_balancer_arn
                                .clone()
                                .unwrap_or_default(),
                        ));
                    }
                }
                let (ssl_policy, certificates) = if protocol == "HTTPS" {
                    tls_settings(
                        &protocol,
                        request.ssl_policy.clone().or(current.ssl_policy.clone()),
                        request
                            .certificates
                            .clone()
                            .or(current.certificates.clone()),
                    )?
                } else {
                    // An HTTP listener has no TLS settings: those of a former HTTPS listener
                    // are dropped, and naming new ones is an error.
                    tls_settings(
                        &protocol,
                        request.ssl_policy.clone(),
                        request.certificates.clone(),
                    )?
                };
                if protocol != "HTTPS" {
                    record.extra_certificates.clear();
                }
                if let Some(actions) = &actions {
                    check_forwarding(tables, &lb, actions)?;
                    for mut rule in tables.rules_of(&arn)? {
                        if rule.is_default() {
                            rule.rule.actions = Some(actions.clone());
                            tables.put_rule(&rule);
                        }
                    }
                }
                record.listener = wire::Listener {
                    port: Some(port),
                    protocol: Some(protocol),
                    ssl_policy,
                    certificates,
                    default_actions: actions.clone().or(current.default_actions),
                    ..current
                };
                tables.put_listener(&record);
                Ok(record.listener)
            })
            .await?;
        Ok(encode(&wire::ModifyListenerOutput {
            listeners: Some(vec![listener]),
        }))
    }

    pub(crate) async fn delete_listener(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteListenerInput = decode(call)?;
        let arn = request.listener_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:DeleteListener",
            vec![arn.clone()],
            Vec::new(),
        )?;
        self.run(self.scope(call), move |tables| {
            tables.listener(&arn)?;
            for rule in tables.rules_of(&arn)? {
                tables.delete_rule(&rule);
            }
            let reference = tables
                .scope
                .parse_listener_arn(&arn)
                .ok_or(Elbv2Error::ListenerNotFound)?;
            tables.delete(&store::listener_key(
                &reference.load_balancer.name,
                &reference.id,
            ));
            Ok(())
        })
        .await?;
        Ok(encode(&wire::DeleteListenerOutput {}))
    }

    pub(crate) async fn describe_listeners(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeListenersInput = decode(call)?;
        call.authorize(
            "elasticloadbalancing:DescribeListeners",
            Vec::new(),
            Vec::new(),
        )?;
        let arns = request.listener_arns.clone().unwrap_or_default();
        let lb_arn = request.load_balancer_arn.clone();
        let listeners = self
            .run(self.scope(call), move |tables| {
                match (&lb_arn, arns.is_empty()) {
                    (Some(_), false) | (None, true) => Err(Elbv2Error::Validation(
                        "You must specify either listener ARNs or a load balancer ARN".into(),
                    )),
                    (Some(lb_arn), true) => {
                        let lb = tables.load_balancer(lb_arn)?;
                        let name = lb.load_balancer.load_balancer_name.unwrap_or_default();
                        Ok(tables
                            .listeners_of(&name)?
                            .into_iter()
                            .map(|l| l.listener)
                            .collect::<Vec<_>>())
                    }
                    (None, false) => arns
                        .iter()
                        .map(|arn| tables.listener(arn).map(|l| l.listener))
                        .collect(),
                }
            })
            .await?;
        let (listeners, next_marker) = page(
            listeners,
            |l| l.listener_arn.clone().unwrap_or_default(),
            request.marker.as_deref(),
            request.page_size,
        );
        Ok(encode(&wire::DescribeListenersOutput {
            listeners: Some(listeners),
            next_marker,
        }))
    }

    pub(crate) async fn create_rule(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::CreateRuleInput = decode(call)?;
        let listener_arn = request.listener_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:CreateRule",
            vec![listener_arn.clone()],
            elbv2::tags::tag_conditions(request.tags.as_deref()),
        )?;
        if request.transforms.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(error(Elbv2Error::Validation(
                "Rule transforms are not supported by Berth".into(),
            )));
        }
        let priority = request.priority.unwrap_or_default();
        elbv2::check_priority(priority).map_err(error)?;
        let conditions =
            elbv2::check_conditions(request.conditions.as_deref().unwrap_or(&[])).map_err(error)?;
        let actions =
            elbv2::check_actions(request.actions.as_deref().unwrap_or(&[])).map_err(error)?;
        let tags = elbv2::tags::add(&elbv2::Tags::new(), request.tags.as_deref().unwrap_or(&[]))
            .map_err(error)?;
        let id = elbv2::resource_id(fresh_ids()[0]);
        let rule = self
            .run(self.scope(call), move |tables| {
                tables.listener(&listener_arn)?;
                let lb = load_balancer_of(tables, &listener_arn)?;
                let rules = tables.rules_of(&listener_arn)?;
                if rules.iter().any(|r| r.priority() == Some(priority)) {
                    return Err(Elbv2Error::PriorityInUse(priority));
                }
                let lb_name = lb
                    .load_balancer
                    .load_balancer_name
                    .clone()
                    .unwrap_or_default();
                let mut rule_count = 0;
                for listener in tables.listeners_of(&lb_name)? {
                    let arn = listener.listener.listener_arn.unwrap_or_default();
                    rule_count += tables
                        .rules_of(&arn)?
                        .iter()
                        .filter(|r| !r.is_default())
                        .count();
                }
                if rule_count >= elbv2::RULES_PER_LOAD_BALANCER {
                    return Err(Elbv2Error::TooManyRules);
                }
                check_forwarding(tables, &lb, &actions)?;
                let listener_ref = tables
                    .scope
                    .parse_listener_arn(&listener_arn)
                    .ok_or(Elbv2Error::ListenerNotFound)?;
                let record = RuleRecord {
                    rule: wire::Rule {
                        rule_arn: Some(tables.scope.rule_arn(&listener_ref, &id)),
                        priority: Some(priority.to_string()),
                        conditions: Some(conditions.clone()),
                        actions: Some(actions.clone()),
                        is_default: Some(false),
                        transforms: None,
                    },
                    tags: tags.clone(),
                };
                tables.put_rule(&record);
                Ok(record.rule)
            })
            .await?;
        Ok(encode(&wire::CreateRuleOutput {
            rules: Some(vec![rule]),
        }))
    }

    pub(crate) async fn modify_rule(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::ModifyRuleInput = decode(call)?;
        let arn = request.rule_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:ModifyRule",
            vec![arn.clone()],
            Vec::new(),
        )?;
        if request.transforms.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(error(Elbv2Error::Validation(
                "Rule transforms are not supported by Berth".into(),
            )));
        }
        let conditions = match &request.conditions {
            Some(c) => Some(elbv2::check_conditions(c).map_err(error)?),
            None => None,
        };
        let actions = match &request.actions {
            Some(a) => Some(elbv2::check_actions(a).map_err(error)?),
            None => None,
        };
        let rule = self
            .run(self.scope(call), move |tables| {
                let mut record = tables.rule(&arn)?;
                if record.is_default() {
                    return Err(Elbv2Error::OperationNotPermitted(
                        "The default rule cannot be modified; use ModifyListener to change the listener's default actions".into(),
                    ));
                }
                if let Some(actions) = &actions {
                    let reference = tables.scope.parse_rule_arn(&arn).ok_or(Elbv2Error::RuleNotFound)?;
                    let listener_arn = tables
                        .scope
                        .listener_arn(&reference.listener.load_balancer, &reference.listener.id);
                    let lb = load_balancer_of(tables, &listener_arn)?;
                    check_forwarding(tables, &lb, actions)?;
                    record.rule.actions = Some(actions.clone());
                }
                if let Some(conditions) = &conditions {
                    record.rule.conditions = Some(conditions.clone());
                }
                tables.put_rule(&record);
                Ok(record.rule)
            })
            .await?;
        Ok(encode(&wire::ModifyRuleOutput {
            rules: Some(vec![rule]),
        }))
    }

    pub(crate) async fn delete_rule(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteRuleInput = decode(call)?;
        let arn = request.rule_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:DeleteRule",
            vec![arn.clone()],
            Vec::new(),
        )?;
        self.run(self.scope(call), move |tables| {
            let record = tables.rule(&arn)?;
            if record.is_default() {
                return Err(Elbv2Error::OperationNotPermitted(
                    "The default rule cannot be deleted".into(),
                ));
            }
            tables.delete_rule(&record);
            Ok(())
        })
        .await?;
        Ok(encode(&wire::DeleteRuleOutput {}))
    }

    pub(crate) async fn describe_rules(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeRulesInput = decode(call)?;
        call.authorize("elasticloadbalancing:DescribeRules", Vec::new(), Vec::new())?;
        let arns = request.rule_arns.clone().unwrap_or_default();
        let listener_arn = request.listener_arn.clone();
        let mut rules = self
            .run(self.scope(call), move |tables| {
                match (&listener_arn, arns.is_empty()) {
                    (Some(_), false) | (None, true) => Err(Elbv2Error::Validation(
                        "You must specify either rule ARNs or a listener ARN".into(),
                    )),
                    (Some(listener_arn), true) => {
                        tables.listener(listener_arn)?;
                        tables.rules_of(listener_arn)
                    }
                    (None, false) => arns.iter().map(|arn| tables.rule(arn)).collect(),
                }
            })
            .await?;
        rules.sort_by_key(rule_order);
        let (rules, next_marker) = page(
            rules,
            rule_order,
            request.marker.as_deref(),
            request.page_size,
        );
        Ok(encode(&wire::DescribeRulesOutput {
            rules: Some(rules.into_iter().map(|r| r.rule).collect()),
            next_marker,
        }))
    }

    pub(crate) async fn set_rule_priorities(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::SetRulePrioritiesInput = decode(call)?;
        let pairs: Vec<(String, i32)> = request
            .rule_priorities
            .iter()
            .flatten()
            .map(|p| {
                (
                    p.rule_arn.clone().unwrap_or_default(),
                    p.priority.unwrap_or_default(),
                )
            })
            .collect();
        call.authorize(
            "elasticloadbalancing:SetRulePriorities",
            pairs.iter().map(|(arn, _)| arn.clone()).collect(),
            Vec::new(),
        )?;
        for (_, priority) in &pairs {
            elbv2::check_priority(*priority).map_err(error)?;
        }
        let rules = self
            .run(self.scope(call), move |tables| {
                let mut changed = Vec::new();
                let mut listener: Option<String> = None;
                for (arn, priority) in &pairs {
                    let mut record = tables.rule(arn)?;
                    if record.is_default() {
                        return Err(Elbv2Error::OperationNotPermitted(
                            "The priority of the default rule cannot be changed".into(),
                        ));
                    }
                    let reference = tables
                        .scope
                        .parse_rule_arn(arn)
                        .ok_or(Elbv2Error::RuleNotFound)?;
                    let of = tables
                        .scope
                        .listener_arn(&reference.listener.load_balancer, &reference.listener.id);
                    if listener.get_or_insert_with(|| of.clone()) != &of {
                        return Err(Elbv2Error::Validation(
                            "All rules must belong to the same listener".into(),
                        ));
                    }
                    record.rule.priority = Some(priority.to_string());
                    changed.push(record);
                }
                let Some(listener) = listener else {
                    return Ok(Vec::new());
                };
                // The priorities after the change must still be unique on the listener.
                let moved: Vec<&str> = pairs.iter().map(|(arn, _)| arn.as_str()).collect();
                let mut taken: Vec<i32> = tables
                    .rules_of(&listener)?
                    .iter()
                    .filter(|r| !moved.contains(&r.rule.rule_arn.as_deref().unwrap_or_default()))
                    .filter_map(RuleRecord::priority)
                    .collect();
                for record in &changed {
                    let priority = record.priority().unwrap_or_default();
                    if taken.contains(&priority) {
                        return Err(Elbv2Error::PriorityInUse(priority));
                    }
                    taken.push(priority);
                }
                for record in &changed {
                    tables.put_rule(record);
                }
                let mut rules = tables.rules_of(&listener)?;
                rules.sort_by_key(rule_order);
                Ok(rules.into_iter().map(|r| r.rule).collect())
            })
            .await?;
        Ok(encode(&wire::SetRulePrioritiesOutput {
            rules: Some(rules),
        }))
    }

    /// ALB's predefined security policies, by `Names` (each must exist) and load balancer
    /// type, in pages.
    pub(crate) async fn describe_ssl_policies(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeSSLPoliciesInput = decode(call)?;
        call.authorize(
            "elasticloadbalancing:DescribeSSLPolicies",
            Vec::new(),
            Vec::new(),
        )?;
        let names = request.names.clone().unwrap_or_default();
        let mut policies: Vec<&elbv2::SslPolicy> = if names.is_empty() {
            elbv2::SSL_POLICIES.iter().collect()
        } else {
            names
                .iter()
                .map(|name| elbv2::named_ssl_policy(name))
                .collect::<Result<_, _>>()
                .map_err(error)?
        };
        // These policies serve Application and Network Load Balancers; gateway load balancers
        // have no TLS listeners.
        if request.load_balancer_type.as_deref() == Some("gateway") {
            policies.clear();
        }
        let mut described: Vec<wire::SslPolicy> = policies
            .into_iter()
            .map(|policy| wire::SslPolicy {
                name: Some(policy.name.to_owned()),
                ssl_protocols: Some(policy.protocols().into_iter().map(str::to_owned).collect()),
                ciphers: Some(
                    policy
                        .cipher_names()
                        .into_iter()
                        .zip(1..)
                        .map(|(name, priority)| wire::Cipher {
                            name: Some(name.to_owned()),
                            priority: Some(priority),
                        })
                        .collect(),
                ),
                supported_load_balancer_types: Some(vec![
                    "application".to_owned(),
                    "network".to_owned(),
                ]),
            })
            .collect();
        // In name order, each once (a name given twice is described once), so markers page.
        described.sort_by(|a, b| a.name.cmp(&b.name));
        described.dedup_by(|a, b| a.name == b.name);
        let (ssl_policies, next_marker) = page(
            described,
            |p| p.name.clone().unwrap_or_default(),
            request.marker.as_deref(),
            request.page_size,
        );
        Ok(encode(&wire::DescribeSSLPoliciesOutput {
            ssl_policies: Some(ssl_policies),
            next_marker,
        }))
    }
}
