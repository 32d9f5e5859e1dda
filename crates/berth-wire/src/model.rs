//! A compact, static description of a service model: what the protocol codecs need to translate
//! a wire format to and from the JSON form of the generated serde types. Each generated service
//! module carries one as `MODEL`; nothing is parsed at run time.
//!
//! Member traits are resolved by the generator: a [`Member`] carries the effective wire names
//! and flags (the member reference's traits over its target shape's), so codecs look only there.

/// Index of a shape in [`ServiceModel::shapes`].
pub type ShapeId = u16;

/// The wire protocols AWS services speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// AWS JSON 1.0/1.1 (`X-Amz-Target`): the serde types are the wire format.
    Json,
    /// AWS Query: form-encoded requests, XML responses.
    Query,
    /// EC2's dialect of AWS Query.
    Ec2,
    /// Smithy RPC v2 with CBOR bodies.
    RpcV2Cbor,
    RestJson,
    RestXml,
}

impl Protocol {
    /// The protocol named by botocore's `metadata.protocol(s)` spelling.
    pub fn from_botocore(name: &str) -> Option<Protocol> {
        Some(match name {
            "json" => Protocol::Json,
            "query" => Protocol::Query,
            "ec2" => Protocol::Ec2,
            "smithy-rpc-v2-cbor" => Protocol::RpcV2Cbor,
            "rest-json" => Protocol::RestJson,
            "rest-xml" => Protocol::RestXml,
            _ => return None,
        })
    }
}

/// How a timestamp is written when the protocol does not fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampFormat {
    Iso8601,
    EpochSeconds,
    /// RFC 7231 `http-date`, botocore's `rfc822`.
    HttpDate,
}

/// Where a REST protocol carries a member (botocore's `location`); members without one travel
/// in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    /// A `{Label}` of the operation's `requestUri` (`locationName` names the label).
    Uri,
    /// A query string parameter named by `locationName`; a map member takes every parameter no
    /// other member claims.
    Querystring,
    /// The header named by `locationName`.
    Header,
    /// A map of every header whose name starts with the `locationName` prefix.
    Headers,
    /// The HTTP status code of a response.
    StatusCode,
}

/// One service: its metadata, operations, shapes and modelled errors.
#[derive(Debug)]
pub struct ServiceModel {
    /// botocore's service name (`sts`, `ec2`, …).
    pub name: &'static str,
    /// The protocol botocore picks for this service (the first of `metadata.protocols`).
    pub protocol: Protocol,
    /// Every protocol the model lists, in its order.
    pub protocols: &'static [Protocol],
    pub api_version: &'static str,
    pub target_prefix: Option<&'static str>,
    pub json_version: Option<&'static str>,
    pub xml_namespace: Option<&'static str>,
    /// SigV4 signing name: `signingName`, else `endpointPrefix`.
    pub signing_name: &'static str,
    pub endpoint_prefix: &'static str,
    /// The model has the `awsQueryCompatible` trait: JSON/CBOR errors also carry the query error
    /// code in `x-amzn-query-error`.
    pub aws_query_compatible: bool,
    /// Operations sorted by name.
    pub operations: &'static [OperationModel],
    /// Shapes sorted by name; [`ShapeId`]s index this slice.
    pub shapes: &'static [Shape],
    /// Modelled exceptions sorted by shape name.
    pub errors: &'static [ErrorModel],
}

impl ServiceModel {
    pub fn operation(&self, name: &str) -> Option<&'static OperationModel> {
        self.operations
            .binary_search_by(|op| op.name.cmp(name))
            .ok()
            .map(|i| &self.operations[i])
    }

    pub fn shape(&self, id: ShapeId) -> &'static Shape {
        &self.shapes[usize::from(id)]
    }

    pub fn shape_named(&self, name: &str) -> Option<&'static Shape> {
        self.shapes
            .binary_search_by(|s| s.name.cmp(name))
            .ok()
            .map(|i| &self.shapes[i])
    }

    /// The modelled error whose exception shape is `shape_name`.
    pub fn error(&self, shape_name: &str) -> Option<&'static ErrorModel> {
        self.errors
            .binary_search_by(|e| e.shape.cmp(shape_name))
            .ok()
            .map(|i| &self.errors[i])
    }
}

#[derive(Debug)]
pub struct OperationModel {
    pub name: &'static str,
    pub http_method: &'static str,
    /// botocore's `requestUri`: for REST protocols a template of `{Label}` and greedy
    /// `{Label+}` segments, optionally with literal query parts (`/{Bucket}?tagging`).
    pub http_path: &'static str,
    /// The status of a successful response (`http.responseCode`, 200 when unset).
    pub response_code: u16,
    pub input: Option<ShapeId>,
    pub output: Option<ShapeId>,
    /// The element wrapping a query response's output (`AssumeRoleResult`).
    pub result_wrapper: Option<&'static str>,
}

/// A modelled exception: the code clients see, which query services make differ from the shape
/// name (elbv2's `LoadBalancerNotFoundException` is `LoadBalancerNotFound` on the wire).
#[derive(Debug)]
pub struct ErrorModel {
    pub shape: &'static str,
    pub code: &'static str,
    pub http_status: u16,
    pub sender_fault: bool,
}

#[derive(Debug)]
pub struct Shape {
    pub name: &'static str,
    pub kind: ShapeKind,
    /// REST protocols: the member that is the whole body of a structure (`payload`).
    pub payload: Option<&'static str>,
}

#[derive(Debug)]
pub enum ShapeKind {
    String,
    Boolean,
    Integer,
    Long,
    Float,
    Double,
    /// JSON form: epoch seconds (f64).
    Timestamp,
    /// JSON form: base64 string.
    Blob,
    /// An untyped JSON document.
    Document,
    List(Member),
    Map {
        key: Member,
        value: Member,
    },
    Structure {
        members: &'static [Member],
        union: bool,
    },
}

/// A structure member, a list's `member`, or a map's `key`/`value`, with its resolved traits.
#[derive(Debug)]
pub struct Member {
    /// The model's member name: the serde name of the generated field.
    pub name: &'static str,
    pub shape: ShapeId,
    /// `locationName`: the XML element / query key (for list members and map keys/values too).
    pub location_name: Option<&'static str>,
    /// EC2's `queryName`.
    pub query_name: Option<&'static str>,
    /// The list or map is flattened (no wrapping `member`/`entry` level).
    pub flattened: bool,
    pub timestamp_format: Option<TimestampFormat>,
    /// REST protocols: where the member travels (`None`: in the body).
    pub http_location: Option<Location>,
    /// A header carrying a JSON document, base64-encoded (`jsonvalue`).
    pub json_value: bool,
    /// Clients fill the member with a fresh UUID when the caller gives none
    /// (`idempotencyToken`).
    pub idempotency_token: bool,
}

impl Member {
    pub const fn new(name: &'static str, shape: ShapeId) -> Member {
        Member {
            name,
            shape,
            location_name: None,
            query_name: None,
            flattened: false,
            timestamp_format: None,
            http_location: None,
            json_value: false,
            idempotency_token: false,
        }
    }

    pub const fn location(mut self, name: &'static str) -> Member {
        self.location_name = Some(name);
        self
    }

    pub const fn query(mut self, name: &'static str) -> Member {
        self.query_name = Some(name);
        self
    }

    pub const fn flattened(mut self) -> Member {
        self.flattened = true;
        self
    }

    pub const fn timestamp(mut self, format: TimestampFormat) -> Member {
        self.timestamp_format = Some(format);
        self
    }

    pub const fn http(mut self, location: Location) -> Member {
        self.http_location = Some(location);
        self
    }

    pub const fn json_value(mut self) -> Member {
        self.json_value = true;
        self
    }

    pub const fn idempotency_token(mut self) -> Member {
        self.idempotency_token = true;
        self
    }

    /// The element or key name in AWS Query and XML: `locationName`, else the member name.
    pub fn xml_name(&self) -> &'static str {
        self.location_name.unwrap_or(self.name)
    }
}

impl Shape {
    pub const fn new(name: &'static str, kind: ShapeKind) -> Shape {
        Shape {
            name,
            kind,
            payload: None,
        }
    }

    pub const fn payload(mut self, member: &'static str) -> Shape {
        self.payload = Some(member);
        self
    }
}
