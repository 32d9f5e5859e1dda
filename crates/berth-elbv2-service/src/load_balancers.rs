//! CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer, the load balancer's
//! attributes, and DescribeAccountLimits.

use berth_aws::AwsError;
use berth_ec2_service::RegionNetwork;
use berth_elbv2::{self as elbv2, Elbv2Error, LoadBalancerRecord};
use berth_elbv2_wire as wire;
use berth_gateway::Call;

use crate::store;
use crate::{Elbv2Service, decode, encode, error, fresh_ids, page};

/// Where a new load balancer goes: its VPC, (subnet, zone) pairs and security groups.
#[derive(Clone, PartialEq)]
struct Placement {
    vpc_id: String,
    zones: Vec<(String, String)>,
    security_groups: Vec<String>,
}

/// Resolves a CreateLoadBalancer's subnets and security groups against the region's EC2
/// records: the named subnets (or, when none, the default VPC's default subnets, as the console
/// offers them) and the named groups (or the VPC's `default` group).
fn placement(
    request: &wire::CreateLoadBalancerInput,
    network: &RegionNetwork,
) -> Result<Placement, Elbv2Error> {
    let by_subnets = request.subnets.clone().unwrap_or_default();
    let by_mappings: Vec<String> = request
        .subnet_mappings
        .iter()
        .flatten()
        .filter_map(|m| m.subnet_id.clone())
        .collect();
    if !by_subnets.is_empty() && !by_mappings.is_empty() {
        return Err(Elbv2Error::Validation(
            "You can specify subnets or subnet mappings, not both".into(),
        ));
    }
    let named = if by_subnets.is_empty() {
        by_mappings
    } else {
        by_subnets
    };
    let subnets: Vec<&berth_ec2::Subnet> = if named.is_empty() {
        let default_vpc = network.vpcs.iter().find(|v| v.is_default).ok_or_else(|| {
            Elbv2Error::Validation(
                "No subnets were specified and the region has no default VPC".into(),
            )
        })?;
        network
            .subnets
            .iter()
            .filter(|s| s.vpc_id == default_vpc.vpc_id && s.default_for_az)
            .collect()
    } else {
        let mut found = Vec::new();
        for id in &named {
            let subnet = network
                .subnets
                .iter()
                .find(|s| &s.subnet_id == id)
                .ok_or(Elbv2Error::SubnetNotFound)?;
            found.push(subnet);
        }
        found
    };
    let triples: Vec<(String, String, String)> = subnets
        .iter()
        .map(|s| {
            (
                s.subnet_id.clone(),
                s.availability_zone.clone(),
                s.vpc_id.clone(),
            )
        })
        .collect();
    elbv2::check_subnets(&triples)?;
    let vpc_id = triples[0].2.clone();
    let named_groups = request.security_groups.clone().unwrap_or_default();
    let security_groups = if named_groups.is_empty() {
        network
            .security_groups
            .iter()
            .filter(|g| g.vpc_id == vpc_id && g.group_name == "default")
            .map(|g| g.group_id.clone())
            .collect()
    } else {
        for id in &named_groups {
            let group = network
                .security_groups
                .iter()
                .find(|g| &g.group_id == id)
                .ok_or_else(|| {
                    Elbv2Error::InvalidSecurityGroup(format!(
                        "Security group '{id}' does not exist"
                    ))
                })?;
            if group.vpc_id != vpc_id {
                return Err(Elbv2Error::InvalidSecurityGroup(format!(
                    "Security group '{id}' does not belong to VPC '{vpc_id}'"
                )));
            }
        }
        named_groups
    };
    let mut zones: Vec<(String, String)> = triples.into_iter().map(|(s, z, _)| (s, z)).collect();
    zones.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(Placement {
        vpc_id,
        zones,
        security_groups,
    })
}

fn placement_of(record: &LoadBalancerRecord) -> Placement {
    let lb = &record.load_balancer;
    Placement {
        vpc_id: lb.vpc_id.clone().unwrap_or_default(),
        zones: lb
            .availability_zones
            .iter()
            .flatten()
            .map(|z| {
                (
                    z.subnet_id.clone().unwrap_or_default(),
                    z.zone_name.clone().unwrap_or_default(),
                )
            })
            .collect(),
        security_groups: lb.security_groups.clone().unwrap_or_default(),
    }
}

fn attributes_to_wire(attributes: &elbv2::Attributes) -> Vec<wire::LoadBalancerAttribute> {
    attributes
        .iter()
        .map(|(key, value)| wire::LoadBalancerAttribute {
            key: Some(key.clone()),
            value: Some(value.clone()),
        })
        .collect()
}

impl Elbv2Service {
    pub(crate) async fn create_load_balancer(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::CreateLoadBalancerInput = decode(call)?;
        let name = request.name.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:CreateLoadBalancer",
            vec![self.arn(call, &format!("loadbalancer/app/{name}/*"))],
            elbv2::tags::tag_conditions(request.tags.as_deref()),
        )?;
        let kind = request
            .r#type
            .clone()
            .unwrap_or_else(|| "application".into());
        if kind != "application" {
            return Err(error(Elbv2Error::Validation(format!(
                "Load balancer type '{kind}' is not supported: Berth serves Application Load Balancers only"
            ))));
        }
        elbv2::check_load_balancer_name(&name).map_err(error)?;
        elbv2::check_subnet_mappings(request.subnet_mappings.as_deref().unwrap_or_default())
            .map_err(error)?;
        if request.customer_owned_ipv4_pool.is_some() || request.ipam_pools.is_some() {
            return Err(error(Elbv2Error::Validation(
                "Customer-owned and IPAM address pools are not supported by Berth".into(),
            )));
        }
        let scheme = request
            .scheme
            .clone()
            .unwrap_or_else(|| "internet-facing".into());
        let ip_address_type = request
            .ip_address_type
            .clone()
            .unwrap_or_else(|| "ipv4".into());
        if ip_address_type != "ipv4" {
            return Err(error(Elbv2Error::Validation(format!(
                "IP address type '{ip_address_type}' is not supported: Berth's load balancers are IPv4"
            ))));
        }
        let tags = elbv2::tags::add(&elbv2::Tags::new(), request.tags.as_deref().unwrap_or(&[]))
            .map_err(error)?;
        let network = berth_ec2_service::region_network(
            self.store.clone(),
            &self.account_id,
            &call.context.region,
        )
        .await?;
        let wanted = placement(&request, &network).map_err(error)?;
        let scope = self.scope(call);
        let id = elbv2::resource_id(fresh_ids()[0]);
        let now = call.context.received_at;
        let record = LoadBalancerRecord {
            load_balancer: wire::LoadBalancer {
                load_balancer_arn: Some(scope.load_balancer_arn(&name, &id)),
                load_balancer_name: Some(name.clone()),
                dns_name: Some(scope.dns_name(&name, &id, scheme == "internal")),
                canonical_hosted_zone_id: elbv2::canonical_hosted_zone_id(&scope.region)
                    .map(str::to_owned),
                created_time: Some(now),
                scheme: Some(scheme.clone()),
                vpc_id: Some(wanted.vpc_id.clone()),
                state: Some(wire::LoadBalancerState {
                    code: Some("active".into()),
                    reason: None,
                }),
                r#type: Some("application".into()),
                availability_zones: Some(
                    wanted
                        .zones
                        .iter()
                        .map(|(subnet, zone)| wire::AvailabilityZone {
                            subnet_id: Some(subnet.clone()),
                            zone_name: Some(zone.clone()),
                            load_balancer_addresses: Some(Vec::new()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                security_groups: Some(wanted.security_groups.clone()),
                ip_address_type: Some(ip_address_type),
                ..Default::default()
            },
            attributes: elbv2::load_balancer_defaults(),
            tags,
        };
        let created = self
            .run(scope, move |tables| {
                if let Some(existing) =
                    tables.get::<LoadBalancerRecord>(&store::load_balancer_key(&name))?
                {
                    // CreateLoadBalancer is idempotent: the same name and settings answer
                    // the existing load balancer.
                    let same = placement_of(&existing) == wanted
                        && existing.load_balancer.scheme.as_deref() == Some(scheme.as_str());
                    return if same {
                        Ok(existing)
                    } else {
                        Err(Elbv2Error::DuplicateLoadBalancerName(name.clone()))
                    };
                }
                if tables.load_balancers()?.len() >= elbv2::APPLICATION_LOAD_BALANCERS {
                    return Err(Elbv2Error::TooManyLoadBalancers);
                }
                tables.put_load_balancer(&record);
                Ok(record.clone())
            })
            .await?;
        Ok(encode(&wire::CreateLoadBalancerOutput {
            load_balancers: Some(vec![created.load_balancer]),
        }))
    }

    pub(crate) async fn describe_load_balancers(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeLoadBalancersInput = decode(call)?;
        call.authorize(
            "elasticloadbalancing:DescribeLoadBalancers",
            Vec::new(),
            Vec::new(),
        )?;
        let names = request.names.clone().unwrap_or_default();
        let arns = request.load_balancer_arns.clone().unwrap_or_default();
        if !names.is_empty() && !arns.is_empty() {
            return Err(error(Elbv2Error::Validation(
                "Load balancer names and load balancer ARNs cannot be specified at the same time"
                    .into(),
            )));
        }
        let found = self
            .run(self.scope(call), move |tables| {
                if !arns.is_empty() {
                    return arns.iter().map(|arn| tables.load_balancer(arn)).collect();
                }
                let all = tables.load_balancers()?;
                if names.is_empty() {
                    return Ok(all);
                }
                let named = |name: &String| {
                    all.iter()
                        .find(|r| r.load_balancer.load_balancer_name.as_ref() == Some(name))
                };
                let missing: Vec<String> = names
                    .iter()
                    .filter(|n| named(n).is_none())
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    return Err(Elbv2Error::LoadBalancersNotFound(missing));
                }
                Ok(names.iter().filter_map(named).cloned().collect())
            })
            .await?;
        let (records, next_marker) = page(
            found,
            |r| {
                r.load_balancer
                    .load_balancer_name
                    .clone()
                    .unwrap_or_default()
            },
            request.marker.as_deref(),
            request.page_size,
        );
        Ok(encode(&wire::DescribeLoadBalancersOutput {
            load_balancers: Some(records.into_iter().map(|r| r.load_balancer).collect()),
            next_marker,
        }))
    }

    /// Deletes a load balancer with its listeners and their rules, unless deletion protection
    /// is on. Its targets stay registered with their groups, as on AWS.
    pub(crate) async fn delete_load_balancer(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteLoadBalancerInput = decode(call)?;
        let arn = request.load_balancer_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:DeleteLoadBalancer",
            vec![arn.clone()],
            Vec::new(),
        )?;
        self.run(self.scope(call), move |tables| {
            let record = tables.load_balancer(&arn)?;
            if elbv2::deletion_protected(&record.attributes) {
                return Err(Elbv2Error::OperationNotPermitted(format!(
                    "Load balancer '{arn}' cannot be deleted because deletion protection is enabled"
                )));
            }
            let name = record.load_balancer.load_balancer_name.unwrap_or_default();
            for (key, _) in tables.list::<serde_json::Value>(&format!("rule/{name}/"))? {
                tables.delete(&key);
            }
            for (key, _) in tables.list::<serde_json::Value>(&format!("listener/{name}/"))? {
                tables.delete(&key);
            }
            tables.delete(&store::load_balancer_key(&name));
            Ok(())
        })
        .await?;
        Ok(encode(&wire::DeleteLoadBalancerOutput {}))
    }

    pub(crate) async fn describe_load_balancer_attributes(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeLoadBalancerAttributesInput = decode(call)?;
        let arn = request.load_balancer_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:DescribeLoadBalancerAttributes",
            Vec::new(),
            Vec::new(),
        )?;
        let record = self
            .run(self.scope(call), move |tables| tables.load_balancer(&arn))
            .await?;
        Ok(encode(&wire::DescribeLoadBalancerAttributesOutput {
            attributes: Some(attributes_to_wire(&record.attributes)),
        }))
    }

    pub(crate) async fn modify_load_balancer_attributes(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::ModifyLoadBalancerAttributesInput = decode(call)?;
        let arn = request.load_balancer_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:ModifyLoadBalancerAttributes",
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
                let mut record = tables.load_balancer(&arn)?;
                record.attributes = elbv2::modify_load_balancer(&record.attributes, &changes)?;
                tables.put_load_balancer(&record);
                Ok(record)
            })
            .await?;
        Ok(encode(&wire::ModifyLoadBalancerAttributesOutput {
            attributes: Some(attributes_to_wire(&record.attributes)),
        }))
    }

    pub(crate) async fn describe_account_limits(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeAccountLimitsInput = decode(call)?;
        call.authorize(
            "elasticloadbalancing:DescribeAccountLimits",
            Vec::new(),
            Vec::new(),
        )?;
        let limits: Vec<wire::Limit> = elbv2::account_limits()
            .into_iter()
            .map(|(name, max)| wire::Limit {
                name: Some(name.to_owned()),
                max: Some(max.to_string()),
            })
            .collect();
        let (limits, next_marker) = page(
            limits,
            |l| l.name.clone().unwrap_or_default(),
            request.marker.as_deref(),
            request.page_size,
        );
        Ok(encode(&wire::DescribeAccountLimitsOutput {
            limits: Some(limits),
            next_marker,
        }))
    }
}
