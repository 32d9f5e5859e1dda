use super::*;

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn t0() -> i64 {
    parse_amz_date("20150830T123600Z").unwrap()
}

fn credentials() -> Credentials<'static> {
    Credentials {
        access_key_id: KEY_ID,
        secret_access_key: SECRET,
        session_token: None,
    }
}

/// A request's headers, owned, so tests can change them.
struct Owned {
    query: String,
    headers: Vec<(String, String)>,
}

impl Owned {
    fn get() -> Self {
        Owned {
            query: String::new(),
            headers: vec![("Host".into(), "example.amazonaws.com".into())],
        }
    }

    fn with(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn without(mut self, name: &str) -> Self {
        self.headers
            .retain(|(header, _)| !header.eq_ignore_ascii_case(name));
        self
    }

    fn check<T>(&self, then: impl FnOnce(&RequestParts) -> T) -> T {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect();
        then(&RequestParts {
            method: "GET",
            path: "/",
            query: &self.query,
            headers: &headers,
            payload_sha256: EMPTY,
        })
    }

    /// Signed in the Authorization header at `at`.
    fn signed(self, at: i64) -> Self {
        let added = self.check(|request| {
            sign_headers(request, &credentials(), "us-east-1", "service", at, false)
        });
        let mut signed = self;
        signed.headers.extend(added);
        signed
    }

    /// Presigned at `at` for `expires` seconds.
    fn presigned(self, at: i64, expires: i64) -> Self {
        let query = self
            .check(|request| presign(request, &credentials(), "us-east-1", "service", at, expires));
        Owned { query, ..self }
    }

    fn authorization(&self) -> String {
        self.headers
            .iter()
            .find(|(name, _)| name == "Authorization")
            .map(|(_, value)| value.clone())
            .unwrap()
    }

    fn with_authorization(self, value: &str) -> Self {
        self.without("Authorization").with("Authorization", value)
    }

    fn parse(&self) -> Result<Option<Signed<'static>>, SigV4Error> {
        self.check(|request| parse(request).map(|signed| signed.map(Signed::into_owned)))
    }

    fn verify(&self, now: i64) -> Result<(), SigV4Error> {
        self.check(|request| {
            let signed = parse(request)?.expect("signed");
            verify(&signed, request, SECRET, now)
        })
    }
}

#[test]
fn matches_the_aws_test_suite_get_vanilla() {
    let signed = Owned::get().signed(t0());
    assert_eq!(
        signed.authorization(),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, \
         Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    assert_eq!(signed.verify(t0()), Ok(()));
}

#[test]
fn an_unsigned_request_parses_to_none() {
    assert_eq!(Owned::get().parse(), Ok(None));
    let mut unrelated = Owned::get();
    unrelated.query = "X-Amz-Date=20150830T123600Z&Action=X".into();
    assert_eq!(unrelated.parse(), Ok(None));
}

#[test]
fn parsed_header_signatures_say_what_they_claim() {
    let signed = Owned::get()
        .with("X-Amz-Security-Token", "token")
        .signed(t0())
        .parse()
        .unwrap()
        .unwrap();
    assert_eq!(
        signed,
        Signed {
            access_key_id: KEY_ID.into(),
            date: "20150830".into(),
            region: "us-east-1".into(),
            service: "service".into(),
            signed_headers: vec![
                "host".into(),
                "x-amz-date".into(),
                "x-amz-security-token".into()
            ],
            signature: signed.signature.clone(),
            request_time: t0(),
            expires_seconds: None,
            session_token: Some("token".into()),
            location: Location::Header,
        }
    );
    assert_eq!(signed.scope(), "20150830/us-east-1/service/aws4_request");
}

#[test]
fn incomplete_authorization_headers_name_what_they_lack() {
    let signed = Owned::get().signed(t0());
    let authorization = signed.authorization();
    let (head, signature) = authorization.split_once(", Signature=").unwrap();
    let incomplete = |missing: Vec<&'static str>| {
        Err(SigV4Error::Incomplete {
            location: Location::Header,
            missing,
        })
    };
    let signed = signed.with_authorization(head);
    assert_eq!(signed.parse(), incomplete(vec!["Signature"]));
    let signed = signed.with_authorization(&format!("AWS4-HMAC-SHA256 Signature={signature}"));
    assert_eq!(
        signed.parse(),
        incomplete(vec!["Credential", "SignedHeaders"])
    );
    let undated = Owned::get().signed(t0()).without("X-Amz-Date");
    assert_eq!(undated.parse(), incomplete(vec!["X-Amz-Date"]));
}

#[test]
fn other_algorithms_are_refused() {
    let signed = Owned::get().signed(t0());
    let other = signed
        .authorization()
        .replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512");
    assert_eq!(
        signed.with_authorization(&other).parse(),
        Err(SigV4Error::UnsupportedAlgorithm("AWS4-HMAC-SHA512".into()))
    );
    assert_eq!(
        Owned::get().with("authorization", "Bearer abc").parse(),
        Err(SigV4Error::UnsupportedAlgorithm("Bearer".into()))
    );
    let mut presigned = Owned::get().presigned(t0(), 60);
    presigned.query = presigned
        .query
        .replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256");
    assert_eq!(
        presigned.parse(),
        Err(SigV4Error::UnsupportedAlgorithm(
            "AWS4-ECDSA-P256-SHA256".into()
        ))
    );
}

#[test]
fn two_signatures_are_ambiguous() {
    let signed = Owned::get().signed(t0());
    let twice = signed.authorization();
    assert_eq!(
        Owned::get()
            .signed(t0())
            .with("authorization", &twice)
            .parse(),
        Err(SigV4Error::Ambiguous)
    );
    let mut both = Owned::get().signed(t0());
    both.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256".into();
    assert_eq!(both.parse(), Err(SigV4Error::Ambiguous));
}

#[test]
fn malformed_credentials_dates_and_expiry_are_refused() {
    let signed = Owned::get().signed(t0());
    let authorization = signed.authorization();
    for credential in [
        "AKIDEXAMPLE/20150830/us-east-1/service",
        "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request/x",
        "AKIDEXAMPLE/20150830/us-east-1/service/aws5_request",
        "AKIDEXAMPLE/2015083/us-east-1/service/aws4_request",
        "/20150830/us-east-1/service/aws4_request",
        "AKIDEXAMPLE/20150830//service/aws4_request",
    ] {
        let changed = authorization.replace(
            "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
            credential,
        );
        assert_eq!(
            Owned::get()
                .signed(t0())
                .with_authorization(&changed)
                .parse(),
            Err(SigV4Error::MalformedCredential(credential.into())),
            "{credential}"
        );
    }
    let misdated = Owned::get()
        .signed(t0())
        .without("X-Amz-Date")
        .with("X-Amz-Date", "2015-08-30T12:36:00Z");
    assert_eq!(
        misdated.parse(),
        Err(SigV4Error::MalformedDate("2015-08-30T12:36:00Z".into()))
    );
    for expires in ["0", "604801", "-5", "abc", ""] {
        let mut presigned = Owned::get().presigned(t0(), 60);
        presigned.query = presigned
            .query
            .replace("X-Amz-Expires=60", &format!("X-Amz-Expires={expires}"));
        assert_eq!(
            presigned.parse(),
            Err(SigV4Error::MalformedExpires(expires.into())),
            "{expires}"
        );
    }
}

#[test]
fn the_scope_date_must_be_the_request_date() {
    let next_day = amz_date(t0() + 86_400);
    let signed = Owned::get()
        .signed(t0())
        .without("X-Amz-Date")
        .with("X-Amz-Date", &next_day);
    assert_eq!(
        signed.parse(),
        Err(SigV4Error::ScopeDateMismatch {
            scope_date: "20150830".into(),
            request_date: next_day,
        })
    );
}

#[test]
fn host_must_be_signed_and_signed_headers_present() {
    let signed = Owned::get().with("X-Extra", "1").signed(t0());
    let unsigned_host = signed
        .authorization()
        .replace("SignedHeaders=host;", "SignedHeaders=");
    assert_eq!(
        Owned::get()
            .signed(t0())
            .with_authorization(&unsigned_host)
            .parse(),
        Err(SigV4Error::HostNotSigned)
    );
    assert_eq!(
        signed.without("x-extra").verify(t0()),
        Err(SigV4Error::SignedHeaderMissing("x-extra".into()))
    );
}

#[test]
fn header_signatures_allow_fifteen_minutes_either_way() {
    let signed = Owned::get().signed(t0());
    for now in [t0() - MAX_SKEW_SECONDS, t0(), t0() + MAX_SKEW_SECONDS] {
        assert_eq!(signed.verify(now), Ok(()));
    }
    for now in [t0() - MAX_SKEW_SECONDS - 1, t0() + MAX_SKEW_SECONDS + 1] {
        assert_eq!(
            signed.verify(now),
            Err(SigV4Error::Skewed {
                request_time: t0(),
                now
            })
        );
    }
}

#[test]
fn presigned_urls_live_from_fifteen_minutes_before_until_they_expire() {
    let expires = 3600;
    let presigned = Owned::get().presigned(t0(), expires);
    let signed = presigned.parse().unwrap().unwrap();
    assert_eq!(signed.location, Location::Query);
    assert_eq!(signed.expires_seconds, Some(expires));
    for now in [t0() - MAX_SKEW_SECONDS, t0(), t0() + expires] {
        assert_eq!(presigned.verify(now), Ok(()), "{now}");
    }
    assert_eq!(
        presigned.verify(t0() + expires + 1),
        Err(SigV4Error::PresignExpired {
            request_time: t0(),
            expires_seconds: expires,
            now: t0() + expires + 1
        })
    );
    assert_eq!(
        presigned.verify(t0() - MAX_SKEW_SECONDS - 1),
        Err(SigV4Error::Skewed {
            request_time: t0(),
            now: t0() - MAX_SKEW_SECONDS - 1
        })
    );
}

#[test]
fn presigned_urls_carry_their_session_token() {
    let token_credentials = Credentials {
        session_token: Some("tok/en+="),
        ..credentials()
    };
    let query = Owned::get().check(|request| {
        presign(
            request,
            &token_credentials,
            "us-east-1",
            "service",
            t0(),
            60,
        )
    });
    assert!(
        query.contains("X-Amz-Security-Token=tok%2Fen%2B%3D"),
        "{query}"
    );
    let presigned = Owned {
        query,
        ..Owned::get()
    };
    let signed = presigned.parse().unwrap().unwrap();
    assert_eq!(signed.session_token.as_deref(), Some("tok/en+="));
    assert_eq!(presigned.verify(t0()), Ok(()));
}

#[test]
fn incomplete_presigned_urls_name_what_they_lack() {
    let presigned = Owned::get().presigned(t0(), 60);
    let mut stripped = Owned::get();
    stripped.query = presigned
        .query
        .split('&')
        .filter(|param| !param.starts_with("X-Amz-Signature=") && !param.starts_with("X-Amz-Date="))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(
        stripped.parse(),
        Err(SigV4Error::Incomplete {
            location: Location::Query,
            missing: vec!["X-Amz-Signature", "X-Amz-Date"],
        })
    );
}

#[test]
fn a_wrong_secret_or_changed_request_is_a_bad_signature() {
    let signed = Owned::get().with("X-Extra", "a  b").signed(t0());
    assert_eq!(
        signed.check(|request| {
            let parsed = parse(request).unwrap().unwrap();
            verify(&parsed, request, "not the secret", t0())
        }),
        Err(SigV4Error::BadSignature)
    );
    let respaced = Owned::get().with("X-Extra", "  a b ").signed(t0());
    let moved = respaced
        .without("X-Extra")
        .with("x-extra", " a   b")
        .with_authorization(&signed.authorization());
    assert_eq!(moved.verify(t0()), Ok(()), "whitespace is canonicalized");
    let changed = signed.without("X-Extra").with("X-Extra", "a c");
    assert_eq!(changed.verify(t0()), Err(SigV4Error::BadSignature));
}

#[test]
fn a_date_header_dates_the_request_when_x_amz_date_is_absent() {
    let at = t0() + 60;
    let with_date = Owned::get()
        .with("Date", "Sun, 30 Aug 2015 12:37:00 GMT")
        .signed(at)
        .without("X-Amz-Date");
    // Our signer always adds X-Amz-Date; without it the Date header gives the same time, but the
    // signature covered x-amz-date, which is now absent.
    let signed = with_date.parse().unwrap().unwrap();
    assert_eq!(signed.request_time, at);
    assert_eq!(
        with_date.verify(at),
        Err(SigV4Error::SignedHeaderMissing("x-amz-date".into()))
    );
    let malformed = Owned::get()
        .signed(at)
        .without("X-Amz-Date")
        .with("Date", "yesterday");
    assert_eq!(
        malformed.parse(),
        Err(SigV4Error::MalformedDate("yesterday".into()))
    );
}

#[test]
fn every_family_answers_every_failure_as_aws_does() {
    use Family::{Cbor, Ec2, Json, Query};
    let code = |family, failure: Failure| {
        let rejection = rejection(family, &failure);
        (rejection.status, rejection.code)
    };
    let skewed = || {
        Failure::from(SigV4Error::Skewed {
            request_time: t0(),
            now: t0() + 3600,
        })
    };
    let expired = || {
        Failure::from(SigV4Error::PresignExpired {
            request_time: t0(),
            expires_seconds: 60,
            now: t0() + 61,
        })
    };
    let malformed = || Failure::from(SigV4Error::HostNotSigned);
    let bad = || Failure::from(SigV4Error::BadSignature);
    for family in [Json, Cbor] {
        assert_eq!(
            code(family, Failure::Unsigned),
            (400, "MissingAuthenticationTokenException")
        );
        assert_eq!(
            code(family, Failure::UnknownAccessKey),
            (400, "UnrecognizedClientException")
        );
        assert_eq!(code(family, bad()), (400, "InvalidSignatureException"));
        assert_eq!(code(family, skewed()), (400, "InvalidSignatureException"));
        assert_eq!(code(family, expired()), (400, "InvalidSignatureException"));
        assert_eq!(
            code(family, Failure::TokenExpired),
            (400, "ExpiredTokenException")
        );
        assert_eq!(
            code(family, malformed()),
            (400, "IncompleteSignatureException")
        );
    }
    assert_eq!(
        code(Query, Failure::Unsigned),
        (403, "MissingAuthenticationToken")
    );
    assert_eq!(
        code(Query, Failure::UnknownAccessKey),
        (403, "InvalidClientTokenId")
    );
    assert_eq!(code(Query, bad()), (403, "SignatureDoesNotMatch"));
    assert_eq!(code(Query, skewed()), (403, "SignatureDoesNotMatch"));
    assert_eq!(code(Query, expired()), (400, "RequestExpired"));
    assert_eq!(code(Query, Failure::TokenExpired), (403, "ExpiredToken"));
    assert_eq!(code(Query, malformed()), (400, "IncompleteSignature"));
    assert_eq!(
        code(Ec2, Failure::Unsigned),
        (401, "MissingAuthenticationToken")
    );
    assert_eq!(code(Ec2, Failure::UnknownAccessKey), (401, "AuthFailure"));
    assert_eq!(code(Ec2, bad()), (401, "AuthFailure"));
    assert_eq!(code(Ec2, skewed()), (400, "RequestExpired"));
    assert_eq!(code(Ec2, expired()), (400, "RequestExpired"));
    assert_eq!(code(Ec2, Failure::TokenExpired), (400, "RequestExpired"));
    assert_eq!(code(Ec2, malformed()), (400, "IncompleteSignature"));
}

#[test]
fn rejection_messages_carry_the_times_as_aws_writes_them() {
    let past = rejection(
        Family::Query,
        &SigV4Error::Skewed {
            request_time: parse_amz_date("20220127T001427Z").unwrap(),
            now: parse_amz_date("20220127T015928Z").unwrap(),
        }
        .into(),
    );
    assert_eq!(
        past.message,
        "Signature expired: 20220127T001427Z is now earlier than 20220127T014428Z \
         (20220127T015928Z - 15 min.)"
    );
    let future = rejection(
        Family::Json,
        &SigV4Error::Skewed {
            request_time: t0() + 3600,
            now: t0(),
        }
        .into(),
    );
    assert_eq!(
        future.message,
        "Signature not yet current: 20150830T133600Z is still later than 20150830T125100Z \
         (20150830T123600Z + 15 min.)"
    );
    let incomplete = rejection(
        Family::Json,
        &SigV4Error::Incomplete {
            location: Location::Header,
            missing: vec!["Signature", "X-Amz-Date"],
        }
        .into(),
    );
    assert_eq!(
        incomplete.message,
        "Authorization header requires 'Signature' parameter. Authorization header requires \
         existence of either a 'X-Amz-Date' or a 'Date' header."
    );
    assert_eq!(
        rejection(Family::Query, &Failure::UnknownAccessKey).message,
        "The security token included in the request is invalid."
    );
    assert_eq!(
        rejection(Family::Ec2, &SigV4Error::BadSignature.into()).message,
        "AWS was not able to validate the provided access credentials"
    );
}
