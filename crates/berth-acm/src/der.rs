//! Just enough DER to read keys: tag-length-value elements, so that a private key's public part
//! can be compared with a certificate's without any cryptography.

/// One DER element: its tag byte and its contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element<'a> {
    pub tag: u8,
    pub contents: &'a [u8],
}

pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;

/// Reads the first element of `input`; returns it and what follows. `None` for malformed or
/// indefinite-length input.
pub fn read(input: &[u8]) -> Option<(Element<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        first as usize
    } else {
        let count = (first & 0x7f) as usize;
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let mut length = 0usize;
        for &byte in &rest[..count] {
            length = (length << 8) | byte as usize;
        }
        rest = &rest[count..];
        length
    };
    if rest.len() < length {
        return None;
    }
    Some((
        Element {
            tag,
            contents: &rest[..length],
        },
        &rest[length..],
    ))
}

/// The elements of a constructed element's contents, in order.
pub fn children(contents: &[u8]) -> Option<Vec<Element<'_>>> {
    let mut out = Vec::new();
    let mut rest = contents;
    while !rest.is_empty() {
        let (element, next) = read(rest)?;
        out.push(element);
        rest = next;
    }
    Some(out)
}

/// An INTEGER's magnitude without the sign-padding zero bytes.
pub fn unsigned(contents: &[u8]) -> &[u8] {
    let zeros = contents.iter().take_while(|b| **b == 0).count();
    &contents[zeros.min(contents.len().saturating_sub(1))..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let short = [0x02, 0x01, 0x05, 0xff];
        let (element, rest) = read(&short).unwrap();
        assert_eq!(
            element,
            Element {
                tag: INTEGER,
                contents: &[5]
            }
        );
        assert_eq!(rest, &[0xff]);
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 128]);
        assert_eq!(read(&long).unwrap().0.contents.len(), 128);
        assert_eq!(read(&[0x04, 0x05, 1]), None);
        assert_eq!(read(&[0x30, 0x80]), None);
        let sequence = [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02];
        let (outer, _) = read(&sequence).unwrap();
        assert_eq!(children(outer.contents).unwrap().len(), 2);
        assert_eq!(unsigned(&[0, 0x80, 1]), &[0x80, 1]);
        assert_eq!(unsigned(&[0]), &[0]);
    }
}
