//! Certificates and keys made with openssl for these tests (valid 2026–2126):
//! `rsa.pem`/`rsa.key` (PKCS#8) with `rsa-pkcs1.key`, a 2048-bit RSA key, CN web.example.com
//! with a wildcard alternative name, key usages and server authentication;
//! `ec.pem`/`ec.key` (PKCS#8) with `ec-sec1.key`, a P-256 key, CN ec.example.com; and
//! `other-rsa.key`, which belongs to neither.

use super::*;

const RSA_PEM: &[u8] = include_bytes!("../tests/fixtures/rsa.pem");
const RSA_KEY: &[u8] = include_bytes!("../tests/fixtures/rsa.key");
const RSA_PKCS1_KEY: &[u8] = include_bytes!("../tests/fixtures/rsa-pkcs1.key");
const EC_PEM: &[u8] = include_bytes!("../tests/fixtures/ec.pem");
const EC_KEY: &[u8] = include_bytes!("../tests/fixtures/ec.key");
const EC_SEC1_KEY: &[u8] = include_bytes!("../tests/fixtures/ec-sec1.key");
const OTHER_KEY: &[u8] = include_bytes!("../tests/fixtures/other-rsa.key");

/// A moment inside every fixture's validity.
const NOW: i64 = 1_900_000_000;

#[test]
fn rsa_certificate_facts() {
    let facts = import(RSA_PEM, RSA_KEY, None, NOW).unwrap();
    assert_eq!(facts.domain_name, "web.example.com");
    assert_eq!(
        facts.subject_alternative_names,
        vec!["web.example.com".to_owned(), "*.web.example.com".to_owned()]
    );
    assert_eq!(facts.key_algorithm, "RSA_2048");
    assert_eq!(facts.signature_algorithm, "SHA256WITHRSA");
    assert_eq!(facts.subject, "CN=web.example.com, O=Berth Test");
    assert_eq!(facts.issuer, "Berth Test");
    assert_eq!(facts.not_before, 1_796_509_811);
    assert_eq!(facts.not_after, 4_950_109_811);
    assert_eq!(
        facts.serial,
        "68:31:a1:59:3f:c6:78:6e:08:e6:bb:9b:27:1b:16:b2:4b:c6:ff:e9"
    );
    assert_eq!(
        facts.key_usages,
        vec!["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"]
    );
    assert_eq!(
        facts.extended_key_usages,
        vec!["TLS_WEB_SERVER_AUTHENTICATION"]
    );
    // The same key in PKCS#1 form matches too.
    assert!(import(RSA_PEM, RSA_PKCS1_KEY, None, NOW).is_ok());
}

#[test]
fn ec_certificate_and_both_key_forms() {
    let facts = import(EC_PEM, EC_KEY, None, NOW).unwrap();
    assert_eq!(facts.key_algorithm, "EC_prime256v1");
    assert_eq!(facts.signature_algorithm, "SHA256WITHECDSA");
    assert_eq!(
        facts.subject_alternative_names,
        vec!["ec.example.com".to_owned()]
    );
    assert!(import(EC_PEM, EC_SEC1_KEY, None, NOW).is_ok());
}

#[test]
fn keys_must_match() {
    let mismatch = AcmError::Validation(
        "The private key does not match the public key in the certificate.".into(),
    );
    assert_eq!(import(RSA_PEM, OTHER_KEY, None, NOW).unwrap_err(), mismatch);
    assert_eq!(import(RSA_PEM, EC_KEY, None, NOW).unwrap_err(), mismatch);
    assert_eq!(import(EC_PEM, RSA_KEY, None, NOW).unwrap_err(), mismatch);
}

#[test]
fn malformed_input_and_validity() {
    assert!(matches!(
        import(b"not a pem", RSA_KEY, None, NOW),
        Err(AcmError::Validation(_))
    ));
    let two = [RSA_PEM, EC_PEM].concat();
    assert!(import(&two, RSA_KEY, None, NOW).is_err());
    // A key where the certificate goes is not a certificate.
    assert!(import(RSA_KEY, RSA_KEY, None, NOW).is_err());
    assert!(import(RSA_PEM, RSA_KEY, Some(b"junk"), NOW).is_err());
    assert!(import(RSA_PEM, RSA_KEY, Some(EC_PEM), NOW).is_ok());
    assert_eq!(
        import(RSA_PEM, RSA_KEY, None, 1_700_000_000).unwrap_err(),
        AcmError::Validation("The certificate is not valid yet.".into())
    );
    assert_eq!(
        import(RSA_PEM, RSA_KEY, None, 5_000_000_000).unwrap_err(),
        AcmError::Validation("The certificate has expired.".into())
    );
}

#[test]
fn a_serial_is_shown_without_ders_sign_byte() {
    assert_eq!(serial_text(&[0x00, 0x9f, 0x30]), "9f:30");
    assert_eq!(serial_text(&[0x68, 0x31, 0x0a]), "68:31:0a");
    assert_eq!(serial_text(&[0x00]), "00");
}
