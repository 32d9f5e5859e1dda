//! Model validation as generated for ECS: the messages AWS sends for constraint violations.

use berth_ecs_wire::{ListTaskDefinitionsRequest, RegisterTaskDefinitionRequest, Tag};
use berth_wire::Validate;

#[test]
fn reports_missing_required_members_with_their_paths() {
    let request: RegisterTaskDefinitionRequest =
        serde_json::from_str(r#"{"containerDefinitions":[{"name":"web"}],"tags":[{"key":""}]}"#)
            .unwrap();
    let message = request.check().unwrap_err();
    assert_eq!(
        message,
        "2 validation errors detected: Value null at 'family' failed to satisfy constraint: Member must not be null; \
         Value at 'tags.1.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
}

#[test]
fn rejects_values_outside_an_enum() {
    let request: ListTaskDefinitionsRequest = serde_json::from_str(r#"{"status":"GONE"}"#).unwrap();
    assert_eq!(
        request.check().unwrap_err(),
        "1 validation error detected: Value 'GONE' at 'status' failed to satisfy constraint: \
         Member must satisfy enum value set: [ACTIVE, INACTIVE, DELETE_IN_PROGRESS]"
    );
}

#[test]
fn applies_model_patterns_to_the_whole_value() {
    let ok = Tag {
        key: Some("team name".into()),
        value: Some("a/b".into()),
    };
    assert!(ok.check().is_ok());
    let bad = Tag {
        key: Some("k".into()),
        value: Some("semi;colon".into()),
    };
    assert!(
        bad.check()
            .unwrap_err()
            .contains("regular expression pattern")
    );
}

#[test]
fn accepts_a_request_that_meets_the_model() {
    let request: ListTaskDefinitionsRequest =
        serde_json::from_str(r#"{"status":"ACTIVE","maxResults":5}"#).unwrap();
    assert_eq!(request.check(), Ok(()));
}
