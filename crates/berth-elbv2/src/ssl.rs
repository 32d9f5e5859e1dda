//! ALB's named security policies for HTTPS listeners and the TLS versions each allows (the data
//! plane maps them onto its TLS stack).

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

/// Every predefined ALB policy with the TLS versions it allows.
pub const SSL_POLICIES: &[(&str, TlsVersions)] = &[
    (
        "ELBSecurityPolicy-TLS13-1-2-2021-06",
        TlsVersions {
            min: TLS12,
            max: TLS13,
        },
    ),
    (
        "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        TlsVersions {
            min: TLS12,
            max: TLS13,
        },
    ),
    (
        "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
        TlsVersions {
            min: TLS12,
            max: TLS13,
        },
    ),
    (
        "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
        TlsVersions {
            min: TLS12,
            max: TLS13,
        },
    ),
    (
        "ELBSecurityPolicy-TLS13-1-1-2021-06",
        TlsVersions {
            min: TLS11,
            max: TLS13,
        },
    ),
    (
        "ELBSecurityPolicy-TLS13-1-0-2021-06",
        TlsVersions {
            min: TLS10,
            max: TLS13,
        },
    ),
    (
        "ELBSecurityPolicy-TLS13-1-3-2021-06",
        TlsVersions {
            min: TLS13,
            max: TLS13,
        },
    ),
    (
        "ELBSecurityPolicy-2016-08",
        TlsVersions {
            min: TLS10,
            max: TLS12,
        },
    ),
    (
        "ELBSecurityPolicy-TLS-1-0-2015-04",
        TlsVersions {
            min: TLS10,
            max: TLS12,
        },
    ),
    (
        "ELBSecurityPolicy-TLS-1-1-2017-01",
        TlsVersions {
            min: TLS11,
            max: TLS12,
        },
    ),
    (
        "ELBSecurityPolicy-TLS-1-2-2017-01",
        TlsVersions {
            min: TLS12,
            max: TLS12,
        },
    ),
    (
        "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
        TlsVersions {
            min: TLS12,
            max: TLS12,
        },
    ),
    (
        "ELBSecurityPolicy-FS-2018-06",
        TlsVersions {
            min: TLS10,
            max: TLS12,
        },
    ),
    (
        "ELBSecurityPolicy-FS-1-1-2019-08",
        TlsVersions {
            min: TLS11,
            max: TLS12,
        },
    ),
    (
        "ELBSecurityPolicy-FS-1-2-2019-08",
        TlsVersions {
            min: TLS12,
            max: TLS12,
        },
    ),
    (
        "ELBSecurityPolicy-FS-1-2-Res-2019-08",
        TlsVersions {
            min: TLS12,
            max: TLS12,
        },
    ),
    (
        "ELBSecurityPolicy-FS-1-2-Res-2020-10",
        TlsVersions {
            min: TLS12,
            max: TLS12,
        },
    ),
    (
        "ELBSecurityPolicy-2015-05",
        TlsVersions {
            min: TLS10,
            max: TLS12,
        },
    ),
];

/// The TLS versions of a named policy; `SSLPolicyNotFound` for any other name.
pub fn ssl_policy(name: &str) -> Result<TlsVersions, Elbv2Error> {
    SSL_POLICIES
        .iter()
        .find(|(policy, _)| *policy == name)
        .map(|(_, versions)| *versions)
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
}
