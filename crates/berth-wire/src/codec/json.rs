//! AWS JSON 1.0/1.1 request bodies: already the JSON form, but checked against the input shape
//! before a service decodes them. The generated serde types alone would take a JSON array for a
//! structure (serde fills a struct's fields from a sequence, in order), so `[]` or
//! `["my-cluster"]` would pass as a request; AWS answers SerializationException for a value of
//! the wrong JSON type anywhere. Unknown members are ignored, as AWS's JSON services ignore them;
//! numbers' ranges and the rest are left to the typed decode that follows.
//!
//! The check walks the body as it parses it, with the shape beside it, and builds nothing: a
//! PutLogEvents body of 10,000 events would otherwise become a tree of 10,000 maps first, which
//! cost the control plane more than storing the events. A mismatch's path is put together only
//! on the way out of a failed check.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::DecodeError;
use crate::model::{OperationModel, ServiceModel, ShapeId, ShapeKind};

/// Checks that `body` (non-empty) is one JSON object whose members have the JSON types of
/// `op`'s input shape, nested members included.
pub fn check(model: &ServiceModel, op: &OperationModel, body: &[u8]) -> Result<(), DecodeError> {
    let mismatch = RefCell::new(None);
    let top = Expect {
        model,
        shape: op.input,
        top: true,
        mismatch: &mismatch,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = top
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    match (parsed, mismatch.into_inner()) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(mismatch)) => Err(DecodeError::Malformed {
            message: mismatch.message(),
        }),
        (Err(err), None) => Err(DecodeError::Malformed {
            message: format!("Could not parse the request body: {err}"),
        }),
    }
}

/// Where a mismatch is, one step at a time.
enum Step {
    Member(String),
    Index(usize),
}

/// A value of the wrong JSON type; `path` is filled innermost step first as the walk unwinds.
struct Mismatch {
    path: Vec<Step>,
    found: &'static str,
    /// `None` for the body itself, which must be an object.
    expected: Option<&'static str>,
}

impl Mismatch {
    fn message(&self) -> String {
        let Some(expected) = self.expected else {
            return format!(
                "The request body must be a JSON object, not {}.",
                self.found
            );
        };
        let mut path = String::new();
        for step in self.path.iter().rev() {
            match step {
                Step::Member(name) if path.is_empty() => path.push_str(name),
                Step::Member(name) => {
                    path.push('.');
                    path.push_str(name);
                }
                Step::Index(index) => path.push_str(&format!("[{index}]")),
            }
        }
        format!("'{path}' is {}, expected {expected}.", self.found)
    }
}

/// The value about to be parsed must fit `shape` (`None`: anything, though the body itself must
/// still be an object).
#[derive(Clone, Copy)]
struct Expect<'a> {
    model: &'a ServiceModel,
    shape: Option<ShapeId>,
    top: bool,
    mismatch: &'a RefCell<Option<Mismatch>>,
}

impl<'a> Expect<'a> {
    fn kind(&self) -> Option<&'a ShapeKind> {
        self.shape.map(|id| &self.model.shape(id).kind)
    }

    /// What a value inside this one must fit: `None` for anything (an unknown member, a
    /// document's content), which is still walked rather than skipped, so that serde_json's
    /// nesting limit bounds the whole body as it bounds the typed decode.
    fn inner(&self, shape: Option<ShapeId>) -> Expect<'a> {
        Expect {
            shape,
            top: false,
            ..*self
        }
    }

    /// Whether a value of JSON type `found` fits; when it does not, the mismatch is recorded and
    /// the error to unwind with returned.
    fn fits<E: de::Error>(&self, found: &'static str, fits: bool) -> Result<(), E> {
        let fits = if self.top {
            found == "an object"
        } else {
            fits || matches!(self.kind(), None | Some(ShapeKind::Document))
        };
        if fits {
            return Ok(());
        }
        *self.mismatch.borrow_mut() = Some(Mismatch {
            path: Vec::new(),
            found,
            // Below the body, only a value with a shape can be of the wrong type.
            expected: if self.top {
                None
            } else {
                self.kind().map(expected)
            },
        });
        Err(E::custom("a value of the wrong JSON type"))
    }

    /// Adds `step` to the path of a mismatch found inside; other errors pass unchanged.
    fn within<T, E>(&self, step: impl FnOnce() -> Step, result: Result<T, E>) -> Result<T, E> {
        if result.is_err()
            && let Some(mismatch) = self.mismatch.borrow_mut().as_mut()
        {
            mismatch.path.push(step());
        }
        result
    }
}

impl<'de> DeserializeSeed<'de> for Expect<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Expect<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    // Null is an absent member; the typed decode refuses it where it must.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.fits("null", !self.top)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.fits("a boolean", matches!(self.kind(), Some(ShapeKind::Boolean)))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.number()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.number()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.number()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.fits(
            "a string",
            matches!(
                self.kind(),
                Some(ShapeKind::String | ShapeKind::Blob | ShapeKind::Timestamp)
            ),
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let member = match self.kind() {
            Some(ShapeKind::List(member)) if !self.top => Some(member.shape),
            _ => None,
        };
        self.fits("an array", member.is_some())?;
        let mut index = 0;
        loop {
            let item = items.next_element_seed(self.inner(member));
            match self.within(|| Step::Index(index), item)? {
                Some(()) => index += 1,
                None => return Ok(()),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        let kind = self.kind();
        self.fits(
            "an object",
            matches!(
                kind,
                Some(ShapeKind::Structure { .. } | ShapeKind::Map { .. })
            ),
        )?;
        while let Some(Key(name)) = entries.next_key::<Key>()? {
            let shape = match kind {
                Some(ShapeKind::Structure { members, .. }) => members
                    .iter()
                    .find(|member| member.name == name)
                    .map(|member| member.shape),
                Some(ShapeKind::Map { value, .. }) => Some(value.shape),
                _ => None,
            };
            let value = entries.next_value_seed(self.inner(shape));
            self.within(|| Step::Member(name.into_owned()), value)?;
        }
        Ok(())
    }
}

impl Expect<'_> {
    fn number<E: de::Error>(self) -> Result<(), E> {
        self.fits(
            "a number",
            matches!(
                self.kind(),
                Some(
                    ShapeKind::Integer
                        | ShapeKind::Long
                        | ShapeKind::Float
                        | ShapeKind::Double
                        | ShapeKind::Timestamp
                )
            ),
        )
    }
}

/// A member name or map key, borrowed from the body unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a member name")
            }

            fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(name)))
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(name.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

fn expected(kind: &ShapeKind) -> &'static str {
    match kind {
        ShapeKind::String => "a string",
        ShapeKind::Blob => "a base64 string",
        ShapeKind::Boolean => "a boolean",
        ShapeKind::Integer | ShapeKind::Long => "an integer",
        ShapeKind::Float | ShapeKind::Double => "a number",
        ShapeKind::Timestamp => "a timestamp",
        ShapeKind::Document => "a document",
        ShapeKind::List(_) => "an array",
        ShapeKind::Map { .. } | ShapeKind::Structure { .. } => "an object",
    }
}
