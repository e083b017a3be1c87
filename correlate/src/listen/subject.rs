//! The subject of an X.509 certificate as text (`CN=agent-7, O=Example`),
//! to name a peer that authenticated with it. rustls has verified the
//! certificate already; this only walks its DER far enough to print the
//! subject name, bounded and without panics.

/// Longest subject text kept, in characters.
const MAX_SUBJECT: usize = 256;

/// One DER element: tag, contents, and what follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(n)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// The certificate's subject, or `None` when the DER is not a certificate.
pub(crate) fn subject(cert: &[u8]) -> Option<String> {
    let (SEQUENCE, cert, _) = tlv(cert)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = tlv(cert)? else {
        return None;
    };
    let (tag, _, mut rest) = tlv(tbs)?;
    if tag == 0xA0 {
        // The version, then the serial number.
        (_, _, rest) = tlv(rest)?;
    }
    // Signature algorithm, issuer, validity, then the subject.
    for _ in 0..3 {
        (_, _, rest) = tlv(rest)?;
    }
    let (SEQUENCE, name, _) = tlv(rest)? else {
        return None;
    };
    let text = name_text(name)?;
    Some(text.chars().take(MAX_SUBJECT).collect())
}

/// A Name: RDNs in certificate order, each `TYPE=value`.
fn name_text(mut rdns: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (SET, mut set, rest) = tlv(rdns)? else {
            return None;
        };
        rdns = rest;
        while !set.is_empty() {
            let (SEQUENCE, atv, rest) = tlv(set)? else {
                return None;
            };
            set = rest;
            let (OID, oid, value) = tlv(atv)? else {
                return None;
            };
            let (vtag, value, _) = tlv(value)?;
            parts.push(format!("{}={}", oid_name(oid), value_text(vtag, value)));
        }
    }
    Some(parts.join(", "))
}

/// The short name of an attribute type, or its dotted number.
fn oid_name(oid: &[u8]) -> String {
    let known = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x0A] => "O",
        [0x55, 0x04, 0x0B] => "OU",
        [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01] => "emailAddress",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x19] => "DC",
        _ => return dotted(oid),
    };
    known.to_string()
}

fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc = 0u64;
    for &b in oid {
        acc = acc.saturating_mul(128).saturating_add(u64::from(b & 0x7f));
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// A directory string as text; control characters shown escaped, other
/// types as `#hex`.
fn value_text(tag: u8, v: &[u8]) -> String {
    let text = match tag {
        // UTF8String, PrintableString, IA5String, TeletexString (read as
        // Latin-1), VisibleString.
        0x0C | 0x13 | 0x16 | 0x1A => String::from_utf8_lossy(v).into_owned(),
        0x14 => v.iter().map(|&b| char::from(b)).collect(),
        // BMPString: UTF-16 big-endian.
        0x1E => {
            let units: Vec<u16> = v
                .chunks_exact(2)
                .map(|c| match c {
                    [a, b] => u16::from_be_bytes([*a, *b]),
                    _ => 0,
                })
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => {
            return format!(
                "#{}",
                v.iter().map(|b| format!("{b:02x}")).collect::<String>()
            )
        }
    };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn subject_of_a_generated_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["agent.example".into()]).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example Corp");
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "agent-7\u{1}");
        let cert = p.self_signed(&key).unwrap();
        assert_eq!(
            subject(cert.der()).as_deref(),
            Some("O=Example Corp, CN=agent-7\\u{1}")
        );
    }

    #[test]
    fn oids_values_and_garbage() {
        assert_eq!(
            dotted(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D]),
            "1.2.840.113549"
        );
        assert_eq!(value_text(0x1E, &[0, b'h', 0, b'i']), "hi");
        assert_eq!(value_text(0x04, &[1, 2]), "#0102");
        assert_eq!(subject(b""), None);
        assert_eq!(subject(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(subject(&[0x30, 0x03, 0x30, 0x01]), None);
        // Every prefix of a real certificate: no panic.
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().to_vec();
        for n in 0..der.len() {
            let _ = subject(der.get(..n).unwrap());
        }
    }
}
