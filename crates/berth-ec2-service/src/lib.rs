//! EC2's networking API behind Berth's gateway: regions and zones, VPCs, subnets, security
//! groups and their rules, route tables, internet gateways, tags and account attributes.
//!
//! Each call decodes its generated input shape, checks the model's constraints, passes the
//! authorization hook, and runs the pure rules of `berth-ec2` inside one store transaction over
//! the region's namespace `ec2/{region}/` (each region is its own EC2, as on AWS). Resource ids
//! come from a generator seeded before the transaction, so a re-run of the closure writes the
//! same ids. Each region gets its default network on its first call.

mod convert;
mod records;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use berth_aws::AwsError;
use berth_ec2 as ec2;
use berth_ec2::{Ec2Error, Ids, Records, ResourceType, Scope};
use berth_ec2_wire as wire;
use berth_gateway::{Call, Service};
use berth_store::{Namespace, Store, StoreError, Txn, transact};
use berth_wire::Validate;
use berth_wire::model::ServiceModel;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::records::{SeededIds, TxnRecords};

/// EC2's networking API over one store, for the one account this server serves.
pub struct Ec2Service {
    store: Arc<dyn Store>,
    account_id: String,
    /// Regions whose default network is known to exist, so later calls skip the check.
    initialized: Mutex<HashSet<String>>,
}

/// Why a transaction failed: the rules refused, or the store did.
enum Failure {
    Ec2(Ec2Error),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        Failure::Store(err)
    }
}

/// EC2's answer for an error: 412 for `DryRunOperation` (as EC2 sends it), 500 for a store
/// failure, 400 for every client error.
fn aws_error(err: Ec2Error) -> AwsError {
    let status = match err {
        Ec2Error::DryRunOperation => 412,
        Ec2Error::InternalError(_) => 500,
        _ => 400,
    };
    AwsError::new(status, err.code(), err.to_string())
}

impl From<Failure> for AwsError {
    fn from(failure: Failure) -> AwsError {
        match failure {
            Failure::Ec2(err) => aws_error(err),
            Failure::Store(err) => aws_error(Ec2Error::InternalError(err.to_string())),
        }
    }
}

/// The model's constraint violations as EC2 words them: a missing required member is
/// `MissingParameter`, anything else `InvalidParameterValue`.
fn validation(message: String) -> AwsError {
    const MISSING: &str = "Value null at '";
    if let Some(start) = message.find(MISSING) {
        let rest = &message[start + MISSING.len()..];
        let path = rest.split('\'').next().unwrap_or_default();
        return aws_error(Ec2Error::MissingParameter(path.to_owned()));
    }
    aws_error(Ec2Error::InvalidParameterValue(message))
}

fn decode<T: DeserializeOwned + Validate>(call: &Call<'_>) -> Result<T, AwsError> {
    let request: T = serde_json::from_slice(call.input).map_err(|err| {
        aws_error(Ec2Error::InvalidParameterValue(format!(
            "Could not read the request: {err}"
        )))
    })?;
    request.check().map_err(validation)?;
    Ok(request)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("wire shapes always encode")
}

/// The answer of actions whose output is only EC2's `return` flag or nothing at all.
fn empty() -> Vec<u8> {
    b"{}".to_vec()
}

/// A Describe action's ids, filters and paging.
fn describe(
    ids: Option<Vec<String>>,
    filters: Option<Vec<wire::Filter>>,
    max_results: Option<i32>,
    next_token: Option<String>,
) -> ec2::DescribeRequest {
    ec2::DescribeRequest {
        ids: ids.unwrap_or_default(),
        filters: convert::filters(filters),
        max_results,
        next_token,
    }
}

/// The flat pre-IpPermissions parameters of Authorize/Revoke as one more permission.
fn with_legacy(
    permissions: Option<Vec<wire::IpPermission>>,
    legacy: ec2::LegacyPermission,
) -> Vec<ec2::IpPermission> {
    let mut out: Vec<ec2::IpPermission> = permissions
        .unwrap_or_default()
        .into_iter()
        .map(convert::permission_in)
        .collect();
    out.extend(legacy.to_ip_permission());
    out
}

impl Ec2Service {
    pub fn new(store: Arc<dyn Store>, account_id: String) -> Ec2Service {
        Ec2Service {
            store,
            account_id,
            initialized: Mutex::new(HashSet::new()),
        }
    }

    fn scope(&self, call: &Call<'_>) -> Scope {
        Scope::new(&self.account_id, &call.context.region)
    }

    /// `arn:aws:ec2:REGION:ACCOUNT:RESOURCE`.
    fn arn(&self, call: &Call<'_>, resource: &str) -> String {
        format!(
            "arn:aws:ec2:{}:{}:{resource}",
            call.context.region, self.account_id
        )
    }

    /// The ARN of the resource an id names, when the id has a known prefix.
    fn arn_of_id(&self, call: &Call<'_>, id: &str) -> Option<String> {
        ResourceType::of_id(id).map(|kind| self.arn(call, &format!("{}/{id}", kind.as_str())))
    }

    /// Runs `operation` in one transaction over the call's region, as a dry run when asked.
    async fn run<T, F>(&self, scope: Scope, dry_run: bool, operation: F) -> Result<T, AwsError>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Records, &mut dyn Ids, &Scope) -> Result<T, Ec2Error> + Send + 'static,
    {
        self.ensure_default_network(&scope).await?;
        let namespace = Namespace::new(self.store.clone(), format!("ec2/{}/", scope.region));
        let seed: [u8; 32] = rand::random();
        let result = transact(&namespace, move |txn: &mut dyn Txn| {
            let mut records = TxnRecords::new(txn);
            let mut ids = SeededIds::new(seed);
            if dry_run {
                let err = ec2::dry_run(&mut records, |r| operation(r, &mut ids, &scope));
                return Err(Failure::Ec2(err));
            }
            operation(&mut records, &mut ids, &scope).map_err(Failure::Ec2)
        })
        .await;
        result.map_err(AwsError::from)
    }

    /// The region's default network, created by its first call.
    async fn ensure_default_network(&self, scope: &Scope) -> Result<(), AwsError> {
        let done = |set: &HashSet<String>| set.contains(&scope.region);
        if done(&self.initialized.lock().expect("region set lock")) {
            return Ok(());
        }
        let namespace = Namespace::new(self.store.clone(), format!("ec2/{}/", scope.region));
        let seed: [u8; 32] = rand::random();
        let owned = scope.clone();
        transact(&namespace, move |txn: &mut dyn Txn| {
            let mut records = TxnRecords::new(txn);
            ec2::ensure_default_network(&mut records, &mut SeededIds::new(seed), &owned)
                .map_err(Failure::Ec2)
        })
        .await
        .map_err(AwsError::from)?;
        self.initialized
            .lock()
            .expect("region set lock")
            .insert(scope.region.clone());
        Ok(())
    }
}

#[async_trait]
impl Service for Ec2Service {
    fn model(&self) -> &'static ServiceModel {
        &wire::MODEL
    }

    async fn call(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        match call.operation {
            "DescribeRegions" => self.describe_regions(call).await,
            "DescribeAvailabilityZones" => self.describe_availability_zones(call).await,
            "DescribeAccountAttributes" => self.describe_account_attributes(call).await,
            "CreateVpc" => self.create_vpc(call).await,
            "DescribeVpcs" => self.describe_vpcs(call).await,
            "DeleteVpc" => self.delete_vpc(call).await,
            "ModifyVpcAttribute" => self.modify_vpc_attribute(call).await,
            "DescribeVpcAttribute" => self.describe_vpc_attribute(call).await,
            "CreateSubnet" => self.create_subnet(call).await,
            "DescribeSubnets" => self.describe_subnets(call).await,
            "DeleteSubnet" => self.delete_subnet(call).await,
            "ModifySubnetAttribute" => self.modify_subnet_attribute(call).await,
            "CreateSecurityGroup" => self.create_security_group(call).await,
            "DescribeSecurityGroups" => self.describe_security_groups(call).await,
            "DeleteSecurityGroup" => self.delete_security_group(call).await,
            "AuthorizeSecurityGroupIngress" => self.authorize_ingress(call).await,
            "AuthorizeSecurityGroupEgress" => self.authorize_egress(call).await,
            "RevokeSecurityGroupIngress" => self.revoke_ingress(call).await,
            "RevokeSecurityGroupEgress" => self.revoke_egress(call).await,
            "DescribeSecurityGroupRules" => self.describe_security_group_rules(call).await,
            "CreateTags" => self.create_tags(call).await,
            "DeleteTags" => self.delete_tags(call).await,
            "DescribeTags" => self.describe_tags(call).await,
            "DescribeRouteTables" => self.describe_route_tables(call).await,
            "DescribeInternetGateways" => self.describe_internet_gateways(call).await,
            other => {
                call.authorize(&format!("ec2:{other}"), Vec::new(), Vec::new())?;
                Err(AwsError::new(
                    400,
                    "InvalidAction",
                    format!("The action {other} is not valid for this web service."),
                ))
            }
        }
    }
}

/// The handlers, one per operation: decode and validate, authorize, run, answer.
impl Ec2Service {
    async fn describe_regions(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeRegionsRequest = decode(call)?;
        call.authorize("ec2:DescribeRegions", Vec::new(), Vec::new())?;
        let names = request.region_names.unwrap_or_default();
        let filters = convert::filters(request.filters);
        let regions = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                move |_, _, _| ec2::describe_regions(&names, &filters),
            )
            .await?;
        Ok(encode(&wire::DescribeRegionsResult {
            regions: Some(regions.into_iter().map(convert::region).collect()),
        }))
    }

    async fn describe_availability_zones(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeAvailabilityZonesRequest = decode(call)?;
        call.authorize("ec2:DescribeAvailabilityZones", Vec::new(), Vec::new())?;
        let names = request.zone_names.unwrap_or_default();
        let zone_ids = request.zone_ids.unwrap_or_default();
        let filters = convert::filters(request.filters);
        let zones = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                move |_, _, scope| {
                    ec2::describe_availability_zones(&scope.region, &names, &zone_ids, &filters)
                },
            )
            .await?;
        Ok(encode(&wire::DescribeAvailabilityZonesResult {
            availability_zones: Some(zones.into_iter().map(convert::zone).collect()),
        }))
    }

    /// The attributes a new AWS account shows: VPC only, its default VPC (or `none` once
    /// deleted), 5 security groups per interface, 20 instances and 5 Elastic IPs.
    async fn describe_account_attributes(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeAccountAttributesRequest = decode(call)?;
        call.authorize("ec2:DescribeAccountAttributes", Vec::new(), Vec::new())?;
        let default_vpc = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                |records, _, _| {
                    Ok(ec2::load_all::<ec2::Vpc>(records)?
                        .into_iter()
                        .find(|v| v.is_default)
                        .map_or_else(|| "none".to_owned(), |v| v.vpc_id))
                },
            )
            .await?;
        let all = [
            ("supported-platforms", "VPC".to_owned()),
            ("vpc-max-security-groups-per-interface", "5".to_owned()),
            ("max-elastic-ips", "5".to_owned()),
            ("max-instances", "20".to_owned()),
            ("vpc-max-elastic-ips", "5".to_owned()),
            ("default-vpc", default_vpc),
        ];
        let wanted = request.attribute_names.unwrap_or_default();
        let attributes = all
            .into_iter()
            .filter(|(name, _)| wanted.is_empty() || wanted.iter().any(|w| w == name))
            .map(|(name, value)| wire::AccountAttribute {
                attribute_name: Some(name.to_owned()),
                attribute_values: Some(vec![wire::AccountAttributeValue {
                    attribute_value: Some(value),
                }]),
            })
            .collect();
        Ok(encode(&wire::DescribeAccountAttributesResult {
            account_attributes: Some(attributes),
        }))
    }

    async fn create_vpc(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::CreateVpcRequest = decode(call)?;
        call.authorize("ec2:CreateVpc", vec![self.arn(call, "vpc/*")], Vec::new())?;
        if request.ipv4_ipam_pool_id.is_some()
            || request.ipv6_cidr_block.is_some()
            || request.amazon_provided_ipv6_cidr_block == Some(true)
        {
            return Err(unsupported("IPAM pools and IPv6 blocks for VPCs"));
        }
        let Some(cidr_block) = request.cidr_block else {
            return Err(AwsError::new(
                400,
                "MissingParameter",
                "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.",
            ));
        };
        let tags = convert::spec_tags(request.tag_specifications, "vpc").map_err(aws_error)?;
        let pure = ec2::CreateVpcRequest {
            cidr_block,
            instance_tenancy: request.instance_tenancy,
            tags: tags.clone(),
        };
        let vpc = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                move |records, ids, scope| ec2::create_vpc(records, ids, scope, &pure),
            )
            .await?;
        Ok(encode(&wire::CreateVpcResult {
            vpc: Some(convert::vpc(ec2::Tagged { item: vpc, tags })),
        }))
    }

    async fn describe_vpcs(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeVpcsRequest = decode(call)?;
        call.authorize("ec2:DescribeVpcs", Vec::new(), Vec::new())?;
        let pure = describe(
            request.vpc_ids,
            request.filters,
            request.max_results,
            request.next_token,
        );
        let page = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                move |records, _, _| ec2::describe_vpcs(records, &pure),
            )
            .await?;
        Ok(encode(&wire::DescribeVpcsResult {
            vpcs: Some(page.items.into_iter().map(convert::vpc).collect()),
            next_token: page.next_token,
        }))
    }

    async fn delete_vpc(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteVpcRequest = decode(call)?;
        let vpc_id = request.vpc_id.unwrap_or_default();
        call.authorize(
            "ec2:DeleteVpc",
            vec![self.arn(call, &format!("vpc/{vpc_id}"))],
            Vec::new(),
        )?;
        self.run(
            self.scope(call),
            request.dry_run == Some(true),
            move |records, _, _| ec2::delete_vpc(records, &vpc_id),
        )
        .await?;
        Ok(empty())
    }

    async fn modify_vpc_attribute(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::ModifyVpcAttributeRequest = decode(call)?;
        let vpc_id = request.vpc_id.unwrap_or_default();
        call.authorize(
            "ec2:ModifyVpcAttribute",
            vec![self.arn(call, &format!("vpc/{vpc_id}"))],
            Vec::new(),
        )?;
        let flag = |v: Option<wire::AttributeBooleanValue>| v.map(|v| v.value.unwrap_or(false));
        let pure = ec2::ModifyVpcAttributeRequest {
            vpc_id,
            enable_dns_support: flag(request.enable_dns_support),
            enable_dns_hostnames: flag(request.enable_dns_hostnames),
            enable_network_address_usage_metrics: flag(
                request.enable_network_address_usage_metrics,
            ),
        };
        // ModifyVpcAttribute has no DryRun parameter.
        self.run(self.scope(call), false, move |records, _, _| {
            ec2::modify_vpc_attribute(records, &pure)
        })
        .await?;
        Ok(empty())
    }

    async fn describe_vpc_attribute(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeVpcAttributeRequest = decode(call)?;
        let vpc_id = request.vpc_id.unwrap_or_default();
        call.authorize(
            "ec2:DescribeVpcAttribute",
            vec![self.arn(call, &format!("vpc/{vpc_id}"))],
            Vec::new(),
        )?;
        let attribute = request.attribute.unwrap_or_default();
        let id = vpc_id.clone();
        let value = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                move |records, _, _| ec2::describe_vpc_attribute(records, &id, &attribute),
            )
            .await?;
        let on = |value| Some(wire::AttributeBooleanValue { value: Some(value) });
        let mut result = wire::DescribeVpcAttributeResult {
            vpc_id: Some(vpc_id),
            ..wire::DescribeVpcAttributeResult::default()
        };
        match value {
            ec2::VpcAttribute::EnableDnsSupport(v) => result.enable_dns_support = on(v),
            ec2::VpcAttribute::EnableDnsHostnames(v) => result.enable_dns_hostnames = on(v),
            ec2::VpcAttribute::EnableNetworkAddressUsageMetrics(v) => {
                result.enable_network_address_usage_metrics = on(v)
            }
        }
        Ok(encode(&result))
    }

    async fn create_subnet(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::CreateSubnetRequest = decode(call)?;
        let vpc_id = request.vpc_id.unwrap_or_default();
        call.authorize(
            "ec2:CreateSubnet",
            vec![
                self.arn(call, "subnet/*"),
                self.arn(call, &format!("vpc/{vpc_id}")),
            ],
            Vec::new(),
        )?;
        if request.ipv4_ipam_pool_id.is_some()
            || request.ipv6_cidr_block.is_some()
            || request.ipv6_native == Some(true)
            || request.outpost_arn.is_some()
        {
            return Err(unsupported("IPAM pools, IPv6 and Outposts for subnets"));
        }
        let Some(cidr_block) = request.cidr_block else {
            return Err(aws_error(Ec2Error::MissingParameter(
                "cidrBlock".to_owned(),
            )));
        };
        let tags = convert::spec_tags(request.tag_specifications, "subnet").map_err(aws_error)?;
        let pure = ec2::CreateSubnetRequest {
            vpc_id,
            cidr_block,
            availability_zone: request.availability_zone,
            availability_zone_id: request.availability_zone_id,
            tags: tags.clone(),
        };
        let subnet = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                move |records, ids, scope| ec2::create_subnet(records, ids, scope, &pure),
            )
            .await?;
        Ok(encode(&wire::CreateSubnetResult {
            subnet: Some(convert::subnet(ec2::Tagged { item: subnet, tags })),
        }))
    }

    async fn describe_subnets(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeSubnetsRequest = decode(call)?;
        call.authorize("ec2:DescribeSubnets", Vec::new(), Vec::new())?;
        let pure = describe(
            request.subnet_ids,
            request.filters,
            request.max_results,
            request.next_token,
        );
        let page = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                move |records, _, _| ec2::describe_subnets(records, &pure),
            )
            .await?;
        Ok(encode(&wire::DescribeSubnetsResult {
            subnets: Some(page.items.into_iter().map(convert::subnet).collect()),
            next_token: page.next_token,
        }))
    }

    async fn delete_subnet(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteSubnetRequest = decode(call)?;
        let subnet_id = request.subnet_id.unwrap_or_default();
        call.authorize(
            "ec2:DeleteSubnet",
            vec![self.arn(call, &format!("subnet/{subnet_id}"))],
            Vec::new(),
        )?;
        self.run(
            self.scope(call),
            request.dry_run == Some(true),
            move |records, _, _| ec2::delete_subnet(records, &subnet_id),
        )
        .await?;
        Ok(empty())
    }

    async fn modify_subnet_attribute(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::ModifySubnetAttributeRequest = decode(call)?;
        let subnet_id = request.subnet_id.clone().unwrap_or_default();
        call.authorize(
            "ec2:ModifySubnetAttribute",
            vec![self.arn(call, &format!("subnet/{subnet_id}"))],
            Vec::new(),
        )?;
        let others = request.assign_ipv6_address_on_creation.is_some()
            || request.customer_owned_ipv4_pool.is_some()
            || request.disable_lni_at_device_index.is_some()
            || request.enable_dns64.is_some()
            || request.enable_lni_at_device_index.is_some()
            || request
                .enable_resource_name_dns_aaaa_record_on_launch
                .is_some()
            || request
                .enable_resource_name_dns_a_record_on_launch
                .is_some()
            || request.map_customer_owned_ip_on_launch.is_some()
            || request.private_dns_hostname_type_on_launch.is_some();
        if others {
            return Err(unsupported(
                "subnet attributes other than MapPublicIpOnLaunch",
            ));
        }
        let pure = ec2::ModifySubnetAttributeRequest {
            subnet_id,
            map_public_ip_on_launch: request
                .map_public_ip_on_launch
                .map(|v| v.value.unwrap_or(false)),
        };
        // ModifySubnetAttribute has no DryRun parameter.
        self.run(self.scope(call), false, move |records, _, _| {
            ec2::modify_subnet_attribute(records, &pure)
        })
        .await?;
        Ok(empty())
    }

    async fn create_security_group(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::CreateSecurityGroupRequest = decode(call)?;
        let mut resources = vec![self.arn(call, "security-group/*")];
        if let Some(vpc_id) = &request.vpc_id {
            resources.push(self.arn(call, &format!("vpc/{vpc_id}")));
        }
        call.authorize("ec2:CreateSecurityGroup", resources, Vec::new())?;
        let tags =
            convert::spec_tags(request.tag_specifications, "security-group").map_err(aws_error)?;
        let pure = ec2::CreateSecurityGroupRequest {
            group_name: request.group_name.unwrap_or_default(),
            description: request.description.unwrap_or_default(),
            vpc_id: request.vpc_id,
            tags: tags.clone(),
        };
        let group = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                move |records, ids, scope| ec2::create_security_group(records, ids, scope, &pure),
            )
            .await?;
        Ok(encode(&wire::CreateSecurityGroupResult {
            group_id: Some(group.group_id),
            security_group_arn: Some(group.security_group_arn),
            tags: (!tags.is_empty()).then(|| {
                tags.into_iter()
                    .map(|t| wire::Tag {
                        key: Some(t.key),
                        value: Some(t.value),
                    })
                    .collect()
            }),
        }))
    }

    async fn describe_security_groups(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeSecurityGroupsRequest = decode(call)?;
        call.authorize("ec2:DescribeSecurityGroups", Vec::new(), Vec::new())?;
        let pure = ec2::DescribeSecurityGroupsRequest {
            group_ids: request.group_ids.unwrap_or_default(),
            group_names: request.group_names.unwrap_or_default(),
            filters: convert::filters(request.filters),
            max_results: request.max_results,
            next_token: request.next_token,
        };
        let page = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                move |records, _, _| ec2::describe_security_groups(records, &pure),
            )
            .await?;
        Ok(encode(&wire::DescribeSecurityGroupsResult {
            security_groups: Some(
                page.items
                    .into_iter()
                    .map(convert::security_group)
                    .collect(),
            ),
            next_token: page.next_token,
        }))
    }

    /// The ARN to authorize a group named by id or (default VPC) by name against.
    fn group_resources(&self, call: &Call<'_>, group_id: Option<&String>) -> Vec<String> {
        group_id
            .map(|id| self.arn(call, &format!("security-group/{id}")))
            .into_iter()
            .collect()
    }

    async fn delete_security_group(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteSecurityGroupRequest = decode(call)?;
        let resources = self.group_resources(call, request.group_id.as_ref());
        call.authorize("ec2:DeleteSecurityGroup", resources, Vec::new())?;
        let group = ec2::GroupRef {
            group_id: request.group_id,
            group_name: request.group_name,
        };
        let group_id = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                move |records, _, _| ec2::delete_security_group(records, &group),
            )
            .await?;
        Ok(encode(&wire::DeleteSecurityGroupResult {
            group_id: Some(group_id),
            r#return: Some(true),
        }))
    }

    /// Authorize ingress or egress, tagging the new rules from `TagSpecifications`.
    async fn authorize(
        &self,
        call: &Call<'_>,
        request: ec2::AuthorizeRequest,
        specs: Option<Vec<wire::TagSpecification>>,
        dry_run: bool,
    ) -> Result<Vec<wire::SecurityGroupRule>, AwsError> {
        let tags = convert::spec_tags(specs, "security-group-rule").map_err(aws_error)?;
        let rule_tags = tags.clone();
        let rules = self
            .run(self.scope(call), dry_run, move |records, ids, scope| {
                let rules = ec2::authorize_security_group(records, ids, scope, &request)?;
                if !rule_tags.is_empty() {
                    let rule_ids: Vec<String> = rules
                        .iter()
                        .map(|r| r.security_group_rule_id.clone())
                        .collect();
                    ec2::create_tags(records, &rule_ids, &rule_tags)?;
                }
                Ok(rules)
            })
            .await?;
        Ok(rules
            .into_iter()
            .map(|item| {
                convert::rule(ec2::Tagged {
                    item,
                    tags: tags.clone(),
                })
            })
            .collect())
    }

    async fn authorize_ingress(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::AuthorizeSecurityGroupIngressRequest = decode(call)?;
        let resources = self.group_resources(call, request.group_id.as_ref());
        call.authorize("ec2:AuthorizeSecurityGroupIngress", resources, Vec::new())?;
        let legacy = ec2::LegacyPermission {
            ip_protocol: request.ip_protocol,
            from_port: request.from_port,
            to_port: request.to_port,
            cidr_ip: request.cidr_ip,
            source_security_group_name: request.source_security_group_name,
            source_security_group_owner_id: request.source_security_group_owner_id,
        };
        let pure = ec2::AuthorizeRequest {
            group: ec2::GroupRef {
                group_id: request.group_id,
                group_name: request.group_name,
            },
            egress: false,
            ip_permissions: with_legacy(request.ip_permissions, legacy),
        };
        let rules = self
            .authorize(
                call,
                pure,
                request.tag_specifications,
                request.dry_run == Some(true),
            )
            .await?;
        Ok(encode(&wire::AuthorizeSecurityGroupIngressResult {
            r#return: Some(true),
            security_group_rules: Some(rules),
        }))
    }

    async fn authorize_egress(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::AuthorizeSecurityGroupEgressRequest = decode(call)?;
        let resources = self.group_resources(call, request.group_id.as_ref());
        call.authorize("ec2:AuthorizeSecurityGroupEgress", resources, Vec::new())?;
        let legacy = ec2::LegacyPermission {
            ip_protocol: request.ip_protocol,
            from_port: request.from_port,
            to_port: request.to_port,
            cidr_ip: request.cidr_ip,
            source_security_group_name: request.source_security_group_name,
            source_security_group_owner_id: request.source_security_group_owner_id,
        };
        let pure = ec2::AuthorizeRequest {
            group: ec2::GroupRef {
                group_id: request.group_id,
                group_name: None,
            },
            egress: true,
            ip_permissions: with_legacy(request.ip_permissions, legacy),
        };
        let rules = self
            .authorize(
                call,
                pure,
                request.tag_specifications,
                request.dry_run == Some(true),
            )
            .await?;
        Ok(encode(&wire::AuthorizeSecurityGroupEgressResult {
            r#return: Some(true),
            security_group_rules: Some(rules),
        }))
    }

    async fn revoke(
        &self,
        call: &Call<'_>,
        request: ec2::RevokeRequest,
        dry_run: bool,
    ) -> Result<
        (
            Vec<wire::RevokedSecurityGroupRule>,
            Option<Vec<wire::IpPermission>>,
        ),
        AwsError,
    > {
        let result = self
            .run(self.scope(call), dry_run, move |records, _, scope| {
                ec2::revoke_security_group(records, scope, &request)
            })
            .await?;
        let unknown = (!result.unknown_ip_permissions.is_empty()).then(|| {
            result
                .unknown_ip_permissions
                .into_iter()
                .map(convert::permission_out)
                .collect()
        });
        Ok((
            result
                .revoked
                .into_iter()
                .map(convert::revoked_rule)
                .collect(),
            unknown,
        ))
    }

    async fn revoke_ingress(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::RevokeSecurityGroupIngressRequest = decode(call)?;
        let resources = self.group_resources(call, request.group_id.as_ref());
        call.authorize("ec2:RevokeSecurityGroupIngress", resources, Vec::new())?;
        let legacy = ec2::LegacyPermission {
            ip_protocol: request.ip_protocol,
            from_port: request.from_port,
            to_port: request.to_port,
            cidr_ip: request.cidr_ip,
            source_security_group_name: request.source_security_group_name,
            source_security_group_owner_id: request.source_security_group_owner_id,
        };
        let pure = ec2::RevokeRequest {
            group: ec2::GroupRef {
                group_id: request.group_id,
                group_name: request.group_name,
            },
            egress: false,
            ip_permissions: with_legacy(request.ip_permissions, legacy),
            security_group_rule_ids: request.security_group_rule_ids.unwrap_or_default(),
        };
        let (revoked, unknown) = self
            .revoke(call, pure, request.dry_run == Some(true))
            .await?;
        Ok(encode(&wire::RevokeSecurityGroupIngressResult {
            r#return: Some(true),
            revoked_security_group_rules: Some(revoked),
            unknown_ip_permissions: unknown,
        }))
    }

    async fn revoke_egress(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::RevokeSecurityGroupEgressRequest = decode(call)?;
        let resources = self.group_resources(call, request.group_id.as_ref());
        call.authorize("ec2:RevokeSecurityGroupEgress", resources, Vec::new())?;
        let legacy = ec2::LegacyPermission {
            ip_protocol: request.ip_protocol,
            from_port: request.from_port,
            to_port: request.to_port,
            cidr_ip: request.cidr_ip,
            source_security_group_name: request.source_security_group_name,
            source_security_group_owner_id: request.source_security_group_owner_id,
        };
        let pure = ec2::RevokeRequest {
            group: ec2::GroupRef {
                group_id: request.group_id,
                group_name: None,
            },
            egress: true,
            ip_permissions: with_legacy(request.ip_permissions, legacy),
            security_group_rule_ids: request.security_group_rule_ids.unwrap_or_default(),
        };
        let (revoked, unknown) = self
            .revoke(call, pure, request.dry_run == Some(true))
            .await?;
        Ok(encode(&wire::RevokeSecurityGroupEgressResult {
            r#return: Some(true),
            revoked_security_group_rules: Some(revoked),
            unknown_ip_permissions: unknown,
        }))
    }

    async fn describe_security_group_rules(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeSecurityGroupRulesRequest = decode(call)?;
        call.authorize("ec2:DescribeSecurityGroupRules", Vec::new(), Vec::new())?;
        let pure = describe(
            request.security_group_rule_ids,
            request.filters,
            request.max_results,
            request.next_token,
        );
        let page = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                move |records, _, _| ec2::describe_security_group_rules(records, &pure),
            )
            .await?;
        Ok(encode(&wire::DescribeSecurityGroupRulesResult {
            security_group_rules: Some(page.items.into_iter().map(convert::rule).collect()),
            next_token: page.next_token,
        }))
    }

    /// The ARNs of the resources CreateTags/DeleteTags act on (`*` for ids of no known kind,
    /// which the rules then refuse).
    fn tag_resources(&self, call: &Call<'_>, ids: &[String]) -> Vec<String> {
        ids.iter()
            .filter_map(|id| self.arn_of_id(call, id))
            .collect()
    }

    async fn create_tags(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::CreateTagsRequest = decode(call)?;
        let resources = request.resources.unwrap_or_default();
        call.authorize(
            "ec2:CreateTags",
            self.tag_resources(call, &resources),
            Vec::new(),
        )?;
        let tags = convert::tags_in(request.tags);
        self.run(
            self.scope(call),
            request.dry_run == Some(true),
            move |records, _, _| ec2::create_tags(records, &resources, &tags),
        )
        .await?;
        Ok(empty())
    }

    async fn delete_tags(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteTagsRequest = decode(call)?;
        let resources = request.resources.unwrap_or_default();
        call.authorize(
            "ec2:DeleteTags",
            self.tag_resources(call, &resources),
            Vec::new(),
        )?;
        let tags: Option<Vec<ec2::TagToDelete>> = request.tags.map(|tags| {
            tags.into_iter()
                .map(|t| ec2::TagToDelete {
                    key: t.key.unwrap_or_default(),
                    value: t.value,
                })
                .collect()
        });
        self.run(
            self.scope(call),
            request.dry_run == Some(true),
            move |records, _, _| ec2::delete_tags(records, &resources, tags.as_deref()),
        )
        .await?;
        Ok(empty())
    }

    async fn describe_tags(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeTagsRequest = decode(call)?;
        call.authorize("ec2:DescribeTags", Vec::new(), Vec::new())?;
        let pure = ec2::DescribeTagsRequest {
            filters: convert::filters(request.filters),
            max_results: request.max_results,
            next_token: request.next_token,
        };
        let page = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                move |records, _, _| ec2::describe_tags(records, &pure),
            )
            .await?;
        Ok(encode(&wire::DescribeTagsResult {
            tags: Some(
                page.items
                    .into_iter()
                    .map(convert::tag_description)
                    .collect(),
            ),
            next_token: page.next_token,
        }))
    }

    async fn describe_route_tables(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeRouteTablesRequest = decode(call)?;
        call.authorize("ec2:DescribeRouteTables", Vec::new(), Vec::new())?;
        let pure = describe(
            request.route_table_ids,
            request.filters,
            request.max_results,
            request.next_token,
        );
        let page = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                move |records, _, _| ec2::describe_route_tables(records, &pure),
            )
            .await?;
        Ok(encode(&wire::DescribeRouteTablesResult {
            route_tables: Some(page.items.into_iter().map(convert::route_table).collect()),
            next_token: page.next_token,
        }))
    }

    async fn describe_internet_gateways(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeInternetGatewaysRequest = decode(call)?;
        call.authorize("ec2:DescribeInternetGateways", Vec::new(), Vec::new())?;
        let pure = describe(
            request.internet_gateway_ids,
            request.filters,
            request.max_results,
            request.next_token,
        );
        let page = self
            .run(
                self.scope(call),
                request.dry_run == Some(true),
                move |records, _, _| ec2::describe_internet_gateways(records, &pure),
            )
            .await?;
        Ok(encode(&wire::DescribeInternetGatewaysResult {
            internet_gateways: Some(
                page.items
                    .into_iter()
                    .map(convert::internet_gateway)
                    .collect(),
            ),
            next_token: page.next_token,
        }))
    }
}

/// EC2's answer for a parameter it knows and Berth does not implement.
fn unsupported(what: &str) -> AwsError {
    AwsError::new(
        400,
        "UnsupportedOperation",
        format!("Berth does not support {what} yet."),
    )
}

/// A region's networking records as other services read them (Elastic Load Balancing places
/// load balancers in subnets and security groups of this state).
#[derive(Debug, Clone)]
pub struct RegionNetwork {
    pub vpcs: Vec<ec2::Vpc>,
    pub subnets: Vec<ec2::Subnet>,
    pub security_groups: Vec<ec2::SecurityGroup>,
}

/// Reads the VPCs, subnets and security groups of `region`, creating the region's default
/// network first if this is the first time any service looks at it (as EC2's own first call
/// does), all in one transaction.
pub async fn region_network(
    store: Arc<dyn Store>,
    account_id: &str,
    region: &str,
) -> Result<RegionNetwork, AwsError> {
    let scope = Scope::new(account_id, region);
    let namespace = Namespace::new(store, format!("ec2/{region}/"));
    let seed: [u8; 32] = rand::random();
    transact(&namespace, move |txn: &mut dyn Txn| {
        let mut records = TxnRecords::new(txn);
        ec2::ensure_default_network(&mut records, &mut SeededIds::new(seed), &scope)
            .map_err(Failure::Ec2)?;
        Ok::<_, Failure>(RegionNetwork {
            vpcs: ec2::load_all(&mut records).map_err(Failure::Ec2)?,
            subnets: ec2::load_all(&mut records).map_err(Failure::Ec2)?,
            security_groups: ec2::load_all(&mut records).map_err(Failure::Ec2)?,
        })
    })
    .await
    .map_err(AwsError::from)
}
