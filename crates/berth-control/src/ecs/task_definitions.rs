//! RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
//! ListTaskDefinitionFamilies, DeregisterTaskDefinition and DeleteTaskDefinitions.

use berth_ecs::EcsError;
use berth_ecs::arn::{Partition, TaskDefinitionRef};
use berth_ecs::error::{client, invalid};
use berth_ecs::pagination::{LIST_100, decode_token, encode_token};
use berth_ecs::status::TaskDefinitionStatus;
use berth_ecs::task_definition::prepare;
use berth_ecs_wire::{
    DeleteTaskDefinitionsRequest, DeleteTaskDefinitionsResponse, DeregisterTaskDefinitionRequest,
    DeregisterTaskDefinitionResponse, DescribeTaskDefinitionRequest, Failure,
    ListTaskDefinitionFamiliesRequest, ListTaskDefinitionFamiliesResponse,
    ListTaskDefinitionsRequest, ListTaskDefinitionsResponse, RegisterTaskDefinitionRequest, Tag,
    TaskDefinition,
};
use berth_store::{Txn, transact};
use serde::ser::{Error as _, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::ControlPlane;
use crate::error::ApiError;
use crate::state::tags;
use crate::state::task_definitions::{
    self, Family, StoredTaskDefinition, resolve_stored, status_of,
};

/// DeleteTaskDefinitions takes at most this many task definitions per call.
const DELETE_LIMIT: usize = 10;

pub async fn register(
    cp: &ControlPlane,
    request: RegisterTaskDefinitionRequest,
) -> Result<RegisteredTaskDefinition, ApiError> {
    let prepared = prepare(request)?;
    let partition = cp.partition.clone();
    let now = cp.clock.now();
    let registered_by = cp.caller();
    let (definition, tags) = transact(&*cp.store, move |txn: &mut dyn Txn| {
        let mut family =
            task_definitions::read_family(txn, prepared.family())?.unwrap_or_else(|| Family {
                name: prepared.family().to_string(),
                ..Family::default()
            });
        family.last_revision += 1;
        family.active_revisions += 1;
        let definition = prepared.finish(&partition, family.last_revision, now, &registered_by);
        let json = task_definitions::write(txn, &family.name, family.last_revision, &definition);
        task_definitions::write_family(txn, prepared.family(), &family);
        let arn = definition.task_definition_arn.unwrap_or_default();
        tags::write(txn, &arn, &prepared.tags);
        Ok::<_, ApiError>((json, prepared.tags.clone()))
    })
    .await?;
    Ok(RegisteredTaskDefinition {
        definition: String::from_utf8(definition)
            .ok()
            .and_then(|json| RawValue::from_string(json).ok())
            .ok_or_else(|| {
                ApiError::from(EcsError::Server(
                    "a task definition did not encode as JSON".into(),
                ))
            })?,
        tags,
    })
}

/// RegisterTaskDefinition's answer: the members of `RegisterTaskDefinitionResponse`, with the
/// task definition written as the JSON just stored rather than encoded a second time.
pub struct RegisteredTaskDefinition {
    definition: Box<RawValue>,
    tags: Vec<Tag>,
}

impl Serialize for RegisteredTaskDefinition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut response = serializer.serialize_struct("RegisterTaskDefinitionResponse", 2)?;
        response.serialize_field("tags", &self.tags)?;
        response.serialize_field("taskDefinition", &self.definition)?;
        response.end()
    }
}

pub async fn describe(
    cp: &ControlPlane,
    request: DescribeTaskDefinitionRequest,
) -> Result<DescribedTaskDefinition, ApiError> {
    let reference = TaskDefinitionRef::parse(
        &cp.partition,
        request.task_definition.as_deref().unwrap_or_default(),
    )
    .map_err(|_| client("Unable to describe task definition."))?;
    let definition = resolve_stored(cp, &reference)
        .await?
        .ok_or_else(|| client("Unable to describe task definition."))?;
    let include_tags = request
        .include
        .iter()
        .flatten()
        .any(|field| field == "TAGS");
    let tags = if include_tags {
        let arn = definition
            .summary()?
            .task_definition_arn
            .unwrap_or_default();
        Some(tags::fetch(cp, &arn).await?)
    } else {
        None
    };
    Ok(DescribedTaskDefinition { definition, tags })
}

/// DescribeTaskDefinition's answer: the members of `DescribeTaskDefinitionResponse`, with the
/// task definition written as the store holds it (see [`StoredTaskDefinition`]).
pub struct DescribedTaskDefinition {
    definition: StoredTaskDefinition,
    tags: Option<Vec<Tag>>,
}

impl Serialize for DescribedTaskDefinition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let definition = self
            .definition
            .json()
            .map_err(|err| S::Error::custom(err.message))?;
        let mut response = serializer.serialize_struct("DescribeTaskDefinitionResponse", 2)?;
        if let Some(tags) = &self.tags {
            response.serialize_field("tags", tags)?;
        }
        response.serialize_field("taskDefinition", definition)?;
        response.end()
    }
}

/// A reference that must name one revision (`family:revision` or an ARN).
fn revision_of(partition: &Partition, reference: &str) -> Result<(String, i32), EcsError> {
    match TaskDefinitionRef::parse(partition, reference)? {
        TaskDefinitionRef::Revision(family, revision) => Ok((family, revision)),
        TaskDefinitionRef::Family(_) => Err(invalid(format!(
            "Invalid revision number. Number: {reference}. You must specify a task definition as family:revision or a full ARN."
        ))),
    }
}

pub async fn deregister(
    cp: &ControlPlane,
    request: DeregisterTaskDefinitionRequest,
) -> Result<DeregisterTaskDefinitionResponse, ApiError> {
    let (family, revision) = revision_of(
        &cp.partition,
        request.task_definition.as_deref().unwrap_or_default(),
    )?;
    let now = cp.clock.now();
    let definition = transact(&*cp.store, move |txn: &mut dyn Txn| {
        let mut definition = task_definitions::read(txn, &family, revision)?
            .ok_or_else(|| client("The specified task definition does not exist."))?;
        if status_of(&definition) == TaskDefinitionStatus::Active.as_str() {
            definition.status = Some(TaskDefinitionStatus::Inactive.as_str().into());
            definition.deregistered_at = Some(now);
            task_definitions::write(txn, &family, revision, &definition);
            if let Some(mut record) = task_definitions::read_family(txn, &family)? {
                record.active_revisions -= 1;
                task_definitions::write_family(txn, &family, &record);
            }
        }
        Ok::<_, ApiError>(definition)
    })
    .await?;
    Ok(DeregisterTaskDefinitionResponse {
        task_definition: Some(definition),
    })
}

pub async fn delete(
    cp: &ControlPlane,
    request: DeleteTaskDefinitionsRequest,
) -> Result<DeleteTaskDefinitionsResponse, ApiError> {
    let references = request.task_definitions.clone().unwrap_or_default();
    if references.is_empty() || references.len() > DELETE_LIMIT {
        return Err(invalid(format!(
            "Between 1 and {DELETE_LIMIT} task definitions can be deleted in one call."
        ))
        .into());
    }
    // An identifier that names no revision is that item's failure, not the call's.
    let mut targets = Vec::new();
    let mut refused = Vec::new();
    for reference in &references {
        match revision_of(&cp.partition, reference) {
            Ok(target) => targets.push(target),
            Err(err) => refused.push(Failure {
                arn: Some(reference.clone()),
                reason: Some(err.to_string()),
                detail: None,
            }),
        }
    }
    let partition = cp.partition.clone();
    let now = cp.clock.now();
    let (deleted, failures) = transact(&*cp.store, move |txn: &mut dyn Txn| {
        let mut deleted = Vec::new();
        let mut failures = refused.clone();
        for (family, revision) in &targets {
            let failure = |reason: &str| Failure {
                arn: Some(partition.task_definition_arn(family, *revision)),
                reason: Some(reason.to_string()),
                detail: None,
            };
            let Some(mut definition) = task_definitions::read(txn, family, *revision)? else {
                failures.push(failure("The specified task definition does not exist."));
                continue;
            };
            match TaskDefinitionStatus::parse(status_of(&definition)) {
                Some(TaskDefinitionStatus::Active) => failures.push(failure(
                    "The specified task definition is still in ACTIVE status. Please deregister the target and try again.",
                )),
                Some(TaskDefinitionStatus::Inactive) => {
                    definition.status = Some(TaskDefinitionStatus::DeleteInProgress.as_str().into());
                    definition.delete_requested_at = Some(now);
                    task_definitions::write(txn, family, *revision, &definition);
                    deleted.push(definition);
                }
                _ => deleted.push(definition),
            }
        }
        Ok::<_, ApiError>((deleted, failures))
    })
    .await?;
    Ok(DeleteTaskDefinitionsResponse {
        task_definitions: Some(deleted),
        failures: Some(failures),
    })
}

pub async fn list(
    cp: &ControlPlane,
    request: ListTaskDefinitionsRequest,
) -> Result<ListTaskDefinitionsResponse, ApiError> {
    const SCOPE: &str = "ListTaskDefinitions";
    let page = LIST_100.size(request.max_results)?;
    let after = decode_token(SCOPE, request.next_token.as_deref())?;
    let status = request
        .status
        .clone()
        .unwrap_or_else(|| TaskDefinitionStatus::Active.as_str().into());
    // `familyPrefix` is, despite its name, the full family name.
    let family = request.family_prefix.as_deref();
    let keep = |definition: &TaskDefinition| status_of(definition) == status;
    let key_of = task_definitions::pagination_key;
    let (definitions, next) = if request.sort.as_deref() == Some("DESC") {
        // Newest first: collect the matching keys and walk them backwards from the token.
        let (all, _) = task_definitions::page(cp, family, None, usize::MAX, keep).await?;
        let mut newest_first: Vec<TaskDefinition> = all
            .into_iter()
            .rev()
            .filter(|definition| {
                after
                    .as_ref()
                    .is_none_or(|after| key_of(definition) < *after)
            })
            .collect();
        let more = newest_first.len() > page;
        newest_first.truncate(page);
        let next = more.then(|| newest_first.last().map(key_of)).flatten();
        (newest_first, next)
    } else {
        task_definitions::page(cp, family, after, page, keep).await?
    };
    Ok(ListTaskDefinitionsResponse {
        task_definition_arns: Some(
            definitions
                .into_iter()
                .filter_map(|d| d.task_definition_arn)
                .collect(),
        ),
        next_token: next.map(|key| encode_token(SCOPE, &key)),
    })
}

pub async fn list_families(
    cp: &ControlPlane,
    request: ListTaskDefinitionFamiliesRequest,
) -> Result<ListTaskDefinitionFamiliesResponse, ApiError> {
    const SCOPE: &str = "ListTaskDefinitionFamilies";
    let page = LIST_100.size(request.max_results)?;
    let after = decode_token(SCOPE, request.next_token.as_deref())?;
    // ACTIVE or INACTIVE; without a status (or with ALL) every family is listed.
    let wanted = request
        .status
        .as_deref()
        .and_then(TaskDefinitionStatus::parse);
    let prefix = request.family_prefix.as_deref().unwrap_or_default();
    let (families, next) =
        task_definitions::families_page(cp, prefix, after, page, |family| match wanted {
            Some(TaskDefinitionStatus::Active) => family.active_revisions > 0,
            Some(TaskDefinitionStatus::Inactive) => family.active_revisions == 0,
            _ => true,
        })
        .await?;
    Ok(ListTaskDefinitionFamiliesResponse {
        families: Some(families.into_iter().map(|f| f.name).collect()),
        next_token: next.map(|key| encode_token(SCOPE, &key)),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use berth_ecs::arn::Partition;
    use berth_ecs_wire::{DescribeTaskDefinitionResponse, RegisterTaskDefinitionResponse};
    use berth_protocol::sigv4::Credentials;
    use berth_store_sqlite::SqliteStore;
    use serde_json::json;

    use super::*;

    fn request<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
        serde_json::from_value(value).unwrap()
    }

    /// The answer written from the stored bytes is, byte for byte, the one the wire shape
    /// encodes: for a revision, for a bare family (its latest ACTIVE revision) and with tags.
    #[tokio::test]
    async fn describe_answers_exactly_what_the_wire_shape_encodes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("state.db")).unwrap());
        let root = Credentials {
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
        };
        let cp = ControlPlane::new(store, Partition::new("us-east-1", "000000000000"), root);
        let mut registered = Vec::new();
        for variant in 1..=2 {
            let response = register(
                &cp,
                request(json!({
                    "family": "web",
                    "networkMode": "bridge",
                    "containerDefinitions": [{
                        "name": "app", "image": format!("berth-demo:v{variant}"), "memory": 128,
                        "essential": true,
                        "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                        "environment": [{"name": "QUOTE", "value": "say \"hi\"\n\u{e9}"}],
                        "healthCheck": {"command": ["CMD", "true"], "interval": 5},
                    }],
                    "tags": [{"key": "team", "value": "a"}],
                })),
            )
            .await
            .unwrap();
            let answer = serde_json::to_vec(&response).unwrap();
            let decoded: RegisterTaskDefinitionResponse = serde_json::from_slice(&answer).unwrap();
            assert_eq!(
                String::from_utf8(answer).unwrap(),
                String::from_utf8(serde_json::to_vec(&decoded).unwrap()).unwrap(),
                "register answers what the wire shape encodes"
            );
            assert_eq!(decoded.tags.as_ref().unwrap().len(), 1);
            registered.push(decoded.task_definition.unwrap());
        }
        deregister(&cp, request(json!({"taskDefinition": "web:2"})))
            .await
            .unwrap();

        let cases = [
            (json!({"taskDefinition": "web:2"}), &registered[1], None),
            (json!({"taskDefinition": "web:1"}), &registered[0], None),
            (
                json!({"taskDefinition": "web", "include": ["TAGS"]}),
                &registered[0],
                Some(vec![request::<Tag>(json!({"key": "team", "value": "a"}))]),
            ),
        ];
        for (describe_request, definition, tags) in cases {
            let described = describe(&cp, request(describe_request.clone()))
                .await
                .unwrap();
            let mut expected_definition = (*definition).clone();
            if definition.revision == Some(2) {
                expected_definition.status = Some("INACTIVE".into());
                expected_definition.deregistered_at =
                    described.definition.decode().unwrap().deregistered_at;
                assert!(expected_definition.deregistered_at.is_some());
            }
            let expected = DescribeTaskDefinitionResponse {
                tags,
                task_definition: Some(expected_definition),
            };
            assert_eq!(
                String::from_utf8(serde_json::to_vec(&described).unwrap()).unwrap(),
                String::from_utf8(serde_json::to_vec(&expected).unwrap()).unwrap(),
                "{describe_request}"
            );
        }
        let missing = describe(&cp, request(json!({"taskDefinition": "other"}))).await;
        assert_eq!(missing.err().unwrap().exception, "ClientException");
    }
}
