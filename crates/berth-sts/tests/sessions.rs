//! STS behind a real gateway served in-process on port 0, with a pinned clock: temporary
//! credentials work until they expire, and are refused after.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_aws::Clock;
use berth_gateway::{Authentication, ConnectionLimits, Gateway, RootKey, Service};
use berth_sigv4::{Credentials, RequestParts};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A clock tests move by hand.
struct PinnedClock(AtomicU64);

impl Clock for PinnedClock {
    fn now(&self) -> f64 {
        self.0.load(Ordering::SeqCst) as f64
    }
}

const START: u64 = 1_796_000_000;

struct Server {
    address: std::net::SocketAddr,
    clock: Arc<PinnedClock>,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn berth_store::Store> =
        Arc::new(berth_store_sqlite::SqliteStore::open(&dir.path().join("state.db")).unwrap());
    let clock = Arc::new(PinnedClock(AtomicU64::new(START)));
    let services: Vec<Arc<dyn Service>> = vec![Arc::new(berth_sts::StsService::new(store.clone()))];
    let authentication = Authentication {
        identities: vec![
            Arc::new(RootKey {
                access_key_id: "AKIDROOT".into(),
                secret_access_key: "root-secret".into(),
                account_id: "123456789012".into(),
            }),
            Arc::new(berth_sts::Sessions::new(store)),
        ],
        accept_any_credentials: false,
        is_region: berth_aws::region::is_well_formed,
        account_id: "123456789012".into(),
    };
    let gateway = Arc::new(Gateway::new(
        services,
        authentication,
        Arc::new(berth_aws::authorization::RootOnly),
        clock.clone(),
        ConnectionLimits::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(berth_gateway::serve(
        listener,
        gateway.router(),
        ConnectionLimits::default(),
        std::future::pending(),
    ));
    Server {
        address,
        clock,
        _dir: dir,
    }
}

impl Server {
    /// POSTs a query-protocol form signed for STS at the server's current time; returns the
    /// status and body.
    async fn sts(&self, form: &str, credentials: Credentials<'_>) -> (u16, String) {
        let host = self.address.to_string();
        let payload = hex::encode(Sha256::digest(form.as_bytes()));
        let unsigned = [
            ("host", host.as_bytes()),
            (
                "content-type",
                b"application/x-www-form-urlencoded; charset=utf-8".as_slice(),
            ),
        ];
        let parts = RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &unsigned,
            payload_sha256: &payload,
        };
        let now = self.clock.now() as i64;
        let signed =
            berth_sigv4::sign_headers(&parts, &credentials, "us-east-1", "sts", now, false);
        let mut request = format!(
            "POST / HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/x-www-form-urlencoded; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n",
            form.len()
        );
        for (name, value) in signed {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(form);
        let mut stream = tokio::net::TcpStream::connect(self.address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").unwrap().1.to_string();
        (status, body)
    }
}

fn element<'a>(xml: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no {name} in {xml}"))
        + open.len();
    let end = xml[start..].find(&format!("</{name}>")).unwrap() + start;
    &xml[start..end]
}

const ROOT: Credentials<'static> = Credentials {
    access_key_id: "AKIDROOT",
    secret_access_key: "root-secret",
    session_token: None,
};

#[tokio::test]
async fn session_credentials_work_until_they_expire() {
    let server = start().await;
    let (status, body) = server
        .sts(
            "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900",
            ROOT,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(element(&body, "Expiration"), "2026-11-30T01:08:20.000Z");
    let key = element(&body, "AccessKeyId").to_string();
    let secret = element(&body, "SecretAccessKey").to_string();
    let token = element(&body, "SessionToken").to_string();
    let temporary = Credentials {
        access_key_id: &key,
        secret_access_key: &secret,
        session_token: Some(&token),
    };

    server.clock.0.store(START + 899, Ordering::SeqCst);
    let (status, body) = server
        .sts("Action=GetCallerIdentity&Version=2011-06-15", temporary)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(element(&body, "Arn"), "arn:aws:iam::123456789012:root");
    assert_eq!(element(&body, "Account"), "123456789012");

    server.clock.0.store(START + 900, Ordering::SeqCst);
    let (status, body) = server
        .sts("Action=GetCallerIdentity&Version=2011-06-15", temporary)
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(element(&body, "Code"), "ExpiredToken");
    // The root keys are unaffected.
    let (status, _) = server
        .sts("Action=GetCallerIdentity&Version=2011-06-15", ROOT)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn query_protocol_refusals_come_as_query_errors() {
    let server = start().await;
    for (form, code) in [
        ("Action=Frobnicate&Version=2011-06-15", "InvalidAction"),
        (
            "Action=GetCallerIdentity&Version=2099-01-01",
            "InvalidAction",
        ),
        ("Version=2011-06-15", "MissingAction"),
        (
            "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=ten",
            "ValidationError",
        ),
    ] {
        let (status, body) = server.sts(form, ROOT).await;
        assert_eq!(status, 400, "{form}: {body}");
        assert_eq!(element(&body, "Code"), code, "{form}");
        assert!(body.starts_with("<ErrorResponse"), "{body}");
    }
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    fn param() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("Action".to_string()),
            Just("Version".to_string()),
            Just("DurationSeconds".to_string()),
            Just("SerialNumber".to_string()),
            Just("TokenCode".to_string()),
            Just("Tags.member.1.Key".to_string()),
            "[A-Za-z.]{0,12}",
            "\\PC{0,8}",
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("GetSessionToken".to_string()),
            Just("GetCallerIdentity".to_string()),
            Just("2011-06-15".to_string()),
            "-?[0-9]{0,12}",
            "\\PC{0,16}",
            "[<>&\"'%=+]{0,6}",
        ]
    }

    fn form(pairs: &[(String, String)]) -> String {
        pairs
            .iter()
            .map(|(k, v)| {
                let encode = |s: &str| {
                    s.bytes()
                        .map(|b| match b {
                            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                                (b as char).to_string()
                            }
                            _ => format!("%{b:02X}"),
                        })
                        .collect::<String>()
                };
                format!("{}={}", encode(k), encode(v))
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

        /// Whatever a signed query request carries, the gateway answers it without a server
        /// error: bad input is the client's fault.
        #[test]
        fn random_query_requests_never_get_a_server_error(
            pairs in proptest::collection::vec((param(), value()), 0..6),
            raw in "\\PC{0,40}",
            use_raw in any::<bool>(),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let server = start().await;
                let body = if use_raw { raw.clone() } else { form(&pairs) };
                let (status, text) = server.sts(&body, ROOT).await;
                prop_assert!(status < 500, "{body:?} → {status} {text}");
                Ok(())
            })?;
        }
    }
}
