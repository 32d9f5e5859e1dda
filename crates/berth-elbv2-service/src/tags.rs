//! AddTags, RemoveTags and DescribeTags, for load balancers, target groups, listeners and rules.

use berth_aws::AwsError;
use berth_elbv2::{self as elbv2, Elbv2Error, Tags};
use berth_elbv2_wire as wire;
use berth_gateway::Call;

use crate::store::Tables;
use crate::{Elbv2Service, decode, encode};

/// Reads the tags of the resource an ARN names, or that resource's not-found error.
fn tags_of(tables: &mut Tables<'_>, arn: &str) -> Result<Tags, Elbv2Error> {
    let scope = tables.scope.clone();
    if scope.parse_load_balancer_arn(arn).is_some() {
        Ok(tables.load_balancer(arn)?.tags)
    } else if scope.parse_target_group_arn(arn).is_some() {
        Ok(tables.target_group(arn)?.tags)
    } else if scope.parse_listener_arn(arn).is_some() {
        Ok(tables.listener(arn)?.tags)
    } else if scope.parse_rule_arn(arn).is_some() {
        Ok(tables.rule(arn)?.tags)
    } else {
        Err(Elbv2Error::Validation(format!(
            "'{arn}' is not a valid load balancer, target group, listener or rule ARN"
        )))
    }
}

/// Replaces the tags of the resource an ARN names.
fn set_tags(tables: &mut Tables<'_>, arn: &str, tags: Tags) -> Result<(), Elbv2Error> {
    let scope = tables.scope.clone();
    if scope.parse_load_balancer_arn(arn).is_some() {
        let mut record = tables.load_balancer(arn)?;
        record.tags = tags;
        tables.put_load_balancer(&record);
    } else if scope.parse_target_group_arn(arn).is_some() {
        let mut record = tables.target_group(arn)?;
        record.tags = tags;
        tables.put_target_group(&record);
    } else if scope.parse_listener_arn(arn).is_some() {
        let mut record = tables.listener(arn)?;
        record.tags = tags;
        tables.put_listener(&record);
    } else {
        let mut record = tables.rule(arn)?;
        record.tags = tags;
        tables.put_rule(&record);
    }
    Ok(())
}

impl Elbv2Service {
    pub(crate) async fn add_tags(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::AddTagsInput = decode(call)?;
        let arns = request.resource_arns.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:AddTags",
            arns.clone(),
            elbv2::tags::tag_conditions(request.tags.as_deref()),
        )?;
        let added = request.tags.clone().unwrap_or_default();
        self.run(self.scope(call), move |tables| {
            for arn in &arns {
                let current = tags_of(tables, arn)?;
                let tags = elbv2::tags::add(&current, &added)?;
                set_tags(tables, arn, tags)?;
            }
            Ok(())
        })
        .await?;
        Ok(encode(&wire::AddTagsOutput {}))
    }

    pub(crate) async fn remove_tags(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::RemoveTagsInput = decode(call)?;
        let arns = request.resource_arns.clone().unwrap_or_default();
        let keys = request.tag_keys.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:RemoveTags",
            arns.clone(),
            elbv2::tags::request_conditions(keys.iter().map(|k| (k.as_str(), None))),
        )?;
        self.run(self.scope(call), move |tables| {
            for arn in &arns {
                let mut tags = tags_of(tables, arn)?;
                tags.retain(|key, _| !keys.contains(key));
                set_tags(tables, arn, tags)?;
            }
            Ok(())
        })
        .await?;
        Ok(encode(&wire::RemoveTagsOutput {}))
    }

    pub(crate) async fn describe_tags(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeTagsInput = decode(call)?;
        call.authorize("elasticloadbalancing:DescribeTags", Vec::new(), Vec::new())?;
        let arns = request.resource_arns.clone().unwrap_or_default();
        let descriptions = self
            .run(self.scope(call), move |tables| {
                arns.iter()
                    .map(|arn| {
                        Ok(wire::TagDescription {
                            resource_arn: Some(arn.clone()),
                            tags: Some(elbv2::tags::to_wire(&tags_of(tables, arn)?)),
                        })
                    })
                    .collect::<Result<Vec<_>, Elbv2Error>>()
            })
            .await?;
        Ok(encode(&wire::DescribeTagsOutput {
            tag_descriptions: Some(descriptions),
        }))
    }
}
