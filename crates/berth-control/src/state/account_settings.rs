//! Account setting records: one per principal and setting name. A principal's own setting wins;
//! the root principal's setting is the account default for everyone else; otherwise AWS's
//! default applies.

use berth_ecs::settings::default_value;
use berth_ecs_wire::Setting;
use berth_store::Txn;

use super::keys;
use crate::ControlPlane;
use crate::error::ApiError;

/// The principal's own setting `name`, read inside a transaction.
pub fn read(txn: &mut dyn Txn, principal: &str, name: &str) -> Result<Option<Setting>, ApiError> {
    super::read(txn, &keys::account_setting(principal, name))
}

/// The principal's own setting `name` (not the default it falls back to), from the latest
/// committed state.
pub async fn fetch(
    cp: &ControlPlane,
    principal: &str,
    name: &str,
) -> Result<Option<Setting>, ApiError> {
    super::fetch(cp, &keys::account_setting(principal, name)).await
}

/// Writes the principal's own setting `name`.
pub fn write(txn: &mut dyn Txn, principal: &str, name: &str, setting: &Setting) {
    super::write(txn, &keys::account_setting(principal, name), setting);
}

/// Deletes the principal's own setting `name`.
pub fn delete(txn: &mut dyn Txn, principal: &str, name: &str) {
    txn.delete(&keys::account_setting(principal, name));
}

/// The value of setting `name` in force for `principal`.
pub async fn effective(cp: &ControlPlane, principal: &str, name: &str) -> Result<String, ApiError> {
    Ok(effective_setting(cp, principal, name)
        .await?
        .value
        .unwrap_or_default())
}

/// The whole setting `name` in force for `principal`: its own, else the account default, else
/// AWS's default.
pub async fn effective_setting(
    cp: &ControlPlane,
    principal: &str,
    name: &str,
) -> Result<Setting, ApiError> {
    if let Some(own) = fetch(cp, principal, name).await? {
        return Ok(own);
    }
    let root = cp.partition.root_principal();
    if let Some(default) = fetch(cp, &root, name).await? {
        return Ok(Setting {
            principal_arn: Some(principal.to_string()),
            ..default
        });
    }
    Ok(Setting {
        name: Some(name.to_string()),
        value: Some(default_value(name).to_string()),
        principal_arn: Some(principal.to_string()),
        r#type: Some("aws_managed".into()),
    })
}
