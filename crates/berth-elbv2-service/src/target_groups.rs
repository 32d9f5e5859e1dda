//! Target groups, their attributes, and their targets: registration, deregistration (with
//! draining) and health.

use std::collections::BTreeSet;

use berth_aws::AwsError;
use berth_elbv2::{self as elbv2, Elbv2Error, RegisteredTarget, TargetGroupRecord};
use berth_elbv2_wire as wire;
use berth_gateway::Call;

use crate::store::{self, Tables};
use crate::{Elbv2Service, decode, encode, error, fresh_ids, page};

fn attributes_to_wire(attributes: &elbv2::Attributes) -> Vec<wire::TargetGroupAttribute> {
    attributes
        .iter()
        .map(|(key, value)| wire::TargetGroupAttribute {
            key: Some(key.clone()),
            value: Some(value.clone()),
        })
        .collect()
}

fn name_of(record: &TargetGroupRecord) -> String {
    record
        .target_group
        .target_group_name
        .clone()
        .unwrap_or_default()
}

fn arn_of(record: &TargetGroupRecord) -> String {
    record
        .target_group
        .target_group_arn
        .clone()
        .unwrap_or_default()
}

/// The group as the API shows it, with the load balancers that forward to it.
fn described(
    record: TargetGroupRecord,
    tables: &mut Tables<'_>,
) -> Result<wire::TargetGroup, Elbv2Error> {
    let arn = arn_of(&record);
    let load_balancers = tables.associations()?.remove(&arn).unwrap_or_default();
    let mut group = record.target_group;
    group.load_balancer_arns = Some(load_balancers.into_iter().collect());
    Ok(group)
}

/// The settings that make two CreateTargetGroup calls with one name the same request.
fn same_settings(a: &wire::TargetGroup, b: &wire::TargetGroup) -> bool {
    let mut a = a.clone();
    let mut b = b.clone();
    a.target_group_arn = None;
    b.target_group_arn = None;
    a.load_balancer_arns = None;
    b.load_balancer_arns = None;
    a == b
}

/// Forgets the targets of a group whose draining has ended, with their health: they are gone,
/// as on AWS, and were only kept until the group was next written.
fn forget_drained(tables: &mut Tables<'_>, tg_name: &str, now: f64) -> Result<(), Elbv2Error> {
    for target in tables.targets_of(tg_name)? {
        if target.draining_until.is_some_and(|until| until <= now) {
            tables.delete(&store::target_key(tg_name, &target.key()));
            tables.delete(&store::health_key(tg_name, &target.key()));
        }
    }
    Ok(())
}

/// The targets a request names, as `ID:PORT` keys (the port defaults to the group's).
fn requested_keys(targets: &[wire::TargetDescription], group_port: i32) -> Vec<String> {
    targets
        .iter()
        .map(|t| {
            elbv2::target_key(
                t.id.as_deref().unwrap_or_default(),
                t.port.unwrap_or(group_port),
            )
        })
        .collect()
}

impl Elbv2Service {
    pub(crate) async fn create_target_group(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::CreateTargetGroupInput = decode(call)?;
        let name = request.name.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:CreateTargetGroup",
            vec![self.arn(call, &format!("targetgroup/{name}/*"))],
            elbv2::tags::tag_conditions(request.tags.as_deref()),
        )?;
        let tags = elbv2::tags::add(&elbv2::Tags::new(), request.tags.as_deref().unwrap_or(&[]))
            .map_err(error)?;
        let network = berth_ec2_service::region_network(
            self.store.clone(),
            &self.account_id,
            &call.context.region,
        )
        .await?;
        let scope = self.scope(call);
        let id = elbv2::resource_id(fresh_ids()[0]);
        let group =
            elbv2::create_target_group(&request, scope.target_group_arn(&name, &id), |vpc| {
                network.vpcs.iter().any(|v| v.vpc_id == vpc)
            })
            .map_err(error)?;
        let record = TargetGroupRecord {
            target_group: group,
            attributes: elbv2::target_group_defaults(),
            tags,
        };
        let created = self
            .run(scope, move |tables| {
                if let Some(existing) =
                    tables.get::<TargetGroupRecord>(&store::target_group_key(&name))?
                {
                    return if same_settings(&existing.target_group, &record.target_group) {
                        described(existing, tables)
                    } else {
                        Err(Elbv2Error::DuplicateTargetGroupName(name.clone()))
                    };
                }
                if tables.target_groups()?.len() >= elbv2::TARGET_GROUPS {
                    return Err(Elbv2Error::TooManyTargetGroups);
                }
                tables.put_target_group(&record);
                described(record.clone(), tables)
            })
            .await?;
        Ok(encode(&wire::CreateTargetGroupOutput {
            target_groups: Some(vec![created]),
        }))
    }

    pub(crate) async fn modify_target_group(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::ModifyTargetGroupInput = decode(call)?;
        let arn = request.target_group_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:ModifyTargetGroup",
            vec![arn.clone()],
            Vec::new(),
        )?;
        let group = self
            .run(self.scope(call), move |tables| {
                let mut record = tables.target_group(&arn)?;
                record.target_group =
                    elbv2::modify_target_group_settings(&record.target_group, &request)?;
                tables.put_target_group(&record);
                described(record, tables)
            })
            .await?;
        Ok(encode(&wire::ModifyTargetGroupOutput {
            target_groups: Some(vec![group]),
        }))
    }

    pub(crate) async fn describe_target_groups(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeTargetGroupsInput = decode(call)?;
        call.authorize(
            "elasticloadbalancing:DescribeTargetGroups",
            Vec::new(),
            Vec::new(),
        )?;
        let names = request.names.clone().unwrap_or_default();
        let arns = request.target_group_arns.clone().unwrap_or_default();
        let load_balancer = request.load_balancer_arn.clone();
        let given = [!names.is_empty(), !arns.is_empty(), load_balancer.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(error(Elbv2Error::Validation(
                "Only one of load balancer ARN, target group ARNs and names can be specified"
                    .into(),
            )));
        }
        let groups = self
            .run(self.scope(call), move |tables| {
                let records: Vec<TargetGroupRecord> = if !arns.is_empty() {
                    arns.iter()
                        .map(|arn| tables.target_group(arn))
                        .collect::<Result<_, _>>()?
                } else {
                    let all = tables.target_groups()?;
                    if !names.is_empty() {
                        names
                            .iter()
                            .map(|name| {
                                all.iter()
                                    .find(|r| &name_of(r) == name)
                                    .cloned()
                                    .ok_or(Elbv2Error::TargetGroupNotFound)
                            })
                            .collect::<Result<_, _>>()?
                    } else if let Some(lb_arn) = &load_balancer {
                        tables.load_balancer(lb_arn)?;
                        let associations = tables.associations()?;
                        all.into_iter()
                            .filter(|r| {
                                associations
                                    .get(&arn_of(r))
                                    .is_some_and(|lbs| lbs.contains(lb_arn))
                            })
                            .collect()
                    } else {
                        all
                    }
                };
                records
                    .into_iter()
                    .map(|r| described(r, tables))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let (groups, next_marker) = page(
            groups,
            |g| g.target_group_name.clone().unwrap_or_default(),
            request.marker.as_deref(),
            request.page_size,
        );
        Ok(encode(&wire::DescribeTargetGroupsOutput {
            target_groups: Some(groups),
            next_marker,
        }))
    }

    /// Deletes a target group that no listener or rule forwards to, with its registrations.
    pub(crate) async fn delete_target_group(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteTargetGroupInput = decode(call)?;
        let arn = request.target_group_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:DeleteTargetGroup",
            vec![arn.clone()],
            Vec::new(),
        )?;
        self.run(self.scope(call), move |tables| {
            let record = tables.target_group(&arn)?;
            // Only listeners and rules hold a group, as on AWS: an ECS service's use does not
            // (ECS requires a load balancer to forward to the group when the service names it).
            if tables.associations()?.contains_key(&arn) {
                return Err(Elbv2Error::ResourceInUse(format!(
                    "Target group '{arn}' is currently in use by a listener or a rule"
                )));
            }
            let name = name_of(&record);
            for prefix in [format!("target/{name}/"), format!("health/{name}/")] {
                for (key, _) in tables.list::<serde_json::Value>(&prefix)? {
                    tables.delete(&key);
                }
            }
            tables.delete(&store::target_group_key(&name));
            Ok(())
        })
        .await?;
        Ok(encode(&wire::DeleteTargetGroupOutput {}))
    }

    pub(crate) async fn describe_target_group_attributes(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeTargetGroupAttributesInput = decode(call)?;
        let arn = request.target_group_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:DescribeTargetGroupAttributes",
            Vec::new(),
            Vec::new(),
        )?;
        let record = self
            .run(self.scope(call), move |tables| tables.target_group(&arn))
            .await?;
        Ok(encode(&wire::DescribeTargetGroupAttributesOutput {
            attributes: Some(attributes_to_wire(&record.attributes)),
        }))
    }

    pub(crate) async fn modify_target_group_attributes(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::ModifyTargetGroupAttributesInput = decode(call)?;
        let arn = request.target_group_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:ModifyTargetGroupAttributes",
            vec![arn.clone()],
            Vec::new(),
        )?;
        let changes: Vec<(String, String)> = request
            .attributes
            .iter()
            .flatten()
            .map(|a| {
                (
                    a.key.clone().unwrap_or_default(),
                    a.value.clone().unwrap_or_default(),
                )
            })
            .collect();
        let record = self
            .run(self.scope(call), move |tables| {
                let mut record = tables.target_group(&arn)?;
                record.attributes = elbv2::modify_target_group(&record.attributes, &changes)?;
                tables.put_target_group(&record);
                Ok(record)
            })
            .await?;
        Ok(encode(&wire::ModifyTargetGroupAttributesOutput {
            attributes: Some(attributes_to_wire(&record.attributes)),
        }))
    }

    /// Registers targets; a target still draining is registered again at once. The targets of
    /// all groups a load balancer forwards to count against its 1000-target limit.
    pub(crate) async fn register_targets(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::RegisterTargetsInput = decode(call)?;
        let arn = request.target_group_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:RegisterTargets",
            vec![arn.clone()],
            Vec::new(),
        )?;
        let network = berth_ec2_service::region_network(
            self.store.clone(),
            &self.account_id,
            &call.context.region,
        )
        .await?;
        let targets = request.targets.clone().unwrap_or_default();
        let now = call.context.received_at;
        self.run(self.scope(call), move |tables| {
            let record = tables.target_group(&arn)?;
            let group = &record.target_group;
            let vpc_cidrs: Vec<String> = network
                .vpcs
                .iter()
                .filter(|v| group.vpc_id.as_ref() == Some(&v.vpc_id))
                .flat_map(|v| {
                    v.cidr_block_association_set
                        .iter()
                        .map(|a| a.cidr_block.clone())
                })
                .collect();
            let name = name_of(&record);
            forget_drained(tables, &name, now)?;
            let mut added = 0;
            for target in &targets {
                let checked = elbv2::check_target(
                    target,
                    group.target_type.as_deref().unwrap_or("instance"),
                    group.port.unwrap_or(80),
                    &vpc_cidrs,
                )?;
                let key = store::target_key(&name, &checked.key());
                let existing: Option<RegisteredTarget> = tables.get(&key)?;
                if existing.as_ref().is_none_or(|t| t.draining_until.is_some()) {
                    added += 1;
                }
                if existing.is_some_and(|t| t.draining_until.is_some()) {
                    tables.delete(&store::health_key(&name, &checked.key()));
                }
                tables.put(&key, &checked);
            }
            let registered = tables
                .targets_of(&name)?
                .iter()
                .filter(|t| t.draining_until.is_none())
                .count();
            if added > 0 && registered > elbv2::TARGETS_PER_TARGET_GROUP {
                return Err(Elbv2Error::TooManyTargets(format!(
                    "Target group '{arn}' can have at most '{}' targets",
                    elbv2::TARGETS_PER_TARGET_GROUP
                )));
            }
            let associations = tables.associations()?;
            for lb in associations.get(&arn).into_iter().flatten() {
                let groups: BTreeSet<&String> = associations
                    .iter()
                    .filter(|(_, lbs)| lbs.contains(lb))
                    .map(|(tg, _)| tg)
                    .collect();
                let mut total = 0;
                for tg in groups {
                    // Groups in use cannot be deleted, so every associated group exists.
                    let tg_name = name_of(&tables.target_group(tg)?);
                    total += tables
                        .targets_of(&tg_name)?
                        .iter()
                        .filter(|t| t.draining_until.is_none())
                        .count();
                }
                if added > 0 && total > elbv2::TARGETS_PER_LOAD_BALANCER {
                    return Err(Elbv2Error::TooManyTargets(format!(
                        "Load balancer '{lb}' can have at most '{}' targets",
                        elbv2::TARGETS_PER_LOAD_BALANCER
                    )));
                }
            }
            Ok(())
        })
        .await?;
        Ok(encode(&wire::RegisterTargetsOutput {}))
    }

    /// Deregisters targets: a group no load balancer uses lets them go at once; otherwise they
    /// drain for the group's deregistration delay (the data plane stops sending them new
    /// requests and lets in-flight ones finish).
    pub(crate) async fn deregister_targets(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeregisterTargetsInput = decode(call)?;
        let arn = request.target_group_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:DeregisterTargets",
            vec![arn.clone()],
            Vec::new(),
        )?;
        let targets = request.targets.clone().unwrap_or_default();
        let now = call.context.received_at;
        self.run(self.scope(call), move |tables| {
            let record = tables.target_group(&arn)?;
            let name = name_of(&record);
            forget_drained(tables, &name, now)?;
            let in_use = tables.associations()?.contains_key(&arn);
            let delay = elbv2::deregistration_delay(&record.attributes);
            let keys = requested_keys(&targets, record.target_group.port.unwrap_or(80));
            let mut missing = Vec::new();
            for key in &keys {
                let stored: Option<RegisteredTarget> =
                    tables.get(&store::target_key(&name, key))?;
                match stored {
                    Some(target) => {
                        if in_use && delay > 0 {
                            if target.draining_until.is_none() {
                                let draining = RegisteredTarget {
                                    draining_until: Some(now + delay as f64),
                                    ..target
                                };
                                tables.put(&store::target_key(&name, key), &draining);
                            }
                        } else {
                            tables.delete(&store::target_key(&name, key));
                            tables.delete(&store::health_key(&name, key));
                        }
                    }
                    _ => missing.push(key.split(':').next().unwrap_or_default().to_owned()),
                }
            }
            if !missing.is_empty() {
                return Err(Elbv2Error::InvalidTarget(format!(
                    "The following targets are not registered: '{}'",
                    missing.join("', '")
                )));
            }
            Ok(())
        })
        .await?;
        Ok(encode(&wire::DeregisterTargetsOutput {}))
    }

    pub(crate) async fn describe_target_health(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeTargetHealthInput = decode(call)?;
        let arn = request.target_group_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:DescribeTargetHealth",
            Vec::new(),
            Vec::new(),
        )?;
        let asked = request.targets.clone().unwrap_or_default();
        let now = call.context.received_at;
        let descriptions = self
            .run(self.scope(call), move |tables| {
                let record = tables.target_group(&arn)?;
                let group = &record.target_group;
                let name = name_of(&record);
                let in_use = tables.associations()?.contains_key(&arn);
                let health_check_enabled = group.health_check_enabled != Some(false);
                let health_port = group.health_check_port.clone().unwrap_or_default();
                // Targets whose draining ended are gone, as on AWS.
                let registered: Vec<RegisteredTarget> = tables
                    .targets_of(&name)?
                    .into_iter()
                    .filter(|t| t.draining_until.is_none_or(|until| until > now))
                    .collect();
                let keys = if asked.is_empty() {
                    registered.iter().map(RegisteredTarget::key).collect()
                } else {
                    requested_keys(&asked, group.port.unwrap_or(80))
                };
                let mut out = Vec::new();
                for key in keys {
                    let target = registered.iter().find(|t| t.key() == key);
                    let recorded = tables.health_of(&name, &key)?;
                    let (id, port) = key.rsplit_once(':').unwrap_or((key.as_str(), "0"));
                    let port: i32 = port.parse().unwrap_or_default();
                    let health = elbv2::describe_health(
                        target,
                        in_use,
                        health_check_enabled,
                        recorded.as_ref(),
                        now,
                    );
                    out.push(wire::TargetHealthDescription {
                        target: Some(wire::TargetDescription {
                            id: Some(id.to_owned()),
                            port: Some(port),
                            availability_zone: target.and_then(|t| t.availability_zone.clone()),
                            ..Default::default()
                        }),
                        health_check_port: Some(if health_port == "traffic-port" {
                            port.to_string()
                        } else {
                            health_port.clone()
                        }),
                        target_health: Some(health),
                        ..Default::default()
                    });
                }
                Ok(out)
            })
            .await?;
        Ok(encode(&wire::DescribeTargetHealthOutput {
            target_health_descriptions: Some(descriptions),
        }))
    }
}
