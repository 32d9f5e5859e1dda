//! PutAccountSetting, PutAccountSettingDefault, ListAccountSettings and DeleteAccountSetting.
//!
//! A principal's own setting wins; the root principal's setting is the account default for
//! everyone else (PutAccountSettingDefault writes it); otherwise AWS's default applies.

use berth_ecs::error::invalid;
use berth_ecs::pagination::{LIST_10, decode_token, encode_token};
use berth_ecs::settings::check_value;
use berth_ecs_wire::{
    DeleteAccountSettingRequest, DeleteAccountSettingResponse, ListAccountSettingsRequest,
    ListAccountSettingsResponse, PutAccountSettingDefaultRequest, PutAccountSettingDefaultResponse,
    PutAccountSettingRequest, PutAccountSettingResponse, SETTING_NAME, Setting,
};
use berth_store::{Txn, transact};

use crate::ControlPlane;
use crate::error::ApiError;
use crate::state::account_settings::{self, effective_setting};

/// The principal a `principalArn` names: the caller when absent, else the account's root or one
/// of its IAM users or roles (`arn:aws:iam::ACCOUNT:root|user/…|role/…`). Anything else — a
/// principal of another account, an ARN of another service — is refused, never stored.
fn principal(cp: &ControlPlane, given: Option<&str>) -> Result<String, ApiError> {
    let Some(given) = given else {
        return Ok(cp.caller());
    };
    let root = cp.partition.root_principal();
    let account = root.strip_suffix("root").unwrap_or(&root);
    let ours = given.strip_prefix(account).is_some_and(|rest| {
        rest == "root"
            || ["user/", "role/"].iter().any(|kind| {
                rest.strip_prefix(kind)
                    .is_some_and(|name| !name.is_empty() && !name.ends_with('/'))
            })
    });
    if !ours {
        return Err(invalid(format!(
            "Invalid principalArn: {given}. It must be the ARN of this account's root user or of one of its IAM users or roles."
        ))
        .into());
    }
    Ok(given.to_string())
}

async fn put_setting(
    cp: &ControlPlane,
    principal: String,
    name: String,
    value: String,
) -> Result<Setting, ApiError> {
    check_value(&name, &value)?;
    if name == "guardDutyActivate" {
        return Err(invalid(
            "The guardDutyActivate setting is managed by Amazon GuardDuty and cannot be set.",
        )
        .into());
    }
    let setting = Setting {
        name: Some(name.clone()),
        value: Some(value),
        principal_arn: Some(principal.clone()),
        r#type: Some("user".into()),
    };
    let stored = setting.clone();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        account_settings::write(txn, &principal, &name, &stored);
        Ok::<_, ApiError>(())
    })
    .await?;
    Ok(setting)
}

pub async fn put(
    cp: &ControlPlane,
    request: PutAccountSettingRequest,
) -> Result<PutAccountSettingResponse, ApiError> {
    let principal = principal(cp, request.principal_arn.as_deref())?;
    let setting = put_setting(
        cp,
        principal,
        request.name.clone().unwrap_or_default(),
        request.value.clone().unwrap_or_default(),
    )
    .await?;
    Ok(PutAccountSettingResponse {
        setting: Some(setting),
    })
}

pub async fn put_default(
    cp: &ControlPlane,
    request: PutAccountSettingDefaultRequest,
) -> Result<PutAccountSettingDefaultResponse, ApiError> {
    let setting = put_setting(
        cp,
        cp.partition.root_principal(),
        request.name.clone().unwrap_or_default(),
        request.value.clone().unwrap_or_default(),
    )
    .await?;
    Ok(PutAccountSettingDefaultResponse {
        setting: Some(setting),
    })
}

pub async fn delete(
    cp: &ControlPlane,
    request: DeleteAccountSettingRequest,
) -> Result<DeleteAccountSettingResponse, ApiError> {
    let principal = principal(cp, request.principal_arn.as_deref())?;
    let name = request.name.clone().unwrap_or_default();
    let setting = transact(&*cp.store, move |txn: &mut dyn Txn| {
        let setting = account_settings::read(txn, &principal, &name)?.ok_or_else(|| {
            invalid(format!(
                "The account setting {name} is not set for the principal {principal}."
            ))
        })?;
        account_settings::delete(txn, &principal, &name);
        Ok::<_, ApiError>(setting)
    })
    .await?;
    Ok(DeleteAccountSettingResponse {
        setting: Some(setting),
    })
}

pub async fn list(
    cp: &ControlPlane,
    request: ListAccountSettingsRequest,
) -> Result<ListAccountSettingsResponse, ApiError> {
    const SCOPE: &str = "ListAccountSettings";
    let page = LIST_10.size(request.max_results)?;
    let after = decode_token(SCOPE, request.next_token.as_deref())?;
    let principal = principal(cp, request.principal_arn.as_deref())?;
    let mut settings = Vec::new();
    for name in SETTING_NAME {
        if request
            .name
            .as_deref()
            .is_some_and(|wanted| wanted != *name)
        {
            continue;
        }
        let setting = if request.effective_settings == Some(true) {
            Some(effective_setting(cp, &principal, name).await?)
        } else {
            account_settings::fetch(cp, &principal, name).await?
        };
        if let Some(setting) = setting
            && request
                .value
                .as_ref()
                .is_none_or(|value| setting.value.as_ref() == Some(value))
        {
            settings.push(setting);
        }
    }
    // Settings come in the model's order; the token names the last one returned.
    let start = match &after {
        Some(last) => settings
            .iter()
            .position(|s| s.name.as_ref() == Some(last))
            .map(|i| i + 1)
            .ok_or_else(|| {
                invalid("Invalid nextToken. The token is not valid for this request.")
            })?,
        None => 0,
    };
    let rest: Vec<Setting> = settings.into_iter().skip(start).collect();
    let more = rest.len() > page;
    let page_items: Vec<Setting> = rest.into_iter().take(page).collect();
    let next_token = more
        .then(|| page_items.last().and_then(|s| s.name.clone()))
        .flatten()
        .map(|name| encode_token(SCOPE, &name));
    Ok(ListAccountSettingsResponse {
        settings: Some(page_items),
        next_token,
    })
}
