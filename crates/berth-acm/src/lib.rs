//! ACM's rules for imported certificates, without I/O: reading the PEM certificate, its chain
//! and its private key; the facts DescribeCertificate shows (domain name, alternative names,
//! validity, key algorithm, serial, signature algorithm, key usages); the check that the
//! private key belongs to the certificate; and `AcmError` with ACM's exception names.

mod der;

use berth_aws::ServiceError;
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// ACM's errors, each with its exception name (the JSON protocol's `__type`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcmError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    InvalidArgs(String),
    #[error("{0}")]
    InvalidArn(String),
    #[error("Could not find certificate {0}.")]
    ResourceNotFound(String),
    #[error("Certificate {arn} in account {account} is in use.")]
    ResourceInUse { arn: String, account: String },
    #[error("{0}")]
    InvalidTag(String),
    #[error("{0}")]
    TooManyTags(String),
    #[error("{0}")]
    Internal(String),
}

impl ServiceError for AcmError {
    fn code(&self) -> &str {
        match self {
            AcmError::Validation(_) => "ValidationException",
            AcmError::InvalidParameter(_) => "InvalidParameterException",
            AcmError::InvalidArgs(_) => "InvalidArgsException",
            AcmError::InvalidArn(_) => "InvalidArnException",
            AcmError::ResourceNotFound(_) => "ResourceNotFoundException",
            AcmError::ResourceInUse { .. } => "ResourceInUseException",
            AcmError::InvalidTag(_) => "InvalidTagException",
            AcmError::TooManyTags(_) => "TooManyTagsException",
            AcmError::Internal(_) => "InternalFailure",
        }
    }

    fn status(&self) -> u16 {
        match self {
            AcmError::Internal(_) => 500,
            _ => 400,
        }
    }
}

fn invalid(message: impl Into<String>) -> AcmError {
    AcmError::Validation(message.into())
}

/// What DescribeCertificate shows of an imported certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateFacts {
    pub domain_name: String,
    /// The domain name first, then the certificate's other DNS alternative names.
    pub subject_alternative_names: Vec<String>,
    pub subject: String,
    pub issuer: String,
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// `RSA_2048`, `EC_prime256v1`, …
    pub key_algorithm: String,
    /// `SHA256WITHRSA`, `SHA256WITHECDSA`, …
    pub signature_algorithm: String,
    /// Lowercase hex bytes joined by colons, as ACM shows it.
    pub serial: String,
    /// ACM's names: `DIGITAL_SIGNATURE`, `KEY_ENCIPHERMENT`, …
    pub key_usages: Vec<String>,
    /// ACM's names: `TLS_WEB_SERVER_AUTHENTICATION`, …
    pub extended_key_usages: Vec<String>,
    /// The certificate's public key as its SubjectPublicKeyInfo carries it.
    public_key: PublicKey,
}

/// A public key as the certificate or the private key gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicKey {
    Rsa {
        modulus: Vec<u8>,
        exponent: Vec<u8>,
    },
    /// The curve's OID contents and the encoded point.
    Ec {
        curve: Vec<u8>,
        point: Vec<u8>,
    },
}

const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const SECP384R1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const SECP521R1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

fn curve_name(curve: &[u8]) -> Option<&'static str> {
    match curve {
        PRIME256V1 => Some("prime256v1"),
        SECP384R1 => Some("secp384r1"),
        SECP521R1 => Some("secp521r1"),
        _ => None,
    }
}

/// Reads an RSAPublicKey or RSAPrivateKey's modulus and exponent (the private key's come
/// after its version).
fn rsa_numbers(contents: &[u8], private: bool) -> Option<PublicKey> {
    let (sequence, _) = der::read(contents)?;
    let fields = der::children(sequence.contents)?;
    let skip = usize::from(private);
    let modulus = fields.get(skip)?;
    let exponent = fields.get(skip + 1)?;
    (modulus.tag == der::INTEGER && exponent.tag == der::INTEGER).then(|| PublicKey::Rsa {
        modulus: der::unsigned(modulus.contents).to_vec(),
        exponent: der::unsigned(exponent.contents).to_vec(),
    })
}

/// A SubjectPublicKeyInfo's key: SEQUENCE { SEQUENCE { algorithm, parameters }, BIT STRING }.
fn public_key_of(spki: &[u8]) -> Option<PublicKey> {
    let (sequence, _) = der::read(spki)?;
    let fields = der::children(sequence.contents)?;
    let algorithm = der::children(fields.first()?.contents)?;
    let key = fields.get(1).filter(|k| k.tag == der::BIT_STRING)?;
    let bits = key.contents.get(1..)?;
    match algorithm.first()?.contents {
        RSA_ENCRYPTION => rsa_numbers(bits, false),
        EC_PUBLIC_KEY => Some(PublicKey::Ec {
            curve: algorithm.get(1)?.contents.to_vec(),
            point: bits.to_vec(),
        }),
        _ => None,
    }
}

/// An ECPrivateKey's public point and curve: SEQUENCE { 1, OCTET STRING d, [0] curve,
/// [1] BIT STRING point }; `curve` is the one PKCS#8 named outside, if any.
fn ec_private_key(contents: &[u8], curve: Option<&[u8]>) -> Option<PublicKey> {
    let (sequence, _) = der::read(contents)?;
    let fields = der::children(sequence.contents)?;
    let named = fields
        .iter()
        .find(|f| f.tag == 0xa0)
        .and_then(|f| der::read(f.contents))
        .map(|(oid, _)| oid.contents);
    let point = fields
        .iter()
        .find(|f| f.tag == 0xa1)
        .and_then(|f| der::read(f.contents))
        .filter(|(bits, _)| bits.tag == der::BIT_STRING)
        .and_then(|(bits, _)| bits.contents.get(1..))?;
    Some(PublicKey::Ec {
        curve: named.or(curve)?.to_vec(),
        point: point.to_vec(),
    })
}

/// The public half of a PEM private key: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or
/// SEC1 (`EC PRIVATE KEY`), unencrypted as ACM requires.
fn public_half(pem: &Pem) -> Result<PublicKey, AcmError> {
    let unsupported = || invalid("The private key is not supported.");
    match pem.label.as_str() {
        "RSA PRIVATE KEY" => rsa_numbers(&pem.contents, true).ok_or_else(unsupported),
        "EC PRIVATE KEY" => ec_private_key(&pem.contents, None).ok_or_else(unsupported),
        "PRIVATE KEY" => {
            let (sequence, _) = der::read(&pem.contents).ok_or_else(unsupported)?;
            let fields = der::children(sequence.contents).ok_or_else(unsupported)?;
            let algorithm = fields
                .get(1)
                .and_then(|a| der::children(a.contents))
                .ok_or_else(unsupported)?;
            let key = fields
                .get(2)
                .filter(|k| k.tag == der::OCTET_STRING)
                .ok_or_else(unsupported)?;
            match algorithm.first().map(|a| a.contents) {
                Some(RSA_ENCRYPTION) => rsa_numbers(key.contents, true).ok_or_else(unsupported),
                Some(EC_PUBLIC_KEY) => {
                    let curve = algorithm.get(1).map(|c| c.contents);
                    ec_private_key(key.contents, curve).ok_or_else(unsupported)
                }
                _ => Err(unsupported()),
            }
        }
        "ENCRYPTED PRIVATE KEY" => Err(invalid(
            "The private key must not be encrypted: import it without a passphrase.",
        )),
        _ => Err(unsupported()),
    }
}

/// Every PEM block of `text`, or a ValidationException naming `field`.
fn pem_blocks(text: &[u8], field: &str) -> Result<Vec<Pem>, AcmError> {
    let blocks: Result<Vec<Pem>, _> = Pem::iter_from_buffer(text).collect();
    match blocks {
        Ok(blocks) if !blocks.is_empty() => Ok(blocks),
        _ => Err(invalid(format!(
            "The {field} is not a valid PEM-encoded value."
        ))),
    }
}

fn parse_one(pem: &Pem) -> Result<X509Certificate<'_>, AcmError> {
    if pem.label != "CERTIFICATE" {
        return Err(invalid(format!(
            "Expected a CERTIFICATE PEM block, found '{}'.",
            pem.label
        )));
    }
    X509Certificate::from_der(&pem.contents)
        .map(|(_, certificate)| certificate)
        .map_err(|err| invalid(format!("Could not parse the certificate: {err}.")))
}

fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.5" => "SHA1WITHRSA",
        "1.2.840.113549.1.1.11" => "SHA256WITHRSA",
        "1.2.840.113549.1.1.12" => "SHA384WITHRSA",
        "1.2.840.113549.1.1.13" => "SHA512WITHRSA",
        "1.2.840.10045.4.1" => "SHA1WITHECDSA",
        "1.2.840.10045.4.3.2" => "SHA256WITHECDSA",
        "1.2.840.10045.4.3.3" => "SHA384WITHECDSA",
        "1.2.840.10045.4.3.4" => "SHA512WITHECDSA",
        other => return other.to_owned(),
    }
    .to_owned()
}

/// Reads an imported certificate, its private key and its chain, as ImportCertificate does:
/// exactly one certificate, valid at `now` (seconds since the epoch), with a supported key that
/// the private key matches; every chain block a certificate.
pub fn import(
    certificate: &[u8],
    private_key: &[u8],
    chain: Option<&[u8]>,
    now: i64,
) -> Result<CertificateFacts, AcmError> {
    let blocks = pem_blocks(certificate, "certificate")?;
    if blocks.len() != 1 {
        return Err(invalid(
            "The certificate field contains more than one certificate. You can specify only one certificate in this field.",
        ));
    }
    let parsed = parse_one(&blocks[0])?;
    if let Some(chain) = chain {
        for block in pem_blocks(chain, "certificate chain")? {
            parse_one(&block)?;
        }
    }
    let facts = facts(&parsed)?;
    if now < facts.not_before {
        return Err(invalid("The certificate is not valid yet."));
    }
    if now > facts.not_after {
        return Err(invalid("The certificate has expired."));
    }
    let keys = pem_blocks(private_key, "private key")?;
    if keys.len() != 1 {
        return Err(invalid(
            "The private key field must contain exactly one key.",
        ));
    }
    if public_half(&keys[0])? != facts.public_key {
        return Err(invalid(
            "The private key does not match the public key in the certificate.",
        ));
    }
    Ok(facts)
}

fn facts(certificate: &X509Certificate<'_>) -> Result<CertificateFacts, AcmError> {
    let common_name = certificate
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(extension)) = certificate.subject_alternative_name() {
        for name in &extension.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                names.push((*dns).to_owned());
            }
        }
    }
    let Some(domain_name) = common_name.clone().or_else(|| names.first().cloned()) else {
        return Err(invalid(
            "The certificate has neither a common name nor a DNS alternative name.",
        ));
    };
    names.retain(|n| n != &domain_name);
    names.insert(0, domain_name.clone());
    let public_key = public_key_of(certificate.public_key().raw)
        .ok_or_else(|| invalid("The certificate's key algorithm is not supported."))?;
    let key_algorithm = match &public_key {
        PublicKey::Rsa { modulus, .. } => {
            let bits =
                modulus.len() * 8 - modulus.first().map_or(8, |b| b.leading_zeros() as usize);
            if !matches!(bits, 1024 | 2048 | 3072 | 4096) {
                return Err(invalid(format!(
                    "The certificate's RSA key of {bits} bits is not supported."
                )));
            }
            format!("RSA_{bits}")
        }
        PublicKey::Ec { curve, .. } => match curve_name(curve) {
            Some(name) => format!("EC_{name}"),
            None => {
                return Err(invalid(
                    "The certificate's elliptic curve is not supported.",
                ));
            }
        },
    };
    let issuer = certificate.issuer();
    let issuer_name = issuer
        .iter_organization()
        .next()
        .or_else(|| issuer.iter_common_name().next())
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut key_usages = Vec::new();
    if let Ok(Some(usage)) = certificate.key_usage() {
        let usage = usage.value;
        for (set, name) in [
            (usage.digital_signature(), "DIGITAL_SIGNATURE"),
            (usage.non_repudiation(), "NON_REPUDIATION"),
            (usage.key_encipherment(), "KEY_ENCIPHERMENT"),
            (usage.data_encipherment(), "DATA_ENCIPHERMENT"),
            (usage.key_agreement(), "KEY_AGREEMENT"),
            (usage.key_cert_sign(), "CERTIFICATE_SIGNING"),
            (usage.crl_sign(), "CRL_SIGNING"),
            (usage.encipher_only(), "ENCIPHER_ONLY"),
            (usage.decipher_only(), "DECIPHER_ONLY"),
        ] {
            if set {
                key_usages.push(name.to_owned());
            }
        }
    }
    let mut extended_key_usages = Vec::new();
    if let Ok(Some(usage)) = certificate.extended_key_usage() {
        let usage = usage.value;
        for (set, name) in [
            (usage.server_auth, "TLS_WEB_SERVER_AUTHENTICATION"),
            (usage.client_auth, "TLS_WEB_CLIENT_AUTHENTICATION"),
            (usage.code_signing, "CODE_SIGNING"),
            (usage.email_protection, "EMAIL_PROTECTION"),
            (usage.time_stamping, "TIME_STAMPING"),
            (usage.ocsp_signing, "OCSP_SIGNING"),
            (usage.any, "ANY"),
        ] {
            if set {
                extended_key_usages.push(name.to_owned());
            }
        }
    }
    Ok(CertificateFacts {
        domain_name,
        subject_alternative_names: names,
        subject: certificate.subject().to_string(),
        issuer: issuer_name,
        not_before: certificate.validity().not_before.timestamp(),
        not_after: certificate.validity().not_after.timestamp(),
        key_algorithm,
        signature_algorithm: signature_name(
            &certificate.signature_algorithm.algorithm.to_id_string(),
        ),
        serial: serial_text(certificate.raw_serial()),
        key_usages,
        extended_key_usages,
        public_key,
    })
}

/// A serial number as ACM shows it, its bytes in hex joined by colons: the number's own bytes,
/// without the zero byte DER puts before a serial whose high bit is set to keep it positive (as
/// `openssl x509 -serial` prints it too).
fn serial_text(der: &[u8]) -> String {
    let number = match der {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => der,
    };
    number
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests;
