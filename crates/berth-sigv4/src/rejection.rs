//! How each AWS protocol family answers a request whose signature fails: error code, HTTP status
//! and message text as AWS sends them.
//!
//! Sources:
//! - AWS "Common Errors" / "Common Error Types" pages of the EC2, IAM and STS API references and
//!   of the AWS Management Console guide (codes and statuses: `IncompleteSignature` 400,
//!   `InvalidClientTokenId` 403, `MissingAuthenticationToken` 403, `RequestExpired` 400,
//!   `ExpiredTokenException` 403, `UnrecognizedClientException` 403 for the JSON services'
//!   generic page). Where the pages and live services disagree the live answer wins: the JSON
//!   services (ECS, Logs, DynamoDB…) answer their signature errors with status 400, e.g.
//!   `{"code":"InvalidSignatureException","statusCode":400,"message":"Signature expired: …"}`
//!   (aws/aws-sdk-js#254), and EC2 answers `AuthFailure` with 401 (hashicorp/terraform-provider-aws#1102).
//! - Message texts as the services send them, quoted in client bug reports: STS
//!   `SignatureDoesNotMatch`: "Signature expired: 20220127T001427Z is now earlier than
//!   20220127T014428Z (20220127T015928Z - 15 min.)" (aws/aws-cli#6676, SNS in
//!   aws/aws-sdk-js#265); EC2 `AuthFailure`: "AWS was not able to validate the provided access
//!   credentials" (aws/aws-sdk-java-v2#2981); STS `ExpiredToken`: "The security token included
//!   in the request is expired" (prowler-cloud/prowler#789).
//! - The SDKs' clock-skew detection, which retries after re-reading the server's clock on
//!   exactly `RequestTimeTooSkewed`, `RequestExpired`, `InvalidSignatureException`,
//!   `SignatureDoesNotMatch`, `AuthFailure` and `RequestInTheFuture` — so a skewed request must
//!   answer one of those for clients to recover.

use crate::{Location, MAX_SKEW_SECONDS, SigV4Error, amz_date};

/// The protocol families, by how they name their errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// awsJson1.0/1.1 and restJson1 services: ECS, CloudWatch Logs, ELB's JSON peers…
    Json,
    /// awsQuery services: STS, IAM, ELBv2, SNS…
    Query,
    /// ec2Query.
    Ec2,
    /// smithy-rpc-v2-cbor (CloudWatch), which names its errors as the JSON family does.
    Cbor,
}

/// Why a request is not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No signature at all ([`crate::parse`] gave `None`).
    Unsigned,
    /// The access key id is not known.
    UnknownAccessKey,
    /// The session token belongs to temporary credentials that have expired.
    TokenExpired,
    /// The signature itself is wrong, malformed or out of time.
    Signature(SigV4Error),
}

impl From<SigV4Error> for Failure {
    fn from(error: SigV4Error) -> Self {
        Failure::Signature(error)
    }
}

/// An error answer, before the family's serialization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

const MISMATCH: &str = "The request signature we calculated does not match the signature you \
     provided. Check your AWS Secret Access Key and signing method. Consult the service \
     documentation for details.";
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";
const EXPIRED_TOKEN: &str = "The security token included in the request is expired";
const EC2_AUTH_FAILURE: &str = "AWS was not able to validate the provided access credentials";
const EC2_EXPIRED: &str = "Request has expired.";

/// What `family` answers for `failure`.
pub fn rejection(family: Family, failure: &Failure) -> Rejection {
    use Family::{Cbor, Ec2, Json, Query};
    let json = matches!(family, Json | Cbor);
    let answer = |status, code, message: &str| Rejection {
        status,
        code,
        message: message.to_string(),
    };
    // The family's answer when the signature does not match, with a more specific message.
    let mismatch = |message: &str| match family {
        Json | Cbor => answer(400, "InvalidSignatureException", message),
        Query => answer(403, "SignatureDoesNotMatch", message),
        Ec2 => answer(401, "AuthFailure", EC2_AUTH_FAILURE),
    };
    let incomplete = |message: &str| match family {
        Json | Cbor => answer(400, "IncompleteSignatureException", message),
        Query | Ec2 => answer(400, "IncompleteSignature", message),
    };
    let error = match failure {
        Failure::Unsigned => {
            return match family {
                Json | Cbor => answer(
                    400,
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                ),
                Query => answer(
                    403,
                    "MissingAuthenticationToken",
                    "Request is missing Authentication Token",
                ),
                Ec2 => answer(
                    401,
                    "MissingAuthenticationToken",
                    "The request must contain either a valid (registered) AWS access key ID or \
                     X.509 certificate.",
                ),
            };
        }
        Failure::UnknownAccessKey => {
            return match family {
                Json | Cbor => answer(400, "UnrecognizedClientException", INVALID_TOKEN),
                Query => answer(403, "InvalidClientTokenId", INVALID_TOKEN),
                Ec2 => answer(401, "AuthFailure", EC2_AUTH_FAILURE),
            };
        }
        Failure::TokenExpired => {
            return match family {
                Json | Cbor => answer(400, "ExpiredTokenException", EXPIRED_TOKEN),
                Query => answer(403, "ExpiredToken", EXPIRED_TOKEN),
                Ec2 => answer(400, "RequestExpired", EC2_EXPIRED),
            };
        }
        Failure::Signature(error) => error,
    };
    match error {
        SigV4Error::Incomplete { location, missing } => incomplete(&match location {
            Location::Header => missing
                .iter()
                .map(|part| match *part {
                    "X-Amz-Date" => "Authorization header requires existence of either a \
                                     'X-Amz-Date' or a 'Date' header."
                        .to_string(),
                    part => format!("Authorization header requires '{part}' parameter."),
                })
                .collect::<Vec<_>>()
                .join(" "),
            Location::Query => "AWS query-string parameters must include 'X-Amz-Algorithm', \
                                'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-SignedHeaders', \
                                'X-Amz-Date'. Re-examine the query-string parameters."
                .to_string(),
        }),
        SigV4Error::UnsupportedAlgorithm(algorithm) => {
            incomplete(&format!("Unsupported AWS 'algorithm': '{algorithm}'."))
        }
        SigV4Error::Ambiguous => incomplete(
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP \
             header, or one of them more than once.",
        ),
        SigV4Error::MalformedCredential(credential) => incomplete(&format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{credential}'"
        )),
        SigV4Error::MalformedDate(date) => incomplete(&format!(
            "Date must be in ISO-8601 'basic format'. Got '{date}'. See \
             http://en.wikipedia.org/wiki/ISO_8601"
        )),
        SigV4Error::MalformedExpires(expires) => incomplete(&format!(
            "X-Amz-Expires must be a number of seconds from 1 to 604800, got '{expires}'."
        )),
        SigV4Error::ScopeDateMismatch {
            scope_date,
            request_date,
        } => mismatch(&format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '{scope_date}' != '{}', from '{request_date}'.",
            &request_date[..8]
        )),
        SigV4Error::HostNotSigned => {
            incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
        }
        SigV4Error::SignedHeaderMissing(_) | SigV4Error::BadSignature => mismatch(MISMATCH),
        SigV4Error::Skewed { request_time, now } => {
            let minutes = MAX_SKEW_SECONDS / 60;
            let message = if request_time < now {
                format!(
                    "Signature expired: {} is now earlier than {} ({} - {minutes} min.)",
                    amz_date(*request_time),
                    amz_date(now - MAX_SKEW_SECONDS),
                    amz_date(*now)
                )
            } else {
                format!(
                    "Signature not yet current: {} is still later than {} ({} + {minutes} min.)",
                    amz_date(*request_time),
                    amz_date(now + MAX_SKEW_SECONDS),
                    amz_date(*now)
                )
            };
            match family {
                Ec2 => answer(400, "RequestExpired", EC2_EXPIRED),
                _ => mismatch(&message),
            }
        }
        SigV4Error::PresignExpired {
            request_time,
            expires_seconds,
            now,
        } => {
            if json {
                mismatch(&format!(
                    "Signature expired: {} is now earlier than {} ({} - {expires_seconds} sec.)",
                    amz_date(*request_time),
                    amz_date(now - expires_seconds),
                    amz_date(*now)
                ))
            } else {
                answer(400, "RequestExpired", EC2_EXPIRED)
            }
        }
    }
}
