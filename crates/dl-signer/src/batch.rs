//! Batch verification of Ed25519 signatures made with one key (ADR 0025).
//!
//! [`PublicKey::verify`](crate::PublicKey::verify) checks an Ed25519 signature `(R, s)` over `M`
//! by key `A` strictly: `s` canonical, `R` a canonical encoding of a point that is not of small
//! order, `A` not of small order, and `R = [s]B - [k]A` exactly, with `k = SHA-512(R ‖ A ‖ M)`.
//! That costs a double scalar multiplication per signature (~55 µs here).
//!
//! [`BatchKey::verify`] checks many signatures by the same key with one multi-scalar
//! multiplication: with independent random 128-bit `z_i` (from the operating system's CSPRNG,
//! fresh for every call),
//!
//! ```text
//! [8] ( [-Σ z_i·s_i] B + Σ [z_i] R_i + [Σ z_i·k_i] A ) = 0
//! ```
//!
//! The `A` term is shared by all signatures (one key per batch), so the multiplication has
//! `n + 2` points, `n` of them with 128-bit scalars. If any signature fails the cofactored
//! equation `[8]R_i = [8]([s_i]B - [k_i]A)`, the sum vanishes with probability at most 2^-128.
//!
//! What it accepts beyond the strict check: only signatures whose `R_i` differs from
//! `[s_i]B - [k_i]A` by a non-zero point of small order (a torsion component). Nobody can make
//! one without the private key (the cofactored equation is as unforgeable as the strict one), but
//! the key holder can craft one on purpose; honest signers (RFC 8032 signing, `R = [r]B`) never
//! produce them. Everything else the strict check refuses is kept out of the batch by
//! [`BatchKey::new`] and [`BatchKey::item`] (small-order or non-torsion-free key, non-canonical
//! `s` or `R`, small-order `R`): those signatures are left to the strict check. A batch that does
//! not verify says nothing about which signature is bad: verify its signatures one by one.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use rand_core::RngCore;
use sha2::{Digest, Sha512};

use crate::crypto::PublicKey;

/// An Ed25519 key whose signatures may be batch verified: not of small order and without a
/// small-order component (torsion-free). Checking this costs one scalar multiplication; keep the
/// value for all signatures by the key.
#[derive(Clone)]
pub struct BatchKey {
    bytes: [u8; 32],
    point: EdwardsPoint,
}

impl std::fmt::Debug for BatchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchKey(Ed25519)")
    }
}

/// One signature prepared for [`BatchKey::verify`] (its hash computed, `R` decoded).
#[derive(Clone)]
pub struct BatchItem {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl std::fmt::Debug for BatchItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchItem")
    }
}

/// Whether a 32-byte point encoding is canonical: its y coordinate (the low 255 bits) is below
/// p = 2^255 - 19. (The x sign bit on x = 0 is the other non-canonical form; it only occurs on
/// the two small-order points with x = 0, which [`BatchKey::item`] refuses anyway.)
fn canonical_y(bytes: &[u8; 32]) -> bool {
    // y >= p only if bits 255..5 are all ones and the low byte is >= 0xed.
    !(bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|b| *b == 0xff) && bytes[0] >= 0xed)
}

impl BatchKey {
    /// The batch form of `key`, or `None` when its signatures must be verified one by one (not
    /// Ed25519, small order, or not torsion-free).
    pub fn new(key: &PublicKey) -> Option<Self> {
        let PublicKey::Ed25519(vk) = key else {
            return None;
        };
        let bytes = vk.to_bytes();
        if !canonical_y(&bytes) {
            return None;
        }
        let point = CompressedEdwardsY(bytes).decompress()?;
        if point.is_small_order() || !point.is_torsion_free() {
            return None;
        }
        Some(Self { bytes, point })
    }

    /// Prepares `signature` (64 raw bytes) over `message` for [`verify`](Self::verify), or `None`
    /// when it cannot be batch verified and needs the strict check (wrong length, non-canonical
    /// `s` or `R`, `R` not a point or of small order).
    pub fn item(&self, message: &[u8], signature: &[u8]) -> Option<BatchItem> {
        let sig: &[u8; 64] = signature.try_into().ok()?;
        let mut r_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&sig[..32]);
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&sig[32..]);
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
        if !canonical_y(&r_bytes) {
            return None;
        }
        let r = CompressedEdwardsY(r_bytes).decompress()?;
        if r.is_small_order() {
            return None;
        }
        let mut h = Sha512::new();
        h.update(r_bytes);
        h.update(self.bytes);
        h.update(message);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        Some(BatchItem { r, s, k })
    }

    /// Whether every item (each made by [`item`](Self::item) of this key) verifies, in one
    /// multi-scalar multiplication (see the module docs for the equation and what it accepts).
    /// An empty batch verifies. `false` names no culprit (it is also the answer when the
    /// operating system has no randomness to give): verify the items one by one.
    pub fn verify(&self, items: &[BatchItem]) -> bool {
        if items.is_empty() {
            return true;
        }
        let mut random = vec![0u8; 16 * items.len()];
        // Without randomness the batch proves nothing: report it as not verified, so the caller
        // falls back to the strict check of each signature.
        if rand_core::OsRng.try_fill_bytes(&mut random).is_err() {
            return false;
        }
        let zs: Vec<Scalar> = random
            .chunks_exact(16)
            .map(|c| {
                let mut z = [0u8; 16];
                z.copy_from_slice(c);
                Scalar::from(u128::from_le_bytes(z))
            })
            .collect();
        let mut b_coefficient = Scalar::ZERO;
        let mut a_coefficient = Scalar::ZERO;
        for (item, z) in items.iter().zip(&zs) {
            b_coefficient -= z * item.s;
            a_coefficient += z * item.k;
        }
        let scalars = [b_coefficient, a_coefficient].into_iter().chain(zs);
        let points = [ED25519_BASEPOINT_POINT, self.point]
            .into_iter()
            .chain(items.iter().map(|i| i.r));
        EdwardsPoint::vartime_multiscalar_mul(scalars, points)
            .mul_by_cofactor()
            .is_identity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyPair;
    use crate::Algorithm;

    fn ed25519() -> (ed25519_dalek::SigningKey, PublicKey) {
        let KeyPair::Ed25519(sk) = KeyPair::generate(Algorithm::Ed25519) else {
            unreachable!("generated an Ed25519 key")
        };
        let pk = PublicKey::Ed25519(sk.verifying_key());
        (sk, pk)
    }

    fn sign(sk: &ed25519_dalek::SigningKey, m: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer as _;
        sk.sign(m).to_bytes().to_vec()
    }

    /// A signature `(R, s)` over `m` with `R = [r]B + t` for a chosen `r` and point `t`, and
    /// `s = r + k·a` (what only the key holder can compute).
    fn crafted(sk: &ed25519_dalek::SigningKey, m: &[u8], r: Scalar, t: EdwardsPoint) -> Vec<u8> {
        let a = sk.to_scalar();
        let big_r = (EdwardsPoint::mul_base(&r) + t).compress();
        let mut h = Sha512::new();
        h.update(big_r.as_bytes());
        h.update(sk.verifying_key().as_bytes());
        h.update(m);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let s = r + k * a;
        [big_r.to_bytes(), s.to_bytes()].concat()
    }

    fn order4() -> EdwardsPoint {
        // y = 0: x^2 = -1, a point of order 4.
        let t = CompressedEdwardsY([0u8; 32]).decompress().unwrap();
        assert!(t.is_small_order() && !t.is_identity());
        t
    }

    #[test]
    fn good_batches_verify_and_one_bad_signature_fails_the_batch() {
        let (sk, pk) = ed25519();
        let key = BatchKey::new(&pk).unwrap();
        let msgs: Vec<Vec<u8>> = (0..300u32).map(|i| format!("m{i}").into_bytes()).collect();
        let mut items: Vec<BatchItem> = msgs
            .iter()
            .map(|m| key.item(m, &sign(&sk, m)).unwrap())
            .collect();
        assert!(key.verify(&items));
        assert!(key.verify(&items[..1]));
        assert!(key.verify(&[]));
        // A valid signature over another message.
        items[150] = key.item(b"other", &sign(&sk, &msgs[150])).unwrap();
        assert!(!key.verify(&items));
        // A signature by another key.
        let (other, _) = ed25519();
        items[150] = key.item(&msgs[150], &sign(&other, &msgs[150])).unwrap();
        assert!(!key.verify(&items));
        // One flipped bit in s (still canonical).
        let mut sig = sign(&sk, &msgs[150]);
        sig[40] ^= 1;
        items[150] = key.item(&msgs[150], &sig).unwrap();
        assert!(!key.verify(&items));
    }

    #[test]
    fn what_the_strict_check_refuses_stays_out_of_the_batch() {
        let (sk, pk) = ed25519();
        let key = BatchKey::new(&pk).unwrap();
        let m = b"m";
        let good = sign(&sk, m);
        // Wrong length.
        assert!(key.item(m, &good[..63]).is_none());
        // Non-canonical s (s + l).
        let mut sig = good.clone();
        sig[63] |= 0xf0;
        assert!(key.item(m, &sig).is_none());
        assert!(pk.verify(m, &sig).is_err());
        // R of small order (the identity), s = k·a: passes the plain equation, not the strict
        // check.
        let sig = crafted(&sk, m, Scalar::ZERO, EdwardsPoint::default());
        assert!(key.item(m, &sig).is_none());
        assert!(pk.verify(m, &sig).is_err());
        // Non-canonical R encoding (y >= p).
        let mut sig = good.clone();
        sig[..32].copy_from_slice(&{
            let mut y = [0xffu8; 32];
            y[0] = 0xee;
            y[31] = 0x7f;
            y
        });
        assert!(key.item(m, &sig).is_none());
        // Keys: small order, and with a small-order component.
        let small = ed25519_dalek::VerifyingKey::from_bytes(&[0u8; 32]);
        if let Ok(small) = small {
            assert!(BatchKey::new(&PublicKey::Ed25519(small)).is_none());
        }
        let mixed = (sk.verifying_key().to_edwards() + order4()).compress();
        let mixed = ed25519_dalek::VerifyingKey::from_bytes(mixed.as_bytes()).unwrap();
        assert!(BatchKey::new(&PublicKey::Ed25519(mixed)).is_none());
        // P-256 keys are never batched.
        let p256 = KeyPair::generate(Algorithm::EcdsaP256Sha256);
        let p256 = PublicKey::from_spki_der(&p256.spki_der()).unwrap();
        assert!(BatchKey::new(&p256).is_none());
    }

    /// The one documented difference (ADR 0025): a signature the key holder crafted with a
    /// small-order component in R passes the cofactored batch equation, not the strict check.
    #[test]
    fn a_crafted_torsion_component_in_r_passes_the_batch_only() {
        let (sk, pk) = ed25519();
        let key = BatchKey::new(&pk).unwrap();
        let m = b"decision";
        let r = Scalar::from(123_456_789u64);
        let sig = crafted(&sk, m, r, order4());
        assert!(pk.verify(m, &sig).is_err());
        let item = key.item(m, &sig).unwrap();
        assert!(key.verify(&[item]));
        // Without the torsion component the same construction is an ordinary valid signature.
        let sig = crafted(&sk, m, r, EdwardsPoint::default());
        assert!(pk.verify(m, &sig).is_ok());
    }
}
