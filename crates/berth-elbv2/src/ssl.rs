//! ALB's named security policies for HTTPS listeners: the TLS versions and ciphers each allows,
//! as DescribeSSLPolicies answers them (the data plane maps them onto its TLS stack, which
//! serves their TLS 1.2 and 1.3 AEAD part).

use crate::error::Elbv2Error;

/// The policy a new HTTPS listener gets when it names none.
pub const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-2016-08";

/// Lowest and highest TLS version a policy allows, as `(major, minor)` of `TLSv1.x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsVersions {
    pub min: (u8, u8),
    pub max: (u8, u8),
}

const TLS10: (u8, u8) = (1, 0);
const TLS11: (u8, u8) = (1, 1);
const TLS12: (u8, u8) = (1, 2);
const TLS13: (u8, u8) = (1, 3);

/// Which of ALB's pre-TLS 1.3 ciphers a policy offers, in the order of [`CIPHERS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherSet {
    /// All of them.
    All,
    /// All of them and, last, `DES-CBC3-SHA`.
    AllWithTripleDes,
    /// Those without SHA-1 MACs.
    WithoutSha1,
    /// Forward secrecy: the ECDHE ones.
    Ecdhe,
    /// The ECDHE ones without SHA-1 MACs.
    EcdheWithoutSha1,
    /// The ECDHE ones with AES-GCM.
    EcdheGcm,
}

/// ALB's TLS 1.0–1.2 ciphers (OpenSSL names) in ALB's order of preference.
pub const CIPHERS: [&str; 18] = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES128-SHA256",
    "AES128-SHA",
    "AES256-GCM-SHA384",
    "AES256-SHA256",
    "AES256-SHA",
];

/// The TLS 1.3 suites every policy allowing TLS 1.3 offers, before the others.
pub const TLS13_CIPHERS: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

impl CipherSet {
    fn offers(self, cipher: &str) -> bool {
        // OpenSSL names a SHA-1 MAC by a bare `-SHA` suffix.
        let sha1 = cipher.ends_with("-SHA");
        let ecdhe = cipher.starts_with("ECDHE-");
        match self {
            CipherSet::All | CipherSet::AllWithTripleDes => true,
            CipherSet::WithoutSha1 => !sha1,
            CipherSet::Ecdhe => ecdhe,
            CipherSet::EcdheWithoutSha1 => ecdhe && !sha1,
            CipherSet::EcdheGcm => ecdhe && cipher.contains("-GCM-"),
        }
    }
}

/// A predefined policy: the TLS versions it allows and the ciphers it offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SslPolicy {
    pub name: &'static str,
    pub versions: TlsVersions,
    /// Its TLS 1.0–1.2 ciphers (none when it allows only TLS 1.3).
    pub ciphers: CipherSet,
}

impl SslPolicy {
    /// DescribeSSLPolicies' `SslProtocols`, oldest first.
    pub fn protocols(&self) -> Vec<&'static str> {
        [
            (TLS10, "TLSv1"),
            (TLS11, "TLSv1.1"),
            (TLS12, "TLSv1.2"),
            (TLS13, "TLSv1.3"),
        ]
        .into_iter()
        .filter(|(version, _)| (self.versions.min..=self.versions.max).contains(version))
        .map(|(_, name)| name)
        .collect()
    }

    /// DescribeSSLPolicies' `Ciphers`, in order of preference (priority 1 first).
    pub fn cipher_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.versions.max == TLS13 {
            names.extend(TLS13_CIPHERS);
        }
        if self.versions.min <= TLS12 {
            names.extend(CIPHERS.into_iter().filter(|c| self.ciphers.offers(c)));
            if self.ciphers == CipherSet::AllWithTripleDes {
                names.push("DES-CBC3-SHA");
            }
        }
        names
    }
}

/// Every predefined ALB policy (those without post-quantum key exchange or FIPS modules), as
/// ALB's documentation lists their protocols and ciphers.
pub const SSL_POLICIES: &[SslPolicy] = &[
    SslPolicy {
        name: "ELBSecurityPolicy-TLS13-1-2-2021-06",
        versions: TlsVersions {
            min: TLS12,
            max: TLS13,
        },
        ciphers: CipherSet::EcdheWithoutSha1,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        versions: TlsVersions {
            min: TLS12,
            max: TLS13,
        },
        ciphers: CipherSet::EcdheGcm,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
        versions: TlsVersions {
            min: TLS12,
            max: TLS13,
        },
        ciphers: CipherSet::WithoutSha1,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
        versions: TlsVersions {
            min: TLS12,
            max: TLS13,
        },
        ciphers: CipherSet::All,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS13-1-1-2021-06",
        versions: TlsVersions {
            min: TLS11,
            max: TLS13,
        },
        ciphers: CipherSet::All,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS13-1-0-2021-06",
        versions: TlsVersions {
            min: TLS10,
            max: TLS13,
        },
        ciphers: CipherSet::All,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS13-1-3-2021-06",
        versions: TlsVersions {
            min: TLS13,
            max: TLS13,
        },
        ciphers: CipherSet::All,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-2016-08",
        versions: TlsVersions {
            min: TLS10,
            max: TLS12,
        },
        ciphers: CipherSet::All,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS-1-0-2015-04",
        versions: TlsVersions {
            min: TLS10,
            max: TLS12,
        },
        ciphers: CipherSet::AllWithTripleDes,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS-1-1-2017-01",
        versions: TlsVersions {
            min: TLS11,
            max: TLS12,
        },
        ciphers: CipherSet::All,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS-1-2-2017-01",
        versions: TlsVersions {
            min: TLS12,
            max: TLS12,
        },
        ciphers: CipherSet::WithoutSha1,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
        versions: TlsVersions {
            min: TLS12,
            max: TLS12,
        },
        ciphers: CipherSet::All,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-FS-2018-06",
        versions: TlsVersions {
            min: TLS10,
            max: TLS12,
        },
        ciphers: CipherSet::Ecdhe,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-FS-1-1-2019-08",
        versions: TlsVersions {
            min: TLS11,
            max: TLS12,
        },
        ciphers: CipherSet::Ecdhe,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-FS-1-2-2019-08",
        versions: TlsVersions {
            min: TLS12,
            max: TLS12,
        },
        ciphers: CipherSet::Ecdhe,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-FS-1-2-Res-2019-08",
        versions: TlsVersions {
            min: TLS12,
            max: TLS12,
        },
        ciphers: CipherSet::EcdheWithoutSha1,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-FS-1-2-Res-2020-10",
        versions: TlsVersions {
            min: TLS12,
            max: TLS12,
        },
        ciphers: CipherSet::EcdheGcm,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-2015-05",
        versions: TlsVersions {
            min: TLS10,
            max: TLS12,
        },
        ciphers: CipherSet::All,
    },
];

/// The TLS versions of a named policy; `SSLPolicyNotFound` for any other name.
pub fn ssl_policy(name: &str) -> Result<TlsVersions, Elbv2Error> {
    named_ssl_policy(name).map(|policy| policy.versions)
}

/// The predefined policy `name`; `SSLPolicyNotFound` for any other name.
pub fn named_ssl_policy(name: &str) -> Result<&'static SslPolicy, Elbv2Error> {
    SSL_POLICIES
        .iter()
        .find(|policy| policy.name == name)
        .ok_or_else(|| Elbv2Error::SslPolicyNotFound(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_exists() {
        assert_eq!(ssl_policy(DEFAULT_SSL_POLICY).unwrap().max, TLS12);
        assert_eq!(
            ssl_policy("ELBSecurityPolicy-TLS13-1-3-2021-06")
                .unwrap()
                .min,
            TLS13
        );
        assert_eq!(
            ssl_policy("mine").unwrap_err().to_string(),
            "SSL policy 'mine' not found"
        );
    }

    fn described(name: &str) -> (Vec<&'static str>, Vec<&'static str>) {
        let policy = named_ssl_policy(name).unwrap();
        (policy.protocols(), policy.cipher_names())
    }

    #[test]
    fn policies_list_their_protocols_and_ciphers_in_order() {
        let (protocols, ciphers) = described("ELBSecurityPolicy-2016-08");
        assert_eq!(protocols, ["TLSv1", "TLSv1.1", "TLSv1.2"]);
        assert_eq!(ciphers, CIPHERS);
        let (protocols, ciphers) = described("ELBSecurityPolicy-TLS13-1-3-2021-06");
        assert_eq!(protocols, ["TLSv1.3"]);
        assert_eq!(ciphers, TLS13_CIPHERS);
        let (protocols, ciphers) = described("ELBSecurityPolicy-TLS13-1-2-2021-06");
        assert_eq!(protocols, ["TLSv1.2", "TLSv1.3"]);
        assert_eq!(
            ciphers,
            [
                "TLS_AES_128_GCM_SHA256",
                "TLS_AES_256_GCM_SHA384",
                "TLS_CHACHA20_POLY1305_SHA256",
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                "ECDHE-RSA-AES128-GCM-SHA256",
                "ECDHE-ECDSA-AES128-SHA256",
                "ECDHE-RSA-AES128-SHA256",
                "ECDHE-ECDSA-AES256-GCM-SHA384",
                "ECDHE-RSA-AES256-GCM-SHA384",
                "ECDHE-ECDSA-AES256-SHA384",
                "ECDHE-RSA-AES256-SHA384",
            ]
        );
        assert_eq!(
            described("ELBSecurityPolicy-FS-1-2-Res-2020-10").1,
            [
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                "ECDHE-RSA-AES128-GCM-SHA256",
                "ECDHE-ECDSA-AES256-GCM-SHA384",
                "ECDHE-RSA-AES256-GCM-SHA384",
            ]
        );
        assert_eq!(
            described("ELBSecurityPolicy-TLS-1-2-2017-01").1,
            [
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                "ECDHE-RSA-AES128-GCM-SHA256",
                "ECDHE-ECDSA-AES128-SHA256",
                "ECDHE-RSA-AES128-SHA256",
                "ECDHE-ECDSA-AES256-GCM-SHA384",
                "ECDHE-RSA-AES256-GCM-SHA384",
                "ECDHE-ECDSA-AES256-SHA384",
                "ECDHE-RSA-AES256-SHA384",
                "AES128-GCM-SHA256",
                "AES128-SHA256",
                "AES256-GCM-SHA384",
                "AES256-SHA256",
            ]
        );
        let (protocols, ciphers) = described("ELBSecurityPolicy-TLS-1-0-2015-04");
        assert_eq!(protocols, ["TLSv1", "TLSv1.1", "TLSv1.2"]);
        assert_eq!(ciphers.last(), Some(&"DES-CBC3-SHA"));
        assert_eq!(ciphers.len(), 19);
        assert_eq!(described("ELBSecurityPolicy-FS-2018-06").1.len(), 12);
        assert_eq!(described("ELBSecurityPolicy-TLS13-1-0-2021-06").1.len(), 21);
    }

    #[test]
    fn every_policy_has_a_distinct_name_and_ciphers() {
        for (index, policy) in SSL_POLICIES.iter().enumerate() {
            assert!(!policy.cipher_names().is_empty(), "{}", policy.name);
            assert!(
                SSL_POLICIES[..index].iter().all(|p| p.name != policy.name),
                "{} twice",
                policy.name
            );
        }
    }
}
