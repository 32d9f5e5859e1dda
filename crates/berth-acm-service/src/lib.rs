//! ACM behind Berth's gateway, for imported certificates (what HTTPS listeners use):
//! ImportCertificate (and re-import), DescribeCertificate, ListCertificates, GetCertificate,
//! DeleteCertificate and the certificate's tags.
//!
//! Records live under the region's keys `acm/{region}/`: `cert/{id}` holds what the API shows
//! (the certificate's description, PEM and chain, tags) and `key/{id}` the private key, on its
//! own so that it can be encrypted at rest and is never read by the API's answers (imported
//! certificates cannot be exported). Which load balancers use a certificate is Elastic Load
//! Balancing's to say, through [`CertificateUsers`], asked inside ACM's own transaction so that
//! a certificate is never deleted while a listener starts using it.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use berth_acm::AcmError;
use berth_acm_wire as wire;
use berth_aws::{AwsError, ServiceError};
use berth_gateway::{Call, Service};
use berth_store::{Store, StoreError, Txn, transact};
use berth_wire::Validate;
use berth_wire::model::ServiceModel;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// At most 50 tags per certificate.
const TAGS_PER_CERTIFICATE: usize = 50;
const RANGE_PAGE: usize = 500;

/// The load balancers (or other resources) that use a certificate, as its `InUseBy` lists
/// them; a certificate in use cannot be deleted. `txn` is ACM's transaction over the whole
/// store, so the answer and what ACM does with it are one atomic step.
pub trait CertificateUsers: Send + Sync + 'static {
    fn users(
        &self,
        txn: &mut dyn Txn,
        region: &str,
        certificate_arn: &str,
    ) -> Result<Vec<String>, StoreError>;
}

/// An imported certificate as stored under `cert/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CertificateRecord {
    /// The description, without `InUseBy` (asked of [`CertificateUsers`]) and with the status
    /// of import time (expiry is judged when read).
    detail: wire::CertificateDetail,
    certificate_pem: String,
    chain_pem: Option<String>,
    tags: BTreeMap<String, String>,
}

/// A certificate's private key, under `key/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PrivateKeyRecord {
    private_key_pem: String,
}

/// What an HTTPS listener serves with a certificate: the certificate, its chain and its key,
/// all PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingCertificate {
    pub certificate_pem: String,
    pub chain_pem: Option<String>,
    pub private_key_pem: String,
}

fn certificate_key(region: &str, id: &str) -> String {
    format!("acm/{region}/cert/{id}")
}

fn private_key_key(region: &str, id: &str) -> String {
    format!("acm/{region}/key/{id}")
}

/// Why a transaction failed.
enum Failure {
    Acm(AcmError),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        Failure::Store(err)
    }
}

impl From<AcmError> for Failure {
    fn from(err: AcmError) -> Self {
        Failure::Acm(err)
    }
}

impl From<Failure> for AwsError {
    fn from(failure: Failure) -> AwsError {
        match failure {
            Failure::Acm(err) => err.to_aws_error(),
            Failure::Store(err) => AcmError::Internal(err.to_string()).to_aws_error(),
        }
    }
}

fn error(err: AcmError) -> AwsError {
    err.to_aws_error()
}

fn get<T: DeserializeOwned>(txn: &mut dyn Txn, key: &str) -> Result<Option<T>, Failure> {
    match txn.get(key)? {
        Some(kv) => serde_json::from_slice(&kv.value)
            .map(Some)
            .map_err(|err| Failure::Acm(AcmError::Internal(err.to_string()))),
        None => Ok(None),
    }
}

fn put<T: Serialize>(txn: &mut dyn Txn, key: &str, value: &T) {
    txn.put(
        key,
        serde_json::to_vec(value).expect("records are plain data"),
    );
}

/// The id part of a certificate ARN of `region` and `account`: `…:certificate/ID`.
fn certificate_id(arn: &str, region: &str, account: &str) -> Result<String, AcmError> {
    let prefix = format!("arn:aws:acm:{region}:{account}:certificate/");
    arn.strip_prefix(&prefix)
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .map(str::to_owned)
        .ok_or_else(|| AcmError::ResourceNotFound(arn.to_owned()))
}

/// Reads the stored certificate an ARN names, in `txn`.
fn certificate(
    txn: &mut dyn Txn,
    arn: &str,
    region: &str,
    account: &str,
) -> Result<CertificateRecord, Failure> {
    let id = certificate_id(arn, region, account)?;
    get(txn, &certificate_key(region, &id))?
        .ok_or_else(|| Failure::Acm(AcmError::ResourceNotFound(arn.to_owned())))
}

/// The account in a certificate ARN (the fifth field), for reads that have no account at hand.
fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

/// Whether a certificate ARN names an imported certificate of `region`, read in `txn` (a
/// transaction over the whole store): Elastic Load Balancing's check in the transaction that
/// makes a listener use it.
pub fn certificate_exists_in(
    txn: &mut dyn Txn,
    region: &str,
    arn: &str,
) -> Result<bool, StoreError> {
    match certificate_id(arn, region, account_of(arn)) {
        Ok(id) => Ok(txn.get(&certificate_key(region, &id))?.is_some()),
        Err(_) => Ok(false),
    }
}

/// The certificate, chain and private key an ARN names, for the load balancer's data plane.
pub async fn serving_certificate(
    store: Arc<dyn Store>,
    region: &str,
    arn: &str,
) -> Result<Option<ServingCertificate>, AwsError> {
    let Ok(id) = certificate_id(arn, region, account_of(arn)) else {
        return Ok(None);
    };
    let region = region.to_owned();
    transact(&*store, move |txn: &mut dyn Txn| {
        let record: Option<CertificateRecord> = get(txn, &certificate_key(&region, &id))?;
        let key: Option<PrivateKeyRecord> = get(txn, &private_key_key(&region, &id))?;
        Ok::<_, Failure>(record.zip(key).map(|(record, key)| ServingCertificate {
            certificate_pem: record.certificate_pem,
            chain_pem: record.chain_pem,
            private_key_pem: key.private_key_pem,
        }))
    })
    .await
    .map_err(AwsError::from)
}

/// ACM for the one account this server serves.
pub struct AcmService {
    store: Arc<dyn Store>,
    account_id: String,
    users: Arc<dyn CertificateUsers>,
}

fn decode<T: DeserializeOwned + Validate>(call: &Call<'_>) -> Result<T, AwsError> {
    let request: T = serde_json::from_slice(call.input).map_err(|err| {
        error(AcmError::Validation(format!(
            "Could not read the request: {err}"
        )))
    })?;
    request
        .check()
        .map_err(|message| error(AcmError::Validation(message)))?;
    Ok(request)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("wire shapes always encode")
}

/// A blob member: base64 in the JSON form of the request.
fn blob(value: Option<&String>, field: &str) -> Result<Option<Vec<u8>>, AwsError> {
    value
        .map(|text| {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| {
                    error(AcmError::Validation(format!(
                        "The {field} is not valid base64."
                    )))
                })
        })
        .transpose()
}

fn pem_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The status of an imported certificate at `now`: ISSUED until it expires.
fn status_at(detail: &wire::CertificateDetail, now: f64) -> String {
    if detail.not_after.is_some_and(|after| after < now) {
        "EXPIRED".into()
    } else {
        "ISSUED".into()
    }
}

/// The condition keys of a request carrying tags: `aws:RequestTag/KEY` for each tag with a value
/// and `aws:TagKeys`, as IAM policies on tagging match them.
fn tag_conditions(tags: Option<&[wire::Tag]>) -> Vec<(String, String)> {
    let tags = tags.unwrap_or_default();
    let mut conditions: Vec<(String, String)> = tags
        .iter()
        .filter_map(|t| {
            let value = t.value.as_ref()?;
            Some((
                format!("aws:RequestTag/{}", t.key.as_deref().unwrap_or_default()),
                value.clone(),
            ))
        })
        .collect();
    if !tags.is_empty() {
        let keys: Vec<&str> = tags.iter().filter_map(|t| t.key.as_deref()).collect();
        conditions.push(("aws:TagKeys".to_owned(), keys.join(",")));
    }
    conditions
}

fn tags_to_wire(tags: &BTreeMap<String, String>) -> Vec<wire::Tag> {
    tags.iter()
        .map(|(key, value)| wire::Tag {
            key: Some(key.clone()),
            value: Some(value.clone()),
        })
        .collect()
}

/// `current` with `added` set; ACM's reserved `aws:` prefix and the 50-tag limit refused.
fn add_tags(
    current: &BTreeMap<String, String>,
    added: &[wire::Tag],
) -> Result<BTreeMap<String, String>, AcmError> {
    let mut out = current.clone();
    for tag in added {
        let key = tag.key.clone().unwrap_or_default();
        if key.starts_with("aws:") {
            return Err(AcmError::InvalidTag(format!(
                "Tag key '{key}' uses the reserved prefix 'aws:'."
            )));
        }
        out.insert(key, tag.value.clone().unwrap_or_default());
    }
    if out.len() > TAGS_PER_CERTIFICATE {
        return Err(AcmError::TooManyTags(format!(
            "A certificate can have at most {TAGS_PER_CERTIFICATE} tags."
        )));
    }
    Ok(out)
}

impl AcmService {
    pub fn new(
        store: Arc<dyn Store>,
        account_id: String,
        users: Arc<dyn CertificateUsers>,
    ) -> AcmService {
        AcmService {
            store,
            account_id,
            users,
        }
    }

    async fn run<T, F>(&self, call: &Call<'_>, mut operation: F) -> Result<T, AwsError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Txn, &str, &str) -> Result<T, Failure> + Send + 'static,
    {
        let region = call.context.region.clone();
        let account = self.account_id.clone();
        transact(&*self.store, move |txn: &mut dyn Txn| {
            operation(txn, &region, &account)
        })
        .await
        .map_err(AwsError::from)
    }

    async fn import_certificate(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::ImportCertificateRequest = decode(call)?;
        let region = call.context.region.clone();
        let reimported = request.certificate_arn.clone();
        let arn = reimported.clone().unwrap_or_else(|| {
            format!(
                "arn:aws:acm:{region}:{}:certificate/{}",
                self.account_id,
                uuid::Uuid::new_v4()
            )
        });
        call.authorize(
            "acm:ImportCertificate",
            vec![arn.clone()],
            tag_conditions(request.tags.as_deref()),
        )?;
        if reimported.is_some() && request.tags.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(error(AcmError::InvalidParameter(
                "You cannot specify tags when you reimport a certificate.".into(),
            )));
        }
        let certificate_bytes =
            blob(request.certificate.as_ref(), "certificate")?.unwrap_or_default();
        let private_key = blob(request.private_key.as_ref(), "private key")?.unwrap_or_default();
        let chain = blob(request.certificate_chain.as_ref(), "certificate chain")?;
        let now = call.context.received_at;
        let facts = berth_acm::import(
            &certificate_bytes,
            &private_key,
            chain.as_deref(),
            now as i64,
        )
        .map_err(error)?;
        let tags =
            add_tags(&BTreeMap::new(), request.tags.as_deref().unwrap_or(&[])).map_err(error)?;
        let detail = wire::CertificateDetail {
            certificate_arn: Some(arn.clone()),
            domain_name: Some(facts.domain_name.clone()),
            subject_alternative_names: Some(facts.subject_alternative_names.clone()),
            subject: Some(facts.subject.clone()),
            issuer: Some(facts.issuer.clone()),
            serial: Some(facts.serial.clone()),
            not_before: Some(facts.not_before as f64),
            not_after: Some(facts.not_after as f64),
            key_algorithm: Some(facts.key_algorithm.clone()),
            signature_algorithm: Some(facts.signature_algorithm.clone()),
            key_usages: Some(
                facts
                    .key_usages
                    .iter()
                    .map(|name| wire::KeyUsage {
                        name: Some(name.clone()),
                    })
                    .collect(),
            ),
            extended_key_usages: Some(
                facts
                    .extended_key_usages
                    .iter()
                    .map(|name| wire::ExtendedKeyUsage {
                        name: Some(name.clone()),
                        oid: None,
                    })
                    .collect(),
            ),
            r#type: Some("IMPORTED".into()),
            status: Some("ISSUED".into()),
            created_at: Some(now),
            imported_at: Some(now),
            renewal_eligibility: Some("INELIGIBLE".into()),
            ..Default::default()
        };
        let certificate_pem = pem_text(&certificate_bytes);
        let chain_pem = chain.as_deref().map(pem_text);
        let private_key_pem = pem_text(&private_key);
        let arn_out = arn.clone();
        self.run(call, move |txn, region, account| {
            let id = certificate_id(&arn, region, account)?;
            let mut record = CertificateRecord {
                detail: detail.clone(),
                certificate_pem: certificate_pem.clone(),
                chain_pem: chain_pem.clone(),
                tags: tags.clone(),
            };
            if reimported.is_some() {
                // Re-import replaces the certificate and key, keeping the ARN, creation time
                // and tags.
                let existing = certificate(txn, &arn, region, account)?;
                record.detail.created_at = existing.detail.created_at;
                record.tags = existing.tags;
            }
            put(txn, &certificate_key(region, &id), &record);
            put(
                txn,
                &private_key_key(region, &id),
                &PrivateKeyRecord {
                    private_key_pem: private_key_pem.clone(),
                },
            );
            Ok(())
        })
        .await?;
        Ok(encode(&wire::ImportCertificateResponse {
            certificate_arn: Some(arn_out),
        }))
    }

    async fn describe_certificate(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeCertificateRequest = decode(call)?;
        let arn = request.certificate_arn.clone().unwrap_or_default();
        call.authorize("acm:DescribeCertificate", vec![arn.clone()], Vec::new())?;
        let users = self.users.clone();
        let (record, users) = self
            .run(call, move |txn, region, account| {
                let record = certificate(txn, &arn, region, account)?;
                Ok((record, users.users(txn, region, &arn)?))
            })
            .await?;
        let mut detail = record.detail;
        detail.status = Some(status_at(&detail, call.context.received_at));
        detail.in_use_by = Some(users);
        Ok(encode(&wire::DescribeCertificateResponse {
            certificate: Some(detail),
        }))
    }

    /// Lists certificates, in ARN order or by creation time (`SortBy`). Without
    /// `Includes.keyTypes`, ACM lists only RSA_1024 and RSA_2048 certificates, and so does
    /// this; `keyUsage` and `extendedKeyUsage` keep certificates with any of the usages named.
    /// Imported certificates are managed by no service and cannot be exported, which is what
    /// `managedBy` and `exportOption` are matched against. `NextToken` counts the certificates
    /// already listed.
    async fn list_certificates(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::ListCertificatesRequest = decode(call)?;
        call.authorize("acm:ListCertificates", Vec::new(), Vec::new())?;
        let statuses = request.certificate_statuses.clone().unwrap_or_default();
        let includes = request.includes.clone().unwrap_or_default();
        let key_types = includes
            .key_types
            .clone()
            .unwrap_or_else(|| vec!["RSA_1024".into(), "RSA_2048".into()]);
        let offset: usize = match &request.next_token {
            Some(token) => token.parse().map_err(|_| {
                error(AcmError::InvalidArgs(format!(
                    "The NextToken '{token}' is not valid."
                )))
            })?,
            None => 0,
        };
        let users = self.users.clone();
        let records = self
            .run(call, move |txn, region, _| {
                // Each certificate with whether anything uses it.
                let mut out: Vec<(CertificateRecord, bool)> = Vec::new();
                let mut after: Option<String> = None;
                let prefix = format!("acm/{region}/cert/");
                loop {
                    let page = txn.range(&prefix, after.as_deref(), RANGE_PAGE)?;
                    for kv in &page {
                        let record: CertificateRecord = serde_json::from_slice(&kv.value)
                            .map_err(|err| Failure::Acm(AcmError::Internal(err.to_string())))?;
                        let arn = record.detail.certificate_arn.clone().unwrap_or_default();
                        let in_use = !users.users(txn, region, &arn)?.is_empty();
                        out.push((record, in_use));
                    }
                    match page.last() {
                        Some(last) if page.len() == RANGE_PAGE => after = Some(last.key.clone()),
                        _ => return Ok(out),
                    }
                }
            })
            .await?;
        let now = call.context.received_at;
        let has_any = |wanted: &Option<Vec<String>>, present: Vec<String>| match wanted {
            None => true,
            Some(wanted) => wanted
                .iter()
                .any(|w| w == "ANY" && !present.is_empty() || present.contains(w)),
        };
        let mut matching: Vec<(CertificateRecord, bool)> = records
            .into_iter()
            .filter(|(r, _)| {
                let detail = &r.detail;
                let status = status_at(detail, now);
                let usages: Vec<String> = detail
                    .key_usages
                    .iter()
                    .flatten()
                    .filter_map(|k| k.name.clone())
                    .collect();
                let extended: Vec<String> = detail
                    .extended_key_usages
                    .iter()
                    .flatten()
                    .filter_map(|k| k.name.clone())
                    .collect();
                (statuses.is_empty() || statuses.contains(&status))
                    && detail
                        .key_algorithm
                        .as_ref()
                        .is_some_and(|k| key_types.contains(k))
                    && has_any(&includes.key_usage, usages)
                    && has_any(&includes.extended_key_usage, extended)
                    && includes.managed_by.is_none()
                    && includes.export_option.as_deref() != Some("ENABLED")
            })
            .collect();
        if request.sort_by.as_deref() == Some("CREATED_AT") {
            matching.sort_by(|(a, _), (b, _)| {
                let at = |r: &CertificateRecord| r.detail.created_at.unwrap_or_default();
                at(a).total_cmp(&at(b))
            });
            if request.sort_order.as_deref() == Some("DESCENDING") {
                matching.reverse();
            }
        }
        let size = request.max_items.unwrap_or(1000).clamp(1, 1000) as usize;
        let total = matching.len();
        let rest: Vec<(CertificateRecord, bool)> =
            matching.into_iter().skip(offset).take(size).collect();
        let next_token = (offset + size < total).then(|| (offset + size).to_string());
        let mut summaries = Vec::new();
        for (record, in_use) in rest {
            let detail = record.detail;
            summaries.push(wire::CertificateSummary {
                status: Some(status_at(&detail, now)),
                certificate_arn: detail.certificate_arn,
                domain_name: detail.domain_name,
                subject_alternative_name_summaries: detail.subject_alternative_names,
                has_additional_subject_alternative_names: Some(false),
                r#type: detail.r#type,
                key_algorithm: detail.key_algorithm,
                key_usages: Some(
                    detail
                        .key_usages
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|k| k.name)
                        .collect(),
                ),
                extended_key_usages: Some(
                    detail
                        .extended_key_usages
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|k| k.name)
                        .collect(),
                ),
                in_use: Some(in_use),
                renewal_eligibility: detail.renewal_eligibility,
                not_before: detail.not_before,
                not_after: detail.not_after,
                created_at: detail.created_at,
                imported_at: detail.imported_at,
                ..Default::default()
            });
        }
        Ok(encode(&wire::ListCertificatesResponse {
            certificate_summary_list: Some(summaries),
            next_token,
        }))
    }

    async fn get_certificate(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::GetCertificateRequest = decode(call)?;
        let arn = request.certificate_arn.clone().unwrap_or_default();
        call.authorize("acm:GetCertificate", vec![arn.clone()], Vec::new())?;
        let record = self
            .run(call, move |txn, region, account| {
                certificate(txn, &arn, region, account)
            })
            .await?;
        Ok(encode(&wire::GetCertificateResponse {
            certificate: Some(record.certificate_pem),
            certificate_chain: record.chain_pem,
        }))
    }

    /// Deletes a certificate and its key, unless a load balancer uses it; the check and the
    /// delete are one transaction.
    async fn delete_certificate(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteCertificateRequest = decode(call)?;
        let arn = request.certificate_arn.clone().unwrap_or_default();
        call.authorize("acm:DeleteCertificate", vec![arn.clone()], Vec::new())?;
        let users = self.users.clone();
        self.run(call, move |txn, region, account| {
            let id = certificate_id(&arn, region, account)?;
            certificate(txn, &arn, region, account)?;
            if !users.users(txn, region, &arn)?.is_empty() {
                return Err(Failure::Acm(AcmError::ResourceInUse {
                    arn: arn.clone(),
                    account: account.to_owned(),
                }));
            }
            txn.delete(&certificate_key(region, &id));
            txn.delete(&private_key_key(region, &id));
            Ok(())
        })
        .await?;
        Ok(b"{}".to_vec())
    }

    async fn add_tags_to_certificate(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::AddTagsToCertificateRequest = decode(call)?;
        let arn = request.certificate_arn.clone().unwrap_or_default();
        call.authorize(
            "acm:AddTagsToCertificate",
            vec![arn.clone()],
            tag_conditions(request.tags.as_deref()),
        )?;
        let added = request.tags.clone().unwrap_or_default();
        self.run(call, move |txn, region, account| {
            let mut record = certificate(txn, &arn, region, account)?;
            record.tags = add_tags(&record.tags, &added)?;
            put(
                txn,
                &certificate_key(region, &certificate_id(&arn, region, account)?),
                &record,
            );
            Ok(())
        })
        .await?;
        Ok(b"{}".to_vec())
    }

    /// Removes the tags named; a tag given with a value is removed only if its value matches.
    async fn remove_tags_from_certificate(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::RemoveTagsFromCertificateRequest = decode(call)?;
        let arn = request.certificate_arn.clone().unwrap_or_default();
        call.authorize(
            "acm:RemoveTagsFromCertificate",
            vec![arn.clone()],
            tag_conditions(request.tags.as_deref()),
        )?;
        let removed = request.tags.clone().unwrap_or_default();
        self.run(call, move |txn, region, account| {
            let mut record = certificate(txn, &arn, region, account)?;
            for tag in &removed {
                let key = tag.key.clone().unwrap_or_default();
                let matches = match &tag.value {
                    Some(value) => record.tags.get(&key) == Some(value),
                    None => true,
                };
                if matches {
                    record.tags.remove(&key);
                }
            }
            put(
                txn,
                &certificate_key(region, &certificate_id(&arn, region, account)?),
                &record,
            );
            Ok(())
        })
        .await?;
        Ok(b"{}".to_vec())
    }

    async fn list_tags_for_certificate(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::ListTagsForCertificateRequest = decode(call)?;
        let arn = request.certificate_arn.clone().unwrap_or_default();
        call.authorize("acm:ListTagsForCertificate", vec![arn.clone()], Vec::new())?;
        let record = self
            .run(call, move |txn, region, account| {
                certificate(txn, &arn, region, account)
            })
            .await?;
        Ok(encode(&wire::ListTagsForCertificateResponse {
            tags: Some(tags_to_wire(&record.tags)),
        }))
    }
}

#[async_trait]
impl Service for AcmService {
    fn model(&self) -> &'static ServiceModel {
        &wire::MODEL
    }

    async fn call(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        match call.operation {
            "ImportCertificate" => self.import_certificate(call).await,
            "DescribeCertificate" => self.describe_certificate(call).await,
            "ListCertificates" => self.list_certificates(call).await,
            "GetCertificate" => self.get_certificate(call).await,
            "DeleteCertificate" => self.delete_certificate(call).await,
            "AddTagsToCertificate" => self.add_tags_to_certificate(call).await,
            "RemoveTagsFromCertificate" => self.remove_tags_from_certificate(call).await,
            "ListTagsForCertificate" => self.list_tags_for_certificate(call).await,
            other => {
                call.authorize(&format!("acm:{other}"), Vec::new(), Vec::new())?;
                Err(AwsError::new(
                    400,
                    "UnknownOperationException",
                    format!("The operation {other} is not supported by Berth's ACM."),
                ))
            }
        }
    }
}
