//! A listener's extra certificates (picked by SNI): AddListenerCertificates,
//! RemoveListenerCertificates, DescribeListenerCertificates; and the question ACM asks before
//! deleting a certificate: which load balancers use it.

use berth_aws::AwsError;
use berth_elbv2::{self as elbv2, Elbv2Error, ListenerRecord, Scope};
use berth_elbv2_wire as wire;
use berth_gateway::Call;
use berth_store::{StoreError, Txn};

use crate::listeners::check_certificates_exist;
use crate::store::Tables;
use crate::{Elbv2Service, decode, encode, page};

fn certificate_arns(certificates: &Option<Vec<wire::Certificate>>) -> Vec<String> {
    certificates
        .iter()
        .flatten()
        .filter_map(|c| c.certificate_arn.clone())
        .collect()
}

/// How many certificates a load balancer's listeners hold besides their default ones.
fn extra_certificates_of(tables: &mut Tables<'_>, lb_name: &str) -> Result<usize, Elbv2Error> {
    Ok(tables
        .listeners_of(lb_name)?
        .iter()
        .map(|l| l.extra_certificates.len())
        .sum())
}

impl Elbv2Service {
    pub(crate) async fn add_listener_certificates(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::AddListenerCertificatesInput = decode(call)?;
        let arn = request.listener_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:AddListenerCertificates",
            vec![arn.clone()],
            Vec::new(),
        )?;
        let certificates = request.certificates.clone().unwrap_or_default();
        let added = certificate_arns(&request.certificates);
        let listener = self
            .run(self.scope(call), move |tables| {
                let mut record = tables.listener(&arn)?;
                check_certificates_exist(tables, &certificates)?;
                if record.listener.protocol.as_deref() != Some("HTTPS") {
                    return Err(Elbv2Error::Validation(
                        "Certificates can only be added to HTTPS listeners".into(),
                    ));
                }
                for certificate in &added {
                    if !record.all_certificates().contains(certificate) {
                        record.extra_certificates.push(certificate.clone());
                    }
                }
                let lb_name = tables
                    .scope
                    .parse_listener_arn(&arn)
                    .map(|r| r.load_balancer.name)
                    .unwrap_or_default();
                tables.put_listener(&record);
                if extra_certificates_of(tables, &lb_name)? > elbv2::CERTIFICATES_PER_LOAD_BALANCER
                {
                    return Err(Elbv2Error::TooManyCertificates);
                }
                Ok(record)
            })
            .await?;
        Ok(encode(&wire::AddListenerCertificatesOutput {
            certificates: Some(
                listener
                    .extra_certificates
                    .iter()
                    .map(|arn| wire::Certificate {
                        certificate_arn: Some(arn.clone()),
                        is_default: Some(false),
                    })
                    .collect(),
            ),
        }))
    }

    pub(crate) async fn remove_listener_certificates(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::RemoveListenerCertificatesInput = decode(call)?;
        let arn = request.listener_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:RemoveListenerCertificates",
            vec![arn.clone()],
            Vec::new(),
        )?;
        let removed = certificate_arns(&request.certificates);
        self.run(self.scope(call), move |tables| {
            let mut record = tables.listener(&arn)?;
            if let Some(default) = record.default_certificate()
                && removed.iter().any(|r| r == default)
            {
                return Err(Elbv2Error::OperationNotPermitted(
                    "The default certificate of a listener cannot be removed; use ModifyListener to replace it".into(),
                ));
            }
            record.extra_certificates.retain(|c| !removed.contains(c));
            tables.put_listener(&record);
            Ok(())
        })
        .await?;
        Ok(encode(&wire::RemoveListenerCertificatesOutput {}))
    }

    pub(crate) async fn describe_listener_certificates(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeListenerCertificatesInput = decode(call)?;
        let arn = request.listener_arn.clone().unwrap_or_default();
        call.authorize(
            "elasticloadbalancing:DescribeListenerCertificates",
            Vec::new(),
            Vec::new(),
        )?;
        let record: ListenerRecord = self
            .run(self.scope(call), move |tables| tables.listener(&arn))
            .await?;
        let default = record.default_certificate().map(str::to_owned);
        let all: Vec<wire::Certificate> = record
            .all_certificates()
            .into_iter()
            .map(|arn| wire::Certificate {
                is_default: Some(Some(&arn) == default.as_ref()),
                certificate_arn: Some(arn),
            })
            .collect();
        let (certificates, next_marker) = page(
            all,
            |c| c.certificate_arn.clone().unwrap_or_default(),
            request.marker.as_deref(),
            request.page_size,
        );
        Ok(encode(&wire::DescribeListenerCertificatesOutput {
            certificates: Some(certificates),
            next_marker,
        }))
    }
}

/// ACM's view of Elastic Load Balancing: the load balancers whose listeners use a
/// certificate (its `InUseBy`; a certificate in use cannot be deleted), read in ACM's own
/// transaction.
pub struct CertificateUsersOfListeners {
    account_id: String,
}

impl CertificateUsersOfListeners {
    pub fn new(account_id: String) -> CertificateUsersOfListeners {
        CertificateUsersOfListeners { account_id }
    }
}

impl berth_acm_service::CertificateUsers for CertificateUsersOfListeners {
    fn users(
        &self,
        txn: &mut dyn Txn,
        region: &str,
        certificate_arn: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut tables = Tables::new(txn, Scope::new(&self.account_id, region));
        let listeners = tables
            .list::<ListenerRecord>("listener/")
            .map_err(|err| StoreError::Backend(err.to_string()))?;
        let mut users: Vec<String> = Vec::new();
        for (_, listener) in listeners {
            if listener
                .all_certificates()
                .iter()
                .any(|c| c == certificate_arn)
                && let Some(lb) = listener.listener.load_balancer_arn
                && !users.contains(&lb)
            {
                users.push(lb);
            }
        }
        Ok(users)
    }
}
