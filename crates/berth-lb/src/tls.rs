//! HTTPS listeners: ALB's named security policies mapped onto what rustls (ring provider) can
//! express, certificates loaded from PEM, and the choice of certificate by SNI among a
//! listener's certificates (its default one when no other is valid for the name).

use std::fmt;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{CipherSuite, ServerConfig, SupportedProtocolVersion};

use crate::config::Certificate;

/// The policy CreateListener uses when none is named.
pub const DEFAULT_POLICY: &str = "ELBSecurityPolicy-2016-08";

/// What a named policy allows, restricted to what rustls implements: TLS 1.2 and 1.3 with AEAD
/// suites only (policies that also allow TLS 1.0/1.1 or CBC suites get their TLS 1.2+ part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyTls {
    pub tls12: bool,
    pub tls13: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("unknown SSL policy {0:?}")]
    UnknownPolicy(String),
    #[error("an HTTPS listener needs at least one certificate")]
    NoCertificate,
    #[error("certificate {id}: {reason}")]
    BadCertificate { id: String, reason: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

pub fn policy(name: Option<&str>) -> Result<PolicyTls, TlsError> {
    let name = name.unwrap_or(DEFAULT_POLICY);
    let tls12_only = PolicyTls {
        tls12: true,
        tls13: false,
    };
    let both = PolicyTls {
        tls12: true,
        tls13: true,
    };
    Ok(match name {
        "ELBSecurityPolicy-2016-08"
        | "ELBSecurityPolicy-2015-05"
        | "ELBSecurityPolicy-TLS-1-0-2015-04"
        | "ELBSecurityPolicy-TLS-1-1-2017-01"
        | "ELBSecurityPolicy-TLS-1-2-2017-01"
        | "ELBSecurityPolicy-TLS-1-2-Ext-2018-06"
        | "ELBSecurityPolicy-FS-2018-06"
        | "ELBSecurityPolicy-FS-1-1-2019-08"
        | "ELBSecurityPolicy-FS-1-2-2019-08"
        | "ELBSecurityPolicy-FS-1-2-Res-2019-08"
        | "ELBSecurityPolicy-FS-1-2-Res-2020-10" => tls12_only,
        "ELBSecurityPolicy-TLS13-1-0-2021-06"
        | "ELBSecurityPolicy-TLS13-1-1-2021-06"
        | "ELBSecurityPolicy-TLS13-1-2-2021-06"
        | "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
        | "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06"
        | "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06" => both,
        "ELBSecurityPolicy-TLS13-1-3-2021-06" => PolicyTls {
            tls12: false,
            tls13: true,
        },
        other => return Err(TlsError::UnknownPolicy(other.to_string())),
    })
}

impl PolicyTls {
    fn versions(self) -> Vec<&'static SupportedProtocolVersion> {
        let mut versions = Vec::new();
        if self.tls13 {
            versions.push(&rustls::version::TLS13);
        }
        if self.tls12 {
            versions.push(&rustls::version::TLS12);
        }
        versions
    }

    /// ring's suites for the allowed versions; ALB's TLS 1.2 policies list only AES-GCM among
    /// the AEAD suites, so ChaCha20 stays a TLS 1.3 suite here too.
    fn provider(self) -> CryptoProvider {
        // ring is deliberate (no aws-lc-sys C build, see the dependency notes); rustls deprecates
        // it only for lacking post-quantum key exchange, which no ALB policy requires.
        #[allow(deprecated)]
        let mut provider = rustls::crypto::ring::default_provider();
        provider.cipher_suites.retain(|suite| match suite {
            rustls::SupportedCipherSuite::Tls13(_) => self.tls13,
            rustls::SupportedCipherSuite::Tls12(_) => {
                self.tls12
                    && !matches!(
                        suite.suite(),
                        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
                            | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
                    )
            }
        });
        provider
    }
}

/// One certificate ready for handshakes.
struct LoadedCertificate {
    key: Arc<CertifiedKey>,
}

impl LoadedCertificate {
    fn load(certificate: &Certificate) -> Result<LoadedCertificate, TlsError> {
        let bad = |reason: String| TlsError::BadCertificate {
            id: certificate.id.clone(),
            reason,
        };
        let chain = CertificateDer::pem_slice_iter(certificate.certificate_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("unreadable certificate chain: {e}")))?;
        if chain.is_empty() {
            return Err(bad("no certificate in the PEM chain".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(certificate.private_key_pem.as_bytes())
            .map_err(|e| bad(format!("unreadable private key: {e}")))?;
        let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| bad(format!("unsupported private key: {e}")))?;
        let key = CertifiedKey::new(chain, signing_key);
        key.keys_match().map_err(|e| {
            bad(format!(
                "the private key does not match the certificate: {e}"
            ))
        })?;
        Ok(LoadedCertificate { key: Arc::new(key) })
    }

    fn valid_for(&self, name: &str) -> bool {
        let Ok(server_name) = ServerName::try_from(name) else {
            return false;
        };
        webpki::EndEntityCert::try_from(self.key.end_entity_cert().expect("chain is not empty"))
            .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&server_name).is_ok())
    }
}

/// A listener's certificates: the first is the default, sent when the client names no host or a
/// host none of them is valid for.
struct CertificateList(Vec<LoadedCertificate>);

impl fmt::Debug for CertificateList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificateList({} certificates)", self.0.len())
    }
}

impl CertificateList {
    fn for_name(&self, name: Option<&str>) -> &LoadedCertificate {
        name.and_then(|name| self.0.iter().find(|cert| cert.valid_for(name)))
            .unwrap_or(&self.0[0])
    }
}

impl ResolvesServerCert for CertificateList {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.for_name(hello.server_name()).key.clone())
    }
}

/// A listener's TLS side: the rustls configuration for its handshakes.
#[derive(Clone)]
pub struct ListenerTls {
    certificates: Arc<CertificateList>,
    pub server_config: Arc<ServerConfig>,
}

impl fmt::Debug for ListenerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerTls")
            .field("certificates", &self.certificates)
            .finish()
    }
}

impl ListenerTls {
    pub fn new(
        certificates: &[Certificate],
        policy_name: Option<&str>,
        http2: bool,
    ) -> Result<ListenerTls, TlsError> {
        if certificates.is_empty() {
            return Err(TlsError::NoCertificate);
        }
        let loaded = certificates
            .iter()
            .map(LoadedCertificate::load)
            .collect::<Result<Vec<_>, _>>()?;
        let certificates = Arc::new(CertificateList(loaded));
        let policy = policy(policy_name)?;
        let mut server_config = ServerConfig::builder_with_provider(Arc::new(policy.provider()))
            .with_protocol_versions(&policy.versions())?
            .with_no_client_auth()
            .with_cert_resolver(certificates.clone());
        server_config.alpn_protocols = if http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(ListenerTls {
            certificates,
            server_config: Arc::new(server_config),
        })
    }

    /// Whether one of this listener's certificates is valid for `name` (to pick among the load
    /// balancers sharing a port by SNI).
    pub fn serves(&self, name: &str) -> bool {
        self.certificates.0.iter().any(|cert| cert.valid_for(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(names: &[&str]) -> Certificate {
        let generated = rcgen::generate_simple_self_signed(
            names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        Certificate {
            id: format!("cert-{}", names[0]),
            certificate_chain_pem: generated.cert.pem(),
            private_key_pem: generated.signing_key.serialize_pem(),
        }
    }

    #[test]
    fn named_policies_map_to_tls_versions() {
        assert_eq!(
            policy(None).unwrap(),
            PolicyTls {
                tls12: true,
                tls13: false
            }
        );
        assert_eq!(
            policy(Some("ELBSecurityPolicy-TLS13-1-2-2021-06")).unwrap(),
            PolicyTls {
                tls12: true,
                tls13: true
            }
        );
        assert_eq!(
            policy(Some("ELBSecurityPolicy-TLS13-1-3-2021-06")).unwrap(),
            PolicyTls {
                tls12: false,
                tls13: true
            }
        );
        assert!(matches!(
            policy(Some("ELBSecurityPolicy-Nope")),
            Err(TlsError::UnknownPolicy(name)) if name == "ELBSecurityPolicy-Nope"
        ));
    }

    #[test]
    fn providers_keep_only_the_policy_suites() {
        let tls12 = policy(None).unwrap().provider();
        assert!(!tls12.cipher_suites.is_empty());
        assert!(
            tls12
                .cipher_suites
                .iter()
                .all(|s| matches!(s, rustls::SupportedCipherSuite::Tls12(_)))
        );
        assert!(
            tls12
                .cipher_suites
                .iter()
                .all(|s| !format!("{:?}", s.suite()).contains("CHACHA"))
        );
        let tls13 = policy(Some("ELBSecurityPolicy-TLS13-1-3-2021-06"))
            .unwrap()
            .provider();
        assert_eq!(tls13.cipher_suites.len(), 3);
        assert!(
            tls13
                .cipher_suites
                .iter()
                .all(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)))
        );
    }

    #[test]
    fn certificates_are_chosen_by_name_with_the_first_as_default() {
        let tls = ListenerTls::new(
            &[
                certificate(&["a.example.com"]),
                certificate(&["*.b.example.com"]),
            ],
            None,
            true,
        )
        .unwrap();
        let list = &tls.certificates;
        let names = |cert: &LoadedCertificate| {
            ["a.example.com", "x.b.example.com"].map(|n| cert.valid_for(n))
        };
        assert_eq!(names(list.for_name(Some("x.b.example.com"))), [false, true]);
        assert_eq!(names(list.for_name(Some("a.example.com"))), [true, false]);
        assert_eq!(names(list.for_name(Some("unknown.test"))), [true, false]);
        assert_eq!(names(list.for_name(None)), [true, false]);
        assert!(tls.serves("y.b.example.com"));
        assert!(!tls.serves("b.example.com"));
        assert_eq!(
            tls.server_config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn bad_certificates_are_refused_with_their_id() {
        assert!(matches!(
            ListenerTls::new(&[], None, false),
            Err(TlsError::NoCertificate)
        ));
        let mut broken = certificate(&["a.example.com"]);
        broken.private_key_pem = "not a key".into();
        let err = ListenerTls::new(&[broken], None, false).unwrap_err();
        assert!(
            matches!(&err, TlsError::BadCertificate { id, .. } if id == "cert-a.example.com"),
            "{err}"
        );
        let mut mismatched = certificate(&["a.example.com"]);
        mismatched.private_key_pem = certificate(&["other.test"]).private_key_pem;
        assert!(matches!(
            ListenerTls::new(&[mismatched], None, false),
            Err(TlsError::BadCertificate { .. })
        ));
    }
}
